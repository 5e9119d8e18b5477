#!/usr/bin/env bash
# The first process of a lab host: runs inside the fresh mount + UTS namespace that
# `unshare -m -u --propagation private` made (see start_holder in lib-hosts.sh), gives the host
# its own view of the paths the runbook touches, then becomes the namespace's holder
# (`sleep infinity`), so sshd can be stopped and started again in the same namespace.
# Nothing mounted here is visible outside; the mounts go away with the namespace's last process.
set -euo pipefail

name=$1 # host name (hostname inside the namespace)
hdir=$2 # this host's state dir, $LAB/hosts/NAME
lab=$3  # the lab state dir, which must stay visible at the same path inside
kind=$4 # core (old-1, mgr-N) or fanout (the shared namespace of fan-NNN)

hostname "$name"

# /etc: an overlay, not single-file binds, so that files the runbook creates next to the
# per-host ones (/etc/patroni.conf.bak, haproxy.cfg.bak via sed -i) are per host too, and
# `mv`/`sed -i` work (renaming over a bind-mounted file fails with EBUSY).
mount -t overlay lab-etc -o "lowerdir=/etc,upperdir=$hdir/etc-upper,workdir=$hdir/etc-work" /etc

# /run: sshd's privsep dir, pidfiles (service haproxy reload reads /run/haproxy.pid), sockets.
mount --bind "$hdir/run" /run
mount --bind "$hdir/home" /home/rbops
mount --bind "$hdir/bin" /usr/local/bin

if [[ $kind == core ]]; then
  mount --bind "$hdir/opt-patroni" /opt/patroni
  mount --bind "$hdir/opt-manager" /opt/manager
  mount --bind "$hdir/cloudify-sim" /var/lib/cloudify-sim
  # A small disk for disk-full tests.
  mount -t tmpfs -o size=16m,mode=1777 lab-small /mnt/small
fi

# /tmp last: the state dir is usually under /tmp and must stay reachable (Patroni's data dir,
# the simulator's cluster dir). Our cwd keeps the old /tmp reachable after the new one covers it,
# so bind it back at the same path; -c, or mount(8) would canonicalize "." to the new, empty path.
cd "$lab"
mount --bind "$hdir/tmp" /tmp
if [[ $lab == /tmp/* ]]; then
  mkdir -p "$lab"
  mount -c --bind . "$lab"
fi
cd /

: >"$hdir/ready"
exec sleep infinity
