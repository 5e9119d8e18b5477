//! The host-side dead man's switch (issue 14): while a run holds a host in a temporary state,
//! a guard on that host carries the undo of it and the probes of the run's work in flight.
//!
//! When the first undo for a host is pushed (in a run that takes leases, see `lease.rs`), the
//! guard is armed there: a detached POSIX-sh process (`systemd-run --collect` where systemd is
//! PID 1, else `setsid nohup`), in `/var/lib/runbook/guard/RUN_ID/`, with every command as files
//! (`guard.sh` explains the layout). Every later push rewrites its undo. The lease's renewal is
//! its heartbeat: when the lease goes stale (`--lease`), the guard claims the undo (an atomic
//! rename), waits until each piece of work in flight has ended — its probe says `ended`, or its
//! deadline (its own timeout, e.g. the restore's; else [`CAP_SECS`]) has passed; work on another
//! host cannot be asked from this one, so it waits for that deadline — runs the undo newest
//! first and writes a result. Before the controller runs an undo itself it takes the guard's
//! back (the same rename; acknowledged): exactly one of them runs it. `resume`, `revert` and
//! `log` read what a guard did; `resume` and `revert` journal it (`guard`), which pops the undo
//! it ran.

use super::{lock, Ctx};
use crate::error::{Error, Kind, Result};
use crate::inventory::HostInfo;
use crate::journal::Event;
use crate::transport::{self, Command, ExecRequest};
use crate::undo::{Pending, UndoExec};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where the guards of a host live.
pub const GUARD_DIR: &str = "/var/lib/runbook/guard";

/// How long a fired guard waits at most for in-flight work with no deadline of its own (see
/// [`crate::undo::InFlight::until`]) before it reverts anyway.
pub const CAP_SECS: u64 = 6 * 3600;

const GUARD: &str = include_str!("guard.sh");
const CTL: &str = include_str!("guard-ctl.sh");

/// The hosts this run armed a guard on.
#[derive(Debug, Default)]
pub struct Guards {
    pub(super) armed: BTreeMap<String, Arc<HostInfo>>,
}

/// What a guard on a host says.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum GuardState {
    None,
    Armed,
    /// Claimed its undo and is running it.
    Firing,
    TakenBack,
    /// It ran (its result, parsed).
    Fired(GuardResult),
}

/// What a fired guard did.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct GuardResult {
    pub fired_at: String,
    /// The lease's age when it fired (`gone`: no lease file).
    pub lease_age: String,
    /// Each probe: `ended` or `cap`, when, what.
    pub waited: Vec<String>,
    /// Each undo: id, exit code, start, end.
    pub ran: Vec<(u64, i32, String, String)>,
    pub stood_down: bool,
}

impl GuardResult {
    fn parse(lines: &str) -> Self {
        let mut r = GuardResult::default();
        for line in lines.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["fired", at, age, ..] => {
                    r.fired_at = at.to_string();
                    r.lease_age = age.to_string();
                }
                ["ended" | "cap", ..] => r.waited.push(line.to_string()),
                ["ran", id, code, start, end] => {
                    if let (Ok(id), Ok(code)) = (id.parse(), code.parse()) {
                        r.ran.push((id, code, start.to_string(), end.to_string()));
                    }
                }
                ["stood-down", at] => {
                    r.stood_down = true;
                    r.fired_at = at.to_string();
                }
                _ => {}
            }
        }
        r
    }

    /// The undo it ran successfully (popped by the `guard` record).
    pub fn undone(&self) -> Vec<u64> {
        self.ran
            .iter()
            .filter(|(_, code, ..)| *code == 0)
            .map(|(id, ..)| *id)
            .collect()
    }

    /// One line for the journal and `runbook log`.
    pub fn describe(&self) -> String {
        if self.stood_down {
            return format!(
                "stood down at {}: the lease was taken by another run (its undo did not run)",
                self.fired_at
            );
        }
        let ran: Vec<String> = self
            .ran
            .iter()
            .map(|(id, code, start, end)| match code {
                0 => format!("undo #{id} ({start}–{end})"),
                c => format!("undo #{id} FAILED with exit code {c} ({start}–{end})"),
            })
            .collect();
        let waited: Vec<String> = self
            .waited
            .iter()
            .map(|w| match w.split_once(' ') {
                Some(("ended", rest)) => format!("waited until {rest} ended"),
                Some((_, rest)) => format!("stopped waiting at its cap: {rest}"),
                None => w.clone(),
            })
            .collect();
        let waited = match waited.is_empty() {
            true => String::new(),
            false => format!("; {}", waited.join("; ")),
        };
        let age = match self.lease_age.as_str() {
            "gone" => "no lease".to_string(),
            a => format!("lease renewed {a} s before"),
        };
        format!(
            "run by the host: fired at {} ({age}){waited}; ran {}",
            self.fired_at,
            ran.join(", ")
        )
    }
}

