//! `runbook report`: one self-contained HTML file (inline CSS, SVG and script; nothing fetched)
//! showing what ran where: a timeline with a lane of steps and one lane per host, commands as
//! marks coloured by exit code, undo runs and failures highlighted, the temporary window shaded,
//! and each mark's journal record on click; then the steps, hosts and questions as tables.

use super::timeline::{human, MarkKind, Timeline};
use crate::journal::RunMeta;
use serde_json::Value;
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 150.0;
const LANE: f64 = 34.0;
const TOP: f64 = 24.0;

/// Text for HTML (element content and attribute values).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d232a; background: #fff; }
h1 { font-size: 20px; margin: 0 0 12px; } h2 { font-size: 16px; margin: 24px 0 8px; }
table { border-collapse: collapse; margin: 4px 0; } td, th { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } .ok { color: #116329; } .failed { color: #b42318; font-weight: 600; }
svg { border: 1px solid #d0d7de; background: #fbfcfd; }
.lane-bg { fill: #ffffff; } .lane-bg.alt { fill: #f4f6f8; }
.lane-label { font: 12px monospace; fill: #1d232a; }
.window { fill: #f59e0b; fill-opacity: 0.18; stroke: #d97706; stroke-dasharray: 4 3; }
.step { fill: #3b82f6; fill-opacity: 0.75; } .step.failed { fill: #dc2626; } .step.unended { fill: #9ca3af; }
.step-on-host { fill: #3b82f6; fill-opacity: 0.14; }
.step-label { font: 11px sans-serif; fill: #fff; pointer-events: none; }
.mark { cursor: pointer; } .mark.cmd { fill: #16a34a; } .mark.cmd.fail { fill: #dc2626; }
.mark.copy { fill: #7c3aed; } .mark.copy.fail { fill: #dc2626; }
.mark.undo { fill: #ea580c; stroke: #7c2d12; } .mark.undo.fail { fill: #dc2626; stroke: #000; }
.axis { font: 10px monospace; fill: #57606a; }
#details { background: #f6f8fa; border: 1px solid #d0d7de; padding: 8px; min-height: 3em; white-space: pre-wrap; }
.legend span { display: inline-block; margin-right: 14px; } .sw { display: inline-block; width: 12px; height: 12px; vertical-align: -2px; margin-right: 4px; }
"#;

const SCRIPT: &str = r#"
const records = JSON.parse(document.getElementById('journal').textContent);
const details = document.getElementById('details');
document.body.dataset.records = String(records.length);
for (const el of document.querySelectorAll('[data-record]')) {
  el.addEventListener('click', () => {
    details.textContent = JSON.stringify(records[Number(el.dataset.record)], null, 2);
  });
}
"#;

/// The report of a run: `records` are the journal's records as published (undo actions left out).
pub fn render(meta: &RunMeta, t: &Timeline, records: &[Value]) -> String {
    let mut h = String::new();
    let title = format!("Run {} — {}", meta.id, meta.runbook);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    summary(&mut h, meta, t);
    h.push_str("<h2>Timeline</h2>\n<p class=\"legend\"><span><i class=\"sw\" style=\"background:#3b82f6\"></i>step</span><span><i class=\"sw\" style=\"background:#16a34a\"></i>command, exit 0</span><span><i class=\"sw\" style=\"background:#dc2626\"></i>non-zero exit or failed</span><span><i class=\"sw\" style=\"background:#7c3aed\"></i>copy</span><span><i class=\"sw\" style=\"background:#ea580c\"></i>undo</span><span><i class=\"sw\" style=\"background:#f59e0b;opacity:.4\"></i>temporary window</span> Click a mark for its journal record.</p>\n");
    timeline(&mut h, t);
    h.push_str("<pre id=\"details\">(click a mark)</pre>\n");
    tables(&mut h, t);
    let json = serde_json::to_string(records)
        .unwrap_or_else(|_| "[]".into())
        .replace('<', "\\u003c");
    let _ = write!(
        h,
        "<script id=\"journal\" type=\"application/json\">{json}</script>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    h
}

fn summary(h: &mut String, meta: &RunMeta, t: &Timeline) {
    let (ok, outcome) = t.outcome_text();
    let class = if ok { "ok" } else { "failed" };
    h.push_str("<table id=\"summary\">\n");
    let row = |h: &mut String, k: &str, v: &str, class: &str| {
        let _ = writeln!(
            h,
            "<tr><th>{k}</th><td class=\"{class}\">{}</td></tr>",
            esc(v)
        );
    };
    row(h, "runbook", &meta.runbook, "");
    let inventory = meta
        .inventory
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    row(h, "inventory", &inventory, "");
    row(h, "started", &t.started, "");
    row(h, "duration", &human(t.duration_ms), "");
    row(h, "outcome", &outcome, class);
    for w in t.outer_windows() {
        let (ok, text) = w.length_text();
        let class = if ok { "" } else { "failed" };
        let _ = writeln!(
            h,
            "<tr><th>temporary window</th><td class=\"window-length {class}\">{}</td></tr>",
            esc(&text)
        );
    }
    h.push_str("</table>\n");
}

fn timeline(h: &mut String, t: &Timeline) {
    let span = t.duration_ms.max(1) as f64;
    let x = |ms: u64| LABEL + (ms as f64 / span) * (WIDTH - LABEL - 10.0);
    let w = |a: u64, b: u64| (x(b) - x(a)).max(3.0);
    let lanes = 1 + t.hosts.len();
    let height = TOP + LANE * lanes as f64 + 6.0;
    let _ = writeln!(
        h,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">"
    );
    let lane_y = |i: usize| TOP + LANE * i as f64;
    let names = std::iter::once("steps").chain(t.hosts.iter().map(String::as_str));
    for (i, name) in names.enumerate() {
        let _ = writeln!(
            h,
            "<g class=\"lane\" data-lane=\"{}\"><rect class=\"lane-bg{}\" x=\"0\" y=\"{}\" width=\"{WIDTH}\" height=\"{LANE}\"/><text class=\"lane-label\" x=\"6\" y=\"{}\">{}</text></g>",
            esc(name),
            if i % 2 == 1 { " alt" } else { "" },
            lane_y(i),
            lane_y(i) + LANE / 2.0 + 4.0,
            esc(name)
        );
    }
    // The time axis: five ticks.
    for k in 0..=4 {
        let ms = t.duration_ms * k / 4;
        let _ = writeln!(
            h,
            "<text class=\"axis\" x=\"{:.1}\" y=\"14\">{}</text>",
            x(ms).min(WIDTH - 60.0),
            esc(&human(ms))
        );
    }
    for win in &t.windows {
        let _ = writeln!(
            h,
            "<rect class=\"window\" data-depth=\"{}\" x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"><title>temporary window {}: {}</title></rect>",
            win.depth,
            x(win.start_ms),
            w(win.start_ms, win.end_ms),
            LANE * lanes as f64,
            win.depth,
            esc(&human(win.end_ms - win.start_ms))
        );
    }
    for s in &t.steps {
        let class = match s.ok {
            Some(true) => "step",
            Some(false) => "step failed",
            None => "step unended",
        };
        let (sx, sw) = (x(s.start_ms), w(s.start_ms, s.end_ms));
        let _ = writeln!(
            h,
            "<rect class=\"{class}\" data-step=\"{}\" x=\"{sx:.1}\" y=\"{:.1}\" width=\"{sw:.1}\" height=\"{:.1}\"><title>{} ({})</title></rect>",
            esc(&s.name),
            lane_y(0) + 5.0,
            LANE - 10.0,
            esc(&s.name),
            esc(&human(s.end_ms - s.start_ms))
        );
        if sw > 7.0 * s.name.len() as f64 {
            let _ = writeln!(
                h,
                "<text class=\"step-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                sx + 3.0,
                lane_y(0) + LANE / 2.0 + 4.0,
                esc(&s.name)
            );
        }
        for host in &s.hosts {
            if let Some(i) = t.hosts.iter().position(|h| h == host) {
                let _ = writeln!(
                    h,
                    "<rect class=\"step-on-host\" x=\"{sx:.1}\" y=\"{:.1}\" width=\"{sw:.1}\" height=\"{:.1}\"/>",
                    lane_y(i + 1) + 3.0,
                    LANE - 6.0
                );
            }
        }
    }
    for m in &t.marks {
        let Some(i) = t.hosts.iter().position(|h| h == &m.host) else {
            continue;
        };
        let kind = match m.kind {
            MarkKind::Command => "cmd",
            MarkKind::Copy => "copy",
            MarkKind::Undo => "undo",
        };
        let code = m.code.map_or("none".to_string(), |c| c.to_string());
        let _ = writeln!(
            h,
            "<rect class=\"mark {kind}{}\" data-record=\"{}\" data-host=\"{}\" data-code=\"{code}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {} → {code}</title></rect>",
            if m.ok { "" } else { " fail" },
            m.record,
            esc(&m.host),
            x(m.start_ms),
            lane_y(i + 1) + 8.0,
            w(m.start_ms, m.end_ms),
            LANE - 16.0,
            esc(&m.host),
            esc(&m.what)
        );
    }
    h.push_str("</svg>\n");
}

fn tables(h: &mut String, t: &Timeline) {
    h.push_str("<h2>Steps</h2>\n<table id=\"steps\"><tr><th>#</th><th>step</th><th>result</th><th>duration</th><th>hosts</th></tr>\n");
    for (i, s) in t.steps.iter().enumerate() {
        let (ok, result) = s.result_text();
        let class = if ok { "ok" } else { "failed" };
        let _ = writeln!(
            h,
            "<tr class=\"step-row\" data-step=\"{}\"><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            i + 1,
            esc(&s.name),
            esc(&result),
            esc(&human(s.end_ms - s.start_ms)),
            esc(&s.hosts.join(", "))
        );
    }
    h.push_str("</table>\n<h2>Hosts</h2>\n<table id=\"hosts\"><tr><th>host</th><th>commands</th><th>non-zero exits or failed</th><th>copies</th><th>undo runs</th></tr>\n");
    for host in &t.hosts {
        let of = |kind: MarkKind| {
            t.marks
                .iter()
                .filter(move |m| &m.host == host && m.kind == kind)
        };
        let failed = t.marks.iter().filter(|m| &m.host == host && !m.ok).count();
        let _ = writeln!(
            h,
            "<tr class=\"host-row\" data-host=\"{}\"><td>{}</td><td>{}</td><td class=\"{}\">{failed}</td><td>{}</td><td>{}</td></tr>",
            esc(host),
            esc(host),
            of(MarkKind::Command).count(),
            if failed > 0 { "failed" } else { "" },
            of(MarkKind::Copy).count(),
            of(MarkKind::Undo).count()
        );
    }
    h.push_str("</table>\n");
    if t.asked.is_empty() {
        return;
    }
    h.push_str("<h2>Questions</h2>\n<table id=\"questions\"><tr><th>step</th><th>kind</th><th>question</th><th>answer</th></tr>\n");
    for q in &t.asked {
        let answer = q.answer_text();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(q.step.as_deref().unwrap_or("-")),
            q.kind.name(),
            esc(&q.text),
            esc(&answer)
        );
    }
    h.push_str("</table>\n");
}
