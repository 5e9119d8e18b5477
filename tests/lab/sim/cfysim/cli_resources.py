"""cfy executions|agents|blueprints|deployments|tenants|secrets."""
import os
import signal

from . import clickish, util
from .util import CfyError

EXECUTION_COLUMNS = ["id", "workflow_id", "status", "deployment_id", "created_at", "ended_at", "error",
                     "is_system_workflow", "visibility", "tenant_name", "created_by"]
TERMINAL = ("terminated", "failed", "cancelled")


def public(ex):
    return {k: v for k, v in ex.items() if k != "worker_pid"}


def in_scope(args, ctx, rows):
    """Rows of the tenant asked for (-t), of every tenant (-a), else of the profile's tenant."""
    if getattr(args, "all_tenants", False):
        return rows
    tenant = getattr(args, "tenant_name", None) or ctx.tenant()
    return [r for r in rows if r.get("tenant_name") == tenant]


# --- executions -------------------------------------------------------------------------------

def executions_list(args, ctx):
    ctx.auth()
    rows = [public(e) for e in ctx.mgr.executions()]
    if not args.include_system_workflows:  # as the real CLI: snapshot workflows are system workflows
        rows = [e for e in rows if not e["is_system_workflow"]]
    if args.deployment_id:
        rows = [e for e in rows if e["deployment_id"] == args.deployment_id]
    clickish.listing(args, EXECUTION_COLUMNS, in_scope(args, ctx, rows), "Executions")


def executions_get(args, ctx):
    ctx.auth()
    ex = public(ctx.mgr.get_execution(args.execution_id))
    if args.json:
        clickish.print_json(ex)
        return
    print("Retrieving execution %s..." % args.execution_id)
    clickish.table(EXECUTION_COLUMNS, [ex], "Executions")
    print("\nExecution Parameters:")
    for key, value in sorted(ex["parameters"].items()):
        print("\t%s: \t%s" % (key, value))


def executions_cancel(args, ctx):
    """Stops the worker; a restore's open transaction is then rolled back by PostgreSQL."""
    ctx.auth()
    ex = ctx.mgr.get_execution(args.execution_id)
    if ex["status"] in TERMINAL:
        raise CfyError("400: Can't cancel execution %s because it's in status %s" % (ex["id"], ex["status"]))
    ctx.mgr.update_execution(ex["id"], status="cancelled", ended_at=util.now_iso(), error="Execution cancelled")
    if ex.get("worker_pid") and util.pid_alive(ex["worker_pid"], "cfysim.worker"):
        os.kill(ex["worker_pid"], signal.SIGKILL if (args.force or args.kill) else signal.SIGTERM)
    snap_id = ex["parameters"].get("snapshot_id")
    if ex["workflow_id"] == "create_snapshot" and snap_id:
        snap = ctx.mgr.get_snapshot(snap_id, required=False)
        if snap and snap["status"] == "creating":
            snap.update(status="failed", error="Execution cancelled")
            ctx.mgr.save_snapshot(snap)
    if ex["workflow_id"] == "restore_snapshot":
        ctx.mgr.set_restore_status(status="cancelled", execution_id=ex["id"], snapshot_id=snap_id)
    print("A cancel request for execution %s has been sent. To track the execution's status, use:\n"
          "cfy executions get %s" % (ex["id"], ex["id"]))


# --- agents -----------------------------------------------------------------------------------

def agent_rows(data):
    return [dict(ni["agent"], id=ni["id"], deployment=ni["deployment_id"], node=ni["node_id"],
                 tenant_name=ni["tenant_name"], system="centos core")
            for ni in data["node_instances"] if ni.get("agent")]


def agents_list(args, ctx):
    rows = in_scope(args, ctx, agent_rows(ctx.auth()))
    clickish.listing(args, ["id", "ip", "deployment", "node", "system", "version", "install_method",
                            "tenant_name"], rows, "Agents")


def eligible_deployments(args, ctx, data):
    deps = in_scope(args, ctx, data["deployments"])
    if args.deployment_id:
        deps = [d for d in deps if d["id"] in args.deployment_id]
    with_agents = {(ni["tenant_name"], ni["deployment_id"]) for ni in data["node_instances"] if ni.get("agent")}
    return [d for d in deps if (d["tenant_name"], d["id"]) in with_agents]