impl GuardState {
    fn parse(stdout: &str) -> Self {
        let (head, rest) = stdout.split_once('\n').unwrap_or((stdout, ""));
        match head.trim() {
            "fired" => GuardState::Fired(GuardResult::parse(rest)),
            "firing" => GuardState::Firing,
            "taken back" | "disarmed" => GuardState::TakenBack,
            "armed" => GuardState::Armed,
            _ => GuardState::None,
        }
    }
}

/// A file's bytes for `printf '%b'`: every byte but a few safe ones as `\0ooo`.
fn octal(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"_./,:=-+".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\0{b:03o}"));
        }
    }
    s
}

fn file(out: &mut String, path: &str, content: &[u8]) {
    out.push_str(path);
    out.push(' ');
    out.push_str(&octal(content));
    out.push('\n');
}

fn write_exec(out: &mut String, dir: &str, cmd: &UndoExec) {
    let req = cmd.request();
    file(
        out,
        &format!("{dir}/command"),
        req.command.render(false).as_bytes(),
    );
    file(
        out,
        &format!("{dir}/timeout"),
        cmd.timeout_secs.to_string().as_bytes(),
    );
    if cmd.sudo {
        file(out, &format!("{dir}/sudo"), b"");
    }
    if let Some(stdin) = &cmd.stdin {
        file(out, &format!("{dir}/stdin"), stdin.as_bytes());
    }
}

fn ctl(action: &str, run: &str, stdin: Option<String>) -> ExecRequest {
    ExecRequest {
        command: Command::argv(["sh", "-c", CTL, "guard", action, run]),
        sudo: true,
        stdin: stdin.map(String::into_bytes),
        timeout: Duration::from_secs(60),
        sensitive: true,
    }
}

impl Ctx {
    /// The run's id when guards apply: a run (not a plan) that takes leases.
    fn guard_run(&self) -> Option<String> {
        if self.mode != super::Mode::Run {
            return None;
        }
        let l = lock(&self.leases);
        l.run_id.clone().filter(|_| l.enabled)
    }

    async fn guard_ctl(
        &self,
        host: &Arc<HostInfo>,
        action: &str,
        run: &str,
        stdin: Option<String>,
    ) -> Result<GuardState> {
        let never = CancellationToken::new();
        let t = self.transport(host);
        let out = transport::exec(
            t.as_ref(),
            &host.name,
            &ctl(action, run, stdin),
            &never,
            None,
        )
        .await
        .map_err(|e| Error::remote(&host.name, None, None, "", e.to_string()))?;
        if out.code != 0 {
            return Err(Error::remote(
                &host.name,
                None,
                Some(out.code),
                out.stderr.trim(),
                format!("the guard could not be {action}ed: {}", out.stdout.trim()),
            ));
        }
        Ok(GuardState::parse(&out.stdout))
    }

