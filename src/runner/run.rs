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
    /// The run folder's lock (`lock` in it), held while this process works on the run.
    held: Option<std::fs::File>,
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
        let mut run = Run {
            dir,
            meta,
            held: None,
        };
        run.lock()?;
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
        Ok(Run {
            dir,
            meta,
            held: None,
        })
    }

    /// Lock the run folder for this process (`flock` on its `lock` file, our pid written in it),
    /// so that two `resume`s (or a `resume` and a `revert`) of one run never interleave.
    pub fn lock(&mut self) -> Result<()> {
        use std::io::{Read, Seek, Write};
        use std::os::fd::AsRawFd;
        let path = self.dir.path.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(Error::usage(format!(
                "run {} is being worked on by another runbook process ({})",
                self.meta.id,
                holder.trim()
            ))
            .with_help("wait until it ends (or stop it), then try again"));
        }
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "pid {}", std::process::id()));
        self.held = Some(file);
        Ok(())
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Journal on `ctx` into this run's journal; undo ids go on from `next_undo_id`. Changes on
    /// a host from now on take (or take back) its lease in this run's name.
    pub fn attach(&self, ctx: &Ctx, next_undo_id: u64) -> Result<()> {
        let journal = Journal::open(&self.dir.journal_path(), ctx.redactor().clone())?;
        ctx.set_journal(journal, next_undo_id);
        ctx.lease_as(&self.meta.id);
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
