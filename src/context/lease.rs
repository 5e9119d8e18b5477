//! One run per cluster: a lease on every host a run changes, taken atomically over SSH before the
//! first change there, renewed while the run lives, given back when its process ends. Runs of
//! runbooks that hold hosts in a temporary state (`temporarily`) take them, and `revert`; a
//! runbook of plain commands does not (two of those may share hosts, as the lab's tests do).
//!
//! The lease is `/var/lib/runbook/lease` on the host (root's, through sudo, so every operator
//! sees it): one line `run=ID controller=HOST user=USER pid=PID started=TIME`, created with
//! a hard link of a file written whole (`ln` fails if it exists: of two runs taking it at once, one wins; a reader never sees it half written), its mtime the heartbeat. A second
//! run stops before its first change on a leased host, naming the holder; the same run (`resume`,
//! `revert`) takes its lease back; `--break-lease` takes it over (journaled).

use super::{lock, Ctx};
use crate::error::TransportError;
use crate::inventory::HostInfo;
use crate::journal::Event;
use crate::transport::{self, Command, ExecRequest, Transport};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The lease file on each host.
pub const LEASE_FILE: &str = "/var/lib/runbook/lease";

const SCRIPT: &str = r#"f=${RUNBOOK_LEASE:-/var/lib/runbook/lease}; action=$1; run=$2; info=$3; secs=$4; brk=$5
mkdir -p "${f%/*}" || exit 2
mine() { case $(cat "$f" 2>/dev/null) in "run=$run "*) return 0;; esac; return 1; }
case $action in
take)
  # Written whole to a file of this process, then linked (fails if the lease exists) or renamed
  # into place: a reader never sees it empty or half written.
  t="$f.$$"; printf '%s\n' "$info" > "$t" || exit 2
  if ln "$t" "$f" 2>/dev/null; then rm -f "$t"; echo taken; exit 0; fi
  cur=$(cat "$f" 2>/dev/null); age=$(( $(date +%s) - $(stat -c %Y "$f" 2>/dev/null || date +%s) ))
  if mine; then mv -f "$t" "$f"; echo "taken back"; exit 0; fi
  if [ "$brk" = break ]; then mv -f "$t" "$f"; echo "broken: $cur (renewed $age s ago)"; exit 0; fi
  rm -f "$t"
  stale=""; [ "$age" -gt "$secs" ] && stale=", stale: the run holding it stopped renewing it"
  echo "held: $cur (renewed $age s ago$stale)"; exit 3;;
renew) if mine; then touch "$f"; echo renewed; else echo lost; exit 3; fi;;
release) if mine; then rm -f "$f"; echo released; else echo "not ours"; fi;;
esac"#;

/// The leases this process holds, and what it says about itself in them.
#[derive(Debug, Default)]
pub struct Leases {
    pub(super) run_id: Option<String>,
    /// Leases are taken by runs that hold hosts in a temporary state: a runbook that opens a
    /// `temporarily` scope (seen when it loads, or when it first opens one), and `revert`.
    pub(super) enabled: bool,
    info: String,
    taken: BTreeMap<String, Arc<HostInfo>>,
    stop: Arc<AtomicBool>,
    /// A dry run: the hosts a change was shown for (the leases a run would take).
    planned: std::collections::BTreeSet<String>,
}

fn whoami() -> (String, String) {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    (host, user)
}

fn request(action: &str, run: &str, info: &str, secs: u64, brk: bool) -> ExecRequest {
    ExecRequest {
        command: Command::argv([
            "sh",
            "-c",
            SCRIPT,
            "lease",
            action,
            run,
            info,
            &secs.to_string(),
            if brk { "break" } else { "-" },
        ]),
        sudo: true,
        stdin: None,
        timeout: Duration::from_secs(30),
        sensitive: false,
    }
}

impl Ctx {
    /// From now on, changes need a lease on their host, held in the name of run `run_id`.
    pub fn lease_as(&self, run_id: &str) {
        let (host, user) = whoami();
        let mut l = lock(&self.leases);
        l.run_id = Some(run_id.into());
        l.info = format!(
            "run={run_id} controller={host} user={user} pid={} started={}",
            std::process::id(),
            crate::journal::now()
        );
    }

    /// This run holds hosts in a temporary state: its changes need leases from now on.
    pub fn enable_leases(&self) {
        lock(&self.leases).enabled = true;
    }

    /// Before the first change on `host`: take its lease (or take it back), or stop.
    pub(super) async fn ensure_lease(
        &self,
        host: &Arc<HostInfo>,
        cancel: &CancellationToken,
    ) -> Result<(), TransportError> {
        // The controller itself needs no lease: only hosts reached over SSH are shared.
        if host.transport == crate::inventory::TransportKind::Local {
            return Ok(());
        }
        let (run, info) = {
            let l = lock(&self.leases);
            match &l.run_id {
                Some(run) if l.enabled && !l.taken.contains_key(&host.name) => {
                    (run.clone(), l.info.clone())
                }
                _ => return Ok(()),
            }
        };
        let secs = self.settings.lease_secs;
        let req = request("take", &run, &info, secs, self.settings.break_lease);
        let t = self.transport(host);
        let out = transport::exec(t.as_ref(), &host.name, &req, cancel, None).await?;
        let said = out.stdout.trim().to_string();
        if out.code != 0 {
            let holder = if said.is_empty() {
                format!("the lease could not be taken: {}", out.stderr.trim())
            } else {
                said.trim_start_matches("held: ").to_string()
            };
            return Err(TransportError::Leased {
                host: host.name.clone(),
                holder,
            });
        }
        if said.starts_with("broken") {
            self.say(&format!("! lease on {}: {said} (--break-lease)", host.name));
        }
        let _ = self.record(Event::Lease {
            host: host.name.clone(),
            what: said,
        });
        let stop = {
            let mut l = lock(&self.leases);
            l.taken.insert(host.name.clone(), host.clone());
            l.stop.clone()
        };
        self.renew_in_background(t, host.name.clone(), run, secs, stop);
        Ok(())
    }

