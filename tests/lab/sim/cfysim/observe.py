"""What was in force when a restore started: Patroni's ttl/retry_timeout in the DCS and the
HAProxy timeouts in the host's haproxy.cfg (plus whether the running HAProxy was started after
the file last changed, i.e. whether it was reloaded). Tests assert on restore-observed.json.
"""
import json
import os
import re
import time
import urllib.request

from . import util

TIMEOUT_LINE = re.compile(r"^\s*timeout\s+(client|server)\s+(\S+)\s*$")
SECTION_LINE = re.compile(r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist)\b(.*)$")


def dcs_urls(mgr):
    """Where Patroni's DCS config lives: the host's patroni.conf (`etcd: host|hosts|url|urls`,
    `namespace`, `scope`), as Patroni itself finds it; settings etcd_url/patroni_config_key otherwise."""
    fallback = [mgr.settings["etcd_url"].rstrip("/") + mgr.settings["patroni_config_key"]]
    try:
        import yaml
        with open(mgr.cfg.get("patroni_conf", "/etc/patroni.conf")) as f:
            conf = yaml.safe_load(f) or {}
    except Exception:
        return fallback
    etcd = conf.get("etcd") or conf.get("etcd3") or {}
    proto = etcd.get("protocol", "http")
    hosts = etcd.get("hosts") or etcd.get("host") or []
    if isinstance(hosts, str):
        hosts = [h.strip() for h in hosts.split(",") if h.strip()]
    urls = etcd.get("urls") or etcd.get("url") or []
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    bases = [u.rstrip("/") for u in urls] + ["%s://%s" % (proto, h) for h in hosts]
    if not bases:
        return fallback
    key = "/v2/keys/%s/%s/config" % (conf.get("namespace", "/service/").strip("/"), conf.get("scope", "postgres"))
    return [b + key for b in bases]


def patroni_config(mgr):
    """Read the DCS directly (v2 key of scope postgres, namespace /db/), as Patroni itself does."""
    out = {}
    for url in dcs_urls(mgr):
        out = {"source": url}
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                config = json.loads(json.load(r)["node"]["value"])
            out.update({k: config.get(k) for k in ("ttl", "retry_timeout", "loop_wait")})
            return out
        except Exception as e:  # recorded, not fatal: the restore itself does not need the DCS
            out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def haproxy_timeouts(text):
    """Effective `timeout client/server` per section; a listen/frontend/backend value beats defaults.

    Comments and `timeout client-fin`-style lines do not count, exactly as HAProxy reads the file.
    """
    section, per_section, lines = None, {}, []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        m = SECTION_LINE.match(line)
        if m:
            section = (m.group(1) + m.group(2)).strip()
            continue
        t = TIMEOUT_LINE.match(line)
        if t and section:
            per_section.setdefault(section, {})[t.group(1)] = t.group(2)
            lines.append(raw.strip())
    effective = dict(per_section.get("defaults", {}))
    for name, values in per_section.items():
        if name.split()[0] in ("listen", "frontend", "backend"):
            effective.update(values)
    return effective, lines


def process_start_epoch(pid):
    """Wall-clock start of PID. Boot time from /proc/uptime (10 ms), not btime (whole seconds)."""
    with open("/proc/%d/stat" % pid) as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        booted = time.time() - float(f.read().split()[0])
    return booted + ticks / os.sysconf("SC_CLK_TCK")


def haproxy_state(mgr):
    path = mgr.cfg.get("haproxy_cfg", "/etc/haproxy/haproxy.cfg")
    out = {"cfg": path, "present": os.path.exists(path)}
    if not out["present"]:
        return out
    try:
        with open(path) as f:
            effective, lines = haproxy_timeouts(f.read())
        out.update(timeout_client=effective.get("client"), timeout_server=effective.get("server"),
                   timeout_lines=lines, cfg_mtime=os.stat(path).st_mtime)
        with open(mgr.cfg.get("haproxy_pidfile", "/run/haproxy.pid")) as f:
            pid = int(f.read().split()[0])
        out.update(pid=pid, running_since=process_start_epoch(pid))
        # Tick granularity (10 ms): a reload right after the edit counts as after it.
        out["reloaded_after_cfg_change"] = out["running_since"] + 0.02 >= out["cfg_mtime"]
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def record(mgr, exec_id, snap_id):
    observed = {"execution_id": exec_id, "snapshot_id": snap_id, "observed_at": util.now_iso(),
                "manager": mgr.name, "patroni": patroni_config(mgr), "haproxy": haproxy_state(mgr)}
    util.write_json(util.state_path("restore-observed.json"), observed)
    with open(util.state_path("restore-observed.jsonl"), "a") as f:
        f.write(json.dumps(observed, sort_keys=True) + "\n")
    return observed


