"""The simulated manager's REST API (nginx + cloudify-restservice), for Cloudify's real CLI.

Serves /api/v3.1/... (and /api/version) on the host's address and config's port. Shapes follow
cloudify_rest_client 7.0.5 (what the client reads) and cloudify-manager's rest-service (what the
server answers); see README.md for the source of each endpoint.

`python3 -m cfysim.server` runs it in the foreground; setup / cfy_manager start it detached.
"""
import base64
import json
import os
import re
import shutil
import signal
import socketserver
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import util, worker
from .store import ACTIVE_EXECUTION, ApiError, Manager, not_found, verify_password

# nginx's own error page while cloudify-restservice is stopped (its upstream refuses).
NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
NGINX_404 = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
             b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")

# rest-service/manager_rest/rest/resources_v3_1/status.py BASE_SERVICES / OPTIONAL_SERVICES
STATUS_SERVICES = [("nginx", "Webserver"), ("mgmtworker", "Management Worker"),
                   ("restservice", "Manager Rest-Service"), ("restservice", "Cloudify API"),
                   ("executionscheduler", "Cloudify Execution Scheduler"), ("stage", "Cloudify Console"),
                   ("amqppostgres", "AMQP-Postgres")]
STATUS_DISPLAY_NAMES = {"terminated": "completed"}  # resource_models.py Execution.STATUS_DISPLAY_NAMES
PUBLIC = ("version", "snapshot-status", "ok")
SNAPSHOT_FIELDS = ["id", "created_at", "status", "error", "visibility", "tenant_name", "created_by",
                   "resource_availability", "private_resource"]


def execution_view(ex):
    out = {k: v for k, v in ex.items() if k not in ("worker_pid", "host")}
    out["status_display"] = STATUS_DISPLAY_NAMES.get(ex["status"], ex["status"])
    return out


def truthy(v):
    return str(v).lower() in ("true", "1", "yes")


