# shellcheck shell=bash
# Lab services: etcd, Patroni + PostgreSQL and HAProxy on mgr-1..3.

# --- etcd: one member per manager host, as a compact Cloudify cluster has ------------------------
# Cloudify runs an etcd member beside Patroni on every database node, and each node's Patroni
# talks to its own member only (cloudify-manager-install cfy_manager/components/postgresql_server/
# postgresql_server.py: `'etcd': {'hosts': ['{ip}:2379']}`; config/etcd.conf: ETCD_INITIAL_CLUSTER of
# every node). Each member runs inside its host's namespace, so `cfy_manager stop` on a compact
# node takes the member with it, and two stopped nodes cost the quorum.

etcd_pid() {
  local pid
  pid=$(read_pid "$(hostdir "$1")/etcd.pid")
  [[ -n $pid && $(proc_comm "$pid") == etcd ]] && pid_alive "$pid" && printf '%s' "$pid"
  return 0
}

# The pids of every running member (for down and the etcd fault switch).
etcd_pids() {
  local h
  for h in "${PATRONI_HOSTS[@]}"; do etcd_pid "$h"; printf ' '; done
}

etcd_member_healthy() { [[ $(http_get "${HOST_ADDR[$1]}" "$ETCD_PORT" /health) == *'"health":"true"'* ]]; }

# Every member answers healthy (a member says so only while the cluster has a quorum).
etcd_healthy() {
  local h
  for h in "${PATRONI_HOSTS[@]}"; do etcd_member_healthy "$h" || return 1; done
}

etcd_initial_cluster() {
  local h out=''
  for h in "${PATRONI_HOSTS[@]}"; do out+="$h=http://${HOST_ADDR[$h]}:$ETCD_PEER_PORT,"; done
  printf '%s' "${out%,}"
}

# Start one member in its host's namespace. A member that has data rejoins; a new one joins the
# initial cluster (all three start within the same `up`, so the first election finds a quorum).
start_etcd_member() {
  local name=$1 h holder addr=${HOST_ADDR[$1]} state=new
  h=$(hostdir "$name")
  holder=$(live_holder "$name")
  [[ -n $holder ]] || die "host $name is not running"
  tcp_open "$addr" "$ETCD_PORT" && die "something else already listens on $addr:$ETCD_PORT; stop it first"
  [[ -d $h/etcd/member ]] && state=existing
  install -d -m 700 "$h/etcd"
  # v2 on: Cloudify's Patroni uses the v2 API (`etcd:` section); v2 and v3 key spaces differ.
  spawn "$h/etcd.pid" "$h/log/etcd.log" nsenter -t "$holder" -m -u -- env -i /usr/bin/etcd \
    --name "$name" --data-dir "$h/etcd" \
    --listen-client-urls "http://$addr:$ETCD_PORT" --advertise-client-urls "http://$addr:$ETCD_PORT" \
    --listen-peer-urls "http://$addr:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$addr:$ETCD_PEER_PORT" \
    --initial-cluster "$(etcd_initial_cluster)" --initial-cluster-state "$state" \
    --initial-cluster-token runbook-lab --enable-v2=true
}

# Running and not frozen, every member; waits for the cluster to be healthy.
ensure_etcd() {
  local h pid
  for h in "${PATRONI_HOSTS[@]}"; do
    pid=$(etcd_pid "$h")
    if [[ -n $pid ]]; then
      pid_stopped "$pid" && kill -CONT "$pid"
      continue
    fi
    start_etcd_member "$h"
  done
  wait_for 60 "the etcd cluster (one member on each of ${PATRONI_HOSTS[*]})" etcd_healthy ||
    die "etcd did not become healthy: $(tail -n 3 "$LAB"/hosts/mgr-*/log/etcd.log)"
}

stop_etcd_member() {
  local pid
  pid=$(etcd_pid "$1")
  [[ -n $pid ]] && stop_pids "$pid" 10
  rm -f "$(hostdir "$1")/etcd.pid"
}

stop_etcd() {
  local h
  for h in "${PATRONI_HOSTS[@]}"; do stop_etcd_member "$h"; done
}

# --- Patroni + PostgreSQL ------------------------------------------------------------------------