    /// An undo was pushed for `host`: arm its guard, or give it the new set of undo.
    pub(super) fn arm_guard(&self, host_name: &str) -> Result<()> {
        let Some(run) = self.guard_run() else {
            return Ok(());
        };
        let host = self.inventory.host(host_name)?;
        if host.transport == crate::inventory::TransportKind::Local {
            return Ok(());
        }
        let pending = self.in_force_on(&host.name);
        if pending.is_empty() {
            return self.disarm_guard(&host).map(|_| ());
        }
        let mut files = String::new();
        file(&mut files, "guard.sh", GUARD.as_bytes());
        file(&mut files, "run", run.as_bytes());
        file(
            &mut files,
            "secs",
            self.settings.lease_secs.to_string().as_bytes(),
        );
        file(&mut files, "cap", CAP_SECS.to_string().as_bytes());
        for (i, p) in pending.iter().enumerate() {
            file(
                &mut files,
                &format!("next/cmd/{i:03}/id"),
                p.id.to_string().as_bytes(),
            );
            for (j, c) in p.action.commands.iter().enumerate() {
                write_exec(&mut files, &format!("next/cmd/{i:03}/{j:02}"), c);
            }
        }
        for (i, (what, probe, until)) in self.probes_for(&host.name).into_iter().enumerate() {
            let dir = format!("next/probe/{i:02}");
            write_exec(&mut files, &dir, &probe);
            file(&mut files, &format!("{dir}/what"), what.as_bytes());
            if let Some(until) = until {
                file(
                    &mut files,
                    &format!("{dir}/until"),
                    until.to_string().as_bytes(),
                );
            }
        }
        let cancel = CancellationToken::new();
        self.wait(self.ensure_lease(&host, &cancel))
            .map_err(|e| Error::remote(&host.name, None, None, "", e.to_string()))?;
        let first = !lock(&self.guards).armed.contains_key(&host.name);
        match self.wait(self.guard_ctl(&host, "arm", &run, Some(files)))? {
            GuardState::Fired(_) | GuardState::Firing => {
                return Err(Error::new(
                    Kind::Undo,
                    format!("the guard on {} fired while this run was alive (its lease went stale): the host reverts on its own; `runbook resume` takes up from what it did", host.name),
                ))
            }
            _ => {}
        }
        lock(&self.guards)
            .armed
            .insert(host.name.clone(), host.clone());
        if first {
            self.record(Event::Guard {
                host: host.name.clone(),
                what: format!(
                    "armed: {GUARD_DIR}/{run} reverts {} undo record(s) if the lease goes stale for {} s",
                    pending.len(),
                    self.settings.lease_secs
                ),
                undone: Vec::new(),
            })?;
        }
        Ok(())
    }

    /// Take `host`'s guard back (disarmed and acknowledged) before the controller reverts.
    fn disarm_guard(&self, host: &Arc<HostInfo>) -> Result<GuardState> {
        let Some(run) = lock(&self.leases).run_id.clone() else {
            return Ok(GuardState::None);
        };
        let state = self.wait(self.guard_ctl(host, "disarm", &run, None))?;
        if lock(&self.guards).armed.remove(&host.name).is_some() {
            self.record_guard(&host.name, &state)?;
        }
        Ok(state)
    }

    fn record_guard(&self, host: &str, state: &GuardState) -> Result<()> {
        let (what, undone) = match state {
            GuardState::Fired(r) => (r.describe(), r.undone()),
            GuardState::TakenBack => ("disarmed by the controller".to_string(), Vec::new()),
            _ => return Ok(()),
        };
        self.record(Event::Guard {
            host: host.into(),
            what,
            undone,
        })
    }

    /// Before the controller runs `pending` itself: take back every guard this run armed (or
    /// give it what stays pending). Undo a guard already ran is dropped from `pending`.
    pub(super) fn take_guards_back(&self, pending: Vec<Pending>) -> Result<Vec<Pending>> {
        let hosts: Vec<Arc<HostInfo>> = lock(&self.guards).armed.values().cloned().collect();
        let mut done = Vec::new();
        for host in hosts {
            if !self.in_force_on(&host.name).is_empty() {
                self.arm_guard(&host.name)?;
            } else if let GuardState::Fired(r) = self.disarm_guard(&host)? {
                done.extend(r.undone());
            }
        }
        Ok(pending
            .into_iter()
            .filter(|p| !done.contains(&p.id))
            .collect())
    }

