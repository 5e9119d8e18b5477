#!/usr/bin/env python3
"""The measuring half of bench/run (which starts the lab, builds, installs the peers, and holds the
lab lock around this). Measures runbook side by side with the physical floor (raw OpenSSH) and the
peer (Ansible) in the same run, several rounds each, and prints a table of ratios with their median
and spread. Standard library only; Debian's python3.

Rows (see book/src/benchmarks.md):
  1 per remote command on a warm connection   4 the whole upgrade (simulator waits zero)
  2 fan-out to 1, 10, 100 hosts               5 cold start, binary size
  3 1 GiB upload and host-to-host copy        6 peak RSS (from rows 2 and 4)
"""

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LAB = Path(os.path.realpath(os.environ.get("RUNBOOK_LAB_DIR", "/tmp/runbook-lab")))
RB = ROOT / "target" / "release" / "runbook"
OUT = ROOT / "target" / "bench"
INVENTORY = LAB / "inventory.toml"
SSH_CONFIG = LAB / "ssh_config"
CORE = ["old-1", "mgr-1", "mgr-2", "mgr-3"]
MANAGERS = ["mgr-1", "mgr-2", "mgr-3"]
# The simulator's deliberate waits (tests/lab/sim/README.md, "Faults and settings"), zeroed for
# row 4 so that it measures the tools, not the simulator's sleeps. pause_during_db_load stays on:
# the REST API still answers 502 while the DB load runs, and both tools must ride that out.
SIM_WAITS = ["create_delay", "restore_idle_gap", "restore_idle_gaps", "post_restore_secs",
             "rest_outage_secs", "restore_start_delay", "agents_delay"]
NEW_VERSION = "7.0.5"   # the lab's new managers (tests/lab/sim: VERSIONS)
BIG_FILE = Path("/var/tmp/runbook-bench-1g")
OLD_PW = "old-admin-pw"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def run(argv, *, check=True, input=None, env=None, capture=True, cwd=None, binary=False):
    """Run argv; returns CompletedProcess (text unless binary). Raises BenchError when check fails."""
    p = subprocess.run(argv, input=input, env=env, cwd=cwd, text=not binary,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE if capture else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise BenchError(f"{shlex.join(map(str, argv))} exited {p.returncode}:\n"
                         f"{str(p.stderr or '')[-3000:]}{str(p.stdout or '')[-2000:]}")
    return p


def timed(argv, *, env=None, input=None, rss=False, cwd=None):
    """(wall seconds, stdout+stderr text, peak RSS in KiB). Fails on a non-zero exit. The RSS is
    wait4's: the largest single process of the tree (as /usr/bin/time reports it)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, cwd=cwd, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT,
                         stdin=subprocess.PIPE if input is not None else None)
    if input is not None:
        p.stdin.write(input)
        p.stdin.close()
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    if p.returncode != 0:
        raise BenchError(f"{shlex.join(map(str, argv))} exited {p.returncode}:\n{out[-4000:]}")
    return wall, out, usage.ru_maxrss if rss else None


def lab_exec(host, *argv, input=None, check=True, binary=False):
    return run([str(ROOT / "tests/lab/exec"), host, *argv], input=input, check=check, binary=binary)


def lab_ssh(host, command, check=True):
    return run(["ssh", "-F", str(SSH_CONFIG), host, command], check=check)


def rb_env():
    env = dict(os.environ)
    env["RUNBOOK_STATE_DIR"] = str(WORK / "runs")
    env["OLD_PW"] = OLD_PW
    return env


def rb(*args, rss=False):
    """Run `runbook ARGS` (the release build); (wall, output, rss)."""
    return timed([str(RB), *args], env=rb_env(), rss=rss)


def bench_values(text, what):
    """The key=value pairs of the `BENCH what ...` lines a bench runbook logged."""
    out = []
    for line in text.splitlines():
        m = re.search(rf"BENCH {re.escape(what)} (.*)$", line)
        if m:
            out.append(dict(kv.split("=", 1) for kv in m.group(1).split()))
    if not out:
        raise BenchError(f"no `BENCH {what}` line in:\n{text[-3000:]}")
    return out


# ---------------------------------------------------------------------------------------------
# The lab's hosts, as raw ssh and Ansible address them

def inventory():
    data = tomllib.loads(INVENTORY.read_text())
    d = data.get("defaults", {})
    hosts = {}
    for name, h in data["hosts"].items():
        hosts[name] = {"address": h["address"], "port": h.get("port", d.get("port", 22)),
                       "groups": h.get("groups", [])}
    return d, hosts


def fan_hosts():
    _, hosts = inventory()
    return [(n, h) for n, h in hosts.items() if "fanout" in h["groups"]]


def ssh_base():
    return ["ssh", "-F", str(SSH_CONFIG)]


def write_ansible_inventory(path):
    d, hosts = inventory()
    lines = []
    for group in ["old_manager", "new_managers"]:
        lines.append(f"[{group}]")
        for n, h in hosts.items():
            if group in h["groups"]:
                lines.append(f"{n} ansible_host={h['address']} ansible_port={h['port']}")
    common = (f"-o UserKnownHostsFile={d['known_hosts_file']} -o GlobalKnownHostsFile=/dev/null "
              "-o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes")
    lines += ["[all:vars]", f"ansible_user={d['user']}",
              f"ansible_ssh_private_key_file={d['identity_file']}",
              f"ansible_ssh_common_args='{common}'"]
    path.write_text("\n".join(lines) + "\n")


def secret_vars():
    """The old admin password for the peer, in a 0600 vars file (runbook reads it from env:OLD_PW)."""
    path = WORK / "secret.json"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, json.dumps({"old_admin_password": OLD_PW}).encode())
        os.close(fd)
    return path


def ansible_env():
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(BENCH / "peers" / "ansible.cfg"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(WORK / "ansible-cp"),
                "ANSIBLE_LOCAL_TEMP": str(WORK / "ansible-tmp"),
                "ANSIBLE_NOCOLOR": "1", "OLD_PW": OLD_PW})
    return env


def ansible(playbook, *extra, rss=False):
    argv = ["ansible-playbook", "-i", str(WORK / "ansible-inventory.ini"), str(playbook), *extra]
    return timed(argv, env=ansible_env(), rss=rss, cwd=WORK)


def close_ansible_masters():
    cp = WORK / "ansible-cp"
    if cp.is_dir():
        for sock in cp.iterdir():
            run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"], check=False)


def reap_masters():
    """End any ssh master this bench left (its control path is under WORK, so it is ours)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"ssh") and any(str(WORK).encode() in x for x in args):
                log(f"ending a leftover ssh master, pid {pid}")
                os.kill(int(pid), signal.SIGTERM)


