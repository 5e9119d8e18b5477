//! `runbook log --format markdown`: a run as a change ticket wants it — outcome, the steps with
//! their durations and hosts, the temporary window's length, the questions answered, and every
//! command per step.

use super::timeline::{human, MarkKind, Timeline};
use crate::journal::RunMeta;
use std::fmt::Write;

/// A table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks in `s`.
fn code(s: &str) -> String {
    let s = s.replace('\n', " ");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

pub fn render(meta: &RunMeta, t: &Timeline) -> String {
    let mut md = String::new();
    let (_, outcome) = t.outcome_text();
    let _ = writeln!(md, "# Run {} — {}\n", meta.id, meta.runbook);
    let _ = writeln!(md, "| | |\n|---|---|");
    let inventory = meta
        .inventory
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for (k, v) in [
        ("runbook", meta.runbook.clone()),
        ("inventory", inventory),
        ("started", t.started.clone()),
        ("duration", human(t.duration_ms)),
        ("outcome", outcome),
        ("hosts", t.hosts.join(", ")),
    ] {
        let _ = writeln!(md, "| {k} | {} |", cell(&v));
    }
    for w in t.outer_windows() {
        let (_, length) = w.length_text();
        let _ = writeln!(md, "| temporary window | {} |", cell(&length));
    }
    if !meta.params.is_empty() {
        let params: Vec<String> = meta
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(md, "| parameters | {} |", cell(&params.join(", ")));
    }

    let _ = writeln!(
        md,
        "\n## Steps\n\n| # | step | result | duration | hosts |\n|---|---|---|---|---|"
    );
    for (i, s) in t.steps.iter().enumerate() {
        let (_, result) = s.result_text();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            i + 1,
            cell(&s.name),
            cell(&result),
            human(s.end_ms - s.start_ms),
            cell(&s.hosts.join(", "))
        );
    }

    if !t.asked.is_empty() {
        let _ = writeln!(md, "\n## Questions\n");
        for q in &t.asked {
            let answer = q.answer_text();
            let _ = writeln!(
                md,
                "- {} {}: {} → **{answer}**",
                q.step.as_deref().unwrap_or("-"),
                q.kind.name(),
                q.text.replace('\n', " ")
            );
        }
    }

    let _ = writeln!(md, "\n## Commands");
    let mut current: Option<Option<&str>> = None;
    for m in &t.marks {
        if current != Some(m.step.as_deref()) {
            current = Some(m.step.as_deref());
            let _ = writeln!(
                md,
                "\n### {}\n",
                m.step.as_deref().unwrap_or("(outside steps)")
            );
        }
        let result = match (&m.kind, m.code) {
            (MarkKind::Command, Some(c)) => format!("→ {c}"),
            (MarkKind::Command, None) => "→ no exit code".into(),
            (_, _) if m.ok => "ok".into(),
            _ => "FAILED".into(),
        };
        let _ = writeln!(
            md,
            "- {} {} {result} ({})",
            m.host,
            code(&m.what),
            human(m.end_ms - m.start_ms)
        );
    }
    md
}
