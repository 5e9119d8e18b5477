"""`cfy_manager start|stop|restart [COMPONENT...] [-c CONFIG] [-v]`, after cloudify-manager-install
cfy_manager/main.py (start, stop, restart, _get_components, _filter_components).

The components come from `services_to_install` of the node's config (/etc/cloudify/config.yaml;
default: all of database_service, queue_service, manager_service, monitoring_service,
entropy_service, as the shipped config.yaml). What stopping one does here:
  manager components (restservice, nginx, mgmtworker, ...): a state flag; nginx down = the REST
    server process stops (connection refused); restservice down with nginx up = 502 from "nginx";
  postgresqlserver: on a clustered node (postgresql_server.cluster.nodes in the config, or
    config.json components.database given) runs the lab's hooks components.database.stop/start
    (etcd member + Patroni of this host), as postgresql_server.py stop/start do;
  rabbitmq: a state flag, or the hooks components.queue.stop/start when config.json gives them.
"""
import argparse
import datetime
import os
import subprocess
import sys

from . import service, store, util
from .util import CfyError

DEFAULT_SERVICES = ["database_service", "queue_service", "manager_service", "monitoring_service",
                    "entropy_service"]


def log(name, level, msg):
    # cfy_manager/logger.py FORMAT_MESSAGE = '%(asctime)s - %(name)s - %(levelname)s - %(message)s'
    now = datetime.datetime.now()
    print("%s,%03d - [%s] - %s - %s" % (now.strftime("%Y-%m-%d %H:%M:%S"), now.microsecond // 1000,
                                        name.upper(), level, msg), flush=True)


def read_node_config(paths, default):
    merged = {}
    for path in paths or [default]:
        try:
            import yaml
            with open(path) as f:
                merged.update(yaml.safe_load(f) or {})
        except FileNotFoundError:
            if paths:
                raise CfyError("Config file %s does not exist" % path)
    return merged


def get_components(node_cfg):
    """main.py _get_components: class names, lowercased, in install order."""
    services = node_cfg.get("services_to_install") or DEFAULT_SERVICES
    comps = ["rsyslog"]
    if "entropy_service" in services:
        comps.append("haveged")
    if "database_service" in services:
        comps.append("postgresqlserver")
    if "queue_service" in services:
        comps.append("rabbitmq")
    if "manager_service" in services:
        comps += ["manager", "postgresqlclient", "restservice", "nginx", "amqppostgres", "mgmtworker"]
        if not (node_cfg.get("stage") or {}).get("skip_installation"):
            comps.append("stage")
        comps += ["composer", "executionscheduler", "usagecollector"]
        if not (node_cfg.get("cli") or {}).get("skip_installation"):
            comps.append("cli")
    if "monitoring_service" in services:
        comps.append("prometheus")
        if "manager_service" not in services:
            comps.append("nginx")
    if "manager_service" in services and not (node_cfg.get("sanity") or {}).get("skip_sanity", True):
        comps.append("sanity")
    return comps


def filter_components(comps, include):
    """main.py _filter_components: "amqp_postgres" -> "amqppostgres", matched on class names."""
    wanted = {name.lower().replace("_", "") for name in include}
    return [c for c in comps if c in wanted]


def run_hook(name, argv):
    log(name, "INFO", "running %s" % " ".join(argv))
    rc = subprocess.call(argv)
    if rc != 0:
        raise CfyError("%s failed (exit %d): %s" % (name, rc, " ".join(argv)))


def act(mgr, node_cfg, comp, action):
    """One component's start/stop (base_component.py start/stop, postgresql_server.py)."""
    hooks = mgr.cfg.get("components") or {}
    if comp == "postgresqlserver":
        log("postgresql_server", "NOTICE", "%s PostgreSQL Server..." % ("Starting" if action == "start" else "Stopping"))
        clustered = bool(((node_cfg.get("postgresql_server") or {}).get("cluster") or {}).get("nodes")) \
            or bool(hooks.get("database"))
        if clustered and (hooks.get("database") or {}).get(action):
            run_hook("postgresql_server", hooks["database"][action])
        mgr.set_components({comp: "active" if action == "start" else "inactive"})
        log("postgresql_server", "NOTICE", "PostgreSQL Server successfully %s" %
            ("started" if action == "start" else "stopped"))
        return
    log(comp, "INFO", "%s component" % ("Starting" if action == "start" else "Stopping"))
    if comp == "rabbitmq" and (hooks.get("queue") or {}).get(action):
        run_hook("rabbitmq", hooks["queue"][action])
    mgr.set_components({comp: "active" if action == "start" else "inactive"})
    if comp == "nginx":
        if action == "stop":
            service.stop(mgr.cfg)
        else:
            service.start(mgr.cfg)
    log(comp, "INFO", "Component %s" % ("started" if action == "start" else "stopped"))


def run(args):
    if os.geteuid() != 0 and not os.environ.get("CFYSIM_ALLOW_USER"):
        if args.skip_root_check:
            raise CfyError("cfy_manager %s must be run as root" % args.action)
        # main.py: a non-root cfy_manager re-runs itself under sudo
        os.execv("/usr/bin/sudo", ["/usr/bin/sudo", sys.executable, "-B", os.path.join(util.SIM_DIR, "cfy_manager")]
                 + sys.argv[1:] + ["--skip-root-check"])
    mgr = store.Manager()
    node_cfg = read_node_config(args.config_file, mgr.cfg.get("cloudify_config", "/etc/cloudify/config.yaml"))
    comps = get_components(node_cfg)
    if args.components:
        comps = filter_components(comps, args.components)
    if args.action in ("stop", "restart"):
        if args.action == "stop":
            log("main", "NOTICE", "Stopping Cloudify Manager services...")
        for c in comps:
            act(mgr, node_cfg, c, "stop")
        if args.action == "stop":
            log("main", "NOTICE", "Cloudify Manager services successfully stopped!")
    if args.action in ("start", "restart"):
        if args.action == "start":
            log("main", "NOTICE", "Starting Cloudify Manager services...")
        for c in comps:
            act(mgr, node_cfg, c, "start")
        if args.action == "start":
            log("main", "NOTICE", "Cloudify Manager services successfully started!")


def build():
    parser = argparse.ArgumentParser(prog="cfy_manager", description="Cloudify Manager (lab simulator)")
    sub = parser.add_subparsers(dest="action", metavar="{start,stop,restart,version}")
    sub.required = True
    # main.py `version`: logs "Cloudify X.Y.Z", the cloudify-manager-install package's version.
    sub.add_parser("version", help="Show the version of Cloudify Manager")
    for action in ("start", "stop", "restart"):
        p = sub.add_parser(action, help="%s Cloudify Manager services" % action.capitalize())
        p.add_argument("components", nargs="*", metavar="include_components")
        p.add_argument("-c", "--config-file", action="append", default=None)
        p.add_argument("-v", "--verbose", action="store_true")
        p.add_argument("--skip-root-check", action="store_true", help=argparse.SUPPRESS)
        if action == "start":
            for flag in ("--private-ip", "--public-ip", "--admin-password"):
                p.add_argument(flag)
    return parser


def main(argv=None):
    args = build().parse_args(argv)
    if args.action == "version":
        log("main", "INFO", "Cloudify %s" % store.Manager().cfg.get("version", "7.0.5"))
        return 0
    try:
        run(args)
        return 0
    except CfyError as e:
        log("main", "ERROR", str(e))
        return e.code