def have_ansible():
    return shutil.which("ansible-playbook") is not None


# ---------------------------------------------------------------------------------------------
# Results: per-round samples, summarised as median and spread

class Results:
    def __init__(self):
        self.samples = {}   # key -> list of values
        self.rows = []      # table rows (dicts)
        self.notes = []

    def add(self, key, value):
        self.samples.setdefault(key, []).append(value)

    def get(self, key):
        return self.samples.get(key, [])


def med(xs):
    return statistics.median(xs) if xs else None


def spread(xs, fmt):
    if not xs:
        return "—"
    if len(xs) == 1:
        return fmt(xs[0])
    return f"{fmt(med(xs))} [{fmt(min(xs))}–{fmt(max(xs))}]"


def ms(x):
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def secs(x):
    return f"{x:.2f} s"


def ratio(x):
    # three significant digits: 0.2534 shows as 0.253×, not as a 0.25× that "misses" ≤ 0.25×
    return f"{x:.3g}×"


def mbps(x):
    return f"{x:.0f} MB/s"


def mib(x):
    return f"{x / 1024:.1f} MiB"


def row(res, num, what, ours, base, rkey, target=None, met=None, rfmt=ratio, ofmt=ms, bfmt=ms,
        base_label=""):
    ours_s = spread(ours, ofmt) if isinstance(ours, list) else ours
    base_s = spread(base, bfmt) if isinstance(base, list) else base
    if base_label and base_s != "—":
        base_s = f"{base_label}: {base_s}"
    rs = res.get(rkey) if isinstance(rkey, str) else rkey
    r_s = spread(rs, rfmt) if rs else "—"
    verdict = "—"
    if target and rs:
        verdict = "yes" if met(med(rs)) else "**no**"
    res.rows.append({"row": num, "what": what, "runbook": ours_s, "baseline": base_s,
                     "ratio": r_s, "target": target or "—", "met": verdict})


# ---------------------------------------------------------------------------------------------
# Row 1: per remote command on a warm connection

def row1(res, a):
    host = "mgr-1"
    n, an = a.n, a.ansible_n
    ctl = WORK / "raw-ctl"
    use_ansible = have_ansible() and not a.smoke
    pb1, pbn = WORK / "per-command-1.yml", WORK / f"per-command-{an}.yml"
    if use_ansible:
        for path, tasks in ((pb1, 1), (pbn, 1 + an)):
            path.write_text(f"- hosts: {host}\n  gather_facts: false\n  tasks:\n"
                            + "    - ansible.builtin.command: 'true'\n" * tasks)
        ansible(pb1)  # opens the ControlPersist master: both timed playbooks start warm
    for r in range(a.rounds):
        order = ["rb", "raw", "ansible"] if r % 2 == 0 else ["ansible", "raw", "rb"]
        for tool in order:
            if tool == "rb":
                _, out, _ = rb("run", str(BENCH / "runbooks/per-command.rhai"), "-i", str(INVENTORY),
                               "--set", f"host={host}", "--set", f"n={n}")
                res.add("r1.rb", float(bench_values(out, "per-command")[0]["secs"]) / n)
            elif tool == "raw":
                run(ssh_base() + ["-o", "ControlMaster=yes", "-o", f"ControlPath={ctl}",
                                  "-o", "ControlPersist=yes", "-fN", host])
                try:
                    run(ssh_base() + ["-S", str(ctl), host, "true"], input="")  # first session: untimed
                    loop = (f"for ((i = 0; i < {n}; i++)); do ssh -F {shlex.quote(str(SSH_CONFIG))} "
                            f"-S {shlex.quote(str(ctl))} {host} true </dev/null || exit 1; done")
                    wall, _, _ = timed(["bash", "-c", loop])
                finally:
                    run(ssh_base() + ["-S", str(ctl), "-O", "exit", host], check=False)
                res.add("r1.raw", wall / n)
            elif use_ansible:
                t1, _, _ = ansible(pb1)
                tn, _, _ = ansible(pbn)
                res.add("r1.ansible", (tn - t1) / an)
        res.add("r1.ratio_raw", res.get("r1.rb")[-1] / res.get("r1.raw")[-1])
        if use_ansible:
            res.add("r1.ratio_ansible", res.get("r1.ansible")[-1] / res.get("r1.rb")[-1])
        log(f"row 1 round {r + 1}: runbook {ms(res.get('r1.rb')[-1])}, raw {ms(res.get('r1.raw')[-1])}"
            + (f", ansible {ms(res.get('r1.ansible')[-1])}" if use_ansible else ""))
    close_ansible_masters()
    row(res, 1, f"per command, warm connection (runbook, raw: N={n})", res.get("r1.rb"),
        res.get("r1.raw"), "r1.ratio_raw", "≤ 1.2× raw", lambda x: x <= 1.2,
        base_label="raw `ssh -S`")
    row(res, 1, f"per command vs Ansible (N={an} tasks, pipelining, ControlPersist)",
        res.get("r1.rb"), res.get("r1.ansible") or "skipped (smoke or no ansible-playbook)",
        "r1.ratio_ansible", "≥ 10× faster", lambda x: x >= 10, rfmt=lambda x: f"{x:.1f}× faster",
        base_label="Ansible")


