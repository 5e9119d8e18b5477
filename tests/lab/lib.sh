# shellcheck shell=bash disable=SC2034 # the names defined here are used by the sourcing scripts
# Shared helpers for the runbook test lab: names, addresses, paths, process helpers.
# Sourced by up, down, status, exec and fault; the service-specific parts live in
# lib-hosts.sh (namespaces, sshd, keys, inventory) and lib-services.sh (etcd, Patroni, HAProxy).

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The state dir must be absolute: it is also the path the hosts see (see ns-setup.sh).
LAB=$(realpath -m "${RUNBOOK_LAB_DIR:-/tmp/runbook-lab}")
# What the hosts run (the lab's scripts, the manager simulator, Cloudify's real CLI in a venv):
# copied here by `up`, readable by the hosts' unprivileged user whatever the checkout's path (a
# clone under /root is mode 0700; one under /tmp is hidden by each host's private /tmp). Kept by
# `down`, so a new lab reuses the CLI's venv.
LAB_INSTALL=/opt/runbook-lab
CFY_VERSION=7.0.5
# Beside the state dir, not in it: a cold `up` wipes the state dir while holding the lock.
LAB_LOCK="$LAB.lock"

CORE_HOSTS=(old-1 old-2 mgr-1 mgr-2 mgr-3)
OLD_HOSTS=(old-1 old-2)
PATRONI_HOSTS=(mgr-1 mgr-2 mgr-3)
declare -A HOST_ADDR=([old-1]=127.0.0.11 [old-2]=127.0.0.15 [mgr-1]=127.0.0.12 [mgr-2]=127.0.0.13
  [mgr-3]=127.0.0.14)
# old-1 alone is the default old manager (an All-In-One); old-1 + old-2 form the old
# active-passive cluster that tests/upgrade.rs switches to (old_cluster).
declare -A HOST_GROUPS=([old-1]='"old_manager", "old_cluster"' [old-2]='"old_cluster"' [mgr-1]='"new_managers", "patroni"'
  [mgr-2]='"new_managers", "patroni"' [mgr-3]='"new_managers", "patroni"')

ETCD_PORT=2379
ETCD_PEER_PORT=2380
FANOUT_PORT=2022
PG_PORT=15432
HAPROXY_PORT=5432
PATRONI_API_PORT=8008
# Lab-only secrets; nothing here protects anything outside this machine.
PG_SUPERUSER_PASSWORD=postgres-lab
PG_REPLICATION_PASSWORD=replicator-lab
LAB_USER=rbops
# Paths that ns-setup.sh mounts over inside every host; the state dir must not live below them.
HOST_MOUNTED_PATHS=(/etc /run /home/rbops /usr/local/bin /opt/patroni /opt/manager
  /var/lib/cloudify-sim /mnt/small)

# Debian's python, not whatever a pyenv shim on PATH points at (Patroni is Debian's too).
PYTHON=/usr/bin/python3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'lab: %s\n' "$*" >&2; }
die() {
  printf 'lab: error: %s\n' "$*" >&2
  exit 1
}

require_root() {
  [[ $EUID -eq 0 ]] || die "the lab needs root (namespaces, mounts, sshd on port 22); run it with sudo"
}

# Serialise up/down/fault across test processes: cargo may run several test binaries at once.
# The lock is on fd 9; everything long-lived is started with 9>&- so no daemon inherits it.
take_lock() {
  mkdir -p "$(dirname "$LAB_LOCK")"
  exec 9>"$LAB_LOCK"
  flock -n 9 && return 0
  say "waiting for the lab lock $LAB_LOCK (in use by: $(lock_holders))"
  flock -w "${1:-300}" 9 || die "could not get the lab lock $LAB_LOCK within ${1:-300}s (in use by: $(lock_holders))"
}