    /// `resume`/`revert`: take back the guards an earlier attempt armed on `hosts`, journaling
    /// what each did (a guard that fired pops the undo it ran). Waits for one that is firing.
    pub fn collect_guards(&self, hosts: &[String]) -> Result<()> {
        let Some(run) = lock(&self.leases).run_id.clone() else {
            return Ok(());
        };
        for name in hosts {
            let host = self.inventory.host(name)?;
            let state = loop {
                match self.wait(self.guard_ctl(&host, "collect", &run, None)) {
                    Ok(GuardState::Firing) => {
                        self.say(&format!(
                            "⧗ the guard on {name} is reverting on its own: waiting for it"
                        ));
                        std::thread::sleep(Duration::from_secs(2));
                    }
                    Ok(state) => break state,
                    // Unreachable: it stays armed; this run takes it back before any undo there
                    // (and the in-flight check says why nothing is reverted meanwhile).
                    Err(e) => {
                        self.say(&format!(
                            "! cannot ask the guard on {name} what it did: {}",
                            e.message()
                        ));
                        lock(&self.guards).armed.insert(name.clone(), host.clone());
                        break GuardState::None;
                    }
                }
            };
            if let GuardState::Fired(r) = &state {
                self.say(&format!("! guard on {name}: {}", r.describe()));
            }
            let state = match state {
                GuardState::TakenBack => {
                    self.record(Event::Guard {
                        host: name.clone(),
                        what: "taken back by the controller".into(),
                        undone: Vec::new(),
                    })?;
                    continue;
                }
                s => s,
            };
            self.record_guard(name, &state)?;
        }
        Ok(())
    }

    /// `runbook log`: what the guards of run `run` on `hosts` say now (read-only).
    pub fn peek_guards(&self, run: &str, hosts: &[String]) -> Vec<String> {
        let mut lines = Vec::new();
        for name in hosts {
            let Ok(host) = self.inventory.host(name) else {
                continue;
            };
            let line = match self.wait(self.guard_ctl(&host, "peek", run, None)) {
                Ok(GuardState::Fired(r)) => format!("{} (not journaled yet)", r.describe()),
                Ok(GuardState::Firing) => "reverting on its own now".into(),
                Ok(GuardState::Armed) => "armed: waiting for the lease to go stale".into(),
                Ok(_) => continue,
                Err(e) => format!("cannot tell ({})", e.message()),
            };
            lines.push(format!("guard on {name}: {line}"));
        }
        lines
    }

    /// Where changes stay in force under running work: `; meanwhile the guard on …` naming the
    /// hosts among `hosts` whose guard is armed, or nothing when none is.
    pub fn guards_stay_armed(&self, hosts: impl Fn(&str) -> bool) -> String {
        let armed: Vec<String> = lock(&self.guards)
            .armed
            .keys()
            .filter(|h| hosts(h))
            .cloned()
            .collect();
        if armed.is_empty() {
            return String::new();
        }
        format!(
            "; meanwhile the guard on {} stays armed: if nobody resumes, it reverts once the work has ended",
            armed.join(", ")
        )
    }

    /// For `plan`: the guard a run would arm.
    pub fn planned_guard(&self) -> String {
        format!(
            "A dead man's switch on each leased host: with the first undo, a run arms a guard there ({GUARD_DIR}/RUN_ID, detached) that reverts by itself once the lease goes {} s without renewal — after the work in flight ends (there: when its probe says so; on another host: at its deadline), and at the latest at the work's own deadline (its timeout; {} h without one).",
            self.settings.lease_secs,
            CAP_SECS / 3600
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_parse_and_describe() {
        let r = GuardResult::parse(
            "fired 2026-12-05T08:00:00Z 9\nended 2026-12-05T08:00:30Z restore of x\nran 3 0 a b\nran 2 1 c d\ndone x\n",
        );
        assert_eq!(r.undone(), vec![3]);
        let d = r.describe();
        assert!(d.starts_with("run by the host: fired at 2026-12-05T08:00:00Z (lease renewed 9 s before); waited until 2026-12-05T08:00:30Z restore of x ended; ran undo #3 (a–b), undo #2 FAILED"), "{d}");
    }

    #[test]
    fn octal_survives_printf() {
        let text = "a b\\n'\"$x`\n%s\ttab\n\n";
        let out = std::process::Command::new("sh")
            .args(["-c", "read -r p data; printf '%b' \"$data\"", "t"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                let mut line = String::new();
                file(&mut line, "f", text.as_bytes());
                c.stdin.take().map(|mut s| s.write_all(line.as_bytes()));
                c.wait_with_output()
            })
            .map(|o| o.stdout)
            .unwrap_or_default();
        assert_eq!(String::from_utf8_lossy(&out), text);
    }
}
