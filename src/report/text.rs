//! `runbook log` as text: one line a record, the time first.

use crate::journal::{self, Event};

/// One journal record as `runbook log` shows it: the time, then what happened.
pub fn line(r: &journal::Record) -> String {
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
            resumed_from,
            ..
        } => {
            let resumed = match resumed_from {
                0 => String::new(),
                n => format!(" (resumed from {n})"),
            };
            format!("    copy {from} → {to}: {bytes} bytes{resumed}, sha256 verified ({duration_ms} ms)")
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
        Event::Question { kind, text, .. } => format!("    ? {}: {text}", kind.name()),
        Event::Answer {
            kind, answer, by, ..
        } => format!(
            "    → {} answered {} ({by})",
            kind.name(),
            if *answer { "yes" } else { "no" }
        ),
        Event::WindowOpen { depth, .. } => format!("  ┌ temporary window {depth} opened"),
        Event::WindowClose {
            depth,
            undone,
            ok,
            duration_ms,
            ..
        } => format!(
            "  └ temporary window {depth} closed after {:.1} s ({undone} undo record(s){})",
            *duration_ms as f64 / 1000.0,
            if *ok { "" } else { ", an undo FAILED" }
        ),
        Event::InFlight { work, .. } => {
            format!(
                "    ⧗ in flight #{}: {} on {}",
                work.id, work.what, work.host
            )
        }
        Event::InFlightEnd { id, how } => format!("    ⧗ in flight #{id}: {how}"),
        Event::Lease { host, what } => format!("    lease on {host}: {what}"),
        Event::Guard { host, what, .. } => format!("    guard on {host}: {what}"),
        Event::RunEnd { ok: true, .. } => "run finished".into(),
        Event::RunEnd { error, .. } => {
            format!("run failed: {}", error.clone().unwrap_or_default())
        }
    };
    format!("{t}  {line}")
}

/// The risk window as `runbook log` ends with it: its length beside the steps inside it.
pub fn window_line(w: &journal::window::Window) -> String {
    let inside: Vec<_> = w
        .steps
        .iter()
        .map(|(s, secs)| format!("{s} {secs:.1} s"))
        .collect();
    let inside = match inside.is_empty() {
        true => String::new(),
        false => format!("; inside it: {}", inside.join(", ")),
    };
    match w.secs() {
        Some(secs) => format!("window of temporary changes: {secs:.1} s{inside}"),
        None => format!(
            "window of temporary changes: opened {}, still open{inside}",
            w.opened
        ),
    }
}
