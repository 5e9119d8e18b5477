"""The simulated manager's state: its data (the "database"), its components, cluster membership,
executions, snapshots, faults and restore status.

Shared by the managers of a cluster (they share one database): data.json, executions/,
snapshots/ (metadata) under util.data_dir. Per host (util.STATE_DIR): services.json, faults.json,
settings.json, restore-status.json, outage.json, restore-observed.json(l), logs/, server.pid.
"""
import base64
import hashlib
import hmac
import os
import secrets
import uuid

from . import util
from .util import CfyError

DATA_TABLES = ("tenants", "users", "blueprints", "deployments", "node_instances", "secrets",
               "credentials", "events", "logs")
# cloudify.models_states.ExecutionState.ACTIVE_STATES (+ queued)
ACTIVE_EXECUTION = ("pending", "started", "cancelling", "force_cancelling", "kill_cancelling", "queued")
END_STATES = ("terminated", "failed", "cancelled")

# cfy_manager's component class names, lowercased (cfy_manager/main.py _get_components)
MANAGER_COMPONENTS = ("manager", "postgresqlclient", "restservice", "nginx", "amqppostgres", "mgmtworker",
                      "stage", "composer", "executionscheduler", "usagecollector", "cli")


class ApiError(CfyError):
    """An error the REST service answers with: {"message", "error_code"} and an HTTP status."""

    def __init__(self, status, error_code, message):
        super().__init__(message)
        self.status = status
        self.error_code = error_code


def not_found(kind, ident):
    # manager_rest/storage/storage_manager.py: NotFoundError('Requested `X` with ID `id` was not found')
    return ApiError(404, "not_found_error", "Requested `%s` with ID `%s` was not found" % (kind, ident))


# --- passwords, as flask-security does it in rest-service ---------------------------------------
# manager_rest/flask_utils.py set_flask_security_config: SECURITY_PASSWORD_SALT = hash_salt of
# /opt/manager/rest-security.conf, SECURITY_PASSWORD_HASH = pbkdf2_sha256. flask-security first
# HMACs the password with that salt, then hashes: the stored hash only verifies on a manager whose
# rest-security.conf has the same hash_salt.

def _hmac(salt, password):
    return base64.b64encode(hmac.new(salt.encode(), password.encode(), hashlib.sha512).digest())


def password_hash(password, hash_salt):
    s = secrets.token_hex(8)
    dk = hashlib.pbkdf2_hmac("sha256", _hmac(hash_salt, password), s.encode(), 1000)
    return "$pbkdf2-sha256$1000$%s$%s" % (s, dk.hex())


def verify_password(password, stored, hash_salt):
    try:
        _, _, rounds, s, digest = stored.split("$")
    except (ValueError, AttributeError):
        return False
    dk = hashlib.pbkdf2_hmac("sha256", _hmac(hash_salt, password), s.encode(), int(rounds))
    return hmac.compare_digest(dk.hex(), digest)


def new_id():
    return str(uuid.uuid4())


