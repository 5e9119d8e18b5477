# shellcheck shell=bash
# Lab hosts: packages, the login user, per-host state dirs, namespace holders, sshd.

# command or file -> Debian package that provides it.
declare -A NEEDED=(
  [/usr/sbin/sshd]=openssh-server [/usr/bin/ssh]=openssh-client [/usr/bin/ssh-keygen]=openssh-client
  [/usr/bin/sudo]=sudo [/usr/bin/patroni]=patroni [/usr/bin/patronictl]=patroni
  [/usr/lib/python3/dist-packages/etcd/__init__.py]=python3-etcd
  [/usr/lib/python3/dist-packages/psycopg2/__init__.py]=python3-psycopg2
  [/usr/bin/etcd]=etcd-server [/usr/bin/etcdctl]=etcd-client [/usr/sbin/haproxy]=haproxy
  [/usr/lib/postgresql/15/bin/postgres]=postgresql-15 [/usr/bin/psql]=postgresql-client-15
  [/usr/bin/python3]=python3 [/usr/bin/nsenter]=util-linux [/usr/bin/unshare]=util-linux
  [/usr/bin/setpriv]=util-linux [/usr/bin/flock]=util-linux [/usr/sbin/service]=init-system-helpers
  [/usr/bin/find]=findutils
  [/usr/lib/python3.11/ensurepip/__init__.py]=python3-venv
  [/usr/lib/python3/dist-packages/yaml/__init__.py]=python3-yaml
)

