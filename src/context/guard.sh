# The host-side dead man's switch of one run (src/context/guard.rs), started detached by root.
# $1: its folder. Everything it needs is in files there, never in this script's text:
#   run, secs (the lease), cap (seconds to wait for in-flight work at most), user (the SSH user),
#   armed/cmd/NNN/id and armed/cmd/NNN/MM/{command,timeout,stdin,sudo}: the undo, NNN in the
#   order to run it (newest first); armed/probe/NN/{command,timeout,sudo,what,until}: in-flight
#   probes (`until`: the work's own deadline in Unix seconds, else `cap` from firing).
# The controller renews the lease (/var/lib/runbook/lease, its mtime); while `armed` exists and
# the lease is stale, the guard claims the undo (`mv armed firing`: rename is atomic, and the
# controller takes it back with the same kind of rename, so exactly one of them wins), waits for
# every probe to say `ended` (at most until its deadline), runs the undo and writes `result`.
d=$1
cd "$d" || exit 1
echo $$ > pid
run=$(cat run); secs=$(cat secs); cap=$(cat cap); user=$(cat user)
lease=/var/lib/runbook/lease
home=$(getent passwd "$user" | cut -d: -f6)
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# Run the command in folder $1 as the controller would: root when `sudo`, else the SSH user.
runit() {
  c=$(cat "$1/command"); t=$(cat "$1/timeout" 2>/dev/null || echo 120); in=/dev/null
  [ -e "$1/stdin" ] && in="$1/stdin"
  if [ -e "$1/sudo" ]; then timeout "$t" sh -c "$c" <"$in"
  else timeout "$t" runuser -u "$user" -- env HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin sh -c "$c" <"$in"
  fi
}
# 0: stale (or gone); 1: fresh; 2: another run holds it.
lease_state() {
  [ -e "$lease" ] || return 0
  case $(cat "$lease" 2>/dev/null) in "run=$run "*) ;; *) return 2;; esac
  age=$(( $(date +%s) - $(stat -c %Y "$lease" 2>/dev/null || date +%s) ))
  [ "$age" -gt "$secs" ] && return 0
  return 1
}
fire() {
  echo "fired $(now) ${age:-gone}" > result.tmp
  fallback=$(( $(date +%s) + cap ))
  for p in firing/probe/*/; do
    [ -d "$p" ] || continue
    deadline=$(cat "$p/until" 2>/dev/null || echo "$fallback")
    while :; do
      said=$(runit "$p" 2>/dev/null | awk 'NF { l = $0 } END { print l }')
      [ "$said" = ended ] && { echo "ended $(now) $(cat "$p/what" 2>/dev/null)" >> result.tmp; break; }
      [ "$(date +%s)" -ge "$deadline" ] && { echo "cap $(now) $(cat "$p/what" 2>/dev/null)" >> result.tmp; break; }
      sleep 2
    done
  done
  for a in firing/cmd/*/; do
    [ -d "$a" ] || continue
    id=$(cat "$a/id"); start=$(now); code=0
    for c in "$a"[0-9]*/; do
      [ -d "$c" ] || continue
      runit "$c" >>log 2>&1; code=$?
      [ "$code" -ne 0 ] && break
    done
    echo "ran $id $code $start $(now)" >> result.tmp
  done
  echo "done $(now)" >> result.tmp
  mv result.tmp result
}
while :; do
  if [ -d armed ]; then
    lease_state; s=$?
    if [ "$s" -eq 2 ]; then
      mv armed stood-down 2>/dev/null && { echo "stood-down $(now)" > result; exit 0; }
    elif [ "$s" -eq 0 ]; then
      mv armed firing 2>/dev/null && { fire; exit 0; }
    fi
  elif [ ! -d updating ]; then
    exit 0
  fi
  sleep 1
done