patroni_pid() {
  local pid
  pid=$(read_pid "$(hostdir "$1")/patroni.pid")
  [[ -n $pid && $(proc_comm "$pid") == patroni ]] && pid_alive "$pid" && printf '%s' "$pid"
  return 0
}

# Patroni as user postgres inside the host's namespace, so it reads that host's /etc/patroni.conf
# and its PostgreSQL puts sockets and pidfiles in that host's /run.
start_patroni() {
  local name=$1 h holder
  h=$(hostdir "$name")
  holder=$(live_holder "$name")
  [[ -n $holder ]] || die "host $name is not running"
  spawn "$h/patroni.pid" "$h/log/patroni.log" nsenter -t "$holder" -m -u -- \
    setpriv --reuid=postgres --regid=postgres --init-groups -- \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/postgresql LANG=C.UTF-8 \
    /usr/bin/patroni /etc/patroni.conf
}

ensure_patroni() {
  local pid
  pid=$(patroni_pid "$1")
  if [[ -n $pid ]]; then
    pid_stopped "$pid" && kill -CONT "$pid"
    return 0
  fi
  start_patroni "$1"
}

# True when the member's REST API says it is a running primary ("master" in Patroni 3.0).
patroni_is_leader() {
  local body
  body=$(http_get "${HOST_ADDR[$1]}" "$PATRONI_API_PORT" /patroni) || return 1
  [[ $body == *'"state": "running"'* && $body == *'"role": "master"'* ]]
}

# Prints one line per member and a summary; exit 0 when there is exactly one running leader and
# every other member streams from it (the leader's pg_stat_replication, via its REST API).
cluster_health() {
  local args=() h
  for h in "${PATRONI_HOSTS[@]}"; do args+=("$h=${HOST_ADDR[$h]}:$PATRONI_API_PORT"); done
  "$PYTHON" - "${args[@]}" <<'EOF'
import json, sys, urllib.request
members = dict(a.split("=", 1) for a in sys.argv[1:])
info = {}
for name, hostport in members.items():
    try:
        with urllib.request.urlopen(f"http://{hostport}/patroni", timeout=2) as r:
            info[name] = json.load(r)
    except Exception as e:  # a 503 still carries JSON; anything else means "no answer"
        body = getattr(e, "read", lambda: b"")()
        try:
            info[name] = json.loads(body)
        except Exception:
            info[name] = None
leaders = [n for n, i in info.items() if i and i.get("role") == "master" and i.get("state") == "running"]
streaming = set()
for n in leaders:
    for r in info[n].get("replication", []):
        if r.get("state") == "streaming":
            streaming.add(r.get("application_name"))
for n, i in info.items():
    if not i:
        print(f"{n:<10} patroni    down     REST API http://{members[n]}/patroni does not answer")
        continue
    role = "leader" if n in leaders else i.get("role", "?")
    extra = " streaming" if n in streaming else ""
    print(f"{n:<10} patroni    {'up' if i.get('state') == 'running' else 'down':<8} {role}, postgres {i.get('state')}{extra}")
want = len(members) - 1
running = all(i and i.get("state") == "running" for i in info.values())
ok = running and len(leaders) == 1 and len(streaming & (set(members) - set(leaders))) == want
summary = f"leader {leaders[0] if len(leaders) == 1 else ','.join(leaders) or 'none'}, {len(streaming)}/{want} replicas streaming"
print(f"{'cluster':<10} patroni    {'up' if ok else 'down':<8} {summary}")
sys.exit(0 if ok else 1)
EOF
}

cluster_healthy() { cluster_health >/dev/null 2>&1; }

leader_addr() {
  local h
  for h in "${PATRONI_HOSTS[@]}"; do
    patroni_is_leader "$h" && { printf '%s' "${HOST_ADDR[$h]}"; return 0; }
  done
  return 1
}

lab_psql() {
  PGPASSWORD=$PG_SUPERUSER_PASSWORD PGCONNECT_TIMEOUT=5 psql -h "$1" -p "$PG_PORT" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -tAq -c "$2"
}

