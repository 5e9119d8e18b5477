//! In-flight work (see [`InFlight`]): long work on a host that runs on without us, and the rule
//! that no undo reverts what it needs while it still runs.
//!
//! Before a scope's undo runs, every in-flight handle opened inside that scope is probed. One that
//! ended is closed in the journal and the undo runs; one that still runs — or whose probe cannot
//! answer, which counts as running (never revert blind) — keeps the undo pending: it stays in
//! force and in the journal, for `runbook resume` (which waits for the work inside the window) or
//! `runbook revert --force`.

use super::interrupt::Held;
use super::{lock, Ctx, Effect};
use crate::error::{Error, Kind, Result};
use crate::journal::Event;
use crate::transport::Outcome;
use crate::undo::{InFlight, Pending, Probed, UndoExec};
use tokio_util::sync::CancellationToken;

/// The in-flight work of a run and the undo an earlier attempt left pending under running work.
#[derive(Debug, Default)]
pub struct Book {
    open: Vec<InFlight>,
    next_id: u64,
    /// Undo of an earlier attempt kept in force because its work still ran at resume, with the
    /// step that pushed it: it rejoins the undo stack where that step is skipped.
    carried: Vec<(Option<String>, Pending)>,
    /// Undo a closing scope kept pending because its work still ran: out of the undo stack (the
    /// run does not retry it), still in force on its host, so that host's guard keeps it.
    kept: Vec<Pending>,
    /// The operator chose at a Ctrl-C prompt to leave held windows in force: not asked again.
    pub(super) left: bool,
}

/// In-flight work that holds an undo back, and what its probe said.
pub type Waiting = Vec<(InFlight, Probed)>;