class Manager:
    """One simulated manager: the host this process runs on."""

    def __init__(self, cfg=None):
        self.cfg = cfg or util.load_config()
        self.name = self.cfg["name"]
        self.address = self.cfg["address"]
        self.port = int(self.cfg.get("port", 80))
        self.role = self.cfg.get("role", "new")
        self.version = util.version(self.cfg)
        self.edition = self.cfg.get("edition", "premium")
        self.data_dir = util.data_dir(self.cfg)

    @property
    def settings(self):
        """Read afresh on every use: `fault HOST set KEY=VALUE` acts on a running server."""
        return util.settings(self.cfg)

    # --- data (the manager's database) -------------------------------------------------------

    def data_path(self):
        return os.path.join(self.data_dir, "data.json")

    def load_data(self):
        data = util.read_json(self.data_path())
        if data is None:
            raise CfyError("manager %s has no data at %s (run tests/lab/sim/setup)" % (self.name, self.data_path()))
        for table in DATA_TABLES:
            data.setdefault(table, [])
        return data

    def save_data(self, data):
        util.write_json(self.data_path(), data)

    def data_lock(self):
        return util.locked(self.data_dir)

    # --- rest-security.conf (per host) --------------------------------------------------------

    def security_conf(self):
        return util.read_json(util.security_conf_path(self.cfg)) or {}

    def hash_salt(self):
        return self.security_conf().get("hash_salt", "")

    # --- components (cfy_manager) and the cluster --------------------------------------------

    def components(self):
        """{component: "active"|"inactive"} of this host; missing means active."""
        return (util.read_json(util.state_path("services.json")) or {}).get("components", {})

    def component_active(self, name):
        return self.components().get(name, "active") == "active"

    def set_components(self, changes):
        with util.locked(util.STATE_DIR):
            comps = self.components()
            comps.update(changes)
            util.write_json(util.state_path("services.json"), {"components": comps, "changed_at": util.now_iso()})
        self.write_member()

    def services_status(self):
        """active when the REST API would answer (nginx and restservice up)."""
        return "active" if self.component_active("nginx") and self.component_active("restservice") else "inactive"

    def member_dir(self):
        return os.path.join(self.cfg["cluster_dir"], "members")

    def write_member(self):
        util.write_json(os.path.join(self.member_dir(), self.name + ".json"), {
            "name": self.name, "address": self.address, "port": self.port, "role": self.role,
            "version": self.version, "edition": self.edition, "cluster": util.cluster_names(self.cfg),
            "active": self.cfg.get("active", True), "services": self.services_status(),
            "components": self.components(), "updated_at": util.now_iso()})

    def members(self):
        """This manager's cluster: the members named in config's `cluster` (default: same role)."""
        names = set(util.cluster_names(self.cfg)) if self.cfg.get("cluster") else None
        out = []
        d = self.member_dir()
        for fname in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if fname.endswith(".json"):
                m = util.read_json(os.path.join(d, fname))
                if not m:
                    continue
                if (names is not None and m["name"] in names) or (names is None and m.get("role") == self.role):
                    out.append(m)
        if not any(m["name"] == self.name for m in out):
            out.append({"name": self.name, "address": self.address, "version": self.version,
                        "services": self.services_status(), "components": self.components()})
        return sorted(out, key=lambda m: m["name"])

    # --- executions ---------------------------------------------------------------------------

    def exec_dir(self):
        return os.path.join(self.data_dir, "executions")

    def exec_path(self, exec_id):
        return os.path.join(self.exec_dir(), exec_id + ".json")

    def new_execution(self, workflow_id, parameters, user, tenant, deployment_id=None, blueprint_id=None,
                      is_system_workflow=True):
        ex = {"id": new_id(), "workflow_id": workflow_id, "status": "pending", "deployment_id": deployment_id,
              "blueprint_id": blueprint_id, "created_at": util.now_iso(), "started_at": None, "ended_at": None,
              "error": "", "is_system_workflow": is_system_workflow, "visibility": "tenant",
              "tenant_name": tenant, "created_by": user, "parameters": parameters, "is_dry_run": False,
              "scheduled_for": None, "resource_availability": "tenant", "private_resource": False,
              "total_operations": 0, "finished_operations": 0, "execution_group_id": None,
              "allow_custom_parameters": True, "worker_pid": None, "host": self.name}
        util.write_json(self.exec_path(ex["id"]), ex)
        return ex

    def update_execution(self, exec_id, **fields):
        with util.locked(self.exec_dir()):
            ex = util.read_json(self.exec_path(exec_id))
            if ex is None:
                raise not_found("Execution", exec_id)
            ex.update(fields)
            util.write_json(self.exec_path(exec_id), ex)
            return ex

    def get_execution(self, exec_id):
        ex = util.read_json(self.exec_path(exec_id))
        if ex is None:
            raise not_found("Execution", exec_id)
        return self.reconcile(ex)

    def executions(self):
        d = self.exec_dir()
        names = os.listdir(d) if os.path.isdir(d) else []
        out = [util.read_json(os.path.join(d, n)) for n in names if n.endswith(".json")]
        return sorted((self.reconcile(e) for e in out if e), key=lambda e: e["created_at"])

    def reconcile(self, ex):
        """A worker that died (killed, host torn down) cannot report: its execution has failed."""
        if ex["status"] in ACTIVE_EXECUTION and ex.get("worker_pid") and \
                not util.pid_alive(ex["worker_pid"], "cfysim.worker"):
            ex = self.update_execution(ex["id"], status="failed", ended_at=util.now_iso(),
                                       error="The execution's worker process (pid %d) died" % ex["worker_pid"])
        return ex

    def running_executions(self):
        return [e for e in self.executions() if e["status"] in ACTIVE_EXECUTION]

    # --- snapshots ----------------------------------------------------------------------------

    def snapshot_meta_dir(self):
        return os.path.join(self.data_dir, "snapshots")

    def snapshot_meta_path(self, snap_id):
        return os.path.join(self.snapshot_meta_dir(), snap_id + ".json")

    def snapshot_zip(self, snap_id):
        return os.path.join(util.snapshots_dir(self.cfg), snap_id, snap_id + ".zip")

    def get_snapshot(self, snap_id, required=True):
        meta = util.read_json(self.snapshot_meta_path(snap_id))
        if meta is None and required:
            raise not_found("Snapshot", snap_id)
        return meta

    def save_snapshot(self, meta):
        util.write_json(self.snapshot_meta_path(meta["id"]), meta)

    def snapshots(self):
        d = self.snapshot_meta_dir()
        names = sorted(os.listdir(d)) if os.path.isdir(d) else []
        out = [util.read_json(os.path.join(d, n)) for n in names if n.endswith(".json")]
        return sorted((s for s in out if s), key=lambda s: s["created_at"])

    # --- faults, outage and restore status (per host) -----------------------------------------

    def fault(self, operation):
        """'fail', 'hang', 'slow' or None; read on every check so `fault ... clear` frees a hang."""
        f = (util.read_json(util.state_path("faults.json")) or {}).get(operation)
        return f.split()[0] if isinstance(f, str) and f else f

    def fault_arg(self, operation):
        f = (util.read_json(util.state_path("faults.json")) or {}).get(operation) or ""
        parts = f.split()
        return float(parts[1]) if len(parts) > 1 else 0.0

    def take_fault(self, name):
        """A one-shot fault (rest-outage): returns its value and clears it."""
        path = util.state_path("faults.json")
        with util.locked(util.STATE_DIR):
            faults = util.read_json(path) or {}
            value = faults.pop(name, None)
            if value is not None:
                util.write_json(path, faults)
        return value

    def restore_status(self):
        return util.read_json(util.state_path("restore-status.json")) or {}

    def set_restore_status(self, **fields):
        util.write_json(util.state_path("restore-status.json"), dict(fields, updated_at=util.now_iso()))

    def outage(self):
        return util.read_json(util.state_path("outage.json")) or {}

    def set_outage(self, until, reason):
        util.write_json(util.state_path("outage.json"), {"until": until, "reason": reason})
