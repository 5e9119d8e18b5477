//! What a run leaves for people and tickets: `runbook log` (text, JSON, markdown) and
//! `runbook report` (one self-contained HTML file), all read from the run's journal.

pub mod html;
pub mod markdown;
pub mod text;
pub mod timeline;

use crate::error::{Error, Result};
use crate::journal::{self, events, RunDir};
use std::path::{Path, PathBuf};
use timeline::Timeline;

/// How `runbook log` writes a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line a record, for people at a terminal.
    #[default]
    Text,
    /// One JSON document (schema `runbook.log/1`): the run's metadata and its journal records.
    Json,
    /// A summary for a change ticket: outcome, steps, window, questions, commands per step.
    Markdown,
}

/// The schema of `runbook log --format json`.
pub const LOG_SCHEMA: &str = "runbook.log/1";

/// `runbook log`: render a run's journal. A damaged journal is shown as far as it can be read,
/// then reported.
pub fn log(run_id: Option<&str>, state_dir: Option<&Path>, format: Format) -> Result<()> {
    let run = RunDir::find(&RunDir::root(state_dir), run_id)?;
    let meta = run.read_meta()?;
    let (records, corrupt) = journal::read_salvage(&run.journal_path())?;
    match format {
        Format::Text => {
            outln!(
                "run {} — {} ({})",
                meta.id,
                meta.runbook,
                run.path.display()
            );
            for r in &records {
                outln!("{}", text::line(r));
            }
            for w in journal::window::windows(&records) {
                outln!("{}", text::window_line(&w));
            }
        }
        Format::Json => {
            let doc = serde_json::json!({
                "schema": LOG_SCHEMA,
                "run": {
                    "id": meta.id,
                    "runbook": meta.runbook,
                    "inventory": meta.inventory,
                    "params": meta.params,
                    "only": meta.only,
                    "from": meta.from,
                    "created": meta.created,
                },
                "records": records.iter().map(events::public).collect::<Vec<_>>(),
            });
            outln!("{doc:#}");
        }
        Format::Markdown => outln!("{}", markdown::render(&meta, &Timeline::new(&records))),
    }
    if corrupt.is_empty() {
        return Ok(());
    }
    journal::read(&run.journal_path()).map(|_| ())
}

/// `runbook report`: write the run's HTML report (to `out`, else `report.html` in the run's
/// folder) and print its path.
pub fn report(run_id: Option<&str>, state_dir: Option<&Path>, out: Option<PathBuf>) -> Result<()> {
    let run = RunDir::find(&RunDir::root(state_dir), run_id)?;
    let meta = run.read_meta()?;
    let records = journal::read(&run.journal_path())?;
    let public: Vec<_> = records.iter().map(events::public).collect();
    let html = html::render(&meta, &Timeline::new(&records), &public);
    let out = out.unwrap_or_else(|| run.path.join("report.html"));
    std::fs::write(&out, html)
        .map_err(|e| Error::io(format!("cannot write the report {}", out.display()), e))?;
    outln!("{}", out.display());
    Ok(())
}