/// `restore of X (execution Y) still runs on mgr-1`, one line per handle (a probe that could
/// not answer: why, on a line of its own).
pub fn describe(waiting: &Waiting) -> String {
    waiting
        .iter()
        .map(|(w, p)| match p {
            Probed::Unknown(why) => format!(
                "{} on {}:\n    cannot tell whether it still runs, counted as running ({why})",
                w.what, w.host
            ),
            _ => format!("{} still runs on {}", w.what, w.host),
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// What became of a closing scope's undo.
pub enum UndoOutcome {
    /// It ran (or there was none): the undo's own result.
    Ran(Result<()>),
    /// It was not run: work it is for still runs (or could not be asked), so the changes stay in
    /// force and pending in the journal; the error says why and what to do.
    Kept(Error),
}

impl UndoOutcome {
    /// As one result: a kept undo is an error of the scope.
    pub fn into_result(self) -> Result<()> {
        match self {
            UndoOutcome::Ran(r) => r,
            UndoOutcome::Kept(e) => Err(e),
        }
    }
}

impl Ctx {
    /// Journal that `what` runs on `host` from now on, with its read-only `probe` and, if it has
    /// a timeout of its own, the longest it may run (`cap`); returns its id. The same work (same
    /// host and probe) still open from an earlier attempt is re-attached: its handle, now in the
    /// current scope (its first deadline holds).
    pub fn begin_in_flight(
        &self,
        host: &str,
        what: &str,
        probe: UndoExec,
        cap: Option<std::time::Duration>,
    ) -> Result<u64> {
        let depth = self.recorder.undo().depth();
        let mut book = lock(&self.recorder.in_flight);
        if let Some(w) = book
            .open
            .iter_mut()
            .find(|w| w.host == host && w.probe == probe)
        {
            w.depth = depth;
            return Ok(w.id);
        }
        let work = InFlight {
            id: book.next_id,
            host: host.into(),
            what: what.into(),
            probe,
            depth,
            until: cap.map(|c| unix_now() + c.as_secs()),
        };
        book.next_id += 1;
        book.open.push(work.clone());
        drop(book);
        let id = work.id;
        self.record(Event::InFlight {
            step: self.current_step(),
            work,
        })?;
        // Every armed guard waits for it too (one on another host until its deadline: it cannot
        // ask from there).
        let armed: Vec<String> = lock(&self.guards).armed.keys().cloned().collect();
        for host in armed {
            self.arm_guard(&host)?;
        }
        Ok(id)
    }

    /// The work `id` ended (its waiter saw it end): journaled, it holds no undo back any more.
    pub fn end_in_flight(&self, id: u64, how: &str) -> Result<()> {
        let mut book = lock(&self.recorder.in_flight);
        let before = book.open.len();
        book.open.retain(|w| w.id != id);
        if book.open.len() == before {
            return Ok(());
        }
        drop(book);
        self.record(Event::InFlightEnd {
            id,
            how: how.into(),
        })
    }

    /// The work in flight, for the guard on `host`: each with what it is, the probe that guard
    /// can run, and its deadline. Work on another host cannot be asked from `host` (the guard has
    /// no way there): its probe there says neither word, so that guard waits for its deadline.
    pub(super) fn probes_for(&self, host: &str) -> Vec<(String, UndoExec, Option<u64>)> {
        lock(&self.recorder.in_flight)
            .open
            .iter()
            .map(|w| {
                if w.host == host {
                    (w.what.clone(), w.probe.clone(), w.until)
                } else {
                    let what = format!("{} on {} (not visible from {host})", w.what, w.host);
                    let probe = UndoExec::shell(
                        "echo 'cannot tell: it runs on another host'".into(),
                        false,
                        std::time::Duration::from_secs(10),
                    );
                    (what, probe, w.until)
                }
            })
            .collect()
    }

    /// The in-flight work an earlier attempt left open (resume, revert); ids go on from `next_id`.
    pub fn adopt_in_flight(&self, open: Vec<InFlight>, next_id: u64) {
        let mut book = lock(&self.recorder.in_flight);
        book.next_id = book.next_id.max(next_id);
        for mut w in open {
            w.depth = 0;
            book.open.push(w);
        }
    }

    /// Ask `work`'s probe whether it still runs (a probe: it runs in a dry run too).
    pub fn probe(&self, work: &InFlight) -> Probed {
        let host = match self.inventory.host(&work.host) {
            Ok(h) => h,
            Err(e) => return Probed::Unknown(e.message()),
        };
        let never = CancellationToken::new();
        let req = work.probe.request();
        match self.wait(self.exec_async(&host, &req, Effect::Probe, &never)) {
            Ok(Outcome::Ran(out)) => match Probed::from_output(&out.stdout) {
                Probed::Unknown(_) if out.code != 0 => Probed::Unknown(format!(
                    "the probe exited with {}: {}",
                    out.code,
                    out.stderr.trim()
                )),
                Probed::Unknown(why) => Probed::Unknown(why),
                p => p,
            },
            Ok(_) => Probed::Unknown("the probe did not run".into()),
            Err(e) => Probed::Unknown(format!("{} unreachable: {e}", work.host)),
        }
    }

    /// Probe the open work of scopes at depth `min_depth` and deeper: what ended is closed
    /// (journaled); what still runs, or cannot tell, is returned.
    pub fn still_running(&self, min_depth: usize) -> Result<Waiting> {
        let open: Vec<InFlight> = lock(&self.recorder.in_flight)
            .open
            .iter()
            .filter(|w| w.depth >= min_depth)
            .cloned()
            .collect();
        let mut waiting = Vec::new();
        for w in open {
            match self.probe(&w) {
                Probed::Ended => self.end_in_flight(w.id, "ended (its probe says so)")?,
                p => waiting.push((w, p)),
            }
        }
        Ok(waiting)
    }

    /// Run a closing scope's undo unless work opened in it (depth `min_depth` and deeper) still
    /// runs: then the undo stays pending, in force and journaled, and the error says why.
    pub fn run_undo_unless_in_flight(
        &self,
        pending: Vec<Pending>,
        after_failure: bool,
        min_depth: usize,
    ) -> UndoOutcome {
        if pending.is_empty() || self.mode != super::Mode::Run {
            return UndoOutcome::Ran(self.run_undo(pending, after_failure));
        }
        let run = |pending: Vec<Pending>| {
            // The host's guard gives its undo back first (or says it already ran it).
            let pending = self.take_guards_back(pending)?;
            self.run_undo(pending, after_failure)
        };
        let waiting = match self.still_running(min_depth) {
            Ok(w) => w,
            Err(e) => return self.keep(pending, e),
        };
        if waiting.is_empty() {
            return UndoOutcome::Ran(run(pending));
        }
        match self.choose_after_interrupt(&waiting) {
            Err(e) => return self.keep(pending, e),
            Ok(Held::Wait) => {
                return match self.wait_for_in_flight(min_depth) {
                    Ok(()) => UndoOutcome::Ran(run(pending)),
                    Err(e) => self.keep(pending, e),
                }
            }
            Ok(Held::Force) => {
                return match self.overrule_in_flight(&waiting, "the operator at the Ctrl-C prompt")
                {
                    Ok(()) => UndoOutcome::Ran(run(pending)),
                    Err(e) => self.keep(pending, e),
                }
            }
            Ok(Held::Leave) => {}
        }
        let what: Vec<_> = pending.iter().map(|p| p.description.clone()).collect();
        let message = format!(
            "not reverting {} temporary change(s) ({}) while work they are for runs:\n  {}",
            what.len(),
            what.join("; "),
            describe(&waiting)
        );
        self.say(&format!("⧗ {message}"));
        if let Err(e) = self.record(Event::Note {
            step: self.current_step(),
            message: message.clone(),
        }) {
            return self.keep(pending, e);
        }
        let guard = self.guards_stay_armed(|h| pending.iter().any(|p| p.action.host == h));
        let help = format!(
            "the changes stay in force while it runs: `runbook resume` waits for it inside the window, then reverts and goes on; `runbook revert --force` reverts now, under it{guard}"
        );
        self.keep(pending, Error::new(Kind::Undo, message).with_help(help))
    }

    /// `pending` stays in force (not run): kept for the guards of its hosts, with why.
    fn keep(&self, pending: Vec<Pending>, why: Error) -> UndoOutcome {
        lock(&self.recorder.in_flight).kept.extend(pending);
        UndoOutcome::Kept(why)
    }

    /// Close each of `waiting` in the journal as overruled by `by` (its undo runs next, under it).
    pub fn overrule_in_flight(&self, waiting: &Waiting, by: &str) -> Result<()> {
        for (w, p) in waiting {
            let said = match p {
                Probed::Unknown(why) => format!("could not tell ({why})"),
                _ => "running".into(),
            };
            let how = format!(
                "overruled by {by}: reverted while {} on {} (its probe said: {said})",
                w.what, w.host
            );
            self.say(&format!("! {how}"));
            self.end_in_flight(w.id, &how)?;
        }
        Ok(())
    }

    /// Keep an earlier attempt's undo in force under running work (resume): each rejoins the
    /// undo stack where the step that pushed it is skipped, the rest at the run's end. The guard
    /// of each host concerned is armed again at once with all of it (the resume or revert took
    /// it back to read what it did): if this process dies too, the host still reverts.
    pub fn carry_undo(&self, carried: Vec<(Option<String>, Pending)>) -> Result<()> {
        let hosts: std::collections::BTreeSet<String> =
            carried.iter().map(|(_, p)| p.action.host.clone()).collect();
        let (loose, by_step): (Vec<_>, Vec<_>) =
            carried.into_iter().partition(|(step, _)| step.is_none());
        {
            let mut undo = self.recorder.undo();
            for (_, p) in loose {
                undo.adopt(p);
            }
        }
        lock(&self.recorder.in_flight).carried.extend(by_step);
        for host in hosts {
            self.arm_guard(&host)?;
        }
        Ok(())
    }

    /// `step` is skipped as finished earlier: its carried undo joins the innermost scope (the
    /// guard already carries it: see [`Ctx::in_force_on`]).
    pub fn adopt_carried(&self, step: &str) {
        let mine: Vec<Pending> = {
            let mut book = lock(&self.recorder.in_flight);
            let (mine, rest) = std::mem::take(&mut book.carried)
                .into_iter()
                .partition(|(s, _)| s.as_deref() == Some(step));
            book.carried = rest;
            mine.into_iter().map(|(_, p)| p).collect()
        };
        let mut undo = self.recorder.undo();
        for p in mine {
            undo.adopt(p);
        }
    }

    /// Every undo in force on `host`, newest first: the undo stack's, then what a resume
    /// carries from an earlier attempt (older than anything this attempt pushed), then what a
    /// scope kept in force under running work.
    pub(super) fn in_force_on(&self, host: &str) -> Vec<Pending> {
        let mut pending: Vec<Pending> = self
            .recorder
            .undo()
            .pending()
            .into_iter()
            .filter(|p| p.action.host == host)
            .collect();
        let book = lock(&self.recorder.in_flight);
        pending.extend(
            book.carried
                .iter()
                .rev()
                .map(|(_, p)| p)
                .chain(book.kept.iter())
                .filter(|p| p.action.host == host)
                .cloned(),
        );
        pending
    }

    /// The carried undo no skipped step took (newest first): it runs at the run's end.
    pub fn take_carried(&self) -> Vec<Pending> {
        let carried = std::mem::take(&mut lock(&self.recorder.in_flight).carried);
        carried.into_iter().rev().map(|(_, p)| p).collect()
    }
}

/// Now, in Unix seconds.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
