//! What a run keeps: the journal, the undo stack, and the in-flight work the undo must wait for.

use super::{inflight, lock};
use crate::error::{Error, Result};
use crate::journal::{Event, Journal};
use crate::undo::UndoStack;
use std::sync::{Mutex, MutexGuard};

/// The journal and the undo stack of one run.
pub struct Recorder {
    journal: Mutex<Option<Journal>>,
    undo: Mutex<UndoStack>,
    /// The first journal write that failed while an undo ran (the undo goes on regardless).
    journal_lost: Mutex<Option<Error>>,
    /// In-flight work and the undo an earlier attempt left under it (see `inflight.rs`).
    pub(super) in_flight: Mutex<inflight::Book>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            journal: Mutex::new(None),
            undo: Mutex::new(UndoStack::new(0)),
            journal_lost: Mutex::new(None),
            in_flight: Mutex::new(inflight::Book::default()),
        }
    }
}

impl Recorder {
    /// Journal to `journal` from now on; undo ids continue at `next_undo_id`.
    pub fn set_journal(&self, journal: Journal, next_undo_id: u64) {
        *lock(&self.journal) = Some(journal);
        *lock(&self.undo) = UndoStack::new(next_undo_id);
    }

    /// The journal, if the run has one (a plan or a check has none).
    pub fn journal(&self) -> MutexGuard<'_, Option<Journal>> {
        lock(&self.journal)
    }

    /// The undo stack.
    pub fn undo(&self) -> MutexGuard<'_, UndoStack> {
        lock(&self.undo)
    }

    /// Journal an event; a journal that cannot be written stops the run (nothing may go unrecorded).
    pub fn record(&self, event: Event) -> Result<()> {
        match lock(&self.journal).as_ref() {
            Some(j) => j.append(event),
            None => Ok(()),
        }
    }

    /// Journal an event during an undo, which a journal failure must not stop: the first failure
    /// is kept (returned once, so the caller can say so) for [`Recorder::take_lost`].
    pub fn record_during_undo(&self, event: Event) -> Option<String> {
        let e = self.record(event).err()?;
        let mut lost = lock(&self.journal_lost);
        if lost.is_some() {
            return None;
        }
        let message = e.message();
        *lost = Some(e);
        Some(message)
    }

    /// The journal failure an undo kept, if any (taken: reported once).
    pub fn take_lost(&self) -> Option<Error> {
        lock(&self.journal_lost).take()
    }
}