    /// The heartbeat: touch the lease every third of `--lease` while the run lives.
    fn renew_in_background(
        &self,
        t: Arc<dyn Transport>,
        host: String,
        run: String,
        secs: u64,
        stop: Arc<AtomicBool>,
    ) {
        let period = Duration::from_secs((secs / 3).max(1));
        self.spawn(async move {
            let req = request("renew", &run, "", secs, false);
            let never = CancellationToken::new();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(period).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _ = transport::exec(t.as_ref(), &host, &req, &never, None).await;
            }
        });
    }

    /// A dry run showed a change on `host`: a run would lease it (SSH hosts only).
    pub(super) fn plan_lease(&self, host: &HostInfo) {
        let enabled = lock(&self.leases).enabled;
        if enabled && host.transport != crate::inventory::TransportKind::Local {
            lock(&self.leases).planned.insert(host.name.clone());
        }
    }

    /// For `plan`: the leases a run would take, and how they behave.
    pub fn planned_leases(&self) -> Option<String> {
        let hosts = lock(&self.leases).planned.clone();
        if hosts.is_empty() {
            return None;
        }
        let secs = self.settings.lease_secs;
        Some(format!(
            "One run per cluster: before its first change on a host, a run takes a lease there ({LEASE_FILE}: run id, controller, user, pid, start) — {}; renewed every {} s, stale after {secs} s without (--lease); another run stops before changing a leased host, naming the holder (--break-lease takes a lease over, journaled).",
            hosts.into_iter().collect::<Vec<_>>().join(", "),
            (secs / 3).max(1)
        ))
    }

    /// This process ends but its hosts stay held (a refused `revert` leaves the window to its
    /// guard): renewal stops and the lease files stay, going stale after `--lease` s — the guard's
    /// heartbeat — so a `revert --force` or `resume` meanwhile still finds the guard armed.
    pub fn leave_leases(&self) {
        let hosts = {
            let mut l = lock(&self.leases);
            l.stop.store(true, Ordering::Relaxed);
            std::mem::take(&mut l.taken)
        };
        for host in hosts.into_keys() {
            let _ = self.record(Event::Lease {
                host,
                what: format!(
                    "left in place: stale after {} s without renewal",
                    self.settings.lease_secs
                ),
            });
        }
    }

    /// The run's process ends: give every lease back (journaled).
    pub fn release_leases(&self) {
        let (run, hosts) = {
            let mut l = lock(&self.leases);
            if l.taken.is_empty() {
                return;
            }
            l.stop.store(true, Ordering::Relaxed);
            let hosts: Vec<_> = std::mem::take(&mut l.taken).into_values().collect();
            (l.run_id.clone().unwrap_or_default(), hosts)
        };
        let never = CancellationToken::new();
        for host in hosts {
            let t = self.transport(&host);
            let req = request("release", &run, "", 0, false);
            let said = match self.wait(transport::exec(t.as_ref(), &host.name, &req, &never, None))
            {
                Ok(o) => o.stdout.trim().to_string(),
                Err(e) => format!("not released: {e}"),
            };
            let _ = self.record(Event::Lease {
                host: host.name.clone(),
                what: said,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SCRIPT;

    /// One `take` of the lease at `path` by run `run`, as the host runs it; its answer.
    fn take(path: &std::path::Path, run: &str) -> std::process::Child {
        std::process::Command::new("sh")
            .args([
                "-c",
                SCRIPT,
                "lease",
                "take",
                run,
                &format!("run={run} pid=1"),
                "300",
                "-",
            ])
            .env("RUNBOOK_LEASE", path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh")
    }

    /// Takes of one run's lease at the same time (a resume's, a guard's, parallel commands on one
    /// host) all succeed: none may read the file half written and call it another run's.
    #[test]
    fn concurrent_takes_by_one_run_never_see_it_held() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lease");
        for round in 0..40 {
            let children: Vec<_> = (0..12).map(|_| take(&path, "r1")).collect();
            for c in children {
                let out = c.wait_with_output().expect("take");
                let said = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success() && said.starts_with("taken"),
                    "round {round}: {said}"
                );
            }
            if round % 2 == 0 {
                std::fs::remove_file(&path).expect("released");
            }
        }
        let other = take(&path, "r2").wait_with_output().expect("take");
        assert_eq!(other.status.code(), Some(3), "another run is refused");
        assert!(String::from_utf8_lossy(&other.stdout).starts_with("held: run=r1 "));
    }
}
