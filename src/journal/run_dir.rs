//! A run's folder: its meta (what it was started with), the exact runbook source, the journal.

use crate::error::{Error, Result};
use crate::secret::SecretSource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What a run was started with, so `resume` can start it again the same way.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunMeta {
    pub id: String,
    /// Bundled runbook name, or the path of the user's file.
    pub runbook: String,
    /// Where the user's modules were resolved from (the runbook file's folder), if any.
    pub module_dir: Option<PathBuf>,
    pub inventory: Option<PathBuf>,
    pub params: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--only` and `--from` as given: `resume` keeps to the same selection.
    #[serde(default)]
    pub only: Vec<String>,
    #[serde(default)]
    pub from: Option<String>,
    pub created: String,
}

/// A run's folder: `journal.jsonl`, `run.json` and `runbook.rhai` (the exact source that ran).
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Runs live in `--state-dir`, else `$RUNBOOK_STATE_DIR`, else `$XDG_STATE_HOME/runbook/runs`.
    pub fn root(state_dir: Option<&Path>) -> PathBuf {
        if let Some(p) = state_dir {
            return p.to_path_buf();
        }
        dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("runbook/runs")
    }

    pub fn create(root: &Path, runbook: &str) -> Result<(Self, String)> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| {
                Error::state(
                    root,
                    format!("cannot create state dir {}: {e}", root.display()),
                )
            })?;
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        let base: String = Path::new(runbook)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        for n in 0.. {
            let id = if n == 0 {
                format!("{stamp}-{base}")
            } else {
                format!("{stamp}-{base}-{n}")
            };
            let path = root.join(&id);
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok((Self { path }, id)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::state(
                        &path,
                        format!("cannot create run dir {}: {e}", path.display()),
                    ))
                }
            }
        }
        unreachable!("unbounded loop returns")
    }

    /// The run `id` (a folder name or path), or the newest run when `id` is None.
    pub fn find(root: &Path, id: Option<&str>) -> Result<Self> {
        if let Some(id) = id {
            let direct = PathBuf::from(id);
            let path = if direct.join("run.json").exists() {
                direct
            } else {
                root.join(id)
            };
            if !path.join("run.json").exists() {
                return Err(Error::usage(format!("no run `{id}` in {}", root.display()))
                    .with_help("`runbook log` with no argument shows the newest run"));
            }
            return Ok(Self { path });
        }
        let mut runs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(root)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::usage(format!("no runs in {}", root.display()))
                }
                _ => Error::state(
                    root,
                    format!("cannot list the runs in {}: {e}", root.display()),
                ),
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("run.json").exists())
            .filter_map(|p| Some((p.join("run.json").metadata().ok()?.modified().ok()?, p)))
            .collect();
        runs.sort();
        runs.pop()
            .map(|(_, path)| Self { path })
            .ok_or_else(|| Error::usage(format!("no runs in {}", root.display())))
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.join("journal.jsonl")
    }

    pub fn source_path(&self) -> PathBuf {
        self.path.join("runbook.rhai")
    }

    pub fn write_meta(&self, meta: &RunMeta, source: &str) -> Result<()> {
        let json = serde_json::to_string_pretty(meta)
            .map_err(|e| Error::state(&self.path, format!("cannot write the run's meta: {e}")))?;
        write_private(&self.source_path(), source)?;
        write_private(&self.path.join("run.json"), &json)
    }

    pub fn read_meta(&self) -> Result<RunMeta> {
        let p = self.path.join("run.json");
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::state(&p, format!("cannot read {}: {e}", p.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::state(&p, format!("{} is corrupt: {e}", p.display())))
    }
}

/// Write a file only its owner can read, and sync it.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let io = |e| Error::state(path, format!("cannot write {}: {e}", path.display()));
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io)
}