def install_agents_of(ctx, data, dep, args):
    """One install_new_agents execution per deployment: its agents now talk to this manager."""
    count = 0
    for ni in data["node_instances"]:
        if ni.get("agent") and ni["deployment_id"] == dep["id"] and ni["tenant_name"] == dep["tenant_name"]:
            ni["agent"].update(manager=ctx.mgr.name, manager_ip=args.manager_ip or ctx.mgr.address,
                               version=ctx.mgr.version, reinstalled_at=util.now_iso(),
                               old_agent_stopped=bool(args.stop_old_agent))
            count += 1
    ex = ctx.mgr.new_execution("install_new_agents", {"stop_old_agent": args.stop_old_agent,
                               "manager_ip": args.manager_ip}, ctx.profile, deployment_id=dep["id"],
                               status="terminated")
    ctx.mgr.update_execution(ex["id"], tenant_name=dep["tenant_name"], started_at=ex["created_at"],
                             ended_at=util.now_iso())
    print("Installing %d agent(s) of deployment %s (tenant %s): execution %s terminated"
          % (count, dep["id"], dep["tenant_name"], ex["id"]))


def agents_install(args, ctx):
    if args.all_tenants and args.tenant_name:
        args.parser.error("--all-tenants and -t/--tenant-name are mutually exclusive")
    ctx.auth()
    with ctx.mgr.data_lock():
        data = ctx.mgr.load_data()
        deps = eligible_deployments(args, ctx, data)
        if not deps:
            raise CfyError("No eligible deployments found")
        print("Starting 'install_new_agents' workflow execution(s)...")
        if ctx.mgr.fault("agents") == "fail":
            raise CfyError("At least one execution ended with an error (fault switch agents=fail)")
        for dep in deps:
            install_agents_of(ctx, data, dep, args)
        ctx.mgr.save_data(data)
    print("Executions of 'install_new_agents' workflow finished successfully for %d deployment(s)" % len(deps))


# --- blueprints, deployments, tenants, secrets --------------------------------------------------

def simple_list(table, columns, title, extra_filter=None):
    def handler(args, ctx):
        rows = ctx.auth()[table]
        rows = rows if table == "tenants" else in_scope(args, ctx, rows)
        if extra_filter:
            rows = extra_filter(args, rows)
        clickish.listing(args, columns, [{c: r.get(c) for c in columns} for r in rows], title)
    return handler


def by_blueprint(args, rows):
    return [r for r in rows if not args.blueprint_id or r["blueprint_id"] == args.blueprint_id]


def register(sub):
    execs = clickish.subcommands(sub.add_parser("executions", help="Handle workflow executions"))
    p = clickish.add(execs, "list", executions_list, [clickish.tenant_options()])
    p.add_argument("-d", "--deployment-id")
    p.add_argument("--include-system-workflows", action="store_true")
    p = clickish.add(execs, "get", executions_get)
    p.add_argument("execution_id", metavar="EXECUTION_ID")
    p = clickish.add(execs, "cancel", executions_cancel)
    p.add_argument("execution_id", metavar="EXECUTION_ID")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-k", "--kill", action="store_true")

    agents = clickish.subcommands(sub.add_parser("agents", help="Handle a deployment's agents"))
    clickish.add(agents, "list", agents_list, [clickish.tenant_options()])
    p = clickish.add(agents, "install", agents_install, [clickish.tenant_options()])
    p.add_argument("-d", "--deployment-id", action="append")
    p.add_argument("--node-id", action="append")
    p.add_argument("--node-instance-id", action="append")
    p.add_argument("--stop-old-agent", action="store_true")
    p.add_argument("--manager-ip")
    p.add_argument("--manager-certificate")
    p.add_argument("--install-agent-timeout", type=int, default=300)
    p.add_argument("--wait", action="store_true")
    p.set_defaults(parser=p)

    groups = [("blueprints", ["id", "description", "main_file_name", "created_at", "updated_at", "visibility",
                              "tenant_name", "created_by", "state"], None),
              ("deployments", ["id", "blueprint_id", "created_at", "updated_at", "visibility", "tenant_name",
                               "created_by", "site_name"], by_blueprint),
              ("tenants", ["name", "created_at"], None),
              ("secrets", ["key", "created_at", "visibility", "tenant_name", "created_by"], None)]
    for name, columns, extra in groups:
        group = clickish.subcommands(sub.add_parser(name, help="Handle %s" % name))
        p = clickish.add(group, "list", simple_list(name, columns, name.capitalize(), extra),
                         [clickish.tenant_options()])
        if name == "deployments":
            p.add_argument("-b", "--blueprint-id")
