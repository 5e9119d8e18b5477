"""The detached workers behind the executions (the manager's mgmtworker): snapshot create and
restore, install_new_agents.

The REST server starts one with spawn() in its own session (setsid, stdio to a log file), so it
outlives the request, as a real manager's workflow does. It reports through the execution's JSON
file; `python3 -m cfysim.worker KIND EXEC_ID ARG` runs one (ARG: snapshot id or deployment id).
"""
import json
import os
import signal
import subprocess
import sys
import time
import traceback

from . import archive, observe, util
from .store import Manager

MARKER = "cfysim.worker"  # in the worker's command line; store.reconcile looks for it


class SimFault(Exception):
    """A failure switched on with tests/lab/sim/fault."""


class NonRecoverableError(Exception):
    """What the real workflow raises (cloudify.exceptions.NonRecoverableError)."""


def spawn(kind, exec_id, arg):
    """Start a worker detached from this process, its session and its stdio; returns its pid."""
    log_path = util.state_path("logs", "%s-%s.log" % (kind, exec_id))
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": util.SIM_DIR,
           "CFYSIM_CONFIG": util.CONFIG_PATH, "CFYSIM_STATE_DIR": util.STATE_DIR, "HOME": "/"}
    with open(log_path, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-B", "-m", MARKER, kind, exec_id, arg],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd="/", env=env)
    return proc.pid


def log(msg):
    print("%s %s" % (util.now_iso(), msg), flush=True)


def obey_fault(mgr, operation):
    """fail: raise; hang: wait while the switch says hang; slow N: sleep N seconds."""
    announced = False
    while True:
        fault = mgr.fault(operation)
        if fault == "fail":
            raise SimFault("Simulated failure of %s on %s (fault switch %s=fail)" % (operation, mgr.name, operation))
        if fault == "slow":
            time.sleep(mgr.fault_arg(operation))
            return
        if fault != "hang":
            return
        if not announced:
            log("fault switch %s=hang: waiting until it is cleared" % operation)
            announced = True
        time.sleep(0.5)


# --- create_snapshot ------------------------------------------------------------------------

def run_create(mgr, exec_id, snap_id):
    obey_fault(mgr, "create")
    time.sleep(float(mgr.settings["create_delay"]))
    with mgr.data_lock():
        data = mgr.load_data()
    snap = mgr.get_snapshot(snap_id)
    flags = {k: bool(snap.get(k)) for k in archive.EXCLUDABLE.values()}
    archive.write_snapshot(mgr.snapshot_zip(snap_id), data, archive.snapshot_metadata(snap_id, mgr, flags),
                           security=mgr.security_conf())
    snap.update(status="created", error="")
    mgr.save_snapshot(snap)
    log("snapshot %s written to %s" % (snap_id, mgr.snapshot_zip(snap_id)))


def create_failed(mgr, snap_id, error):
    snap = mgr.get_snapshot(snap_id, required=False)
    if snap:
        snap.update(status="failed", error=error)
        mgr.save_snapshot(snap)


# --- restore_snapshot -------------------------------------------------------------------------

def version_tuple(v):
    return tuple(int(x) for x in str(v).split("-")[0].split(".") if x.isdigit())


def validate(mgr, ex, meta, data_now):
    """snapshot_restore.py SnapshotRestoreValidator.validate / _validate_v_4_snapshot /
    _assert_clean_db: newer snapshot, not the bootstrap admin, blueprints without force."""
    snap_v, mgr_v = meta.get("version", "0"), mgr.version
    log("Validating snapshot\nManager version = %s, snapshot version = %s" % (mgr_v, snap_v))
    if version_tuple(snap_v) > version_tuple(mgr_v):
        raise NonRecoverableError("Cannot restore a newer manager's snapshot on this manager [%s > %s]"
                                  % (snap_v, mgr_v))
    if version_tuple(snap_v) < (4, 0, 0):
        raise NonRecoverableError("Restoring snapshot from version %s is not supported" % snap_v)
    params = ex.get("parameters") or {}
    if not params.get("user_is_bootstrap_admin"):
        raise NonRecoverableError("The current user is not authorized to restore v4 snapshots. "
                                  "Only the bootstrap admin is allowed to perform this action")
    if data_now["blueprints"]:
        if params.get("force"):
            log("Forcing snapshot restoration on a non-empty manager. Existing data will be deleted")
        else:
            raise NonRecoverableError("Snapshot restoration on a non-empty manager is not permitted. "
                                      "Pass the --force flag to force the restore and delete existing "
                                      "data from the manager")


def restore_security_file(mgr, security):
    """snapshot_restore.py _restore_security_file: rest-security.conf.update(snapshot's), this host only."""
    if security is None:
        return
    path = util.security_conf_path(mgr.cfg)
    conf = util.read_json(path) or {}
    conf.update(security)
    util.write_json(path, conf, mode=0o640)
    log("rest-security.conf of %s updated from the snapshot" % mgr.name)


WINDOW = []  # the restore's observe.Window, finished in main() once the restore ended


def run_restore(mgr, exec_id, snap_id):
    ex = mgr.get_execution(exec_id)
    observed = observe.record(mgr, exec_id, snap_id)
    log("in force at restore start: %s" % json.dumps(observed, sort_keys=True))
    WINDOW.append(observe.Window(mgr, exec_id, snap_id))
    obey_fault(mgr, "restore")
    WINDOW[0].check()
    meta, data, security = archive.read_snapshot(mgr.snapshot_zip(snap_id))
    with mgr.data_lock():
        data_now = mgr.load_data()
    validate(mgr, ex, meta, data_now)
    early = bool(mgr.settings["security_file_before_db"])
    if early:  # the source's order: _restore_files_to_manager, then _restore_db
        restore_security_file(mgr, security)
    extra = float(mgr.take_fault("rest-outage") or mgr.settings["rest_outage_secs"] or 0)
    pause = bool(mgr.settings["pause_during_db_load"])
    # _pause_services: cloudify-restservice and cloudify-api stop around _restore_db; nginx keeps
    # answering, with 502 Bad Gateway.
    start = time.time()
    if pause or extra:
        mgr.set_outage(start + 24 * 3600, "restore %s: _pause_services" % exec_id)
        log("REST service paused (502 from nginx)")
    try:
        if mgr.settings.get("skip_db") or not mgr.cfg.get("db"):
            log("restore: DB load skipped (skip_db / no db in config)")
        else:
            from . import dbload  # psycopg2 only where it is needed
            dbload.load(mgr, data, snap_id, log)
        WINDOW[0].check()
        util.sleep_until(start + extra / 2)
        with mgr.data_lock():
            data["restored_from"] = {"snapshot_id": snap_id, "manager": meta.get("manager"),
                                     "version": meta.get("version"), "restored_at": util.now_iso(),
                                     "restored_on": mgr.name}
            # The snapshot's users (and their hashes) replace ours, while the REST service is down:
            # when it answers again, the snapshot's passwords apply.
            mgr.save_data(data)
            if not early:
                restore_security_file(mgr, security)
        util.sleep_until(start + extra)
    finally:
        if pause or extra:
            mgr.set_outage(0, "")
            log("REST service resumed after %.1fs" % (time.time() - start))
    log("restored %d tenants, %d blueprints, %d deployments" %
        (len(data["tenants"]), len(data["blueprints"]), len(data["deployments"])))


def restore_finished(mgr, exec_id, snap_id, ok):
    """The restore flag file stays until the post-restore commands ran (snapshot-status: running)."""
    if ok:
        post = float(mgr.settings["post_restore_secs"])
        # `until` leaves room for the window's end sample below: the status flips when this
        # worker writes "done" (or at `until`, should the worker die).
        mgr.set_restore_status(status="post-restore", execution_id=exec_id, snapshot_id=snap_id,
                               until=time.time() + post + 10)
        time.sleep(post)
    if WINDOW:  # the window at the end: sampled while snapshot-status still says running
        WINDOW[0].finish()
        log("restore window: %s" % json.dumps(WINDOW[0].record(), sort_keys=True))
    mgr.set_restore_status(status="done" if ok else "failed", execution_id=exec_id, snapshot_id=snap_id)


# --- install_new_agents -----------------------------------------------------------------------

def run_agents(mgr, exec_id, dep_id):
    obey_fault(mgr, "agents")
    time.sleep(float(mgr.settings["agents_delay"]))
    ex = mgr.get_execution(exec_id)
    with mgr.data_lock():
        data = mgr.load_data()
        n = 0
        for ni in data["node_instances"]:
            if ni.get("deployment_id") == dep_id and ni.get("tenant_name") == ex["tenant_name"] and ni.get("agent"):
                ni["agent"].update(version=mgr.version, manager=mgr.name, state="started")
                n += 1
        mgr.save_data(data)
    log("install_new_agents on %s: %d agents now report to %s" % (dep_id, n, mgr.name))


def on_sigterm(signum, frame):
    raise SimFault("Execution cancelled (worker got signal %d)" % signum)


def main(argv):
    kind, exec_id, arg = argv
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_sigterm)
    mgr = Manager()
    time.sleep(float(mgr.settings["restore_start_delay"]) if kind == "restore" else 0.2)  # pending, visibly
    mgr.update_execution(exec_id, status="started", started_at=util.now_iso(), worker_pid=os.getpid())
    log("%s %s: execution %s started (pid %d)" % (kind, arg, exec_id, os.getpid()))
    ok, error = False, ""
    try:
        {"create": run_create, "restore": run_restore, "agents": run_agents}[kind](mgr, exec_id, arg)
        ok = True
    except Exception as e:  # every failure becomes the execution's error, as on a manager
        error = str(e).strip() if isinstance(e, NonRecoverableError) else "%s: %s" % (type(e).__name__, str(e).strip())
        log("failed: %s\n%s" % (error, traceback.format_exc()))
        if kind == "create":
            create_failed(mgr, arg, error)
    if mgr.get_execution(exec_id)["status"] not in ("cancelled",):
        cancelled = mgr.get_execution(exec_id)["status"] in ("cancelling", "force_cancelling", "kill_cancelling")
        mgr.update_execution(exec_id, status="cancelled" if cancelled else "terminated" if ok else "failed",
                             error=error, ended_at=util.now_iso())
    log("execution %s %s" % (exec_id, "terminated" if ok else "failed"))
    if kind == "restore":
        restore_finished(mgr, exec_id, arg, ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
