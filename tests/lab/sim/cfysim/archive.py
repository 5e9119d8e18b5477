"""Snapshot archives: a real zip with one JSON file per table plus metadata.json.

`--exclude-credentials/-logs/-events` leave the matching member out, as the real flags leave
those parts out of a real snapshot.
"""
import json
import os
import zipfile

from . import util
from .store import DATA_TABLES

SECURITY_FILENAME = "rest-security.conf"  # snapshots/constants.py SECURITY_FILENAME
EXCLUDABLE = {"credentials": "exclude_credentials", "logs": "exclude_logs", "events": "exclude_events"}


def write_snapshot(path, data, meta, security=None):
    """Write atomically: a reader (download, restore) sees no archive or the whole archive."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    excluded = {t for t, flag in EXCLUDABLE.items() if meta.get(flag)}
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps(meta, indent=2, sort_keys=True))
        if security is not None:  # snapshot_create.py: the rest-security.conf goes into the snapshot
            z.writestr(SECURITY_FILENAME, json.dumps(security, indent=2, sort_keys=True))
        for table in DATA_TABLES:
            if table not in excluded:
                z.writestr(table + ".json", json.dumps(data.get(table, []), indent=2, sort_keys=True))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_snapshot(path):
    """(metadata, data, security) from an archive; raises zipfile.BadZipFile / KeyError / ValueError."""
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            raise ValueError("snapshot archive %s is damaged (CRC error in %s)" % (path, bad))
        meta = json.loads(z.read("metadata.json"))
        names = set(z.namelist())
        data = {t: json.loads(z.read(t + ".json")) if t + ".json" in names else [] for t in DATA_TABLES}
        security = json.loads(z.read(SECURITY_FILENAME)) if SECURITY_FILENAME in names else None
    return meta, data, security


def snapshot_metadata(snap_id, manager, flags):
    meta = {"snapshot_id": snap_id, "created_at": util.now_iso(), "manager": manager.name,
            "manager_address": manager.address, "version": manager.version}
    meta.update(flags)
    return meta
