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