# Install what is missing; `apt-get update` only then, so a ready machine pays nothing.
ensure_packages() {
  local path missing=()
  for path in "${!NEEDED[@]}"; do
    [[ -e $path ]] || missing+=("${NEEDED[$path]}")
  done
  ((${#missing[@]})) || return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing ${missing[*]}"
  # Package scripts must not start their own etcd/postgres/haproxy on our ports.
  local policy=/usr/sbin/policy-rc.d made_policy=''
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local rc=0
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >&2 || rc=$?
  [[ -n $made_policy ]] && rm -f "$policy"
  ((rc == 0)) || die "apt-get install ${missing[*]} failed"
}

# The login user: unlocked (sshd without PAM refuses keys of a locked account), passwordless sudo.
ensure_user() {
  if ! id "$LAB_USER" >/dev/null 2>&1; then
    useradd -m -s /bin/bash "$LAB_USER"
  fi
  [[ $(getent shadow "$LAB_USER" | cut -d: -f2) == '*' ]] || usermod -p '*' "$LAB_USER"
  local sudoers=/etc/sudoers.d/$LAB_USER line="$LAB_USER ALL=(ALL) NOPASSWD:ALL"
  if [[ ! -f $sudoers ]] || [[ $(<"$sudoers") != "$line" ]]; then
    printf '%s\n' "$line" >"$sudoers.tmp"
    chmod 440 "$sudoers.tmp"
    visudo -cqf "$sudoers.tmp" || die "bad sudoers line for $LAB_USER"
    mv -f "$sudoers.tmp" "$sudoers"
  fi
}

# Mount points in the root filesystem for the per-host binds (empty dirs, harmless).
ensure_mount_points() {
  local p
  for p in "${HOST_MOUNTED_PATHS[@]}"; do
    [[ $p == /etc ]] && continue
    mkdir -p "$p"
  done
  return 0
}

# Checked before anything is created: the state dir must stay visible inside the hosts.
check_lab_dir() {
  local p
  for p in "${HOST_MOUNTED_PATHS[@]}"; do
    [[ $LAB/ == "$p"/* ]] && die "RUNBOOK_LAB_DIR=$LAB is below $p, which every lab host mounts over; pick another dir"
  done
  [[ $LAB != / ]] || die "RUNBOOK_LAB_DIR must not be /"
}

# Per-host state dir: what ns-setup.sh mounts, the host key, sshd_config. Cold start only.
prepare_host() {
  local name=$1 kind=$2 addr=$3 listen=$4 h
  h=$(hostdir "$name")
  mkdir -p "$h"/{etc-upper,etc-work,run,home,bin,tmp,log}
  chmod 1777 "$h/tmp"
  install -d -m 755 "$h/run/sshd"
  install -d -m 1777 "$h/run/lock"
  install -d -m 2775 -o postgres -g postgres "$h/run/postgresql"

  # Home of the login user, with the lab's client key authorised.
  cp -rT /etc/skel "$h/home"
  install -d -m 700 "$h/home/.ssh"
  cp "$LAB/client_key.pub" "$h/home/.ssh/authorized_keys"
  chmod 600 "$h/home/.ssh/authorized_keys"
  chown -R "$LAB_USER:$LAB_USER" "$h/home"
  chmod 750 "$h/home"

  # Hostname resolvable inside the host, or sudo complains on every call.
  { cat /etc/hosts; printf '%s %s\n' "$addr" "$name"; } >"$h/etc-upper/hosts"
  printf '%s\n' "$name" >"$h/etc-upper/hostname"

  printf 'Lab host %s: per-host /usr/local/bin. tests/lab/up links Cloudify'"'"'s real CLI (cfy) and the simulated cfy_manager here from %s.\n' "$name" "$LAB_INSTALL" >"$h/bin/README"

  ssh-keygen -q -t ed25519 -N '' -C "$name@runbook-lab" -f "$h/ssh_host_ed25519_key"
  sshd_config "$h" "$listen" >"$h/sshd_config"

  [[ $kind == core ]] && prepare_core_host "$name" "$h"
  return 0
}

# The Cloudify-ish parts of old-1 and mgr-N.
prepare_core_host() {
  local name=$1 h=$2
  mkdir -p "$h"/{opt-patroni,opt-manager,cloudify-sim} "$h/etc-upper/cloudify" "$h/etc-upper/cloudify-sim"
  sim_config_json "$name" >"$h/etc-upper/cloudify-sim/config.json"
  if [[ $name == old-* ]]; then
    rest_security_conf >"$h/opt-manager/rest-security.conf"
    # The old manager has no HAProxy: an overlay whiteout hides the root's /etc/haproxy.
    mknod "$h/etc-upper/haproxy" c 0 0
    return 0
  fi
  cloudify_config_yaml "$name" >"$h/etc-upper/cloudify/config.yaml"
  mkdir -p "$h/etc-upper/haproxy" "$h/opt-patroni/bin"
  haproxy_cfg "$name" >"$h/etc-upper/haproxy/haproxy.cfg"
  haproxy -c -q -f "$h/etc-upper/haproxy/haproxy.cfg" || die "generated haproxy.cfg for $name does not pass haproxy -c"
  # Cloudify's patronictl lives in a virtualenv at /opt/patroni; Debian's does the same job.
  ln -s /usr/bin/patronictl "$h/opt-patroni/bin/patronictl"
  # Root-only, as on Cloudify (that is why the guide uses sudo tee).
  patroni_conf "$name" >"$h/etc-upper/patroni.conf"
  chown root:postgres "$h/etc-upper/patroni.conf"
  chmod 640 "$h/etc-upper/patroni.conf"
  install -d -m 700 -o postgres -g postgres "$h/pgdata"
}

holder_pid() { read_pid "$(hostdir "$1")/holder.pid"; }

# Pid of a live holder whose namespace is the one we recorded, or nothing.
live_holder() {
  local h pid
  h=$(hostdir "$1")
  pid=$(read_pid "$h/holder.pid")
  if pid_alive "$pid" && [[ -r $h/mntns && $(mntns_of "$pid") == "$(<"$h/mntns")" ]]; then
    printf '%s' "$pid"
  fi
}

# Start the process that owns the host's mount namespace (unless it is running).
ensure_holder() {
  local name=$1 kind=$2 h pid ns
  h=$(hostdir "$name")
  [[ -n $(live_holder "$name") ]] && return 0
  # A dead holder: whatever is left in its namespace belongs to the host we rebuild.
  [[ -r $h/mntns ]] && stop_pids "$(ns_pids "$(<"$h/mntns")" | tr '\n' ' ')" 3
  rm -f "$h/ready" "$h/mntns"
  spawn "$h/holder.pid" "$h/log/holder.log" \
    unshare -m -u --propagation private -- bash "$LAB_SRC/ns-setup.sh" "$name" "$h" "$LAB" "$kind"
  pid=$(read_pid "$h/holder.pid")
  local deadline=$((SECONDS + 10))
  until [[ -e $h/ready ]]; do
    pid_alive "$pid" || die "namespace for $name failed to start: $(tail -n 5 "$h/log/holder.log")"
    ((SECONDS < deadline)) || die "namespace for $name not ready after 10s (see $h/log/holder.log)"
    sleep 0.05
  done
  ns=$(mntns_of "$pid")
  # Never let a later nsenter land in the root namespace and mount over the real /etc.
  [[ -n $ns && $ns != "$(mntns_of $$)" ]] || die "holder of $name is not in its own mount namespace"
  printf '%s\n' "$ns" >"$h/mntns"
}

# Run a command inside a host's namespaces (mount + UTS), with a clean environment.
in_host() {
  local name=$1 pid
  shift
  pid=$(live_holder "$name")
  [[ -n $pid ]] || die "host $name is not running (tests/lab/up)"
  (
    close_inherited_fds
    exec nsenter -t "$pid" -m -u -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      LANG=C.UTF-8 "$@"
  )
}

sshd_pid() { read_pid "$(hostdir "$1")/run/sshd.pid"; }

# sshd processes of a namespace: the listener and every session (comm is sshd for both).
ns_sshd_pids() {
  local h p
  h=$(hostdir "$1")
  [[ -r $h/mntns ]] || return 0
  for p in $(ns_pids "$(<"$h/mntns")"); do
    [[ $(proc_comm "$p") == sshd ]] && printf '%s\n' "$p"
  done
  return 0
}

# The listener answers with its banner: a stopped (frozen) sshd accepts TCP but says nothing.
ssh_banner_ok() {
  local got
  # shellcheck disable=SC2016 # expanded by the inner bash
  got=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -c 4 <&3' "$1" "$2" 2>/dev/null) || return 1
  [[ $got == SSH- ]]
}

start_sshd() {
  local name=$1 addr=$2 port=$3 h
  h=$(hostdir "$name")
  in_host "$name" /usr/sbin/sshd -f "$h/sshd_config" -E "$h/log/sshd.log" </dev/null >>"$h/log/sshd-start.log" 2>&1 ||
    die "sshd of $name failed to start: $(tail -n 5 "$h/log/sshd-start.log" "$h/log/sshd.log")"
  wait_for 10 "sshd of $name on $addr:$port" ssh_banner_ok "$addr" "$port" ||
    die "sshd of $name does not answer on $addr:$port (see $h/log/sshd.log)"
}

# Running and not frozen; thaws a frozen one (up brings the lab back to healthy).
ensure_sshd() {
  local name=$1 addr=$2 port=$3 pid p
  pid=$(sshd_pid "$name")
  if pid_alive "$pid" && [[ $(proc_comm "$pid") == sshd ]]; then
    for p in $(ns_sshd_pids "$name"); do pid_stopped "$p" && kill -CONT "$p"; done
    return 0
  fi
  start_sshd "$name" "$addr" "$port"
}

# Copy the lab's scripts and the manager simulator where every host can read them (see
# LAB_INSTALL in lib.sh); only what changed, so a running simulator is left alone otherwise.
install_lab_files() {
  install -d -m 755 "$LAB_INSTALL"
  # Running from the installed copy (the component hook): it is what it would copy.
  [[ $LAB_SRC == "$LAB_INSTALL/lab" ]] && return 0
  sync_dir "$LAB_SRC" "$LAB_INSTALL/lab" sim
  sync_dir "$LAB_SRC/sim" "$LAB_INSTALL/sim"
}

# Replace DEST by a copy of SRC (less the entry EXCLUDE) when they differ; a new dir is swapped
# in whole, so a process that runs from DEST sees the old files or the new ones, never a mix.
sync_dir() {
  local src=$1 dest=$2 exclude=${3:-} args=(-rq -x __pycache__)
  [[ -n $exclude ]] && args+=(-x "$exclude")
  diff "${args[@]}" "$src" "$dest" >/dev/null 2>&1 && return 0
  rm -rf "$dest.new" "$dest.old"
  cp -a "$src" "$dest.new"
  [[ -n $exclude ]] && rm -rf "${dest:?}.new/$exclude"
  find "$dest.new" -name __pycache__ -prune -exec rm -rf {} +
  chmod -R a+rX,go-w "$dest.new"
  [[ -e $dest ]] && mv "$dest" "$dest.old"
  mv "$dest.new" "$dest"
  rm -rf "$dest.old"
}

# Cloudify's real CLI from PyPI in a venv of Debian's python, made once and kept across labs.
ensure_cfy_cli() {
  local venv=$LAB_INSTALL/cfy
  [[ -e $venv/.installed-$CFY_VERSION && -x $venv/bin/cfy ]] && return 0
  say "installing Cloudify's CLI $CFY_VERSION from PyPI into $venv (once)"
  rm -rf "$venv"
  { /usr/bin/python3 -m venv "$venv" &&
    "$venv/bin/pip" install -q --disable-pip-version-check "cloudify==$CFY_VERSION"; } >&2 ||
    die "could not install Cloudify's CLI (pip install cloudify==$CFY_VERSION)"
  "$venv/bin/cfy" --version >/dev/null 2>&1 || die "$venv/bin/cfy does not run"
  chmod -R a+rX "$venv"
  : >"$venv/.installed-$CFY_VERSION"
}

# The admin password each simulated manager starts with (tests/lab/sim/README.md).
admin_password_of() { if [[ $1 == old-* ]]; then printf old-admin-pw; else printf new-admin-pw; fi; }

# The login user's CLI profile on a host, made by the real CLI against that host's manager
# (`cfy profiles use`), as an operator would. Skipped where the manager does not answer (a
# passive old node): its profile is made when it becomes active.
ensure_cfy_profile() {
  local name=$1 h
  h=$(hostdir "$name")
  [[ -d $h/home/.cloudify/profiles/${HOST_ADDR[$name]} ]] && return 0
  tcp_open "${HOST_ADDR[$name]}" 80 || return 0
  in_host "$name" setpriv --reuid="$LAB_USER" --regid="$LAB_USER" --init-groups -- \
    env HOME="/home/$LAB_USER" cfy profiles use "${HOST_ADDR[$name]}" -u admin \
    -p "$(admin_password_of "$name")" -t default_tenant </dev/null >>"$h/log/cfy-profile.log" 2>&1 ||
    die "cfy profiles use on $name failed: $(tail -n 5 "$h/log/cfy-profile.log")"
}

# Per host: the real CLI and the simulated cfy_manager on its PATH, the simulator's state and its
# REST service (setup starts it when it is not running), the CLI profile.
install_sim() {
  local name=$1 h role=new
  h=$(hostdir "$name")
  ln -sfn "$LAB_INSTALL/cfy/bin/cfy" "$h/bin/cfy"
  ln -sfn "$LAB_INSTALL/sim/cfy_manager" "$h/bin/cfy_manager"
  [[ $name == old-* ]] && role=old
  in_host "$name" "$LAB_INSTALL/sim/setup" "$name" "$role" >/dev/null || die "simulator setup failed on $name"
  # A manager a test or a run left stopped (cfy_manager stop) is started again: up brings the lab
  # back to healthy. A passive old node stays as configured.
  if ! tcp_open "${HOST_ADDR[$name]}" 80 && ! host_is_passive "$name"; then
    in_host "$name" "$LAB_INSTALL/sim/cfy_manager" start </dev/null >>"$h/log/cfy-manager.log" 2>&1 ||
      die "cfy_manager start failed on $name: $(tail -n 5 "$h/log/cfy-manager.log")"
  fi
  ensure_cfy_profile "$name"
}

# Configured as the passive node of an old active-passive cluster (see tests/lab/sim/README.md).
host_is_passive() { grep -q '"active": *false' "$(hostdir "$1")/etc-upper/cloudify-sim/config.json" 2>/dev/null; }
