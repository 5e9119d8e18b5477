# shellcheck shell=bash
# What a client needs to reach the lab: key pair, known_hosts, inventory.toml, ssh_config.
# Rewritten by every `up` but only touched when the content changes.

ensure_client_key() {
  [[ -f $LAB/client_key ]] && return 0
  ssh-keygen -q -t ed25519 -N '' -C runbook-lab-client -f "$LAB/client_key"
}

# Every host as ssh itself writes it: bare address for port 22, [addr]:port otherwise.
write_known_hosts() {
  local n=$1 h i key fan_key=''
  {
    for h in "${CORE_HOSTS[@]}"; do
      read -r -a key <"$(hostdir "$h")/ssh_host_ed25519_key.pub"
      printf '%s %s %s\n' "${HOST_ADDR[$h]}" "${key[0]}" "${key[1]}"
    done
    if ((n > 0)); then
      read -r -a key <"$(hostdir fanout)/ssh_host_ed25519_key.pub"
      fan_key="${key[0]} ${key[1]}"
      for ((i = 1; i <= n; i++)); do
        printf '[%s]:%s %s\n' "$(fanout_addr "$i")" "$FANOUT_PORT" "$fan_key"
      done
    fi
  } | write_if_changed "$LAB/known_hosts"
}

# The inventory the Rust side parses (format fixed in tests/lab/README.md).
write_inventory() {
  local n=$1 h i
  {
    cat <<EOF
# Written by tests/lab/up
[defaults]
user = "$LAB_USER"
port = 22
identity_file = "$LAB/client_key"
known_hosts_file = "$LAB/known_hosts"

[defaults.vars]
patronictl = "/opt/patroni/bin/patronictl"
patroni_conf = "/etc/patroni.conf"
haproxy_cfg = "/etc/haproxy/haproxy.cfg"
haproxy_reload = "service haproxy reload"
EOF
    for h in "${CORE_HOSTS[@]}"; do
      printf '\n[hosts.%s]\naddress = "%s"\ngroups = [%s]\n' "$h" "${HOST_ADDR[$h]}" "${HOST_GROUPS[$h]}"
    done
    for ((i = 1; i <= n; i++)); do
      printf '\n[hosts.%s]\naddress = "%s"\nport = %s\ngroups = ["fanout"]\n' \
        "$(fanout_name "$i")" "$(fanout_addr "$i")" "$FANOUT_PORT"
    done
  } | write_if_changed "$LAB/inventory.toml"
}

# For people: ssh -F $LAB/ssh_config mgr-1
write_ssh_config() {
  local n=$1 h i
  {
    printf '# Written by tests/lab/up. Usage: ssh -F %s/ssh_config mgr-1\n' "$LAB"
    for h in "${CORE_HOSTS[@]}"; do
      printf 'Host %s\n    HostName %s\n    Port 22\n' "$h" "${HOST_ADDR[$h]}"
    done
    for ((i = 1; i <= n; i++)); do
      printf 'Host %s\n    HostName %s\n    Port %s\n' "$(fanout_name "$i")" "$(fanout_addr "$i")" "$FANOUT_PORT"
    done
    cat <<EOF
Host *
    User $LAB_USER
    IdentityFile $LAB/client_key
    IdentitiesOnly yes
    UserKnownHostsFile $LAB/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 5
EOF
  } | write_if_changed "$LAB/ssh_config"
}

write_client_files() {
  write_known_hosts "$1"
  write_inventory "$1"
  write_ssh_config "$1"
  printf '%s\n' "$1" | write_if_changed "$LAB/extra_hosts"
}
