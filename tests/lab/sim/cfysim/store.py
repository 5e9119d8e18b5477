"""The simulated manager's state: its data, services, cluster membership, executions, snapshots,
faults and the operator's CLI profile. Every file lives under the host's /var/lib/cloudify-sim
except the data (shared by the new managers, see util.data_dir), the cluster members
(cluster_dir, shared by all hosts) and the profile (the operator's home).
"""
import hashlib
import os
import pwd
import uuid

from . import util
from .util import CfyError

DATA_TABLES = ("tenants", "users", "blueprints", "deployments", "node_instances", "secrets",
               "credentials", "events", "logs")
ACTIVE_EXECUTION = ("pending", "started", "cancelling")


def password_hash(password):
    return "sha256$" + hashlib.sha256(("cfysim:" + password).encode()).hexdigest()


def new_id():
    return str(uuid.uuid4())


class Manager:
    """One simulated manager: the host the command runs on."""

    def __init__(self, cfg=None):
        self.cfg = cfg or util.load_config()
        self.name = self.cfg["name"]
        self.address = self.cfg["address"]
        self.role = self.cfg.get("role", "new")
        self.version = util.VERSIONS.get(self.role, util.CLI_VERSION)
        self.settings = util.settings(self.cfg)
        self.data_dir = util.data_dir(self.cfg)

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

    # --- services and the cluster -------------------------------------------------------------

    def services_status(self):
        return (util.read_json(util.state_path("services.json")) or {}).get("status", "inactive")

    def set_services(self, status):
        util.write_json(util.state_path("services.json"), {"status": status, "changed_at": util.now_iso()})
        self.write_member(status)

    def member_dir(self):
        return os.path.join(self.cfg["cluster_dir"], "members")

    def write_member(self, status):
        util.write_json(os.path.join(self.member_dir(), self.name + ".json"), {
            "name": self.name, "address": self.address, "role": self.role, "version": self.version,
            "services": status, "updated_at": util.now_iso()})

    def members(self):
        """This manager's cluster: every member with the same role (the old manager is alone)."""
        out = []
        names = sorted(os.listdir(self.member_dir())) if os.path.isdir(self.member_dir()) else []
        for fname in names:
            if fname.endswith(".json"):
                m = util.read_json(os.path.join(self.member_dir(), fname))
                if m and m.get("role") == self.role:
                    out.append(m)
        return out

    def require_running(self):
        """What every REST call meets first: stopped services refuse the connection."""
        if self.services_status() != "active":
            raise CfyError("Can't connect to the manager at %s:80: [Errno 111] Connection refused "
                           "(is the manager running? `cfy_manager start`)" % self.address)

    # --- authentication ---------------------------------------------------------------------

    def authenticate(self, profile):
        """The REST service checks the profile's user and password against its own users table."""
        self.require_running()
        data = self.load_data()
        user = next((u for u in data["users"] if u["username"] == profile.get("manager_username")), None)
        if user is None or user.get("password_hash") != password_hash(profile.get("manager_password", "")):
            raise CfyError("401: User unauthorized: the manager rejected the credentials of user `%s` "
                           "(after a snapshot restore the snapshot's passwords apply: "
                           "cfy profiles set -p PASSWORD --skip-credentials-validation)"
                           % profile.get("manager_username"))
        tenant = profile.get("manager_tenant", "default_tenant")
        if tenant not in {t["name"] for t in data["tenants"]}:
            raise CfyError("403: Tenant `%s` does not exist or user `%s` is not a member of it"
                           % (tenant, user["username"]))
        return data

    # --- executions --------------------------------------------------------------------------

    def exec_path(self, exec_id):
        return util.state_path("executions", exec_id + ".json")

    def new_execution(self, workflow_id, parameters, profile, deployment_id=None, status="pending"):
        ex = {"id": new_id(), "workflow_id": workflow_id, "status": status, "deployment_id": deployment_id,
              "blueprint_id": None, "created_at": util.now_iso(), "started_at": None, "ended_at": None,
              "error": "", "is_system_workflow": deployment_id is None, "visibility": "private",
              "tenant_name": profile.get("manager_tenant", "default_tenant"),
              "created_by": profile.get("manager_username", "admin"), "parameters": parameters,
              "worker_pid": None}
        util.write_json(self.exec_path(ex["id"]), ex)
        return ex

    def update_execution(self, exec_id, **fields):
        with util.locked(util.state_path("executions")):
            ex = util.read_json(self.exec_path(exec_id))
            if ex is None:
                raise CfyError("404: Requested `Execution` with ID `%s` was not found" % exec_id)
            ex.update(fields)
            util.write_json(self.exec_path(exec_id), ex)
            return ex

    def get_execution(self, exec_id):
        ex = util.read_json(self.exec_path(exec_id))
        if ex is None:
            raise CfyError("404: Requested `Execution` with ID `%s` was not found" % exec_id)
        return self.reconcile(ex)

    def executions(self):
        d = util.state_path("executions")
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

    def snapshot_meta_path(self, snap_id):
        return util.state_path("snapshots", snap_id + ".json")

    def snapshot_zip(self, snap_id):
        return os.path.join(util.snapshots_dir(self.cfg), snap_id, snap_id + ".zip")

    def get_snapshot(self, snap_id, required=True):
        meta = util.read_json(self.snapshot_meta_path(snap_id))
        if meta is None and required:
            raise CfyError("404: Requested `Snapshot` with ID `%s` was not found" % snap_id)
        return meta

    def save_snapshot(self, meta):
        util.write_json(self.snapshot_meta_path(meta["id"]), meta)

    def snapshots(self):
        d = util.state_path("snapshots")
        names = sorted(os.listdir(d)) if os.path.isdir(d) else []
        out = [util.read_json(os.path.join(d, n)) for n in names if n.endswith(".json")]
        return sorted((s for s in out if s), key=lambda s: s["created_at"])

    # --- faults and restore status -----------------------------------------------------------

    def fault(self, operation):
        """'fail', 'hang' or None; read on every check so `fault ... clear` frees a hung operation."""
        return (util.read_json(util.state_path("faults.json")) or {}).get(operation)

    def restore_status(self):
        return util.read_json(util.state_path("restore-status.json")) or {}

    def set_restore_status(self, **fields):
        util.write_json(util.state_path("restore-status.json"), dict(fields, updated_at=util.now_iso()))


# --- the operator's CLI profile -------------------------------------------------------------

def profile_path():
    """~/.cfy-sim/profile.json of the user running cfy; under plain `sudo cfy`, the sudoer's."""
    home = pwd.getpwuid(os.geteuid()).pw_dir
    path = os.path.join(home, ".cfy-sim", "profile.json")
    sudo_user = os.environ.get("SUDO_USER")
    if os.geteuid() == 0 and sudo_user and not os.path.exists(path):
        path = os.path.join(pwd.getpwnam(sudo_user).pw_dir, ".cfy-sim", "profile.json")
    return path


def load_profile():
    profile = util.read_json(profile_path())
    if profile is None:
        raise CfyError("No active profile: %s is missing (cfy profiles use MANAGER_IP)" % profile_path())
    return profile


def save_profile(profile, owner=None):
    path = profile_path() if owner is None else os.path.join(owner.pw_dir, ".cfy-sim", "profile.json")
    util.write_json(path, profile, mode=0o600)
    if owner is not None and os.geteuid() == 0:
        os.chown(os.path.dirname(path), owner.pw_uid, owner.pw_gid)
        os.chown(path, owner.pw_uid, owner.pw_gid)