class Request:
    def __init__(self, handler, mgr, method, path, query):
        self.h, self.mgr, self.method, self.path, self.query = handler, mgr, method, path, query
        self.user = None
        self.tenant = handler.headers.get("Tenant") or "default_tenant"
        self._body = None

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[-1] if v else default

    def qlist(self, name):
        out = []
        for v in self.query.get(name, []):
            out += [x for x in v.split(",") if x]
        return out

    def json(self):
        if self._body is None:
            raw = self.h.read_body()
            self._body = json.loads(raw or b"{}") if raw else {}
        return self._body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s %s\n" % (util.now_iso(), self.address_string(), fmt % args))

    # --- plumbing -------------------------------------------------------------------------------

    def read_body(self, sink=None):
        """The request body (Content-Length or chunked, as requests sends a generator)."""
        chunks = []
        write = sink.write if sink else chunks.append
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                write(self.rfile.read(size))
                self.rfile.readline()
        else:
            n = int(self.headers.get("Content-Length") or 0)
            while n > 0:
                b = self.rfile.read(min(n, 65536))
                if not b:
                    break
                write(b)
                n -= len(b)
        self._body_read = True
        return b"".join(chunks) if not sink else None

    def send(self, status, body, ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_json(self, status, error_code, message):
        self.send(status, {"message": message, "error_code": error_code, "server_traceback": None})

    def drain(self):
        if not getattr(self, "_body_read", False):
            try:
                self.read_body()
            except Exception:
                self.close_connection = True

    def handle_any(self):
        self._body_read = False
        mgr = self.server.mgr
        url = urlsplit(self.path)
        path = url.path
        try:
            if not path.startswith("/api/"):
                self.drain()
                return self.send(404, NGINX_404, "text/html")
            if rest_down(mgr):
                self.drain()
                return self.send(502, NGINX_502, "text/html")
            m = re.match(r"^/api/(v[0-9.]+)(/.*)?$", path)
            if path == "/api/version":
                route = "/version"
            elif m:
                route = m.group(2) or "/"
            else:
                self.drain()
                return self.send_error_json(404, "not_found_error", "Not found: %s" % path)
            req = Request(self, mgr, self.command, route, parse_qs(url.query, keep_blank_values=True))
            fn, args = resolve(self.command, route)
            if fn is None:
                self.drain()
                return self.send_error_json(404, "not_found_error",
                                            "The requested URL was not found on the server.")
            if route.strip("/").split("/")[0] not in PUBLIC:
                authenticate(req)
            result = fn(req, *args)
            self.drain()
            if result is None:
                return
            status, body = result if isinstance(result, tuple) else (200, result)
            self.send(status, body)
        except ApiError as e:
            self.drain()
            self.send_error_json(e.status, e.error_code, str(e))
        except BrokenPipeError:
            pass
        except Exception as e:  # a bug here: an internal error, as flask answers
            traceback.print_exc()
            self.drain()
            self.send_error_json(500, "internal_server_error", "Internal error: %s: %s" % (type(e).__name__, e))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


# --- state checks ---------------------------------------------------------------------------------

def rest_down(mgr):
    """nginx answers 502 while restservice is stopped (cfy_manager stop restservice, or a restore's
    _pause_services / rest-outage)."""
    if not mgr.component_active("restservice"):
        return True
    return time.time() < float(mgr.outage().get("until") or 0)


def authenticate(req):
    """security/user_handler.py _get_user_from_auth + authentication.py authenticate."""
    auth = req.h.headers.get("Authorization", "")
    if not auth.startswith("Basic "):
        if req.h.headers.get("Authentication-Token"):
            raise ApiError(401, "unauthorized_error", "User unauthorized: Authentication failed: invalid token")
        raise ApiError(401, "unauthorized_error", "User unauthorized: No authentication info provided")
    try:
        username, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    except Exception:
        raise ApiError(401, "unauthorized_error", "User unauthorized: No authentication info provided")
    with req.mgr.data_lock():
        data = req.mgr.load_data()
    user = next((u for u in data["users"] if u["username"] == username), None)
    if user is None:
        raise ApiError(401, "unauthorized_error", "User unauthorized: No authentication info provided")
    if not verify_password(password, user.get("password_hash", ""), req.mgr.hash_salt()):
        raise ApiError(401, "unauthorized_error",
                       "User unauthorized: Authentication failed for <User username=`%s`>. "
                       "Wrong credentials or locked account" % username)
    tenants = {t["name"] for t in data["tenants"]}
    if req.tenant not in tenants:
        raise ApiError(403, "forbidden_error", "Authorization failed: Tried to authenticate with invalid "
                       "tenant name: %s" % req.tenant)
    if user.get("role") != "sys_admin" and req.tenant not in user.get("tenants", {}):
        raise ApiError(403, "forbidden_error", "User `%s` is not permitted to perform the action "
                       "in the tenant `%s`" % (username, req.tenant))
    req.user = user
    req.data = data


def check_license(req):
    """A premium manager without a license refuses (cloudify_premium's LicenseHandler; not public:
    modelled, see README)."""
    if req.mgr.edition == "premium" and not req.mgr.settings.get("licensed", True):
        raise ApiError(400, "missing_cloudify_license",
                       "This Cloudify Manager has no valid license. Upload a license with "
                       "`cfy license upload`")


# --- lists ----------------------------------------------------------------------------------------

def listing(req, rows, tenant_scoped=True):
    """rest_decorators paginate/all_tenants/_include: {"items": [...], "metadata": {"pagination"}}."""
    if tenant_scoped and not truthy(req.q("_all_tenants", "false")):
        rows = [r for r in rows if r.get("tenant_name") in (None, req.tenant)]
    ids = req.qlist("id")
    if ids:
        rows = [r for r in rows if r.get("id") in ids]
    for key in ("deployment_id", "workflow_id", "status"):
        vals = req.qlist(key)
        if vals:
            rows = [r for r in rows if str(r.get(key)) in vals]
    sort = req.q("_sort")
    if sort:
        rows = sorted(rows, key=lambda r: str(r.get(sort.lstrip("-")) or ""), reverse=sort.startswith("-"))
    total = len(rows)
    offset = int(req.q("_offset", "0") or 0)
    size = int(req.q("_size", "1000") or 1000)
    page = rows[offset:offset + size]
    include = req.qlist("_include")
    if include:
        page = [{k: v for k, v in r.items() if k in include} for r in page]
    return {"items": page, "metadata": {"pagination": {"total": total, "size": size, "offset": offset},
                                        "filtered": None}}


# --- endpoints ------------------------------------------------------------------------------------

def version(req):
    """rest/resources_v1/version.py (unsecured)."""
    return {"version": req.mgr.version, "edition": req.mgr.edition, "build": None, "date": None,
            "commit": None, "distribution": "rhel", "distro_release": "Ootpa"}


def status(req):
    """rest/resources_v3_1/status.py Status.get."""
    services = {}
    for comp, name in STATUS_SERVICES:
        services[name] = {"status": "Active" if req.mgr.component_active(comp) else "Inactive",
                          "is_remote": False, "extra_info": {}}
    services["RabbitMQ"] = {"status": "Active" if req.mgr.component_active("rabbitmq") else "Inactive",
                            "is_remote": False, "extra_info": {}}
    services["PostgreSQL"] = {"status": "Active", "is_remote": False, "extra_info": {}}
    ok = all(s["status"] == "Active" for s in services.values())
    if truthy(req.q("summary", "false")):
        services = {}
    return {"status": "OK" if ok else "Fail", "services": services}


def ok(req):
    return "OK"


def maintenance(req):
    return {"status": "deactivated", "activated_at": "", "activation_requested_at": "",
            "remaining_executions": None, "requested_by": ""}


def provider_context(req):
    return {"name": "provider", "context": {"cloudify": {"cloudify_agent": {}}}}


def members(req):
    return req.mgr.members()


def managers(req):
    """rest/resources_v3_1/manager.py Managers.get: one row per manager in the DB."""
    rows = []
    for i, m in enumerate(members(req)):
        rows.append({"id": i + 1, "hostname": m["name"], "private_ip": m["address"], "public_ip": m["address"],
                     "version": m.get("version", req.mgr.version), "edition": m.get("edition", req.mgr.edition),
                     "distribution": "rhel", "distro_release": "Ootpa", "fs_sync_node_id": "",
                     "networks": {"default": m["address"]}, "last_seen": util.now_iso(),
                     "status_report_frequency": None, "monitoring_username": None, "ca_cert_content": None})
    return listing(req, rows, tenant_scoped=False)


def brokers(req):
    rows = [{"name": m["name"], "host": m["address"], "management_host": m["address"], "port": 5671,
             "networks": {"default": m["address"]}, "is_external": False, "node_id": m["name"],
             "ca_cert_content": None} for m in members(req)]
    return listing(req, rows, tenant_scoped=False)


def db_nodes(req):
    rows = [{"name": m["name"], "host": m["address"], "is_external": False, "node_id": m["name"]}
            for m in members(req)]
    return listing(req, rows, tenant_scoped=False)


def node_status(m):
    comps = m.get("components", {})
    up = lambda c: comps.get(c, "active") == "active"  # noqa: E731
    alive = m.get("services") == "active" and m.get("active", True)
    return alive, {name: {"status": "Active" if alive and up(c) else "Inactive", "is_remote": False,
                          "extra_info": {}} for c, name in STATUS_SERVICES}


def cluster_status(req):
    """rest/resources_v3_1/cluster_status.py + cloudify.cluster_status: per node type, the nodes
    and a status OK / Degraded / Fail."""
    ms = members(req)
    nodes, nodes_db, nodes_broker = {}, {}, {}
    for m in ms:
        alive, services = node_status(m)
        nodes[m["name"]] = {"status": "OK" if alive else "Fail", "public_ip": m["address"],
                            "private_ip": m["address"], "version": m.get("version"), "services": services}
        db_up = m.get("components", {}).get("postgresqlserver", "active") == "active"
        mq_up = m.get("components", {}).get("rabbitmq", "active") == "active"
        nodes_db[m["name"]] = {"status": "OK" if db_up else "Fail", "public_ip": m["address"],
                               "private_ip": m["address"], "version": m.get("version"), "services": {}}
        nodes_broker[m["name"]] = {"status": "OK" if mq_up else "Fail", "public_ip": m["address"],
                                   "private_ip": m["address"], "version": m.get("version"), "services": {}}

    def agg(ns):
        good = sum(1 for n in ns.values() if n["status"] == "OK")
        return "OK" if good == len(ns) else ("Degraded" if good else "Fail")

    services = {"manager": {"status": agg(nodes), "nodes": nodes, "is_external": False},
                "db": {"status": agg(nodes_db), "nodes": nodes_db, "is_external": False},
                "broker": {"status": agg(nodes_broker), "nodes": nodes_broker, "is_external": False}}
    states = {s["status"] for s in services.values()}
    overall = "Fail" if "Fail" in states else ("Degraded" if "Degraded" in states else "OK")
    if truthy(req.q("summary", "false")):
        return {"status": overall, "services": {}}
    return {"status": overall, "services": services}


def restore_running(mgr):
    rs = mgr.restore_status()
    if rs.get("status") == "post-restore":
        return time.time() < float(rs.get("until", 0))
    if rs.get("status") in ("starting", "running"):
        try:
            return mgr.get_execution(rs["execution_id"])["status"] in ACTIVE_EXECUTION
        except ApiError:
            return False
    return False


def snapshot_status(req):
    """rest/resources_v3_1/snapshots.py SnapshotsStatus (unsecured): the restore flag file."""
    return {"status": "running" if restore_running(req.mgr) else "not-running"}


def snap_view(s):
    return {k: s.get(k) for k in SNAPSHOT_FIELDS}


def snapshots_list(req):
    return listing(req, [snap_view(s) for s in req.mgr.snapshots()], tenant_scoped=False)


def snapshot_get(req, snap_id):
    return snap_view(req.mgr.get_snapshot(snap_id))


VALID_ID = re.compile(r"^[\w.-]+$")


def check_id(name, value):
    # rest_utils.validate_inputs
    if not VALID_ID.match(value):
        raise ApiError(400, "bad_parameters_error",
                       "The `%s` argument contains illegal characters. Only letters, digits and the "
                       "characters \"-\", \".\" and \"_\" are allowed" % name)


def system_execution_guard(mgr, queue=False):
    """resource_manager.py _check_for_running_executions: a system workflow needs an idle manager."""
    running = [e["id"] for e in mgr.running_executions()]
    if running and not queue:
        raise ApiError(400, "existing_running_execution_error",
                       "Cannot start execution because there are other executions running e.g.: %s"
                       % ", ".join(running))


def spawn_execution(mgr, ex, kind, arg):
    pid = worker.spawn(kind, ex["id"], arg)
    return mgr.update_execution(ex["id"], worker_pid=pid)


def snapshot_create(req, snap_id):
    """resources_v2/snapshots.py SnapshotsId.put -> resource_manager.create_snapshot."""
    check_id("snapshot_id", snap_id)
    body = req.json()
    mgr = req.mgr
    with util.locked(mgr.snapshot_meta_dir()):
        if mgr.get_snapshot(snap_id, required=False):
            raise ApiError(409, "conflict_error", "<Snapshot id=`%s` tenant=`%s`> already exists"
                           % (snap_id, req.tenant))
        system_execution_guard(mgr, truthy(body.get("queue", False)))
        flags = {"exclude_credentials": not truthy(body.get("include_credentials", True)),
                 "exclude_logs": not truthy(body.get("include_logs", True)),
                 "exclude_events": not truthy(body.get("include_events", True))}
        mgr.save_snapshot(dict(flags, id=snap_id, created_at=util.now_iso(), status="creating", error="",
                               visibility="private", tenant_name=req.tenant, created_by=req.user["username"],
                               resource_availability="private", private_resource=True))
    params = {"snapshot_id": snap_id, "include_credentials": not flags["exclude_credentials"],
              "include_logs": not flags["exclude_logs"], "include_events": not flags["exclude_events"],
              "config": {}, "tempdir_path": body.get("tempdir_path"), "legacy": truthy(body.get("legacy", False)),
              "listener_timeout": body.get("listener_timeout")}
    ex = mgr.new_execution("create_snapshot", params, req.user["username"], req.tenant)
    return 201, execution_view(spawn_execution(mgr, ex, "create", snap_id))


def snapshot_delete(req, snap_id):
    mgr = req.mgr
    snap = mgr.get_snapshot(snap_id)
    for e in mgr.running_executions():
        if e["workflow_id"] in ("create_snapshot", "restore_snapshot") and \
                (e.get("parameters") or {}).get("snapshot_id") == snap_id:
            raise ApiError(400, "snapshot_action_error", "Cannot delete snapshot `%s` which has an active "
                           "`%s` execution" % (snap_id, e["workflow_id"]))
    os.remove(mgr.snapshot_meta_path(snap_id))
    shutil.rmtree(os.path.dirname(mgr.snapshot_zip(snap_id)), ignore_errors=True)
    return snap_view(snap)


def wait_while_hung(req, operation):
    while req.mgr.fault(operation) == "hang":
        time.sleep(0.5)


def snapshot_download(req, snap_id):
    """SnapshotsIdArchive.get: failed snapshots refuse; the file server streams the zip."""
    mgr = req.mgr
    snap = mgr.get_snapshot(snap_id)
    if snap["status"] == "failed":
        raise ApiError(400, "snapshot_action_error", "Failed snapshot cannot be downloaded")
    path = mgr.snapshot_zip(snap_id)
    if not os.path.exists(path):
        raise ApiError(404, "not_found_error", "Requested snapshot archive `%s` was not found" % snap_id)
    req.h.drain()
    wait_while_hung(req, "download")
    if mgr.fault("download") == "slow":
        time.sleep(mgr.fault_arg("download"))
    size = os.path.getsize(path)
    h = req.h
    h.send_response(200)
    h.send_header("Content-Type", "application/zip")
    h.send_header("Content-Disposition", "attachment; filename=%s.zip" % snap_id)
    h.send_header("Content-Length", str(size))
    h.end_headers()
    with open(path, "rb") as f:
        if mgr.fault("download") == "fail":
            # A transfer cut half way: the client gets half the bytes and a closed connection.
            h.wfile.write(f.read(size // 2))
            h.wfile.flush()
            h.close_connection = True
            return None
        shutil.copyfileobj(f, h.wfile, 65536)
    return None


def snapshot_upload(req, snap_id):
    """SnapshotsIdArchive.put -> upload_manager.upload_snapshot + create_snapshot_model(uploaded)."""
    check_id("snapshot_id", snap_id)
    mgr = req.mgr
    if mgr.get_snapshot(snap_id, required=False):
        req.h.drain()
        raise ApiError(409, "conflict_error", "<Snapshot id=`%s` tenant=`%s`> already exists" % (snap_id, req.tenant))
    dest = mgr.snapshot_zip(snap_id)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest + ".part", "wb") as f:
        req.h.read_body(sink=f)
    wait_while_hung(req, "upload")
    fault = mgr.fault("upload")
    if fault == "slow":
        time.sleep(mgr.fault_arg("upload"))
    if fault == "fail":
        os.remove(dest + ".part")
        raise ApiError(500, "internal_server_error", "Simulated failure of upload on %s (fault switch "
                       "upload=fail)" % mgr.name)
    import zipfile
    if not zipfile.is_zipfile(dest + ".part"):
        os.remove(dest + ".part")
        raise ApiError(400, "bad_parameters_error", "Uploaded snapshot archive is not a valid zip file")
    os.replace(dest + ".part", dest)
    snap = {"id": snap_id, "created_at": util.now_iso(), "status": "uploaded", "error": "",
            "visibility": "private", "tenant_name": req.tenant, "created_by": req.user["username"],
            "resource_availability": "private", "private_resource": True}
    mgr.save_snapshot(snap)
    return 201, snap_view(snap)


def snapshot_restore(req, snap_id):
    """SnapshotsIdRestore.post -> resource_manager.restore_snapshot. Refuses up front only what the
    REST service refuses (unknown or failed snapshot, running executions); the rest is checked in
    the workflow (worker.validate)."""
    body = req.json()
    mgr = req.mgr
    if "force" not in body:
        raise ApiError(400, "bad_parameters_error", "Missing force in json request body")
    check_license(req)
    snap = mgr.get_snapshot(snap_id)
    if snap["status"] == "failed":
        raise ApiError(400, "snapshot_action_error", "Failed snapshot cannot be restored")
    if truthy(body.get("no_reboot", False)) and not truthy(body.get("restore_certificates", False)):
        raise ApiError(400, "bad_parameters_error",
                       "`no_reboot` is only relevant when `restore_certificates` is activated")
    system_execution_guard(mgr)
    params = {"snapshot_id": snap_id, "config": {}, "force": truthy(body.get("force")),
              "timeout": int(body.get("timeout", 300)),
              "restore_certificates": truthy(body.get("restore_certificates", False)),
              "no_reboot": truthy(body.get("no_reboot", False)), "premium_enabled": mgr.edition == "premium",
              "user_is_bootstrap_admin": bool(req.user.get("is_bootstrap_admin"))}
    ex = mgr.new_execution("restore_snapshot", params, req.user["username"], req.tenant)
    mgr.set_restore_status(status="running", execution_id=ex["id"], snapshot_id=snap_id)
    ex = spawn_execution(mgr, ex, "restore", snap_id)
    # marshal_with(models.Snapshot): the execution, in the Snapshot's fields
    return 200, {k: ex.get(k) for k in SNAPSHOT_FIELDS}


def executions_list(req):
    rows = req.mgr.executions()
    if not truthy(req.q("_include_system_workflows", "false")):
        rows = [e for e in rows if not e.get("is_system_workflow")]
    dep = req.q("deployment_id")
    if dep and not any(d["id"] == dep for d in req.data["deployments"]):
        raise not_found("Deployment", dep)
    return listing(req, [execution_view(e) for e in rows])


def execution_get(req, exec_id):
    ex = req.mgr.get_execution(exec_id)
    if ex.get("tenant_name") not in (None, req.tenant) and req.user.get("role") != "sys_admin":
        raise not_found("Execution", exec_id)
    return execution_view(ex)


def execution_start(req):
    """POST /executions: only install_new_agents (what `cfy agents install` starts) is simulated."""
    body = req.json()
    wf, dep_id = body.get("workflow_id"), body.get("deployment_id")
    dep = next((d for d in req.data["deployments"] if d["id"] == dep_id and d["tenant_name"] == req.tenant), None)
    if dep is None:
        raise not_found("Deployment", dep_id)
    if wf not in ("install_new_agents", "validate_agents"):
        raise ApiError(400, "nonexistent_workflow_error", "Workflow %s does not exist in the deployment %s"
                       % (wf, dep_id))
    ex = req.mgr.new_execution(wf, body.get("parameters") or {}, req.user["username"], req.tenant,
                               deployment_id=dep_id, blueprint_id=dep["blueprint_id"], is_system_workflow=False)
    return 201, execution_view(spawn_execution(req.mgr, ex, "agents", dep_id))


def execution_action(req, exec_id):
    """POST /executions/ID {"action": cancel|force-cancel|kill}."""
    import signal as _signal
    action = req.json().get("action")
    ex = req.mgr.get_execution(exec_id)
    if ex["status"] not in ACTIVE_EXECUTION:
        raise ApiError(400, "illegal_action_error", "Can't %s execution %s because it's in status %s"
                       % (action, exec_id, ex["status"]))
    new = {"cancel": "cancelling", "force-cancel": "force_cancelling", "kill": "kill_cancelling"}.get(action)
    if new is None:
        raise ApiError(400, "bad_parameters_error", "Unknown action: %s" % action)
    ex = req.mgr.update_execution(exec_id, status=new)
    if ex.get("worker_pid") and util.pid_alive(ex["worker_pid"], worker.MARKER):
        try:
            os.kill(ex["worker_pid"], _signal.SIGTERM if action == "cancel" else _signal.SIGKILL)
        except OSError:
            pass
        if action != "cancel":
            ex = req.mgr.update_execution(exec_id, status="cancelled", ended_at=util.now_iso())
    return execution_view(ex)


def events(req):
    return listing(req, [], tenant_scoped=False)


def blueprints(req):
    return listing(req, req.data["blueprints"])


def deployments(req):
    return listing(req, req.data["deployments"])


def node_instances(req):
    rows = [dict({k: v for k, v in ni.items() if k != "agent"}, runtime_properties={}, version=1)
            for ni in req.data["node_instances"]]
    return listing(req, rows)


def agents(req):
    """rest/resources_v3_1/agents.py: one row per agent (node instance with an agent)."""
    rows = []
    for ni in req.data["node_instances"]:
        a = ni.get("agent")
        if not a:
            continue
        rows.append({"id": ni["id"], "host_id": ni["host_id"], "ip": a["ip"], "install_method": a["install_method"],
                     "system": "centos core", "version": a["version"], "node": ni["node_id"],
                     "deployment": ni["deployment_id"], "tenant_name": ni["tenant_name"], "state": a["state"],
                     "manager": a.get("manager")})
    for key, field in (("deployment_id", "deployment"), ("node_ids", "node"), ("node_instance_ids", "id"),
                       ("install_methods", "install_method")):
        vals = req.qlist(key)
        if vals:
            rows = [r for r in rows if r[field] in vals]
    return listing(req, rows)


def tenants(req):
    return listing(req, [dict(t, id=t["name"], users=0, groups=0) for t in req.data["tenants"]], tenant_scoped=False)


def user_view(u):
    return {"username": u["username"], "role": u.get("role"), "tenants": u.get("tenants", {}),
            "tenant_roles": None, "groups": [], "group_system_roles": {}, "active": True,
            "last_login_at": None, "first_login_at": None, "is_locked": False, "show_getting_started": False,
            "id": u.get("id")}


def users(req):
    return listing(req, [user_view(u) for u in req.data["users"]], tenant_scoped=False)


def user_self(req):
    return user_view(req.user)


def license_check(req):
    """resources_v3_1/license.py LicenseCheck: premium answers OK (with a license)."""
    check_license(req)
    return "OK"


def license_list(req):
    check_license(req)
    rows = [{"customer_id": "lab-customer", "expiration_date": None, "license_edition": "Spire",
             "trial": False, "cloudify_version": None, "capabilities": None, "signature": "lab", "expired": False}]
    return listing(req, rows, tenant_scoped=False)


ROUTES = [
    ("GET", r"/version", version), ("GET", r"/ok", ok), ("GET", r"/status", status),
    ("GET", r"/maintenance", maintenance), ("GET", r"/provider/context", provider_context),
    ("GET", r"/managers", managers), ("GET", r"/brokers", brokers), ("GET", r"/db-nodes", db_nodes),
    ("GET", r"/cluster-status", cluster_status), ("GET", r"/snapshot-status", snapshot_status),
    ("GET", r"/snapshots", snapshots_list), ("GET", r"/snapshots/([^/]+)", snapshot_get),
    ("PUT", r"/snapshots/([^/]+)", snapshot_create), ("DELETE", r"/snapshots/([^/]+)", snapshot_delete),
    ("GET", r"/snapshots/([^/]+)/archive", snapshot_download),
    ("PUT", r"/snapshots/([^/]+)/archive", snapshot_upload),
    ("POST", r"/snapshots/([^/]+)/restore", snapshot_restore),
    ("GET", r"/executions", executions_list), ("POST", r"/executions", execution_start),
    ("GET", r"/executions/([^/]+)", execution_get), ("POST", r"/executions/([^/]+)", execution_action),
    ("GET", r"/events", events), ("GET", r"/blueprints", blueprints), ("GET", r"/deployments", deployments),
    ("GET", r"/node-instances", node_instances), ("GET", r"/agents", agents), ("GET", r"/tenants", tenants),
    ("GET", r"/users", users), ("GET", r"/user", user_self),
    ("GET", r"/license-check", license_check), ("GET", r"/license", license_list),
]


def resolve(method, route):
    route = route.rstrip("/") or "/"
    for m, pattern, fn in ROUTES:
        if m == method or (method == "HEAD" and m == "GET"):
            mm = re.fullmatch(pattern, route)
            if mm:
                return fn, mm.groups()
    return None, ()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def serve(mgr=None):
    mgr = mgr or Manager()
    host = mgr.cfg.get("listen", mgr.address)
    srv = Server((host, mgr.port), Handler)
    srv.mgr = mgr
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    print("%s cfysim server for %s listening on %s:%d (pid %d)" % (util.now_iso(), mgr.name, host, mgr.port,
                                                                    os.getpid()), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    socketserver.TCPServer.allow_reuse_address = True
    serve()