# ---------------------------------------------------------------------------------------------
# Row 2: fan-out

def raw_fan(hosts, warm):
    """Wall time of `ssh HOST true` on every host at once (own connection each, or warm masters)."""
    ssh = f"ssh -F {shlex.quote(str(SSH_CONFIG))}"

    def each(fmt):
        return "\n".join(fmt.format(ctl=shlex.quote(str(WORK / f"fan-ctl-{n}")), port=h["port"],
                                    addr=h["address"]) for n, h in hosts)

    if warm:
        run(["bash", "-c", each(ssh + " -o ControlMaster=yes -o ControlPath={ctl} -o ControlPersist=yes"
                                      " -p {port} -fN {addr} & pids+=($!)")
             + '\nfor p in "${pids[@]}"; do wait "$p" || exit 1; done'])
    try:
        mux = " -S {ctl}" if warm else ""
        script = (each(ssh + mux + " -p {port} {addr} true </dev/null & pids+=($!)")
                  + '\nfor p in "${pids[@]}"; do wait "$p" || exit 1; done')
        if warm:  # as runbook's warm call is its second: one command on each connection first
            run(["bash", "-c", script])
        wall, _, _ = timed(["bash", "-c", script])
    finally:
        if warm:
            run(["bash", "-c", each(ssh + " -S {ctl} -O exit -p {port} {addr} 2>/dev/null &") + "\nwait"])
    return wall


def row2(res, a):
    fans = fan_hosts()
    counts = [c for c in a.fan_counts if c <= len(fans)]
    if not counts:
        raise BenchError(f"the lab has {len(fans)} fan-out hosts (tests/lab/up --extra-hosts N)")
    for r in range(a.rounds):
        for c in counts:
            hosts = fans[:c]
            order = ["rb", "raw"] if r % 2 == 0 else ["raw", "rb"]
            for tool in order:
                if tool == "rb":
                    base = ["run", str(BENCH / "runbooks/fan-out.rhai"), "-i", str(INVENTORY),
                            "--set", f"count={c}", "--parallel", str(max(c, 1))]
                    wall, out, kib = rb(*base, "--set", "repeat=1", rss=True)
                    res.add(f"r2.rb.{c}", wall)
                    res.add(f"r2.rb_call.{c}", float(bench_values(out, "fan-out")[0]["secs"]))
                    res.add(f"r2.rss.{c}", kib)
                    _, out, _ = rb(*base, "--set", "repeat=2")
                    res.add(f"r2.rb_warm.{c}", float(bench_values(out, "fan-out")[1]["secs"]))
                else:
                    res.add(f"r2.raw.{c}", raw_fan(hosts, warm=False))
                    res.add(f"r2.raw_warm.{c}", raw_fan(hosts, warm=True))
            res.add(f"r2.ratio_raw.{c}", res.get(f"r2.rb.{c}")[-1] / res.get(f"r2.raw.{c}")[-1])
            log(f"row 2 round {r + 1}: {c} host(s): runbook {secs(res.get(f'r2.rb.{c}')[-1])} "
                f"(warm {ms(res.get(f'r2.rb_warm.{c}')[-1])}), raw {secs(res.get(f'r2.raw.{c}')[-1])} "
                f"(warm {ms(res.get(f'r2.raw_warm.{c}')[-1])})")
        lo, hi = counts[0], counts[-1]
        for k in ("rb", "raw", "rb_warm", "raw_warm"):
            res.add(f"r2.scale.{k}", res.get(f"r2.{k}.{hi}")[-1] / res.get(f"r2.{k}.{lo}")[-1])
    for c in counts:
        row(res, 2, f"one command to {c} host{'s' if c > 1 else ''}: `runbook run` wall, connecting included",
            res.get(f"r2.rb.{c}"), res.get(f"r2.raw.{c}"), f"r2.ratio_raw.{c}",
            ofmt=secs, bfmt=secs, base_label="raw `ssh` ×" + str(c) + " in parallel")
    lo, hi = counts[0], counts[-1]
    row(res, 2, f"fan-out scaling {hi}/{lo} hosts (cold, wall)",
        f"{secs(med(res.get(f'r2.rb.{lo}')))} → {secs(med(res.get(f'r2.rb.{hi}')))}",
        f"raw ssh: {secs(med(res.get(f'r2.raw.{lo}')))} → {secs(med(res.get(f'r2.raw.{hi}')))} = "
        + spread(res.get("r2.scale.raw"), ratio), "r2.scale.rb", f"≤ 3× ({hi}/{lo})",
        lambda x: x <= 3)
    row(res, 2, f"fan-out scaling {hi}/{lo} hosts on open connections (the `run_all` call)",
        f"{ms(med(res.get(f'r2.rb_warm.{lo}')))} → {ms(med(res.get(f'r2.rb_warm.{hi}')))}",
        f"raw `ssh -S`: {ms(med(res.get(f'r2.raw_warm.{lo}')))} → {ms(med(res.get(f'r2.raw_warm.{hi}')))} = "
        + spread(res.get("r2.scale.raw_warm"), ratio), "r2.scale.rb_warm")


# ---------------------------------------------------------------------------------------------
# Row 3: transfer

