# shellcheck shell=bash
# One line per host and service: HOST SERVICE STATE DETAIL. Used by `status` and by `up` to
# decide that there is nothing to do.

LAB_STATUS_OK=0

status_line() {
  local host=$1 svc=$2 state=$3 detail=$4
  printf '%-10s %-10s %-8s %s\n' "$host" "$svc" "$state" "$detail"
  [[ $state == up ]] || LAB_STATUS_OK=1
}

status_etcd() {
  local name=$1 pid
  pid=$(etcd_pid "$name")
  if [[ -z $pid ]]; then
    status_line "$name" etcd down "member not running"
  elif pid_stopped "$pid"; then
    status_line "$name" etcd frozen "pid $pid stopped (fault etcd thaw)"
  elif etcd_member_healthy "$name"; then
    status_line "$name" etcd up "pid $pid, http://${HOST_ADDR[$name]}:$ETCD_PORT"
  else
    status_line "$name" etcd down "pid $pid not healthy (no quorum?)"
  fi
}

# The manager simulator's REST service of an active manager (a passive old node has none).
status_manager() {
  local name=$1 addr=${HOST_ADDR[$1]}
  if tcp_open "$addr" 80; then
    status_line "$name" manager up "REST API http://$addr:80"
  elif host_is_passive "$name"; then
    status_line "$name" manager up "passive (no REST API, as configured)"
  else
    status_line "$name" manager down "nothing listens on $addr:80 (cfy_manager start)"
  fi
}

# The namespace holder and the sshd listener of a host (or of the shared fan-out namespace).
status_ssh() {
  local name=$1 addr=$2 port=$3 holder pid
  holder=$(live_holder "$name")
  if [[ -z $holder ]]; then
    status_line "$name" namespace down "no holder process"
    status_line "$name" sshd down "host not running"
    return 0
  fi
  status_line "$name" namespace up "holder pid $holder"
  pid=$(sshd_pid "$name")
  if ! pid_alive "$pid" || [[ $(proc_comm "$pid") != sshd ]]; then
    status_line "$name" sshd down "no listener on $addr:$port"
  elif pid_stopped "$pid"; then
    status_line "$name" sshd frozen "pid $pid stopped (fault $name thaw)"
  elif ssh_banner_ok "$addr" "$port"; then
    status_line "$name" sshd up "pid $pid, $addr:$port"
  else
    status_line "$name" sshd down "pid $pid gives no banner on $addr:$port"
  fi
}

status_haproxy() {
  local name=$1 pids p
  pids=$(haproxy_pids "$name" | tr '\n' ' ')
  if [[ -z ${pids// /} ]]; then
    status_line "$name" haproxy down "not running (/run/haproxy.pid)"
    return 0
  fi
  for p in $pids; do
    pid_stopped "$p" && { status_line "$name" haproxy frozen "pid $p stopped"; return 0; }
  done
  status_line "$name" haproxy up "pid ${pids% }, ${HOST_ADDR[$name]}:$HAPROXY_PORT"
}

# Prints the table; returns 0 only when everything is up.
lab_status() {
  local h n line
  LAB_STATUS_OK=0
  if [[ ! -d $LAB/hosts ]]; then
    status_line lab - down "no lab at $LAB (tests/lab/up)"
    return 1
  fi
  for h in "${CORE_HOSTS[@]}"; do
    status_ssh "$h" "${HOST_ADDR[$h]}" 22
    status_manager "$h"
    if [[ $h == mgr-* ]]; then
      status_etcd "$h"
      status_haproxy "$h"
      [[ -n $(patroni_pid "$h") ]] || status_line "$h" patroni down "process not running"
    fi
  done
  # Patroni's own view: role and replication per member, plus the cluster verdict.
  while IFS= read -r line; do
    printf '%s\n' "$line"
    [[ $line =~ ^[^[:space:]]+[[:space:]]+patroni[[:space:]]+up ]] || LAB_STATUS_OK=1
  done < <(cluster_health 2>/dev/null || true)
  n=$(fanout_count)
  if ((n > 0)); then
    status_ssh fanout "$(fanout_addr 1)" "$FANOUT_PORT"
    status_line fanout hosts up "$n hosts fan-001..$(fanout_name "$n") on 127.0.1.x:$FANOUT_PORT"
  fi
  return "$LAB_STATUS_OK"
}