# The simulator's database, created once through the leader (replicas get it by streaming).
ensure_cloudify_db() {
  local addr
  addr=$(leader_addr) || die "no Patroni leader to create cloudify_db on"
  if [[ -z $(lab_psql "$addr" "SELECT 1 FROM pg_roles WHERE rolname = 'cloudify'") ]]; then
    lab_psql "$addr" "CREATE ROLE cloudify LOGIN PASSWORD 'cloudify'" >/dev/null
  fi
  if [[ -z $(lab_psql "$addr" "SELECT 1 FROM pg_database WHERE datname = 'cloudify_db'") ]]; then
    lab_psql "$addr" "CREATE DATABASE cloudify_db OWNER cloudify" >/dev/null
  fi
}

# Wake a member's HA loop now instead of at its next loop_wait (10 s): a PATCH /config that
# deletes a key that does not exist changes nothing in the DCS, but Patroni wakes its loop on any
# PATCH. The leader creates the new replicas' replication slots in that loop; until then they
# cannot stream.
wake_patroni() {
  local body='{"lab_wakeup": null}'
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "PATCH /config HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s" \
      "${#2}" "$2" >&3
    cat <&3 >/dev/null' "${HOST_ADDR[$1]}" "$PATRONI_API_PORT" "$body" 2>/dev/null || true
}

# Wait (bounded) for one leader and two streaming replicas, nudging the HA loops meanwhile.
wait_cluster_healthy() {
  local deadline=$((SECONDS + $1)) next_wake=$((SECONDS + 2)) h
  until cluster_healthy; do
    ((SECONDS < deadline)) || return 1
    if ((SECONDS >= next_wake)); then
      for h in "${PATRONI_HOSTS[@]}"; do wake_patroni "$h"; done
      next_wake=$((SECONDS + 2))
    fi
    sleep 0.5
  done
}

# Start Patroni where it is not running. mgr-1 goes first on a new cluster so that it is the one
# to bootstrap (and lead); the others then find a leader on their first loop and clone from it
# at once instead of waiting a loop_wait for the initialize race.
ensure_cluster() {
  local h
  if [[ ! -e $(hostdir mgr-1)/pgdata/PG_VERSION && -z $(patroni_pid mgr-1) ]]; then
    start_patroni mgr-1
    wait_for 60 "mgr-1 to bootstrap and lead" patroni_is_leader mgr-1 ||
      die "Patroni on mgr-1 did not become leader: $(tail -n 5 "$(hostdir mgr-1)/log/patroni.log")"
    say "patroni: mgr-1 leads (${SECONDS}s)"
  fi
  for h in "${PATRONI_HOSTS[@]}"; do ensure_patroni "$h"; done
  if ! wait_cluster_healthy 120; then
    cluster_health >&2 || true
    die "the Patroni cluster did not become healthy in 120s; logs: $LAB/hosts/mgr-*/log/patroni.log"
  fi
  say "patroni: leader and 2 streaming replicas (${SECONDS}s)"
  ensure_cloudify_db
}

# SIGTERM makes Patroni stop PostgreSQL cleanly; all three at once, so no replica is left to
# take over from a leader that is shutting down.
stop_patronis() {
  local h pids=''
  for h in "${PATRONI_HOSTS[@]}"; do pids+="$(patroni_pid "$h") "; done
  stop_pids "$pids" 30
}

# --- HAProxy -------------------------------------------------------------------------------------

haproxy_pids() {
  local pid
  [[ -r $(hostdir "$1")/run/haproxy.pid ]] || return 0
  # shellcheck disable=SC2013 # one pid per line
  for pid in $(cat "$(hostdir "$1")/run/haproxy.pid"); do
    [[ $(proc_comm "$pid") == haproxy ]] && pid_alive "$pid" && printf '%s\n' "$pid"
  done
  return 0
}

# Started the way Debian starts it without systemd (init script, pidfile /run/haproxy.pid), so
# `sudo service haproxy reload` over ssh finds and reloads this host's haproxy.
ensure_haproxy() {
  local name=$1 h
  h=$(hostdir "$name")
  [[ -n $(haproxy_pids "$name") ]] && return 0
  in_host "$name" service haproxy start </dev/null >>"$h/log/haproxy.log" 2>&1 ||
    die "haproxy on $name failed to start: $(tail -n 5 "$h/log/haproxy.log")"
  [[ -n $(haproxy_pids "$name") ]] || die "haproxy on $name is not running after start (see $h/log/haproxy.log)"
}
