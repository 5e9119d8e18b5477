# shellcheck shell=bash
# Config files the lab writes for its hosts, each in the shape the real product writes.
# Every function prints to stdout; lib-hosts.sh decides where the text goes.

# sshd for one host (or the shared fan-out sshd). No AcceptEnv: the runbook must not rely on it.
sshd_config() {
  local hdir=$1 listen=$2
  cat <<EOF
# Written by tests/lab/up
ListenAddress $listen
HostKey $hdir/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
# Only the lab user, and only from loopback (the fan-out sshd listens on 0.0.0.0).
AllowUsers $LAB_USER@127.*
MaxSessions 10
MaxStartups 100:30:200
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel INFO
EOF
}

# /etc/patroni.conf as Cloudify writes it: scope postgres, namespace /db/, etcd v2 DCS.
patroni_conf() {
  local name=$1 addr=${HOST_ADDR[$1]}
  cat <<EOF
# Written by tests/lab/up (shape of Cloudify's /etc/patroni.conf)
scope: postgres
namespace: /db/
name: $name

restapi:
  listen: $addr:$PATRONI_API_PORT
  connect_address: $addr:$PATRONI_API_PORT

# Its own node's etcd member only, as Cloudify writes it (postgresql_server.py: 'hosts': ['{ip}:2379']).
etcd:
  hosts: ['$addr:$ETCD_PORT']
  protocol: http

bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8

postgresql:
  listen: $addr:$PG_PORT
  connect_address: $addr:$PG_PORT
  data_dir: $(hostdir "$name")/pgdata
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /run/postgresql/pgpass
  authentication:
    superuser:
      username: postgres
      password: $PG_SUPERUSER_PASSWORD
    replication:
      username: replicator
      password: $PG_REPLICATION_PASSWORD
  parameters:
    unix_socket_directories: /run/postgresql
    shared_buffers: 32MB
    # Lab speed: a new replica retries streaming every second, not every 5 s.
    wal_retrieve_retry_interval: 1s
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.0/8 md5
    - host all all 127.0.0.0/8 md5
EOF
}

# /etc/haproxy/haproxy.cfg as on a Cloudify manager, with lab timeouts of seconds so timeout
# behaviour is observable. The commented timeout line is a trap for a careless sed.
haproxy_cfg() {
  local addr=${HOST_ADDR[$1]} h
  cat <<EOF
# Written by tests/lab/up (shape of Cloudify's manager haproxy.cfg, lab timeouts)
global
    maxconn 100
    # No syslog in the lab: messages to /dev/log are dropped.
    log /dev/log local0
    user haproxy
    group haproxy
    stats socket /run/haproxy-admin.sock mode 600 level admin

defaults
    log global
    mode tcp
    retries 2
    timeout client 4s
    timeout connect 4s
    timeout server 4s
    timeout client-fin 2s
    # timeout client 30m
    timeout check 5s

listen postgres
    bind $addr:$HAPROXY_PORT
    option httpchk OPTIONS /master
    http-check expect status 200
    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
EOF
  for h in "${PATRONI_HOSTS[@]}"; do
    printf '    server %s %s:%s maxconn 100 check port %s addr %s\n' \
      "$h" "${HOST_ADDR[$h]}" "$PG_PORT" "$PATRONI_API_PORT" "${HOST_ADDR[$h]}"
  done
}

# The old manager's /opt/manager/rest-security.conf (JSON). Its encoding_alphabet differs from
# the new managers' config.yaml on purpose: the runbook should notice.
OLD_ENCODING_ALPHABET=Xq3vTz8KpL2mWn9RbY5sHc7JdF4gAe6U
NEW_ENCODING_ALPHABET=aB3cD4eF5gH6iJ7kL8mN9pQ2rS3tU4vW
rest_security_conf() {
  cat <<EOF
{
    "secret_key": "lab-old-secret-key",
    "hash_salt": "lab-old-hash-salt",
    "encoding_alphabet": "$OLD_ENCODING_ALPHABET",
    "encoding_block_size": 24,
    "encoding_min_length": 5,
    "encryption_key": "lab-old-encryption-key"
}
EOF
}

# A new manager's /etc/cloudify/config.yaml (the installer's config), trimmed to what matters: a
# compact node (every service on each node, cloudify-manager-install config.yaml's default
# services_to_install) of a clustered database. mgr-1 keeps the shipped `flask_security: {}`
# (no encoding_alphabet at all); mgr-2 and mgr-3 set one that differs from the old manager's.
cloudify_config_yaml() {
  local name=$1 addr=${HOST_ADDR[$1]} h flask
  if [[ $name == mgr-1 ]]; then
    flask='flask_security: {}'
  else
    flask="flask_security:
  secret_key: lab-new-secret-key
  hash_salt: lab-new-hash-salt
  encoding_alphabet: $NEW_ENCODING_ALPHABET
  encoding_block_size: 24
  encoding_min_length: 5"
  fi
  cat <<EOF
# Written by tests/lab/up (shape of Cloudify's /etc/cloudify/config.yaml, trimmed)
manager:
  private_ip: $addr
  public_ip: $addr
  hostname: $name
  security:
    admin_username: admin
    admin_password: admin
postgresql_server:
  cluster:
    nodes:
EOF
  for h in "${PATRONI_HOSTS[@]}"; do
    printf '      %s:\n        ip: %s\n' "$h" "${HOST_ADDR[$h]}"
  done
  cat <<EOF
$flask
services_to_install:
- database_service
- queue_service
- manager_service
- monitoring_service
- entropy_service
EOF
}

# /etc/cloudify-sim/config.json: what the Cloudify manager simulator needs to know about its host
# (tests/lab/sim/README.md). `components` are the lab's hooks behind `cfy_manager stop|start` of
# the database component: that host's etcd member and Patroni.
sim_config_json() {
  local name=$1 role=new version=7.0.5 cluster='"mgr-1", "mgr-2", "mgr-3"' components=''
  if [[ $name == old-* ]]; then
    role=old version=5.0.5 cluster="\"$name\""
    # old-2 is the active node of the old active-passive cluster; old-1 is an All-In-One until a
    # test makes it old-2's passive peer.
    [[ $name == old-2 ]] && cluster='"old-1", "old-2"'
  else
    components=$(printf ',\n  "components": {"database": {"stop": %s, "start": %s}}' \
      "$(component_hook "$name" database stop)" "$(component_hook "$name" database start)")
  fi
  cat <<EOF
{
  "name": "$name",
  "address": "${HOST_ADDR[$name]}",
  "port": 80,
  "role": "$role",
  "version": "$version",
  "cluster": [$cluster],
  "active": true,
  "db": {"host": "${HOST_ADDR[$name]}", "port": $HAPROXY_PORT, "user": "cloudify", "password": "cloudify", "dbname": "cloudify_db"},
  "cluster_dir": "$LAB/cluster",
  "patroni_conf": "/etc/patroni.conf",
  "haproxy_cfg": "/etc/haproxy/haproxy.cfg"$components
}
EOF
}

# The argv (JSON) of the lab hook that stops or starts one of a host's components.
component_hook() {
  printf '["/usr/bin/env", "RUNBOOK_LAB_DIR=%s", "%s/lab/component", "%s", "%s", "%s"]' \
    "$LAB" "$LAB_INSTALL" "$1" "$2" "$3"
}
