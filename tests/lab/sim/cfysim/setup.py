"""`setup HOST ROLE [--reset]` (root, inside a lab host) and `simctl` (the fault switches and the
timing settings, run by tests/lab/sim/fault through tests/lab/exec).

setup is idempotent and quiet: it creates what is missing, leaves existing state alone (a repeated
`tests/lab/up` keeps a half-done upgrade as it is) and makes sure the host's REST server runs.
--reset starts the host over (and, on a new manager, the shared data and the simulator's tables
in cloudify_db).
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time

from . import seed, service, store, util
from .util import CfyError

LAB_ADDRESSES = {"old-1": "127.0.0.11", "mgr-1": "127.0.0.12", "mgr-2": "127.0.0.13", "mgr-3": "127.0.0.14"}
FAULT_OPERATIONS = ("create", "download", "upload", "restore", "agents")
FAULT_MODES = ("fail", "hang", "slow", "clear")
SECURITY_KEYS = ("secret_key", "hash_salt", "encoding_alphabet", "encoding_block_size", "encoding_min_length",
                 "encryption_key")


def default_config(host, role):
    """The lab writes /etc/cloudify-sim/config.json; this is the same shape, for a host without one."""
    address = LAB_ADDRESSES.get(host) or socket.gethostbyname(host)
    lab = os.path.realpath(os.environ.get("RUNBOOK_LAB_DIR", "/tmp/runbook-lab"))
    return {"name": host, "address": address, "port": 80, "role": role, "version": util.VERSIONS[role],
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


def read_yaml(path):
    try:
        import yaml
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except FileNotFoundError:
        return {}


def ensure_security_conf(cfg, rewrite=False):
    """/opt/manager/rest-security.conf as cfy_manager install writes it (restservice.py
    _generate_flask_security_config / _get_flask_security): config.yaml's flask_security values win;
    a missing value is generated. Here "generated" is deterministic per role (lab-ROLE-KEY), so that
    the members of a lab cluster agree, as a working real cluster's must (see README)."""
    path = util.security_conf_path(cfg)
    if os.path.exists(path) and not rewrite:
        return
    fs = (read_yaml(cfg.get("cloudify_config", "/etc/cloudify/config.yaml")).get("flask_security") or {})
    conf = {k: "lab-%s-%s" % (cfg.get("role"), k.replace("_", "-")) for k in SECURITY_KEYS}
    conf.update(encoding_block_size=24, encoding_min_length=5)
    if os.path.exists(path) and not rewrite:
        with contextlib.suppress(ValueError):
            conf.update(util.read_json(path) or {})
    conf.update(fs)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    util.write_json(path, conf, mode=0o640)


def link_tools():
    """cfy_manager into the host's /usr/local/bin (the real cfy comes from the lab's venv)."""
    for tool in ("cfy_manager",):
        link, target = os.path.join("/usr/local/bin", tool), os.path.join(util.SIM_DIR, tool)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        with contextlib.suppress(OSError):
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(target, link)
    stale = "/usr/local/bin/cfy"  # the CLI simulator's link, from before the real CLI
    if os.path.islink(stale) and os.readlink(stale).endswith("/sim/cfy"):
        with contextlib.suppress(OSError):
            os.remove(stale)


def drop_tables(mgr, seconds=6.0):
    """The simulator's tables in cloudify_db; the lab's DB may be switching over: retry briefly."""
    last, deadline = None, time.time() + seconds
    while True:
        try:
            from . import dbload
            conn = dbload.connect(mgr, timeout=2)
            try:
                with conn:
                    conn.cursor().execute("DROP TABLE IF EXISTS %s, snapshot_restores" % ", ".join(dbload.TABLES))
            finally:
                conn.close()
            return
        except ImportError as e:
            last = e
            break
        except Exception as e:
            last = e
            if time.time() + 0.5 >= deadline:
                break
            time.sleep(0.5)
    print("setup: warning: could not drop the simulator's tables in cloudify_db: %s" % str(last).strip(),
          file=sys.stderr)


def kill_workers(mgr):
    """A hung or running worker of the old state must not write into the new one."""
    with contextlib.suppress(Exception):
        for ex in mgr.executions():
            if ex.get("worker_pid") and util.pid_alive(ex["worker_pid"], "cfysim.worker"):
                with contextlib.suppress(OSError):
                    os.kill(ex["worker_pid"], signal.SIGKILL)


def empty_dir(path):
    for name in os.listdir(path) if os.path.isdir(path) else []:
        p = os.path.join(path, name)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)


