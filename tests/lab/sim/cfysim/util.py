"""Plumbing shared by every simulator command: config, paths, settings, JSON files, locks, time.

State is plain JSON files, written atomically (tmp + rename) so a reader never sees half a file,
and guarded by flock where two processes may read-modify-write the same file (the operator's
`cfy` and a detached worker). The operator runs `cfy` as rbops and `cfy_manager` as root, so files
root writes are handed to the owner of their directory: rbops can then replace them.
"""
import contextlib
import datetime
import fcntl
import json
import os
import time

CONFIG_PATH = os.environ.get("CFYSIM_CONFIG", "/etc/cloudify-sim/config.json")
STATE_DIR = os.environ.get("CFYSIM_STATE_DIR", "/var/lib/cloudify-sim")
SIM_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

VERSIONS = {"old": "5.0.5", "new": "7.0.5"}

# Timing knobs; /var/lib/cloudify-sim/settings.json (or config.json's "sim" object) overrides them.
DEFAULT_SETTINGS = {
    "create_delay": 2.0,  # seconds a snapshot create takes
    "restore_idle_gap": 6.0,  # idle seconds on the open DB connection; > HAProxy's lab 4 s
    "restore_idle_gaps": 1,  # how many such gaps the restore has
    "post_restore_secs": 1.0,  # "post-restore work" after the execution ends
    "db_connect_timeout": 5,
    "skip_db": False,  # selftest-rest only: no PostgreSQL, the restore skips the DB load
    "rest_outage_secs": 0.0,  # extra REST outage in the middle of a restore (fault rest-outage sets it once)
    "pause_during_db_load": True,
    "security_file_before_db": True,  # false: rest-security.conf changes only once the DB load succeeded  # REST answers 502 while the DB load runs (_pause_services)
    "agents_delay": 1.0,  # seconds an install_new_agents execution takes
    "licensed": True,  # premium managers: a license is installed
    "restore_start_delay": 0.5,  # pending -> started
    "window_sample_secs": 1.0,  # how often a restore samples the Patroni/HAProxy window (observe.Window)
    "etcd_url": "http://127.0.0.1:2379",
    "patroni_config_key": "/v2/keys/db/postgres/config",
}


class CfyError(Exception):
    """A failure reported to the caller: an exit code for the tools, an HTTP error for the server."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def now_iso():
    """Timestamps in the REST service's format: 2024-05-01T10:00:00.123Z."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def hand_to_dir_owner(path):
    """Root writes (cfy_manager, setup) must stay replaceable by the operator's unprivileged cfy."""
    if os.geteuid() != 0:
        return
    st = os.stat(os.path.dirname(os.path.abspath(path)))
    with contextlib.suppress(OSError):
        os.chown(path, st.st_uid, st.st_gid)


def write_json(path, value, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    hand_to_dir_owner(tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(directory):
    """Exclusive flock on DIRECTORY/.lock (opened read-only, so any user who can read it can lock)."""
    path = os.path.join(directory, ".lock")
    if not os.path.exists(path):
        os.makedirs(directory, exist_ok=True)
        with open(path, "a"):
            pass
        hand_to_dir_owner(path)
    with open(path) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_config():
    cfg = read_json(CONFIG_PATH)
    if cfg is None:
        raise CfyError("simulator not set up: %s is missing (run tests/lab/sim/setup HOST ROLE)" % CONFIG_PATH)
    return cfg


def settings(cfg):
    merged = dict(DEFAULT_SETTINGS)
    merged.update(cfg.get("sim", {}))
    merged.update(read_json(os.path.join(STATE_DIR, "settings.json"), {}))
    return merged


def version(cfg):
    return cfg.get("version") or VERSIONS.get(cfg.get("role"), VERSIONS["new"])


def cluster_names(cfg):
    return list(cfg.get("cluster") or [cfg["name"]])


def shared(cfg):
    """The managers of one cluster share one database: the new ones always, an old cluster of 2."""
    return cfg.get("role") == "new" or len(cluster_names(cfg)) > 1


def data_dir(cfg):
    """Where the manager's database lives: data.json, executions/, snapshots/ (metadata).

    The managers of a cluster share one database in a real cluster, so they share one data dir
    here too (restored users show on all of them, an execution started on mgr-1 is readable on
    mgr-2); a single old manager keeps its own.
    """
    if cfg.get("data_dir"):
        return cfg["data_dir"]
    if cfg.get("role") == "new":
        return os.path.join(cfg["cluster_dir"], "new-managers")
    if shared(cfg):
        return os.path.join(cfg["cluster_dir"], "old-managers")
    return STATE_DIR


def snapshots_dir(cfg):
    """The snapshot archives: where a real manager keeps them (a cluster syncs that directory
    between its managers with syncthing, so a cluster's archives live in its shared dir here)."""
    if cfg.get("snapshots_dir"):
        return cfg["snapshots_dir"]
    if shared(cfg):
        return os.path.join(data_dir(cfg), "resources", "snapshots")
    return "/opt/manager/resources/snapshots"


def security_conf_path(cfg):
    return cfg.get("rest_security_conf", "/opt/manager/rest-security.conf")


def state_path(*parts):
    return os.path.join(STATE_DIR, *parts)


def pid_alive(pid, marker):
    """True when PID runs and its command line contains MARKER (a recycled pid is someone else)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and marker in cmdline


def sleep_until(deadline, step=0.2):
    while time.time() < deadline:
        time.sleep(min(step, max(0.0, deadline - time.time())))
