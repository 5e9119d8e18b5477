"""`setup HOST ROLE [--reset]` (root, inside a lab host) and `simctl` (the fault switches and the
timing settings, run by tests/lab/sim/fault through tests/lab/exec).

setup is idempotent: it creates what is missing and leaves existing state alone, so a repeated
`tests/lab/up` keeps a half-done upgrade as it is. --reset starts the host over (and, on a new
manager, the shared data and the simulator's tables in cloudify_db).
"""
import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import sys

from . import seed, store, util
from .util import CfyError

OPERATOR = os.environ.get("CFYSIM_OPERATOR", "rbops")
LAB_ADDRESSES = {"old-1": "127.0.0.11", "mgr-1": "127.0.0.12", "mgr-2": "127.0.0.13", "mgr-3": "127.0.0.14"}
FAULT_OPERATIONS = ("create", "download", "restore", "agents")
FAULT_MODES = ("fail", "hang", "clear")


def default_config(host, role):
    """The lab writes /etc/cloudify-sim/config.json; this is the same shape, for a host without one."""
    address = LAB_ADDRESSES.get(host) or socket.gethostbyname(host)
    lab = os.path.realpath(os.environ.get("RUNBOOK_LAB_DIR", "/tmp/runbook-lab"))
    return {"name": host, "address": address, "role": role,
            "db": {"host": address, "port": 5432, "user": "cloudify", "password": "cloudify",
                   "dbname": "cloudify_db"},
            "cluster_dir": os.path.join(lab, "cluster"), "patroni_conf": "/etc/patroni.conf",
            "haproxy_cfg": "/etc/haproxy/haproxy.cfg"}


def ensure_config(host, role):
    cfg = util.read_json(util.CONFIG_PATH)
    if cfg is None:
        cfg = default_config(host, role)
        util.write_json(util.CONFIG_PATH, cfg)
    if cfg.get("name") != host or cfg.get("role") != role:
        raise CfyError("%s says name=%s role=%s, but setup was asked for %s %s"
                       % (util.CONFIG_PATH, cfg.get("name"), cfg.get("role"), host, role), code=2)
    return cfg


def owned_dir(path, owner, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(path, mode)


def link_tools():
    for tool in ("cfy", "cfy_manager"):
        link, target = os.path.join("/usr/local/bin", tool), os.path.join(util.SIM_DIR, tool)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)


def drop_tables(mgr):
    """Best effort: the lab's database may be down while a host is reset."""
    try:
        from . import dbload
        conn = dbload.connect(mgr)
        with conn:
            conn.cursor().execute("DROP TABLE IF EXISTS %s, snapshot_restores" % ", ".join(dbload.TABLES))
        conn.close()
    except Exception as e:
        print("cfy-sim: could not drop the simulator's tables in cloudify_db: %s" % str(e).strip(), file=sys.stderr)


def kill_workers(mgr):
    """A hung or running worker of the old state must not write into the new one."""
    for ex in mgr.executions():
        if ex.get("worker_pid") and util.pid_alive(ex["worker_pid"], "cfysim.worker"):
            with contextlib.suppress(OSError):
                os.kill(ex["worker_pid"], signal.SIGKILL)


def reset(mgr, cfg):
    kill_workers(mgr)
    for name in os.listdir(util.STATE_DIR) if os.path.isdir(util.STATE_DIR) else []:
        path = util.state_path(name)
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    shutil.rmtree(util.snapshots_dir(cfg), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(mgr.data_path())
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(pwd.getpwnam(OPERATOR).pw_dir, ".cfy-sim", "profile.json"))
    if mgr.role == "new":
        drop_tables(mgr)


