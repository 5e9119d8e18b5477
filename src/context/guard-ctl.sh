# The controller's side of the guard (src/context/guard.rs), run through sudo.
# $1: arm | disarm | collect | peek; $2: the run id. `arm` reads the files to write on stdin, one
# a line: `PATH OCTAL-ESCAPED-CONTENT` (paths are the controller's own, relative to the folder).
action=$1; run=$2
case $run in ''|*/*|.*) echo "bad run id"; exit 2;; esac
d=/var/lib/runbook/guard/$run
stop() { kill "$(cat "$d/pid" 2>/dev/null)" 2>/dev/null; cd /; rm -rf "$d"; }
case $action in
arm)
  mkdir -p "$d" && cd "$d" || exit 2
  if [ -d firing ] || [ -e result ]; then echo fired; cat result 2>/dev/null; exit 0; fi
  # Claim it from the guard while its undo is rewritten (it waits while `updating` exists).
  if [ -d armed ] && ! mv armed updating 2>/dev/null; then echo fired; cat result 2>/dev/null; exit 0; fi
  rm -rf next; mkdir next
  while read -r p data; do
    mkdir -p "$(dirname "$p")" && printf '%b' "$data" > "$p" || exit 2
  done
  echo "${SUDO_USER:-$(id -un)}" > user
  rm -rf updating; mv next armed
  if ! kill -0 "$(cat pid 2>/dev/null)" 2>/dev/null; then
    rm -f pid
    if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && command -v systemd-run >/dev/null; then
      systemd-run --quiet --collect --unit "runbook-guard-$(printf '%s' "$run" | tr -c 'A-Za-z0-9_.-' _)" sh "$d/guard.sh" "$d" >/dev/null 2>&1
    else
      setsid nohup sh "$d/guard.sh" "$d" </dev/null >>"$d/log" 2>&1 &
    fi
    i=0; while [ ! -s pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  echo "armed (guard pid $(cat pid 2>/dev/null))";;
disarm|collect)
  [ -d "$d" ] || { echo none; exit 0; }
  cd "$d" || exit 2
  if mv armed disarmed 2>/dev/null || mv updating disarmed 2>/dev/null; then
    stop; [ "$action" = disarm ] && echo disarmed || echo "taken back"; exit 0
  fi
  if [ -e result ]; then echo fired; cat result; stop; exit 0; fi
  if [ -d firing ]; then echo firing; exit 0; fi
  stop; echo none;;
peek)
  [ -d "$d" ] || { echo none; exit 0; }
  cd "$d" || exit 2
  if [ -e result ]; then echo fired; cat result
  elif [ -d firing ]; then echo firing
  elif [ -d armed ] || [ -d updating ]; then echo armed
  else echo none; fi;;
esac
