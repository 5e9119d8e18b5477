"""Load a snapshot's data into the real PostgreSQL, through the host's HAProxy.

One connection, one transaction, and idle gaps between statements longer than the lab's HAProxy
`timeout client/server` (4 s): with the lab's timeouts HAProxy cuts the connection and the
restore fails for real (psycopg2 OperationalError, nothing committed); with the guide's 1440m,
loaded into HAProxy by a reload before this connection opens, it succeeds.
"""
import json
import time

import psycopg2

from . import util

# Cloudify's table names; the columns are the simulator's (tenant, id, the row as JSON).
TABLES = {"tenants": "name", "users": "username", "blueprints": "id", "deployments": "id",
          "node_instances": "id", "secrets": "key"}
FIRST = ("tenants", "users")


def connect(mgr, timeout=None):
    db = mgr.cfg["db"]
    return psycopg2.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                            dbname=db["dbname"], connect_timeout=int(timeout or mgr.settings["db_connect_timeout"]),
                            application_name="cfy-sim-restore-" + mgr.name,
                            # optional db.schema: keep the tables out of public (a test beside the lab's)
                            options="-c search_path=%s" % db["schema"] if db.get("schema") else None)


def create_schema(cur, schema=None):
    if schema:
        cur.execute("CREATE SCHEMA IF NOT EXISTS %s" % schema)
    for table in TABLES:
        cur.execute("CREATE TABLE IF NOT EXISTS %s (tenant text NOT NULL, id text NOT NULL, "
                    "body jsonb NOT NULL, PRIMARY KEY (tenant, id))" % table)
    cur.execute("CREATE TABLE IF NOT EXISTS snapshot_restores (id serial PRIMARY KEY, snapshot_id text, "
                "manager text, restored_at timestamptz DEFAULT now())")
    cur.execute("TRUNCATE %s" % ", ".join(TABLES))


def insert_rows(cur, table, rows):
    key = TABLES[table]
    for row in rows:
        cur.execute("INSERT INTO %s (tenant, id, body) VALUES (%%s, %%s, %%s)" % table,
                    (row.get("tenant_name") or "", row[key], json.dumps(row, sort_keys=True)))


def idle(cur, seconds, log):
    """The connection stays open and silent, like a restore busy elsewhere (files, agents)."""
    log("restore: connection idle for %.1fs" % seconds)
    time.sleep(seconds)
    cur.execute("SELECT 1")  # the first statement after the gap: a cut connection fails here


def load(mgr, data, snap_id, log):
    conn = connect(mgr)
    log("restore: connected to %s:%s (dbname %s) through HAProxy" %
        (mgr.cfg["db"]["host"], mgr.cfg["db"]["port"], mgr.cfg["db"]["dbname"]))
    try:
        cur = conn.cursor()
        create_schema(cur, mgr.cfg["db"].get("schema"))
        for table in FIRST:
            insert_rows(cur, table, data.get(table, []))
        for _ in range(int(mgr.settings["restore_idle_gaps"])):
            idle(cur, float(mgr.settings["restore_idle_gap"]), log)
        for table in TABLES:
            if table not in FIRST:
                insert_rows(cur, table, data.get(table, []))
        cur.execute("INSERT INTO snapshot_restores (snapshot_id, manager) VALUES (%s, %s)", (snap_id, mgr.name))
        conn.commit()
        log("restore: committed at %s" % util.now_iso())
    finally:
        conn.close()