def ensure_state(mgr, cfg, owner):
    owned_dir(util.STATE_DIR, owner)
    for sub in ("executions", "snapshots", "logs"):
        owned_dir(util.state_path(sub), owner)
    owned_dir(util.snapshots_dir(cfg), owner)
    if mgr.role == "new":
        os.makedirs(cfg["cluster_dir"], exist_ok=True)
    owned_dir(mgr.data_dir, owner)
    with mgr.data_lock():
        if util.read_json(mgr.data_path()) is None:
            mgr.save_data(seed.old_manager_data(mgr.name) if mgr.role == "old" else seed.new_manager_data())
    status = util.read_json(util.state_path("services.json"))
    if status is None:
        mgr.set_services("active")
    else:  # the cluster dir may be newer than this host's state: show up in it again
        mgr.write_member(status["status"])


def ensure_profile(mgr, owner):
    path = os.path.join(owner.pw_dir, ".cfy-sim", "profile.json")
    if os.path.exists(path):
        return
    password = seed.OLD_ADMIN_PASSWORD if mgr.role == "old" else seed.NEW_ADMIN_PASSWORD
    store.save_profile({"manager_ip": mgr.address, "manager_username": "admin", "manager_password": password,
                        "manager_tenant": "default_tenant", "rest_port": 80, "rest_protocol": "http"}, owner)


def setup_main(argv):
    p = argparse.ArgumentParser(prog="setup", description="Install and initialise the Cloudify simulator")
    p.add_argument("host")
    p.add_argument("role", choices=("old", "new"))
    p.add_argument("--reset", action="store_true", help="wipe this host's simulator state first")
    args = p.parse_args(argv)
    try:
        if os.geteuid() != 0:
            raise CfyError("setup must run as root inside the host (tests/lab/exec HOST .../setup HOST ROLE)")
        owner = pwd.getpwnam(OPERATOR)
        cfg = ensure_config(args.host, args.role)
        mgr = store.Manager(cfg)
        if args.reset:
            reset(mgr, cfg)
        link_tools()
        ensure_state(mgr, cfg, owner)
        ensure_profile(mgr, owner)
    except CfyError as e:
        print("setup: error: %s" % e, file=sys.stderr)
        return e.code
    print("cfy-sim: %s is a%s %s manager (services %s, state %s)" % (
        args.host, "n" if args.role == "old" else "", args.role, mgr.services_status(), util.STATE_DIR))
    return 0


# --- simctl: fault switches and settings ------------------------------------------------------

def update_state_file(name, changes):
    path = util.state_path(name)
    with util.locked(util.STATE_DIR):
        current = util.read_json(path, {})
        for key, value in changes.items():
            current.pop(key, None) if value is None else current.__setitem__(key, value)
        util.write_json(path, current)
    return current


def parse_setting(item):
    key, sep, raw = item.partition("=")
    if not sep or key not in util.DEFAULT_SETTINGS:
        raise CfyError("expected KEY=VALUE with KEY one of %s, got %r" % (", ".join(util.DEFAULT_SETTINGS), item), 2)
    if raw == "":
        return key, None  # KEY= puts the default back
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


def ctl_main(argv):
    """simctl fault OP fail|hang|clear · simctl clear · simctl set KEY=VALUE... (KEY= resets) · simctl show"""
    try:
        if argv[:1] == ["fault"] and len(argv) == 3 and argv[1] in FAULT_OPERATIONS and argv[2] in FAULT_MODES:
            update_state_file("faults.json", {argv[1]: None if argv[2] == "clear" else argv[2]})
        elif argv == ["clear"]:
            update_state_file("faults.json", {op: None for op in FAULT_OPERATIONS})
        elif argv[:1] == ["set"] and len(argv) > 1:
            update_state_file("settings.json", dict(parse_setting(a) for a in argv[1:]))
        elif argv != ["show"]:
            raise CfyError("usage: simctl fault %s %s | clear | set KEY=VALUE... | show"
                           % ("|".join(FAULT_OPERATIONS), "|".join(FAULT_MODES)), 2)
    except CfyError as e:
        print("simctl: %s" % e, file=sys.stderr)
        return e.code
    print(json.dumps({"faults": util.read_json(util.state_path("faults.json"), {}),
                      "settings": util.settings(util.load_config())}, sort_keys=True))
    return 0