# Which lab scripts have the lock file open (for the message when we have to wait): the holder
# and other waiters, one entry per command line, not us or our subshells.
lock_holders() {
  local fd pid ppid gppid cmd
  find /proc/[0-9]*/fd -maxdepth 1 -lname "$LAB_LOCK" 2>/dev/null | while read -r fd; do
    pid=${fd#/proc/}
    pid=${pid%%/*}
    ppid=$(proc_ppid "$pid")
    gppid=$(proc_ppid "$ppid")
    [[ $$ == "$pid" || $$ == "$ppid" || $$ == "$gppid" ]] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-60) || continue
    # Only the lab scripts, not the helper commands their subshells run.
    [[ $cmd =~ (^|/)(up|down|fault)( |$) ]] && printf '%s (pid %s)\n' "${cmd% }" "$pid"
  done | sort -u -t'(' -k1,1 | paste -sd ';' -
}

# Pid files and namespace ids from before a reboot name other processes now (/tmp is on disk
# here): forget them, so nothing kills a stranger that happens to have an old lab pid.
forget_stale_lab() {
  local boot
  [[ -r $LAB/boot_id ]] || return 0
  read -r boot </proc/sys/kernel/random/boot_id
  [[ $(<"$LAB/boot_id") == "$boot" ]] && return 0
  rm -f "$LAB"/hosts/*/{holder.pid,mntns,patroni.pid,etcd.pid,ready} "$LAB"/hosts/*/run/*.pid
  cp /proc/sys/kernel/random/boot_id "$LAB/boot_id"
}

hostdir() { printf '%s/hosts/%s' "$LAB" "$1"; }

# Prints the extra host count recorded by the last `up` (0 when none).
fanout_count() {
  local n=0
  [[ -r $LAB/extra_hosts ]] && read -r n <"$LAB/extra_hosts"
  printf '%s' "${n:-0}"
}

# fan-001 → 127.0.1.1; 254 addresses per /24, skipping .0 and .255.
fanout_name() { printf 'fan-%03d' "$1"; }
fanout_addr() {
  local i=$(($1 - 1))
  printf '127.0.%d.%d' $((1 + i / 254)) $((1 + i % 254))
}

is_fanout_host() { [[ $1 =~ ^fan-[0-9]{3,}$ ]]; }
is_core_host() { [[ -n ${HOST_ADDR[$1]:-} ]]; }

# The namespace a host lives in: core hosts have their own, all fan-NNN share "fanout" (which is
# also accepted as a name).
ns_name_of() {
  if is_core_host "$1"; then
    printf '%s' "$1"
  elif [[ $1 == fanout ]]; then
    (($(fanout_count) > 0)) || die "the lab has no extra hosts (up --extra-hosts N)"
    printf 'fanout'
  elif is_fanout_host "$1"; then
    local n=$((10#${1#fan-}))
    ((n >= 1 && n <= $(fanout_count))) || die "unknown host $1: the lab has $(fanout_count) extra hosts (up --extra-hosts N)"
    printf 'fanout'
  else
    die "unknown host '$1' (hosts: ${CORE_HOSTS[*]}, fan-NNN with --extra-hosts)"
  fi
}

# --- processes -------------------------------------------------------------------------------

# First pid in a pid file, or nothing.
read_pid() {
  local pid=''
  [[ -r $1 ]] && read -r pid _ 2>/dev/null <"$1"
  [[ $pid =~ ^[0-9]+$ ]] && printf '%s' "$pid"
  return 0
}

# Process state letter (R, S, T, Z, ...) or nothing when the process is gone.
pid_state() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  printf '%s' "${stat%% *}"
}

# Alive means present and not a zombie waiting for its parent.
pid_alive() {
  [[ -n ${1:-} ]] || return 1
  local st
  st=$(pid_state "$1")
  [[ -n $st && $st != Z && $st != X ]]
}

proc_ppid() {
  local stat
  stat=$(cat "/proc/${1:-0}/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  stat=${stat#* }
  printf '%s' "${stat%% *}"
}

pid_stopped() { [[ $(pid_state "$1") == [Tt] ]]; }

mntns_of() { readlink "/proc/$1/ns/mnt" 2>/dev/null || true; }

# Every pid whose mount namespace is $1 (e.g. "mnt:[4026532301]"): how down and fault find
# everything a host runs, including processes started later over ssh.
ns_pids() {
  local ns=$1 path
  [[ -n $ns ]] || return 0
  local pattern=${ns//[/\\[}
  pattern=${pattern//]/\\]}
  find /proc/[0-9]*/ns/mnt -maxdepth 0 -lname "$pattern" 2>/dev/null | while read -r path; do
    path=${path#/proc/}
    printf '%s\n' "${path%%/*}"
  done
}

proc_comm() {
  local c=''
  read -r c 2>/dev/null <"/proc/$1/comm" || true
  printf '%s' "$c"
}

# Wait up to $2 seconds (default 10) for all of the pids in $1 (space separated) to exit.
wait_gone() {
  local pids=$1 deadline=$((SECONDS + ${2:-10})) p left
  while :; do
    left=''
    for p in $pids; do pid_alive "$p" && left+="$p "; done
    [[ -z $left ]] && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.1
  done
}

# TERM (and CONT, so a frozen process can act on it), then KILL whatever is left.
stop_pids() {
  local pids=$1 grace=${2:-5} p
  [[ -n ${pids// /} ]] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
  wait_gone "$pids" "$grace" && return 0
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  wait_gone "$pids" 5
}

# Start a long-running daemon detached from our session and stdio (so a test harness reading our
# output never waits on it), and record its pid. `setsid` does not fork here: a background job of
# a non-interactive shell is not a process group leader, so $! is the daemon's final pid.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  (
    close_inherited_fds
    exec setsid "$@" </dev/null >>"$log" 2>&1
  ) &
  printf '%s\n' "$!" >"$pidfile"
}

# Close every descriptor above 2 in this (sub)shell: a daemon must not keep alive a lock its
# starter held — ours on fd 9, or a caller's `flock FILE cmd` — for as long as the daemon runs.
close_inherited_fds() {
  local fd
  for fd in "/proc/$BASHPID/fd/"*; do
    fd=${fd##*/}
    ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
  done
  return 0
}

# Bounded wait for a check command; $1 = seconds, $2 = what we wait for (for the error).
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS >= deadline)) && { say "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

# Raw HTTP GET with bash's /dev/tcp (no curl needed, ~ms): prints the body, fails on no answer.
http_get() {
  local host=$1 port=$2 path=$3
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3
    sed "1,/^\r\{0,1\}$/d" <&3' "$host" "$port" "$path" 2>/dev/null
}

# True when something accepts TCP connections on host:port.
# shellcheck disable=SC2016 # expanded by the inner bash
tcp_open() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# Write a file only when its content changes, so a repeated `up` leaves mtimes alone.
write_if_changed() {
  local dest=$1 tmp
  tmp=$(mktemp "$dest.XXXXXX")
  cat >"$tmp"
  if [[ -f $dest ]] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
  else
    chmod --reference="$dest" "$tmp" 2>/dev/null || chmod 644 "$tmp"
    mv -f "$tmp" "$dest"
  fi
}