def reset(mgr, cfg):
    service.stop(cfg)
    kill_workers(mgr)
    empty_dir(util.STATE_DIR)
    shutil.rmtree(util.snapshots_dir(cfg), ignore_errors=True)
    if mgr.data_dir != util.STATE_DIR:
        empty_dir(mgr.data_dir)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(cfg["cluster_dir"], "members", mgr.name + ".json"))
    if mgr.role == "new":
        ensure_security_conf(cfg, rewrite=True)  # a restore changed it: back to config.yaml's
        if cfg.get("db") and not mgr.settings.get("skip_db"):
            drop_tables(mgr)


def ensure_state(mgr, cfg):
    for d in (util.STATE_DIR, util.state_path("logs"), mgr.data_dir, mgr.exec_dir(), mgr.snapshot_meta_dir(),
              util.snapshots_dir(cfg), os.path.join(cfg["cluster_dir"], "members")):
        os.makedirs(d, exist_ok=True)
    with mgr.data_lock():
        data = util.read_json(mgr.data_path())
        if data is not None and not all(u.get("password_hash", "").startswith("$pbkdf2-sha256$")
                                        for u in data.get("users", [])):
            data = None  # the CLI simulator's data (other hashes): start this manager's data over
        if data is None:
            salt = mgr.hash_salt()
            mgr.save_data(seed.old_manager_data(mgr.name, salt) if mgr.role == "old" else seed.new_manager_data(salt))
    if "components" not in (util.read_json(util.state_path("services.json")) or {}):
        # An old passive node (Cloudify 4.x active-passive HA): its manager services are stopped.
        passive = cfg.get("active") is False
        mgr.set_components({c: "inactive" if passive else "active" for c in store.MANAGER_COMPONENTS})
    else:  # the cluster dir may be newer than this host's state: show up in it again
        mgr.write_member()


def setup_main(argv):
    p = argparse.ArgumentParser(prog="setup", description="Install and initialise the Cloudify simulator")
    p.add_argument("host")
    p.add_argument("role", choices=("old", "new"))
    p.add_argument("--reset", action="store_true", help="wipe this host's simulator state first")
    args = p.parse_args(argv)
    try:
        if os.geteuid() != 0 and not os.environ.get("CFYSIM_ALLOW_USER"):
            raise CfyError("setup must run as root inside the host (tests/lab/exec HOST .../setup HOST ROLE)")
        cfg = ensure_config(args.host, args.role)
        ensure_security_conf(cfg)
        mgr = store.Manager(cfg)
        if args.reset:
            reset(mgr, cfg)
        if os.geteuid() == 0:
            link_tools()
        ensure_state(mgr, cfg)
        # The REST server runs exactly when the manager's state says so (a stray one is stopped).
        if mgr.component_active("nginx"):
            service.start(cfg)
        else:
            service.stop(cfg)
    except CfyError as e:
        print("setup: error: %s" % e, file=sys.stderr)
        return e.code
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


USAGE = ("usage: simctl fault %s fail|hang|clear | fault OP slow SECONDS | rest-outage SECONDS | clear | "
         "set KEY=VALUE... | show" % "|".join(FAULT_OPERATIONS))


def ctl_main(argv):
    """simctl fault OP MODE [SECONDS] · rest-outage SECONDS · clear · set KEY=VALUE... · show"""
    try:
        if argv[:1] == ["fault"] and len(argv) in (3, 4) and argv[1] in FAULT_OPERATIONS and argv[2] in FAULT_MODES:
            if argv[2] == "slow":
                if len(argv) != 4:
                    raise CfyError(USAGE, 2)
                float(argv[3])
                update_state_file("faults.json", {argv[1]: "slow %s" % argv[3]})
            else:
                if len(argv) != 3:
                    raise CfyError(USAGE, 2)
                update_state_file("faults.json", {argv[1]: None if argv[2] == "clear" else argv[2]})
        elif argv[:1] == ["rest-outage"] and len(argv) == 2:
            float(argv[1])
            update_state_file("faults.json", {"rest-outage": None if float(argv[1]) <= 0 else argv[1]})
        elif argv == ["clear"]:
            update_state_file("faults.json", {op: None for op in FAULT_OPERATIONS + ("rest-outage",)})
        elif argv[:1] == ["set"] and len(argv) > 1:
            update_state_file("settings.json", dict(parse_setting(a) for a in argv[1:]))
        elif argv != ["show"]:
            raise CfyError(USAGE, 2)
    except ValueError:
        print("simctl: SECONDS must be a number\n%s" % USAGE, file=sys.stderr)
        return 2
    except CfyError as e:
        print("simctl: %s" % e, file=sys.stderr)
        return e.code
    print(json.dumps({"faults": util.read_json(util.state_path("faults.json"), {}),
                      "settings": util.settings(util.load_config())}, sort_keys=True))
    return 0
