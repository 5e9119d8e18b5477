"""cfy snapshots create|list|download|upload|restore|status|delete."""
import os
import re
import secrets
import shutil
import sys
import time

from . import clickish, util, worker
from .util import CfyError

SNAPSHOT_COLUMNS = ["id", "created_at", "status", "error", "visibility", "tenant_name", "created_by"]
RESTORABLE = ("created", "uploaded")
VALID_ID = re.compile(r"^[\w.-]+$")


def started_line(ex):
    # The real CLI prints this line; the id is the execution to poll with `cfy executions get`.
    print("Started workflow execution. The execution's id is %s." % ex["id"])


def check_id(snap_id):
    if not VALID_ID.match(snap_id):
        raise CfyError("400: The `snapshot_id` argument contains illegal characters. Only letters, digits "
                       "and the characters \"-\", \".\" and \"_\" are allowed")


def start_execution(ctx, workflow, kind, snap_id, params):
    ex = ctx.mgr.new_execution(workflow, params, ctx.profile)
    pid = worker.spawn(kind, ex["id"], snap_id)
    return ctx.mgr.update_execution(ex["id"], worker_pid=pid)


def create(args, ctx):
    ctx.auth()
    snap_id = args.snapshot_id or "snapshot_" + secrets.token_hex(4)
    check_id(snap_id)
    with util.locked(util.state_path("snapshots")):
        if ctx.mgr.get_snapshot(snap_id, required=False):
            raise CfyError("409: <Snapshot id=`%s` tenant=`%s`> already exists" % (snap_id, ctx.tenant()))
        if ctx.mgr.running_executions() and not args.queue:
            raise CfyError("400: You cannot start a system-wide execution if there are other executions "
                           "running. Wait for them to end or pass --queue")
        flags = {"exclude_credentials": args.exclude_credentials, "exclude_logs": args.exclude_logs,
                 "exclude_events": args.exclude_events}
        ctx.mgr.save_snapshot(dict(flags, id=snap_id, created_at=util.now_iso(), status="creating", error="",
                                   visibility="private", tenant_name=ctx.tenant(), created_by=ctx.user()))
    print("Creating snapshot %s..." % snap_id)
    ex = start_execution(ctx, "create_snapshot", "create", snap_id, dict(flags, snapshot_id=snap_id, queue=args.queue))
    clickish.print_json(ex) if args.json else started_line(ex)


def list_(args, ctx):
    ctx.auth()
    rows = [{c: s.get(c) for c in SNAPSHOT_COLUMNS} for s in ctx.mgr.snapshots()]
    clickish.listing(args, SNAPSHOT_COLUMNS, rows, "Snapshots")


def wait_while_hung(ctx, operation):
    """A hung transfer hangs until the switch is cleared, or until its ssh session is gone."""
    parent = os.getppid()
    while ctx.mgr.fault(operation) == "hang":
        if os.getppid() != parent:
            sys.exit(1)
        time.sleep(0.5)


