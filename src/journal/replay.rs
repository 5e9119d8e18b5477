//! What a journal says about a run, replayed from its records: for `resume`, `revert` and the REPL.

use super::{Event, Record};
use crate::undo::{InFlight, UndoAction};

/// What a journal says about a run: finished steps, and undo pushed but never popped.
///
/// A step whose temporary changes were undone because their scope failed (or by `revert` after a
/// crash) is not finished: its effect is gone, so `resume` runs it again — e.g. the timeouts are
/// raised again before the restore is retried.
#[derive(Debug, Default)]
pub struct Replay {
    pub finished_steps: Vec<String>,
    /// Oldest first; run them newest first.
    pub pending_undo: Vec<(u64, String, UndoAction)>,
    pub next_undo_id: u64,
    pub ended_ok: bool,
    /// Which step pushed each undo record.
    pub pushed_by: std::collections::HashMap<u64, String>,
    /// In-flight work started and not seen ended, oldest first.
    pub in_flight: Vec<InFlight>,
    pub next_in_flight_id: u64,
    /// Hosts a guard was armed on (see `context/guard.rs`).
    pub guard_hosts: Vec<String>,
}

pub fn replay(records: &[Record]) -> Replay {
    let mut r = Replay::default();
    for rec in records {
        match &rec.event {
            Event::StepEnd { step, ok: true, .. } if !r.finished_steps.contains(step) => {
                r.finished_steps.push(step.clone())
            }
            Event::UndoPush {
                id,
                step,
                description,
                action,
                ..
            } => {
                if let Some(step) = step {
                    r.pushed_by.insert(*id, step.clone());
                }
                r.pending_undo
                    .push((*id, description.clone(), action.clone()));
                r.next_undo_id = r.next_undo_id.max(id + 1);
            }
            Event::UndoPop {
                id,
                ok: true,
                after_failure,
                ..
            } => {
                r.pending_undo.retain(|(p, _, _)| p != id);
                if let Some(step) = r.pushed_by.get(id).filter(|_| *after_failure) {
                    r.finished_steps.retain(|s| s != step);
                }
            }
            // Undo a host's guard ran by itself: done, as if the run had (never run twice).
            Event::Guard { host, undone, .. } => {
                if !r.guard_hosts.contains(host) {
                    r.guard_hosts.push(host.clone());
                }
                for id in undone {
                    r.pending_undo.retain(|(p, _, _)| p != id);
                    if let Some(step) = r.pushed_by.get(id) {
                        r.finished_steps.retain(|s| s != step);
                    }
                }
            }
            Event::RunEnd { ok, .. } => r.ended_ok = *ok,
            Event::InFlight { work, .. } => {
                r.next_in_flight_id = r.next_in_flight_id.max(work.id + 1);
                r.in_flight.retain(|w| w.id != work.id);
                r.in_flight.push(work.clone());
            }
            Event::InFlightEnd { id, .. } => r.in_flight.retain(|w| w.id != *id),
            _ => {}
        }
    }
    r
}

impl Replay {
    /// The undo left pending, newest first (the order it runs in), with the ids it was pushed with.
    pub fn pending(&self) -> Vec<crate::undo::Pending> {
        self.pending_undo
            .iter()
            .rev()
            .map(|(id, description, action)| crate::undo::Pending {
                id: *id,
                description: description.clone(),
                action: action.clone(),
            })
            .collect()
    }

    /// The finished steps once the pending undo has run: a step whose temporary changes that
    /// undo reverts is not finished any more (see `replay`).
    pub fn finished_after_revert(&self) -> Vec<String> {
        let reverted: Vec<&String> = self
            .pending_undo
            .iter()
            .filter_map(|(id, _, _)| self.pushed_by.get(id))
            .collect();
        self.finished_steps
            .iter()
            .filter(|s| !reverted.contains(s))
            .cloned()
            .collect()
    }
}