def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def make_big_file(size_mib):
    log(f"writing {size_mib} MiB of random data to {BIG_FILE}")
    with open(BIG_FILE, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    return sha256_of(BIG_FILE)


def remote_sha(host, path):
    return lab_ssh(host, f"sha256sum -- {shlex.quote(path)}").stdout.split()[0]


def row3(res, a):
    size = a.size_mib << 20
    want = make_big_file(a.size_mib)
    src, up_dst, bt_dst = "/tmp/runbook-bench-src", "/tmp/runbook-bench-dst", "/tmp/runbook-bench-dst"
    scp = ["scp", "-q", "-F", str(SSH_CONFIG)]
    run(scp + [str(BIG_FILE), f"mgr-1:{src}"])
    if remote_sha("mgr-1", src) != want:
        raise BenchError("the source copy on mgr-1 does not match")
    clean = lambda: [lab_ssh(h, f"rm -f {up_dst} {up_dst}.runbook-tmp-*", check=False) for h in ("mgr-1", "mgr-2")]
    tr = lambda *kv: rb("run", str(BENCH / "runbooks/transfer.rhai"), "-i", str(INVENTORY),
                        *[x for k in kv for x in ("--set", k)])
    for r in range(a.rounds):
        order = ["rb", "scp", "scp+sha"] if r % 2 == 0 else ["scp+sha", "scp", "rb"]
        for mode in ("upload", "between"):
            for tool in order:
                clean()
                if tool == "rb":
                    if mode == "upload":
                        wall, out, _ = tr("mode=upload", f"local={BIG_FILE}", "dst=mgr-1", f"dst_path={up_dst}")
                    else:
                        wall, out, _ = tr("mode=between", "src=mgr-1", f"src_path={src}", "dst=mgr-2",
                                          f"dst_path={bt_dst}")
                    got = bench_values(out, "transfer")[0]
                    if got["sha256"] != want or int(got["bytes"]) != size:
                        raise BenchError(f"runbook {mode}: {got}")
                else:
                    argv = (scp + [str(BIG_FILE), f"mgr-1:{up_dst}"] if mode == "upload"
                            else scp + ["-3", f"mgr-1:{src}", f"mgr-2:{bt_dst}"])
                    dst_host = "mgr-1" if mode == "upload" else "mgr-2"
                    t0 = time.perf_counter()
                    if tool == "scp+sha":
                        # What an operator verifies by hand: sha256sum at the source (local or the
                        # source host, alongside the copy) and at the destination (after it).
                        side = (subprocess.Popen(["sha256sum", str(BIG_FILE)], stdout=subprocess.PIPE, text=True)
                                if mode == "upload" else
                                subprocess.Popen(ssh_base() + ["mgr-1", f"sha256sum {src}"], stdout=subprocess.PIPE, text=True))
                    run(argv)
                    if tool == "scp+sha":
                        got_dst = remote_sha(dst_host, up_dst if mode == "upload" else bt_dst)
                        got_src = side.communicate()[0].split()[0]
                        if got_dst != want or got_src != want:
                            raise BenchError(f"scp {mode}: checksum mismatch")
                    wall = time.perf_counter() - t0
                res.add(f"r3.{mode}.{tool}", size / wall / 1e6)
            for base in ("scp", "scp+sha"):
                res.add(f"r3.{mode}.ratio.{base}",
                        res.get(f"r3.{mode}.rb")[-1] / res.get(f"r3.{mode}.{base}")[-1])
            log(f"row 3 round {r + 1}: {mode}: runbook {mbps(res.get(f'r3.{mode}.rb')[-1])}, "
                f"scp {mbps(res.get(f'r3.{mode}.scp')[-1])}, scp+sha256sum {mbps(res.get(f'r3.{mode}.scp+sha')[-1])}")
    clean()
    lab_ssh("mgr-1", f"rm -f {src}", check=False)
    label = f"{a.size_mib} MiB" if a.size_mib != 1024 else "1 GiB"
    for mode, what, peer in (("upload", f"{label} upload, sha256 verified (`copy::upload`)", "scp"),
                             ("between", f"{label} host to host, sha256 verified (`copy::between`)", "scp -3")):
        row(res, 3, what, res.get(f"r3.{mode}.rb"), res.get(f"r3.{mode}.scp"), f"r3.{mode}.ratio.scp",
            "≥ 1.0× scp", lambda x: x >= 1.0, ofmt=mbps, bfmt=mbps, base_label=peer)
        row(res, 3, f"… against {peer} + sha256sum at both ends", "", res.get(f"r3.{mode}.scp+sha"),
            f"r3.{mode}.ratio.scp+sha", ofmt=mbps, bfmt=mbps, base_label=f"{peer} + sha256sum")
        if mode == "upload" and not a.smoke:
            row3_resumed(res, a, want)


# ---------------------------------------------------------------------------------------------
# Row 4: the whole upgrade, runbook against the Ansible peer

def pristine_config_yaml(host):
    script = (f"source {shlex.quote(str(ROOT / 'tests/lab/lib.sh'))}; "
              f"source {shlex.quote(str(ROOT / 'tests/lab/lib-config.sh'))}; cloudify_config_yaml {host}")
    return run(["bash", "-c", script]).stdout


def snapshot_files():
    """What the upgrade changes on the hosts beyond the simulator's state, to put back after."""
    files = {}
    for h, path in [(h, "/etc/cloudify/config.yaml") for h in MANAGERS] + [
            ("mgr-1", "/etc/patroni.conf.bak"), ("mgr-1", "/etc/haproxy/haproxy.cfg.bak"),
            ("old-1", "/tmp/cluster-upgrade.zip"), ("mgr-1", "/tmp/cluster-upgrade.zip")]:
        p = lab_exec(h, "cat", path, check=False, binary=True)
        files[(h, path)] = p.stdout if p.returncode == 0 else None
    return files


def restore_files(files):
    for (h, path), content in files.items():
        if content is None:
            lab_exec(h, "rm", "-f", path, check=False)
        else:
            lab_exec(h, "sh", "-c", 'cat > "$1"', "x", path, input=content, check=False, binary=True)


def watched():
    """What must be byte-identical after an upgrade: Patroni's dynamic config, every haproxy.cfg."""
    w = {"patroni": lab_exec("mgr-1", "/opt/patroni/bin/patronictl", "-c", "/etc/patroni.conf",
                             "show-config").stdout}
    for h in MANAGERS:
        w[h] = lab_exec(h, "cat", "/etc/haproxy/haproxy.cfg").stdout
    return w


def reset_cloudify():
    run([str(ROOT / "tests/lab/cloudify-reset")])


def sim_set(host, values):
    run([str(ROOT / "tests/lab/sim/fault"), host, "set", *values])


def fresh_managers(pristine):
    # The installer config first: the reset writes a new manager's rest-security.conf from it.
    for h in MANAGERS:
        lab_exec(h, "sh", "-c", 'cat > "$1"', "x", "/etc/cloudify/config.yaml", input=pristine[h])
    reset_cloudify()   # (this also resets the simulator's settings: the waits are set after it)
    for h in CORE:
        sim_set(h, [f"{k}=0" for k in SIM_WAITS])
    shutil.rmtree(WORK / "snapshots", ignore_errors=True)


def status_ok(host):
    """Whether `cfy status --json` on host answers "status": "OK" (`cfy status` exits 0 on a 401
    or a server error, and prints the status document only when it got one)."""
    p = lab_ssh(host, "cfy status --json", check=False)
    try:
        return p.returncode == 0 and json.loads(p.stdout).get("status") == "OK"
    except ValueError:
        return False


def check_upgraded(before, pristine, tool):
    j = lambda h, c: json.loads(lab_ssh(h, c).stdout)
    old = sorted(d["id"] for d in j("old-1", "cfy deployments list --all-tenants --json"))
    new = sorted(d["id"] for d in j("mgr-1", "cfy deployments list --all-tenants --json"))
    problems = []
    if not old or new != old:
        problems.append(f"mgr-1 deployments {new} != old-1's {old}")
    # install_new_agents moves each agent to the manager's version (the CLI lists no manager field)
    agents = j("mgr-1", "cfy agents list --all-tenants --json")
    if sorted({a["deployment"] for a in agents}) != old or any(a.get("version") != NEW_VERSION for a in agents):
        problems.append(f"agents not reinstalled on mgr-1 (not all at version {NEW_VERSION}): "
                        + ", ".join(sorted({f"{a['id']} {a.get('version')}" for a in agents})))
    for h in MANAGERS:
        if not status_ok(h):
            problems.append(f"{h}: cfy status --json is not OK")
    # rest-security.conf: the standbys must have the restored manager's (hash salt, keys)
    conf = {h: json.loads(lab_exec(h, "cat", "/opt/manager/rest-security.conf").stdout) for h in MANAGERS}
    for h in ("mgr-2", "mgr-3"):
        if conf[h] != conf["mgr-1"]:
            problems.append(f"{h}: rest-security.conf differs from mgr-1's")
    # Cloudify 6.4+ no longer reads encoding_alphabet: the installer configs stay as they were
    for h in MANAGERS:
        if lab_exec(h, "cat", "/etc/cloudify/config.yaml").stdout != pristine[h]:
            problems.append(f"{h}: /etc/cloudify/config.yaml changed ({NEW_VERSION} reads no encoding_alphabet)")
    if watched() != before:
        problems.append("Patroni's config or a haproxy.cfg is not back byte for byte")
    if problems:
        raise BenchError(f"{tool}: the upgrade did not do what it must:\n  " + "\n  ".join(problems))


def remote_busy(journal):
    """Seconds during which at least one remote command of the run was executing (journal)."""
    spans = []
    first = last = None
    for line in Path(journal).read_text().splitlines():
        r = json.loads(line)
        ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp()
        first = ts if first is None else first
        last = ts
        if r["event"] in ("command", "transfer"):
            spans.append((ts - r["duration_ms"] / 1000, ts))
    spans.sort()
    busy, end = 0.0, None
    for s, e in spans:
        if end is None or s > end:
            busy += e - s
            end = e
        elif e > end:
            busy += e - end
            end = e
    return busy, last - first


def window_overhead(journal):
    """The risk window (first undo pushed → last pending undo popped, as `runbook log` shows it)
    and the restore step inside it, in seconds, from the journal: (window, restore)."""
    pending, opened, window, restore = set(), None, None, None
    for line in Path(journal).read_text().splitlines():
        r = json.loads(line)
        ts = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp()
        if r["event"] == "undo_push":
            if not pending:
                opened = ts
            pending.add(r["id"])
        elif r["event"] == "undo_pop" and r["id"] in pending:
            pending.discard(r["id"])
            if not pending and opened is not None:
                window = ts - opened
        elif r["event"] == "step_end" and r["step"] == "restore" and r.get("ok"):
            restore = r["duration_ms"] / 1000
    return window, restore


def partial_bytes(host, pattern):
    """Bytes in the files matching the shell glob `pattern` on host (0 when none)."""
    p = lab_exec(host, "sh", "-c", f"cat {pattern} 2>/dev/null | wc -c", check=False)
    try:
        return int(p.stdout.strip() or 0)
    except ValueError:
        return 0


def dropped_at_half(argv, env, host, pattern, size):
    """Start argv (a copy to host), drop host's SSH sessions once half of `size` landed at the
    files matching `pattern`, wait for the copy to fail; the bytes left there."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    while partial_bytes(host, pattern) < size // 2:
        if p.poll() is not None or time.perf_counter() - t0 > 120:
            p.kill()
            raise BenchError(f"{argv[0]}: the copy ended or stalled before half-way")
        time.sleep(0.01)
    run([str(ROOT / "tests/lab/fault"), host, "drop"])
    if p.wait() == 0:
        raise BenchError(f"{argv[0]}: the drop came too late (the copy finished)")
    return partial_bytes(host, pattern)


def row3_resumed(res, a, want):
    """Row 3, resumed: an upload dropped at about half, then the time the second attempt takes
    to finish; against a full copy (the same run's upload) and rsync --partial over the same
    ssh config."""
    size = a.size_mib << 20
    dst = "/tmp/runbook-bench-resume"
    clean = lambda: lab_ssh("mgr-1", f"rm -f {dst} {dst}.* /tmp/.runbook-bench-resume.*", check=False)
    rsync = ["rsync", "--partial", "-e", f"ssh -F {SSH_CONFIG}", str(BIG_FILE), f"mgr-1:{dst}"]
    tr = [str(RB), "run", str(BENCH / "runbooks/transfer.rhai"), "-i", str(INVENTORY),
          "--set", "mode=upload", "--set", f"local={BIG_FILE}", "--set", "dst=mgr-1",
          "--set", f"dst_path={dst}"]
    try:
        for r in range(a.rounds):
            clean()
            kept = dropped_at_half(tr, rb_env(), "mgr-1", f"{dst}.runbook-tmp-*", size)
            wall, out, _ = timed(tr, env=rb_env())
            got = bench_values(out, "transfer")[0]
            if got["sha256"] != want or int(got["bytes"]) != size:
                raise BenchError(f"runbook resumed upload: {got}")
            res.add("r3.resume.rb", wall)
            res.add("r3.resume.rb_kept", kept / size)
            if shutil.which("rsync"):
                clean()
                kept = dropped_at_half(rsync, None, "mgr-1", f"{dst} /tmp/.runbook-bench-resume.*", size)
                wall = timed(rsync)[0]
                if remote_sha("mgr-1", dst) != want:
                    raise BenchError("rsync --partial: checksum mismatch")
                res.add("r3.resume.rsync", wall)
                res.add("r3.resume.ratio", res.get("r3.resume.rb")[-1] / wall)
            log(f"row 3 resumed round {r + 1}: runbook {secs(res.get('r3.resume.rb')[-1])}"
                + (f", rsync --partial {secs(res.get('r3.resume.rsync')[-1])}" if res.get("r3.resume.rsync") else ""))
    finally:
        clean()
    full = [size / (mbps_ * 1e6) for mbps_ in res.get("r3.upload.rb")]
    row(res, 3, "… resumed after a drop at ~50 %: time to finish (the second attempt)",
        res.get("r3.resume.rb"), res.get("r3.resume.rsync") or "no rsync", "r3.resume.ratio",
        ofmt=secs, bfmt=secs, base_label="rsync --partial")
    row(res, 3, "… the same upload from the start (this run's full copies)", full, "", None, ofmt=secs)


def row4(res, a):
    use_ansible = have_ansible() and not a.smoke
    before = watched()
    files = snapshot_files()
    pristine = {h: pristine_config_yaml(h) for h in MANAGERS}
    try:
        for r in range(a.rounds):
            order = ["rb", "ansible"] if r % 2 == 0 else ["ansible", "rb"]
            for tool in order:
                fresh_managers(pristine)
                if tool == "rb":
                    wall, out, kib = rb("run", "cloudify-ha-upgrade", "-i", str(INVENTORY), "--yes",
                                        "--set-secret", "old_admin_password=env:OLD_PW",
                                        "--set", f"local_dir={WORK / 'snapshots'}", rss=True)
                    m = re.search(r"journal: (\S+)", out)
                    busy, span = remote_busy(m.group(1)) if m else (None, None)
                    if m:  # kept for a look at where the time went (runbook log --journal)
                        shutil.copy(m.group(1), OUT / "upgrade-journal.jsonl")
                    if busy is not None:
                        res.add("r4.rb_busy", busy)
                        res.add("r4.rb_idle", wall - busy)
                    window, restore = window_overhead(m.group(1)) if m else (None, None)
                    if window is not None and restore is not None:
                        res.add("r4.window", window)
                        res.add("r4.window_restore", restore)
                        res.add("r4.window_overhead", window - restore)
                elif use_ansible:
                    wall, out, kib = ansible(BENCH / "peers/cloudify-ha-upgrade.yml",
                                             "-e", f"local_dir={WORK / 'snapshots'}",
                                             "-e", f"@{secret_vars()}",
                                             "-e", "haproxy_settle=0", rss=True)
                    # kept like the journal: which tasks ran, which were skipped or retried
                    (OUT / "upgrade-ansible.log").write_text(out)
                else:
                    continue
                check_upgraded(before, pristine, tool)
                res.add(f"r4.{tool}", wall)
                res.add(f"r6.{tool}.upgrade", kib)
            if use_ansible:
                res.add("r4.ratio", res.get("r4.rb")[-1] / res.get("r4.ansible")[-1])
            log(f"row 4 round {r + 1}: runbook {secs(res.get('r4.rb')[-1])}"
                + (f", ansible {secs(res.get('r4.ansible')[-1])}" if use_ansible else ""))
        if have_ansible() and a.smoke:
            write_ansible_inventory(WORK / "ansible-inventory.ini")
            ansible(BENCH / "peers/cloudify-ha-upgrade.yml", "--syntax-check", "-e", "local_dir=x")
    finally:
        close_ansible_masters()
        for h in CORE:
            sim_set(h, [f"{k}=" for k in SIM_WAITS])
        restore_files(files)   # config.yaml first: the reset derives rest-security.conf from it
        reset_cloudify()
    row(res, 4, "the whole upgrade, simulator waits zero (wall)", res.get("r4.rb"),
        res.get("r4.ansible") or "skipped (smoke or no ansible-playbook)", "r4.ratio",
        "≤ 0.25× Ansible", lambda x: x <= 0.25, ofmt=secs, bfmt=secs,
        base_label="Ansible playbook")
    row(res, 4, "… runbook's wall split: a remote command running / none running (journal)",
        spread(res.get("r4.rb_busy"), secs), "", None, ofmt=secs)
    res.rows[-1]["runbook"] = "running: " + res.rows[-1]["runbook"]
    res.rows[-1]["baseline"] = "none running: " + spread(res.get("r4.rb_idle"), secs)
    if res.get("r4.window_overhead"):
        window_row(res, "r4", "… window of raised timeouts minus the restore inside it (journal)")


def window_row(res, key, what):
    """Row 4's window overhead from the samples `KEY.window…` (target ≤ 2 s)."""
    row(res, 4, what, spread(res.get(f"{key}.window_overhead"), secs), "", None, ofmt=secs)
    res.rows[-1]["baseline"] = (f"window {spread(res.get(f'{key}.window'), secs)}, "
                                f"restore {spread(res.get(f'{key}.window_restore'), secs)}")
    res.rows[-1]["target"] = "≤ 2 s"
    res.rows[-1]["met"] = "yes" if med(res.get(f"{key}.window_overhead")) <= 2 else "**no**"


def leader_address():
    """The address of the manager whose PostgreSQL is the Patroni leader (port 15432)."""
    for h, addr in [("mgr-1", "127.0.0.12"), ("mgr-2", "127.0.0.13"), ("mgr-3", "127.0.0.14")]:
        p = run(["psql", "-h", addr, "-p", "15432", "-U", "cloudify", "-d", "cloudify_db", "-Atc",
                 "select pg_is_in_recovery()"], check=False,
                env={**os.environ, "PGPASSWORD": "cloudify", "PGCONNECT_TIMEOUT": "3"})
        if p.returncode == 0 and p.stdout.strip() == "f":
            return addr
    raise BenchError("no Patroni leader answers on port 15432")


def row4_no_haproxy(res, a):
    """Row 4's window on managers as Cloudify ships them from 5.1.1 on (the 7.0.5 of the new
    cluster here): no HAProxy (cloudify-manager-install 7ff52832); the restore connects to the
    Patroni leader itself. As tests/upgrade.rs `a_manager_without_haproxy_…` sets mgr-1 up."""
    before = watched()
    files = snapshot_files()
    pristine = {h: pristine_config_yaml(h) for h in MANAGERS}
    site = WORK / "no-haproxy.toml"
    site.write_text(INVENTORY.read_text()
                    + '\n[hosts.mgr-1.vars]\nhaproxy_cfg = "/etc/haproxy/absent.cfg"\n')
    try:
        for r in range(a.rounds):
            fresh_managers(pristine)
            leader = leader_address()
            lab_exec("mgr-1", "sed", "-i", "-e",
                     f's/"db": {{"host": "127.0.0.12", "port": 5432/"db": {{"host": "{leader}", "port": 15432/',
                     "-e", 's#"haproxy_cfg": "/etc/haproxy/haproxy.cfg"#"haproxy_cfg": "/etc/haproxy/absent.cfg"#',
                     "/etc/cloudify-sim/config.json")
            config = lab_exec("mgr-1", "cat", "/etc/cloudify-sim/config.json").stdout
            if "15432" not in config or "absent.cfg" not in config:
                raise BenchError(f"mgr-1's simulator config was not changed: {config}")
            lab_exec("mgr-1", "/opt/runbook-lab/sim/setup", "mgr-1", "new", "--reset")
            for h in CORE:
                sim_set(h, [f"{k}=0" for k in SIM_WAITS])
            wall, out, _ = rb("run", "cloudify-ha-upgrade", "-i", str(site), "--yes",
                              "--set-secret", "old_admin_password=env:OLD_PW",
                              "--set", f"local_dir={WORK / 'snapshots'}")
            if "no HAProxy config" not in out:
                raise BenchError("the run raised HAProxy's timeouts on a manager without one")
            m = re.search(r"journal: (\S+)", out)
            window, restore = window_overhead(m.group(1)) if m else (None, None)
            if window is None or restore is None:
                raise BenchError("no window in the journal")
            shutil.copy(m.group(1), OUT / "upgrade-no-haproxy-journal.jsonl")
            check_upgraded(before, pristine, "rb")
            res.add("r4n.window", window)
            res.add("r4n.window_restore", restore)
            res.add("r4n.window_overhead", window - restore)
            log(f"row 4 (no HAProxy) round {r + 1}: window {secs(window)}, restore {secs(restore)}")
    finally:
        for h in CORE:
            sim_set(h, [f"{k}=" for k in SIM_WAITS])
        restore_files(files)
        reset_cloudify()
    window_row(res, "r4n", "… the same on managers without HAProxy (Cloudify ≥ 5.1.1, as the new 7.0.5 cluster ships)")


# ---------------------------------------------------------------------------------------------
# Row 5: cold start and size

def startup(argv, runs, env=None):
    """Median wall seconds of argv (hyperfine when present: -N, warm-up runs first)."""
    if shutil.which("hyperfine"):
        out = WORK / "hyperfine.json"
        run(["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out),
             shlex.join(map(str, argv))], env=env, cwd=WORK)
        return json.loads(out.read_text())["results"][0]["median"]
    walls = []
    for _ in range(runs + 3):
        walls.append(timed(argv, env=env)[0])
    return statistics.median(walls[3:])


def row5(res, a):
    peer = have_ansible() and not a.smoke
    if peer:
        write_ansible_inventory(WORK / "ansible-inventory.ini")
    check_pb = ["ansible-playbook", "--syntax-check", "-i", str(WORK / "ansible-inventory.ini"),
                str(BENCH / "peers/cloudify-ha-upgrade.yml"), "-e", "local_dir=x"]
    for r in range(a.rounds):
        res.add("r5.help", startup([RB, "--help"], a.startup_runs))
        res.add("r5.check", startup([RB, "check", "cloudify-ha-upgrade"], a.startup_runs))
        if peer:
            res.add("r5.a_help", startup(["ansible-playbook", "--help"], 5, ansible_env()))
            res.add("r5.a_check", startup(check_pb, 5, ansible_env()))
            res.add("r5.ratio_help", res.get("r5.a_help")[-1] / res.get("r5.help")[-1])
            res.add("r5.ratio_check", res.get("r5.a_check")[-1] / res.get("r5.check")[-1])
        log(f"row 5 round {r + 1}: --help {ms(res.get('r5.help')[-1])}, check {ms(res.get('r5.check')[-1])}")
    row(res, 5, "cold start: `runbook --help`", res.get("r5.help"), res.get("r5.a_help") or "—",
        "r5.ratio_help", base_label="`ansible-playbook --help`", rfmt=lambda x: f"{x:.0f}× faster")
    res.rows[-1]["target"] = "< 20 ms"
    res.rows[-1]["met"] = "yes" if med(res.get("r5.help")) < 0.020 else "**no**"
    row(res, 5, "cold start: `runbook check cloudify-ha-upgrade`", res.get("r5.check"),
        res.get("r5.a_check") or "—", "r5.ratio_check",
        base_label="`ansible-playbook --syntax-check` (peer)", rfmt=lambda x: f"{x:.0f}× faster")
    size = RB.stat().st_size
    res.rows.append({"row": 5, "what": f"binary size (`{RB.relative_to(ROOT) if RB.is_relative_to(ROOT) else RB}`)",
                     "runbook": f"{size / 2**20:.1f} MiB ({size} bytes)", "baseline": "—",
                     "ratio": "—", "target": "—", "met": "—"})


def row6(res, a):
    fan = [c for c in a.fan_counts if res.get(f"r2.rss.{c}")]
    row(res, 6, "peak RSS: the upgrade run", res.get("r6.rb.upgrade"),
        res.get("r6.ansible.upgrade") or "—", None, ofmt=mib, bfmt=mib,
        base_label="Ansible (largest process)")
    if fan:
        c = fan[-1]
        row(res, 6, f"peak RSS: {c}-host fan-out run", res.get(f"r2.rss.{c}"), "—", None, ofmt=mib)


# ---------------------------------------------------------------------------------------------

def machine():
    cpu = ""
    for line in run(["lscpu"]).stdout.splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 2**20
    rev = run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], check=False).stdout.strip()
    ansible_v = run(["ansible-playbook", "--version"], check=False).stdout.splitlines()[:1] if have_ansible() else []
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "memory": f"{mem:.1f} GiB", "cpu": cpu,
            "kernel": platform.release(), "openssh": run(["ssh", "-V"]).stderr.strip(),
            "ansible": ansible_v[0] if ansible_v else "not installed", "runbook": rev,
            "load": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def table(res, m, a):
    head = ["#", "measure", "runbook", "baseline", "ratio: median [min–max]", "target", "met"]
    lines = [f"runbook bench — {m['date']} — {a.rounds} round(s){' (smoke)' if a.smoke else ''} — "
             f"{m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, load at start {m['load']}",
             f"{m['openssh']}; {m['ansible']}; runbook {m['runbook']} ({RB.relative_to(ROOT) if RB.is_relative_to(ROOT) else RB})", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in res.rows:
        lines.append(f"| {r['row']} | {r['what']} | {r['runbook']} | {r['baseline']} | {r['ratio']} | "
                     f"{r['target']} | {r['met']} |")
    return "\n".join(lines)


def interrupted(*_):
    raise KeyboardInterrupt("SIGTERM")


def main():
    global WORK
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="1 round, tiny sizes, no Ansible: seconds")
    p.add_argument("--rows", default="1,2,3,4,5,6", help="which rows, e.g. 1,4")
    p.add_argument("--n", type=int, default=200, help="commands per round, row 1 (runbook, raw)")
    p.add_argument("--ansible-n", type=int, default=50, help="tasks per round, row 1 (Ansible)")
    p.add_argument("--size-mib", type=int, default=1024, help="file size, row 3")
    p.add_argument("--fan", default="1,10,100", help="host counts, row 2")
    p.add_argument("--startup-runs", type=int, default=50)
    p.add_argument("--binary", help="the runbook binary [target/release/runbook; smoke: target/debug/runbook]")
    a = p.parse_args()
    if a.smoke:
        a.rounds, a.n, a.size_mib, a.fan, a.startup_runs = 1, 5, 8, "1,10", 5
    global RB
    RB = Path(a.binary).resolve() if a.binary else ROOT / "target" / ("debug" if a.smoke else "release") / "runbook"
    a.fan_counts = sorted(int(x) for x in a.fan.split(","))
    rows = {int(x) for x in a.rows.split(",")}
    if not RB.exists():
        sys.exit(f"bench: {RB} is missing: cargo build{'' if a.smoke else ' --release'}")
    OUT.mkdir(parents=True, exist_ok=True)
    WORK = Path(tempfile.mkdtemp(prefix="runbook-bench.", dir="/tmp"))
    for d in ("runs", "ansible-cp", "ansible-tmp"):
        (WORK / d).mkdir()
    write_ansible_inventory(WORK / "ansible-inventory.ini")
    signal.signal(signal.SIGTERM, interrupted)
    m = machine()
    res = Results()
    started = time.perf_counter()
    try:
        def row4_both(res, a):
            row4(res, a)
            row4_no_haproxy(res, a)

        for num, fn in ((1, row1), (2, row2), (3, row3), (4, row4_both), (5, row5), (6, row6)):
            if num in rows:
                log(f"row {num}")
                fn(res, a)
    finally:
        close_ansible_masters()
        reap_masters()
        BIG_FILE.unlink(missing_ok=True)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)
    text = table(res, m, a)
    print(text)
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")
    name = "smoke" if a.smoke else "latest"
    (OUT / f"{name}.md").write_text(text + "\n")
    (OUT / f"{name}.json").write_text(json.dumps({"machine": m, "args": vars(a), "samples": res.samples,
                                                   "rows": res.rows}, indent=1))
    log(f"written: {OUT / (name + '.md')}, {OUT / (name + '.json')}")


WORK = None
if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"bench: error: {e}")
    except KeyboardInterrupt:
        sys.exit("bench: interrupted (what it changed on the lab was put back)")
