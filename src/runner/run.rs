//! A run's lifecycle, written once: its folder (meta and the exact runbook text), its journal
//! opened on the context, and the first record. `run` and the REPL create one; `resume`, `revert`
//! and `repl --run` find one and attach to its journal.

use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::journal::{Event, Journal, RunDir, RunMeta};
use crate::runbook::Source;
use std::path::Path;

/// One run: its folder and what it was started with.
pub struct Run {
    /// The run's folder (journal, meta, source).
    pub dir: RunDir,
    /// What the run was started with (runbook, inventory, parameters, secret sources).
    pub meta: RunMeta,
}

impl Run {
    /// Start a run: a new folder under `root` named after `folder_name`, `meta` (its id filled in)
    /// and the runbook `text` written, the journal opened on `ctx` and its first record
    /// (`RunStart` with `mode`) written.
    pub fn create(
        root: &Path,
        folder_name: &str,
        mut meta: RunMeta,
        text: &str,
        ctx: &Ctx,
        mode: &str,
    ) -> Result<Self> {
        let (dir, id) = RunDir::create(root, folder_name)?;
        meta.id = id;
        dir.write_meta(&meta, text)?;
        let run = Run { dir, meta };
        run.attach(ctx, 0)?;
        ctx.record(Event::RunStart {
            runbook: run.meta.runbook.clone(),
            mode: mode.into(),
        })?;
        Ok(run)
    }

    /// The run `id` (an id or a folder; the latest when `None`) under `root`.
    pub fn find(root: &Path, id: Option<&str>) -> Result<Self> {
        Self::open(RunDir::find(root, id)?)
    }

    /// The run in `dir`.
    pub fn open(dir: RunDir) -> Result<Self> {
        let meta = dir.read_meta()?;
        Ok(Run { dir, meta })
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Journal on `ctx` into this run's journal; undo ids go on from `next_undo_id`.
    pub fn attach(&self, ctx: &Ctx, next_undo_id: u64) -> Result<()> {
        let journal = Journal::open(&self.dir.journal_path(), ctx.redactor.clone())?;
        ctx.set_journal(journal, next_undo_id);
        Ok(())
    }

    /// The exact runbook source the run ran (kept in its folder).
    pub fn source(&self) -> Result<Source> {
        let path = self.dir.source_path();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::state(&path, format!("cannot read {}: {e}", path.display())))?;
        Ok(Source {
            name: self.meta.runbook.clone(),
            display: self.meta.runbook.clone(),
            text,
            module_dir: self.meta.module_dir.clone(),
        })
    }
}
