//! Ctrl-C while work a scope's changes are for still runs on a host (issue 14): the undo must not
//! run under it. At a terminal the operator chooses — wait for the work inside the window, leave
//! the window to `runbook resume` and the host's guard, or revert now under it; without one (or
//! with `--answers`) the window is left, guarded, and the message says how to go on.

use super::inflight::Waiting;
use super::{describe, lock, Ctx};
use crate::error::Result;
use crate::journal::Event;
use std::io::BufRead;
use std::time::{Duration, Instant};

/// What the operator chose for a window held by running work after Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Held {
    /// Wait here for the work, then revert.
    Wait,
    /// Leave the changes in force (the guard reverts if nobody resumes).
    Leave,
    /// Revert now, under the work (journaled as overruled).
    Force,
}

impl Held {
    fn parse(answer: &str) -> Option<Self> {
        match answer.trim().to_ascii_lowercase().as_str() {
            "w" | "wait" => Some(Held::Wait),
            "l" | "leave" | "" => Some(Held::Leave),
            "f" | "force" => Some(Held::Force),
            _ => None,
        }
    }
}

/// How often the work is probed while the operator waits for it.
const POLL: Duration = Duration::from_secs(3);

impl Ctx {
    /// The run was interrupted and `waiting` holds a scope's undo back: ask at a terminal what to
    /// do (journaled); `Leave` without one, or with `--answers` (an unattended run never reverts
    /// under work on a Ctrl-C).
    pub(super) fn choose_after_interrupt(&self, waiting: &Waiting) -> Result<Held> {
        if !self.cancel().is_cancelled()
            || !self.settings.interactive
            || self.settings.answers.is_some()
            || lock(&self.recorder.in_flight).left
        {
            return Ok(Held::Leave);
        }
        errln!(
            "\ninterrupted, but work the temporary changes are for still runs:\n  {}\n\
             [w]ait for it here, then revert · [l]eave them in force (`runbook resume` waits for it later; the host's guard reverts if nobody does) · [f]orce the revert now, under it",
            describe(waiting)
        );
        let choice = loop {
            err!("? wait, leave or force [w/L/f] ");
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                // No more input: nobody can answer.
                Ok(0) | Err(_) => break Held::Leave,
                Ok(_) => {
                    if let Some(c) = Held::parse(&line) {
                        break c;
                    }
                }
            }
        };
        if choice == Held::Leave {
            lock(&self.recorder.in_flight).left = true;
        }
        self.record(Event::Note {
            step: self.current_step(),
            message: format!("interrupted while work still ran: the operator chose to {choice:?}")
                .to_lowercase(),
        })?;
        Ok(choice)
    }

    /// Probe the open work of depth `min_depth` and deeper until none runs (a probe that cannot
    /// answer counts as running), saying what it waits for once a minute.
    pub(super) fn wait_for_in_flight(&self, min_depth: usize) -> Result<()> {
        let started = Instant::now();
        let mut said = None;
        loop {
            let waiting = self.still_running(min_depth)?;
            if waiting.is_empty() {
                return Ok(());
            }
            let minute = started.elapsed().as_secs() / 60;
            if said != Some(minute) {
                said = Some(minute);
                self.say(&format!(
                    "⧗ waiting inside the window ({} min so far; kill -9 leaves it to the host's guard and `runbook resume`):\n  {}",
                    minute,
                    describe(&waiting)
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Held;

    #[test]
    fn answers_parse_and_enter_leaves() {
        assert_eq!(Held::parse("w\n"), Some(Held::Wait));
        assert_eq!(Held::parse(" Force "), Some(Held::Force));
        assert_eq!(Held::parse("\n"), Some(Held::Leave));
        assert_eq!(Held::parse("y"), None);
    }
}