def duration_ms(value):
    """An HAProxy time (`1440m`, `4s`, `500`, `1d`) in milliseconds; None when unreadable."""
    m = re.match(r"^(\d+)(us|ms|s|m|h|d)?$", str(value or ""))
    if not m:
        return None
    scale = {"us": 0.001, "ms": 1, None: 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
    return int(m.group(1)) * scale[m.group(2)]


def window_of(mgr):
    """The window in force now: Patroni's ttl/retry_timeout in the DCS, the HAProxy timeouts."""
    p, h = patroni_config(mgr), haproxy_state(mgr)
    return {"at": util.now_iso(), "ttl": p.get("ttl"), "retry_timeout": p.get("retry_timeout"),
            "timeout_client": h.get("timeout_client"), "timeout_server": h.get("timeout_server"),
            "errors": [e for e in (p.get("error"), h.get("error")) if e]}


def narrower(now, start):
    """What of `now` is below `start`: the window that was open when the restore started closed."""
    out = []
    for key in ("ttl", "retry_timeout"):
        if isinstance(start.get(key), int) and isinstance(now.get(key), int) and now[key] < start[key]:
            out.append("%s %s -> %s" % (key, start[key], now[key]))
    for key in ("timeout_client", "timeout_server"):
        a, b = duration_ms(start.get(key)), duration_ms(now.get(key))
        if a is not None and b is not None and b < a:
            out.append("haproxy %s %s -> %s" % (key, start[key], now[key]))
    return out


class Window:
    """Samples the window (Patroni ttl/retry_timeout in etcd, the host's HAProxy timeouts) while a
    restore runs, in a thread (every `window_sample_secs`): the record `restore-window.json`
    (+ `.jsonl`) holds the window at the start, every change seen during the restore, the one at the
    end, how many samples were taken, and `closed`: what narrowed below the start, and when.

    Why a narrowed window fails the restore: the guide raises Patroni's ttl/retry_timeout and
    HAProxy's client/server timeouts because the restore (cloudify-manager
    `mgmtworker/cloudify_system_workflows/snapshots/snapshot_restore.py` `_restore_db`, one long
    Postgres session through the cluster's HAProxy) dies when the leader loses its DCS lock under
    the load (ttl) or HAProxy cuts the busy connection (timeouts). The simulator's DB load has no
    real load to trip either, so a window that closes before the restore ends fails it here.
    """

    def __init__(self, mgr, exec_id, snap_id):
        import threading
        self.mgr, self.exec_id, self.snap_id = mgr, exec_id, snap_id
        self.start = window_of(mgr)
        self.during, self.closed, self.end, self.samples = [], [], None, 1
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def sample(self):
        now = window_of(self.mgr)
        self.samples += 1
        last = self.during[-1] if self.during else self.start
        keys = ("ttl", "retry_timeout", "timeout_client", "timeout_server")
        if any(now.get(k) != last.get(k) for k in keys):
            self.during.append(now)
        for what in narrower(now, self.start):
            if not any(c["what"] == what for c in self.closed):
                self.closed.append({"at": now["at"], "what": what})
        return now

    def loop(self):
        period = float(self.mgr.settings.get("window_sample_secs") or 1.0)
        while not self.stop_event.wait(period):
            self.sample()
            self.save()

    def check(self):
        """Raise when the window closed while the restore ran."""
        if self.closed:
            raise RuntimeError("the restore's window closed before it ended (%s): the database restore "
                               "lost its connection" % "; ".join(c["what"] for c in self.closed))

    def record(self):
        return {"execution_id": self.exec_id, "snapshot_id": self.snap_id, "manager": self.mgr.name,
                "start": self.start, "during": self.during, "end": self.end, "closed": self.closed,
                "samples": self.samples}

    def save(self):
        util.write_json(util.state_path("restore-window.json"), self.record())

    def finish(self):
        self.stop_event.set()
        self.thread.join()
        self.end = self.sample()
        self.save()
        with open(util.state_path("restore-window.jsonl"), "a") as f:
            f.write(json.dumps(self.record(), sort_keys=True) + "\n")
