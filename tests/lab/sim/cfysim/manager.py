"""`cfy_manager start|stop|restart`: the manager's services, as root. There is no `status`
subcommand on a real manager either (status comes from `cfy status` / `cfy cluster status`).
"""
import datetime
import os
import sys

from . import clickish, store
from .util import CfyError


def say(msg):
    # The real cfy_manager logs in this shape.
    now = datetime.datetime.now()
    print("%s,%03d - [MAIN] - INFO - %s" % (now.strftime("%Y-%m-%d %H:%M:%S"), now.microsecond // 1000, msg),
          flush=True)


def change(mgr, action):
    target = "active" if action == "start" else "inactive"
    verb = {"start": "Starting", "stop": "Stopping"}[action]
    say("%s Cloudify Manager services..." % verb)
    if mgr.services_status() == target:
        say("Services already %s" % ("running" if target == "active" else "stopped"))
    mgr.set_services(target)
    say("Cloudify Manager services successfully %s!" % ("started" if target == "active" else "stopped"))


def run(args):
    if os.geteuid() != 0:
        raise CfyError("cfy_manager %s must be run as root (try: sudo cfy_manager %s)" % (args.action, args.action))
    mgr = store.Manager()
    if args.action == "restart":
        change(mgr, "stop")
        change(mgr, "start")
    else:
        change(mgr, args.action)


def build():
    parser = clickish.Parser(prog="cfy_manager", description="Cloudify Manager (lab simulator)")
    sub = clickish.subcommands(parser)
    for action in ("start", "stop", "restart"):
        p = sub.add_parser(action, help="%s the Cloudify Manager services" % action.capitalize())
        p.add_argument("components", nargs="*", metavar="COMPONENT", help="accepted; all services are affected")
        p.add_argument("-c", "--config-file", action="append", help="accepted and ignored")
        p.add_argument("-v", "--verbose", action="store_true")
        p.set_defaults(action=action)
    return parser


def main(argv=None):
    args = build().parse_args(argv)
    try:
        run(args)
        return 0
    except CfyError as e:
        print("Error: %s" % e, file=sys.stderr)
        return e.code
