"""`cfy`: the command tree, the per-call context (manager, profile), and the manager-level commands
(status, cluster status, profiles). Resource commands live in cli_resources and cli_snapshots.
"""
import sys

from . import cli_resources, cli_snapshots, clickish, store, util
from .util import CfyError

SERVICES = ["Cloudify Console", "Cloudify API", "File Server", "Management Worker", "PostgreSQL",
            "RabbitMQ", "Webserver", "AMQP-Postgres", "Monitoring Service"]


class Context:
    """What a command needs: this host's manager, and the operator's profile (read on first use)."""

    def __init__(self):
        self.mgr = store.Manager()
        self._profile = None

    @property
    def profile(self):
        if self._profile is None:
            self._profile = store.load_profile()
        return self._profile

    def auth(self):
        """Connect and authenticate like a REST call; returns the manager's data."""
        return self.mgr.authenticate(self.profile)

    def tenant(self):
        return self.profile.get("manager_tenant", "default_tenant")

    def user(self):
        return self.profile.get("manager_username", "admin")


def status(args, ctx):
    ctx.auth()
    services = {name: {"status": "Active", "is_remote": False, "extra_info": {}} for name in SERVICES}
    if args.json:
        clickish.print_json({"status": "OK", "manager_ip": ctx.mgr.address, "services": services})
        return
    print("Retrieving manager services status... [ip=%s]" % ctx.mgr.address)
    clickish.table(["service", "status"], [{"service": n, "status": s["status"]} for n, s in services.items()],
                   "Services")


def cluster_nodes(ctx):
    nodes = {}
    for m in ctx.mgr.members():
        ok = m.get("services") == "active"
        nodes[m["name"]] = {"status": "OK" if ok else "Fail", "private_ip": m["address"], "public_ip": m["address"],
                            "version": m.get("version"), "services": {
                                n: {"status": "Active" if ok else "Inactive"} for n in SERVICES}}
    return nodes


def cluster_status(args, ctx):
    ctx.auth()
    nodes = cluster_nodes(ctx)
    ok = sum(n["status"] == "OK" for n in nodes.values())
    overall = "OK" if ok == len(nodes) else ("Fail" if ok == 0 else "Degraded")
    if args.json:
        clickish.print_json({"status": overall, "services": {
            "manager": {"status": overall, "is_external": False, "nodes": nodes}}})
        return
    print("Retrieving Cloudify cluster status... [ip=%s]" % ctx.mgr.address)
    print("\nCluster status: %s" % overall)
    rows = [{"name": name, "private_ip": n["private_ip"], "version": n["version"],
             "services": "active" if n["status"] == "OK" else "inactive", "status": n["status"]}
            for name, n in nodes.items()]
    clickish.table(["name", "private_ip", "version", "services", "status"], rows, "Managers")


def profiles_show(args, ctx):
    p = store.load_profile()
    shown = {k: v for k, v in p.items() if k != "manager_password"}
    if args.json:
        clickish.print_json(shown)
    else:
        clickish.table(sorted(shown), [shown], "Active profile")


def profiles_set(args, ctx):
    """Change the profile's credentials; validated against the manager unless told not to."""
    profile = dict(store.load_profile())
    changes = {"manager_username": args.manager_username, "manager_password": args.manager_password,
               "manager_tenant": args.manager_tenant}
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise CfyError("You must supply at least one of the following: -u/--manager-username, "
                       "-p/--manager-password, -t/--manager-tenant", code=2)
    profile.update(changes)
    if not args.skip_credentials_validation:
        print("Validating credentials...")
        ctx.mgr.authenticate(profile)
        print("Credentials validated")
    for key, value in changes.items():
        print("Setting the manager `%s` to %s" % (key.split("_", 1)[1], "*" * 8 if "password" in key else value))
    store.save_profile(profile)
    print("Settings saved successfully")


def build():
    parser = clickish.Parser(prog="cfy", description="Cloudify's Command Line Interface (lab simulator)")
    parser.add_argument("--version", action="version", version="Cloudify CLI %s" % util.CLI_VERSION)
    sub = clickish.subcommands(parser)
    clickish.add(sub, "status", status, help="Show manager status")
    cluster = clickish.subcommands(sub.add_parser("cluster", help="Handle the Cloudify Manager cluster"))
    clickish.add(cluster, "status", cluster_status)
    profiles = clickish.subcommands(sub.add_parser("profiles", help="Handle Cloudify CLI profiles"))
    clickish.add(profiles, "show-current", profiles_show)
    p = clickish.add(profiles, "set", profiles_set)
    p.add_argument("-u", "--manager-username")
    p.add_argument("-p", "--manager-password")
    p.add_argument("-t", "--manager-tenant")
    p.add_argument("--skip-credentials-validation", action="store_true")
    cli_snapshots.register(sub)
    cli_resources.register(sub)
    return parser


def main(argv=None):
    args = build().parse_args(argv)
    try:
        args.handler(args, Context())
        return 0
    except CfyError as e:
        print("Error: %s" % e, file=sys.stderr)
        return e.code
    except BrokenPipeError:
        return 1
