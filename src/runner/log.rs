//! `runbook log`: a run's journal as people read it.

use super::RunDir;
use crate::error::Result;
use crate::journal::{self, Event};
use std::path::Path;

/// `runbook log`: render a run's journal.
pub fn log(run_id: Option<&str>, state_dir: Option<&Path>) -> Result<()> {
    let run = RunDir::find(&RunDir::root(state_dir), run_id)?;
    let meta = run.read_meta()?;
    outln!(
        "run {} — {} ({})",
        meta.id,
        meta.runbook,
        run.path.display()
    );
    // A damaged journal is shown as far as it can be read, then reported.
    let (records, corrupt) = journal::read_salvage(&run.journal_path())?;
    for r in &records {
        outln!("{}", log_line(r));
    }
    if corrupt.is_empty() {
        return Ok(());
    }
    journal::read(&run.journal_path()).map(|_| ())
}

/// One journal record as `runbook log` shows it: the time, then what happened.
pub fn log_line(r: &journal::Record) -> String {
    let t = r.ts.get(11..19).unwrap_or(&r.ts);
    let line = match &r.event {
        Event::RunStart { runbook, mode } => format!("{mode} {runbook} started"),
        Event::Resume { skipping } if skipping.is_empty() => "resumed".to_string(),
        Event::Resume { skipping } => format!("resumed (skipping {})", skipping.join(", ")),
        Event::StepStart { step } => format!("▶ {step}"),
        Event::StepEnd {
            step,
            ok: true,
            duration_ms,
            ..
        } => format!("✓ {step} ({:.1} s)", *duration_ms as f64 / 1000.0),
        Event::StepEnd { step, error, .. } => {
            format!("✗ {step}: {}", error.clone().unwrap_or_default())
        }
        Event::StepSkipped { step, reason } => format!("- {step}: {reason}"),
        Event::Command {
            host,
            command,
            code,
            error,
            duration_ms,
            ..
        } => match (code, error) {
            (Some(c), _) => format!("    {host} $ {command} → {c} ({duration_ms} ms)"),
            (None, e) => format!("    {host} $ {command} → {}", e.clone().unwrap_or_default()),
        },
        Event::Note { message, .. } => format!("    {message}"),
        Event::Transfer {
            from,
            to,
            bytes,
            error: None,
            duration_ms,
            ..
        } => {
            format!("    copy {from} → {to}: {bytes} bytes, sha256 verified ({duration_ms} ms)")
        }
        Event::Transfer {
            from, to, error, ..
        } => format!(
            "    copy {from} → {to} FAILED: {}",
            error.clone().unwrap_or_default()
        ),
        Event::UndoPush {
            id, description, ..
        } => format!("    + undo #{id}: {description}"),
        Event::UndoPop { id, ok: true, .. } => format!("    ↺ undo #{id} done"),
        Event::UndoPop { id, error, .. } => format!(
            "    ↺ undo #{id} FAILED: {}",
            error.clone().unwrap_or_default()
        ),
        Event::Torn {
            line,
            bytes,
            kept_in,
        } => format!(
            "! journal line {line} was torn by a crash ({bytes} bytes): cut off into {kept_in}"
        ),
        Event::InFlight { work, .. } => {
            format!(
                "    ⧗ in flight #{}: {} on {}",
                work.id, work.what, work.host
            )
        }
        Event::InFlightEnd { id, how } => format!("    ⧗ in flight #{id}: {how}"),
        Event::Lease { host, what } => format!("    lease on {host}: {what}"),
        Event::RunEnd { ok: true, .. } => "run finished".into(),
        Event::RunEnd { error, .. } => {
            format!("run failed: {}", error.clone().unwrap_or_default())
        }
    };
    format!("{t}  {line}")
}
