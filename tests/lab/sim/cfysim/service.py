"""Start/stop the host's REST server (nginx + restservice of the simulated manager) as a detached
daemon: own session (setsid), stdio to STATE_DIR/logs/server.log, pid in STATE_DIR/server.pid.
It survives the ssh session or `tests/lab/exec` call that started it.
"""
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time

from . import util

MARKER = "cfysim.server"


def pidfile():
    return util.state_path("server.pid")


def running_pid():
    try:
        with open(pidfile()) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if util.pid_alive(pid, MARKER) else None


def listening(cfg, timeout=0.3):
    host = cfg.get("listen", cfg["address"])
    try:
        with socket.create_connection((host, int(cfg.get("port", 80))), timeout=timeout):
            return True
    except OSError:
        return False


def code_newer_than(pid):
    """True when the simulator's code changed after PID started (the lab re-copied it)."""
    from .observe import process_start_epoch
    try:
        started = process_start_epoch(pid)
    except OSError:
        return False
    newest = max(os.stat(os.path.join(util.SIM_DIR, "cfysim", f)).st_mtime
                 for f in os.listdir(os.path.join(util.SIM_DIR, "cfysim")) if f.endswith(".py"))
    return newest > started + 0.05


@contextlib.contextmanager
def one_at_a_time():
    """Starts and stops of this host's server, one at a time: two at once (the lab's `up` and a
    `cfy_manager start` over ssh) would both spawn one, and the pidfile would name the loser."""
    path = util.state_path("server.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def start(cfg, wait=5.0):
    """Idempotent: a running server is left alone, unless its code changed since it started (then
    it is restarted, so a re-copied simulator takes effect). Returns its pid."""
    with one_at_a_time():
        return _start(cfg, wait)


def _start(cfg, wait):
    pid = running_pid()
    if pid and not code_newer_than(pid):
        return pid
    if pid or servers():
        _stop(cfg, 5.0)  # an old one, or one the pidfile lost: it holds the port
    log = util.state_path("logs", "server.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": util.SIM_DIR,
           "CFYSIM_CONFIG": util.CONFIG_PATH, "CFYSIM_STATE_DIR": util.STATE_DIR, "HOME": "/",
           "PYTHONDONTWRITEBYTECODE": "1"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-B", "-m", MARKER], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, cwd="/", env=env)
    with open(pidfile() + ".tmp", "w") as f:
        f.write("%d\n" % proc.pid)
    os.replace(pidfile() + ".tmp", pidfile())
    deadline = time.time() + wait
    while time.time() < deadline:
        if proc.poll() is not None:
            raise util.CfyError("the REST server exited at once (rc %s); see %s" % (proc.returncode, log))
        if listening(cfg, 0.2):
            return proc.pid
        time.sleep(0.05)
    raise util.CfyError("the REST server does not listen after %.0fs; see %s" % (wait, log))


def servers():
    """Every REST server of this host: pids whose command line has MARKER, in this mount namespace
    (this lab host), serving this state dir. The pidfile names one; this finds one it lost too
    (a server started while another was stopping), which would otherwise hold the port."""
    mine = os.readlink("/proc/self/ns/mnt")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            if os.readlink("/proc/%d/ns/mnt" % pid) != mine or not util.pid_alive(pid, MARKER):
                continue
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except OSError:
            continue
        if env.get(b"CFYSIM_STATE_DIR", b"").decode(errors="replace") == util.STATE_DIR:
            found.append(pid)
    return found


def stop(cfg, wait=5.0):
    """Stop every REST server of this host (`servers`); True when there was one."""
    with one_at_a_time():
        return _stop(cfg, wait)


def _stop(cfg, wait):
    pids = set(servers())
    pid = running_pid()
    if pid:
        pids.add(pid)
    with contextlib.suppress(FileNotFoundError):
        os.remove(pidfile())
    if not pids:
        return False
    for p in pids:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGTERM)
    deadline = time.time() + wait
    while time.time() < deadline and any(util.pid_alive(p, MARKER) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if util.pid_alive(p, MARKER):
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
    time.sleep(0.1)
    return True