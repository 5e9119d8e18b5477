"""The detached workers behind the asynchronous executions: snapshot create and restore.

`cfy` starts one with spawn() in its own session (setsid, stdio to a log file), so it outlives
the ssh channel that started it, as a real manager's workflow outlives the CLI call. It reports
through the execution's JSON file; `python3 -m cfysim.worker KIND EXEC_ID SNAPSHOT_ID` runs one.
"""
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


def spawn(kind, exec_id, snap_id):
    """Start a worker detached from this process, its session and its stdio; returns its pid."""
    log = util.state_path("logs", "%s-%s.log" % (kind, exec_id))
    os.makedirs(os.path.dirname(log), exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": util.SIM_DIR,
           "CFYSIM_CONFIG": util.CONFIG_PATH, "CFYSIM_STATE_DIR": util.STATE_DIR,
           "HOME": os.environ.get("HOME", "/")}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-B", "-m", MARKER, kind, exec_id, snap_id],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd="/", env=env)
    return proc.pid


def log(msg):
    print("%s %s" % (util.now_iso(), msg), flush=True)


def obey_fault(mgr, operation):
    """fail: raise; hang: wait for as long as the switch says hang (clearing it lets us go on)."""
    announced = False
    while True:
        fault = mgr.fault(operation)
        if fault == "fail":
            raise SimFault("Simulated failure of %s on %s (fault switch %s=fail)" % (operation, mgr.name, operation))
        if fault != "hang":
            return
        if not announced:
            log("fault switch %s=hang: waiting until it is cleared" % operation)
            announced = True
        time.sleep(0.5)


def run_create(mgr, exec_id, snap_id):
    obey_fault(mgr, "create")
    time.sleep(float(mgr.settings["create_delay"]))
    with mgr.data_lock():
        data = mgr.load_data()
    snap = mgr.get_snapshot(snap_id)
    flags = {k: bool(snap.get(k)) for k in archive.EXCLUDABLE.values()}
    archive.write_snapshot(mgr.snapshot_zip(snap_id), data, archive.snapshot_metadata(snap_id, mgr, flags))
    snap.update(status="created", error="")
    mgr.save_snapshot(snap)
    log("snapshot %s written to %s" % (snap_id, mgr.snapshot_zip(snap_id)))


def create_failed(mgr, snap_id, error):
    snap = mgr.get_snapshot(snap_id, required=False)
    if snap:
        snap.update(status="failed", error=error)
        mgr.save_snapshot(snap)


def run_restore(mgr, exec_id, snap_id):
    mgr.set_restore_status(status="running", execution_id=exec_id, snapshot_id=snap_id)
    observed = observe.record(mgr, exec_id, snap_id)
    log("in force at restore start: %s" % observed)
    obey_fault(mgr, "restore")
    meta, data = archive.read_snapshot(mgr.snapshot_zip(snap_id))
    from . import dbload  # psycopg2 only where it is needed: every cfy call imports this module
    dbload.load(mgr, data, snap_id, log)
    with mgr.data_lock():
        data["restored_from"] = {"snapshot_id": snap_id, "manager": meta.get("manager"),
                                 "version": meta.get("version"), "restored_at": util.now_iso(),
                                 "restored_on": mgr.name}
        # The snapshot's users replace ours: from now on the old manager's passwords apply.
        mgr.save_data(data)
    log("restored %d tenants, %d blueprints, %d deployments" %
        (len(data["tenants"]), len(data["blueprints"]), len(data["deployments"])))


def restore_finished(mgr, exec_id, snap_id, ok):
    """Real managers keep working (restarting services, ...) after the execution ends."""
    if not ok:
        mgr.set_restore_status(status="failed", execution_id=exec_id, snapshot_id=snap_id)
        return
    post = float(mgr.settings["post_restore_secs"])
    mgr.set_restore_status(status="post-restore", execution_id=exec_id, snapshot_id=snap_id,
                           until=time.time() + post)
    time.sleep(post)
    mgr.set_restore_status(status="done", execution_id=exec_id, snapshot_id=snap_id)


def on_sigterm(signum, frame):
    raise SimFault("Execution cancelled (worker got signal %d)" % signum)


def main(argv):
    kind, exec_id, snap_id = argv
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_sigterm)
    mgr = Manager()
    mgr.update_execution(exec_id, status="started", started_at=util.now_iso(), worker_pid=os.getpid())
    log("%s %s: execution %s started (pid %d)" % (kind, snap_id, exec_id, os.getpid()))
    ok, error = False, ""
    try:
        run_create(mgr, exec_id, snap_id) if kind == "create" else run_restore(mgr, exec_id, snap_id)
        ok = True
    except Exception as e:  # every failure becomes the execution's error, as on a manager
        error = "%s: %s" % (type(e).__name__, str(e).strip())
        log("failed: %s\n%s" % (error, traceback.format_exc()))
        if kind == "create":
            create_failed(mgr, snap_id, error)
    if mgr.get_execution(exec_id)["status"] != "cancelled":
        mgr.update_execution(exec_id, status="terminated" if ok else "failed", error=error,
                             ended_at=util.now_iso())
    log("execution %s %s" % (exec_id, "terminated" if ok else "failed"))
    if kind == "restore":
        restore_finished(mgr, exec_id, snap_id, ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