def download(args, ctx):
    ctx.auth()
    snap = ctx.mgr.get_snapshot(args.snapshot_id)
    if snap["status"] not in RESTORABLE:
        raise CfyError("400: Snapshot `%s` is not ready for download: its status is %s%s"
                       % (args.snapshot_id, snap["status"], " (%s)" % snap["error"] if snap.get("error") else ""))
    dest = args.output or args.snapshot_id + ".zip"
    if os.path.isdir(dest):
        dest = os.path.join(dest, args.snapshot_id + ".zip")
    print("Downloading snapshot %s..." % args.snapshot_id)
    wait_while_hung(ctx, "download")
    src = ctx.mgr.snapshot_zip(args.snapshot_id)
    if ctx.mgr.fault("download") == "fail":
        # Like a transfer cut half way: a truncated file is left behind, the CLI fails.
        with open(src, "rb") as f, open(dest, "wb") as out:
            out.write(f.read()[: os.path.getsize(src) // 2])
        raise CfyError("Connection to %s:80 was reset while downloading snapshot %s "
                       "(fault switch download=fail)" % (ctx.mgr.address, args.snapshot_id))
    shutil.copyfile(src, dest)
    clickish.print_json({"id": args.snapshot_id, "path": dest}) if args.json else \
        print("Snapshot downloaded as %s" % dest)


def upload(args, ctx):
    if not os.path.isfile(args.snapshot_path):
        args.parser.error("Invalid value for 'SNAPSHOT_PATH': Path '%s' does not exist." % args.snapshot_path)
    ctx.auth()
    check_id(args.snapshot_id)
    print("Uploading snapshot %s..." % args.snapshot_path)
    with util.locked(util.state_path("snapshots")):
        if ctx.mgr.get_snapshot(args.snapshot_id, required=False):
            raise CfyError("409: <Snapshot id=`%s` tenant=`%s`> already exists" % (args.snapshot_id, ctx.tenant()))
        dest = ctx.mgr.snapshot_zip(args.snapshot_id)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(args.snapshot_path, dest + ".part")
        os.replace(dest + ".part", dest)
        snap = {"id": args.snapshot_id, "created_at": util.now_iso(), "status": "uploaded", "error": "",
                "visibility": "private", "tenant_name": ctx.tenant(), "created_by": ctx.user()}
        ctx.mgr.save_snapshot(snap)
    clickish.print_json(snap) if args.json else print("Snapshot uploaded. The snapshot's id is %s" % args.snapshot_id)


def other_active_managers(mgr):
    return [m["name"] for m in mgr.members() if m["name"] != mgr.name and m.get("services") == "active"]


def check_restorable(args, ctx, data):
    snap = ctx.mgr.get_snapshot(args.snapshot_id)
    if snap["status"] not in RESTORABLE:
        raise CfyError("400: Snapshot `%s` cannot be restored: its status is %s" % (args.snapshot_id, snap["status"]))
    running = ", ".join("%s (%s, %s)" % (e["id"], e["workflow_id"], e["status"])
                        for e in ctx.mgr.running_executions())
    if running or restore_running(ctx.mgr):
        raise CfyError("400: Cannot restore a snapshot while executions are running on the manager: %s"
                       % (running or "a restore is in progress"))
    if not args.force and (data["blueprints"] or data["deployments"]):
        raise CfyError("400: Snapshot restoration on a non-empty manager is not permitted. "
                       "Pass the --force flag to force the restore process")
    others = other_active_managers(ctx.mgr) if ctx.mgr.role == "new" else []
    if others:
        raise CfyError("400: Cannot restore a snapshot on %s while other managers of the cluster are active: %s. "
                       "Run `cfy_manager stop` on them first" % (ctx.mgr.name, ", ".join(others)))


def restore(args, ctx):
    data = ctx.auth()
    check_restorable(args, ctx, data)
    print("Restoring snapshot %s..." % args.snapshot_id)
    params = {"snapshot_id": args.snapshot_id, "force": args.force, "restore_certificates": args.restore_certificates,
              "no_reboot": args.no_reboot, "ignore_plugin_failure": args.ignore_plugin_failure}
    ctx.mgr.set_restore_status(status="starting", snapshot_id=args.snapshot_id, until=time.time() + 10)
    ex = start_execution(ctx, "restore_snapshot", "restore", args.snapshot_id, params)
    clickish.print_json(ex) if args.json else started_line(ex)


def restore_running(mgr):
    """In progress: the worker is on it, or the post-restore work after the execution has not ended."""
    rs = mgr.restore_status()
    if rs.get("status") in ("starting", "post-restore"):
        return time.time() < rs.get("until", 0)
    if rs.get("status") == "running":
        return mgr.get_execution(rs["execution_id"])["status"] in ("pending", "started")
    return False


def status(args, ctx):
    ctx.mgr.require_running()  # answers without credentials: it must work while users are replaced
    running = restore_running(ctx.mgr)
    text = "Snapshot restore in progress..." if running else "No restore is running"
    clickish.print_json({"status": text, "running": running}) if args.json else print(text)


def delete(args, ctx):
    ctx.auth()
    snap = ctx.mgr.get_snapshot(args.snapshot_id)
    if snap["status"] == "creating":
        raise CfyError("400: Snapshot `%s` is still being created" % args.snapshot_id)
    print("Deleting snapshot %s..." % args.snapshot_id)
    shutil.rmtree(os.path.dirname(ctx.mgr.snapshot_zip(args.snapshot_id)), ignore_errors=True)
    os.remove(ctx.mgr.snapshot_meta_path(args.snapshot_id))
    print("Snapshot deleted successfully")


def register(sub):
    snaps = clickish.subcommands(sub.add_parser("snapshots", help="Handle manager snapshots"))
    p = clickish.add(snaps, "create", create, [clickish.tenant_options(False)])
    p.add_argument("snapshot_id", nargs="?", metavar="SNAPSHOT_ID")
    for flag in ("--exclude-credentials", "--exclude-logs", "--exclude-events", "--queue"):
        p.add_argument(flag, action="store_true")
    clickish.add(snaps, "list", list_, [clickish.tenant_options()])
    p = clickish.add(snaps, "download", download)
    p.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
    p.add_argument("-o", "--output-path", dest="output", metavar="OUTPUT_PATH")
    p = clickish.add(snaps, "upload", upload)
    p.add_argument("snapshot_path", metavar="SNAPSHOT_PATH")
    p.add_argument("-s", "--snapshot-id", required=True, metavar="SNAPSHOT_ID")
    p.set_defaults(parser=p)
    p = clickish.add(snaps, "restore", restore, [clickish.tenant_options(False)])
    p.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--restore-certificates", action="store_true")
    p.add_argument("--no-reboot", action="store_true")
    p.add_argument("-i", "--ignore-plugin-failure", action="store_true")
    clickish.add(snaps, "status", status)
    p = clickish.add(snaps, "delete", delete, [clickish.tenant_options(False)])
    p.add_argument("snapshot_id", metavar="SNAPSHOT_ID")
