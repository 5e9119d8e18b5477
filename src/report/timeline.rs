//! What a journal says happened, laid out in time: steps, the commands and copies on each host,
//! undo runs, questions, and the temporary windows. The markdown log and the HTML report draw it.

use crate::journal::{Event, QuestionKind, Record};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A step as it ran (a resumed run may show a step twice: one span per attempt).
#[derive(Debug, Clone)]
pub struct StepSpan {
    pub name: String,
    /// Milliseconds since the journal's first record.
    pub start_ms: u64,
    pub end_ms: u64,
    /// `None`: it never ended (the run crashed or was killed in it).
    pub ok: Option<bool>,
    pub error: Option<String>,
    /// Hosts it ran a command or copy on, in order of first use.
    pub hosts: Vec<String>,
}

/// What a mark on a host's lane is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkKind {
    Command,
    Copy,
    Undo,
}

/// A command, copy or undo run on a host.
#[derive(Debug, Clone)]
pub struct Mark {
    pub kind: MarkKind,
    pub host: String,
    pub step: Option<String>,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The command's exit code (`None`: no exit code, a copy or an undo).
    pub code: Option<i32>,
    pub ok: bool,
    /// What it was: the command, `from → to`, or the undo's description.
    pub what: String,
    /// Its journal record's index.
    pub record: usize,
}

/// A `temporarily` window (depth 1: the outermost).
#[derive(Debug, Clone)]
pub struct Window {
    pub depth: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    /// `None`: never closed in this journal (a crash; `revert` or `resume` ran its undo later).
    pub closed: Option<WindowEnd>,
}

/// How a window closed.
#[derive(Debug, Clone)]
pub struct WindowEnd {
    pub undone: usize,
    pub ok: bool,
    pub duration_ms: u64,
}

/// A pause or confirmation and its answer.
#[derive(Debug, Clone)]
pub struct Asked {
    pub step: Option<String>,
    pub kind: QuestionKind,
    pub text: String,
    /// The answer and who gave it; `None`: never answered.
    pub answer: Option<(bool, String)>,
}

/// A run's journal laid out in time.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The first record's time (RFC 3339).
    pub started: String,
    pub duration_ms: u64,
    pub steps: Vec<StepSpan>,
    pub marks: Vec<Mark>,
    /// Hosts in order of first use.
    pub hosts: Vec<String>,
    pub windows: Vec<Window>,
    pub asked: Vec<Asked>,
    /// The last attempt's end: ok, and its error; `None`: no end recorded.
    pub outcome: Option<(bool, Option<String>)>,
}

impl Timeline {
    pub fn new(records: &[Record]) -> Self {
        let at = |r: &Record| OffsetDateTime::parse(&r.ts, &Rfc3339).ok();
        let origin = records.iter().find_map(at);
        let ms = |r: &Record| -> u64 {
            match (origin, at(r)) {
                (Some(o), Some(t)) => (t - o).whole_milliseconds().max(0) as u64,
                _ => 0,
            }
        };
        let mut t = Timeline {
            started: records.first().map(|r| r.ts.clone()).unwrap_or_default(),
            ..Timeline::default()
        };
        let mut undo_host: HashMap<u64, (String, String)> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            let now = ms(r);
            t.duration_ms = t.duration_ms.max(now);
            match &r.event {
                Event::StepStart { step } => t.steps.push(StepSpan {
                    name: step.clone(),
                    start_ms: now,
                    end_ms: now,
                    ok: None,
                    error: None,
                    hosts: Vec::new(),
                }),
                Event::StepEnd {
                    step, ok, error, ..
                } => {
                    if let Some(s) = t.open_step(step) {
                        s.end_ms = now;
                        s.ok = Some(*ok);
                        s.error = error.clone();
                    }
                }
                Event::Command {
                    step,
                    host,
                    command,
                    code,
                    duration_ms,
                    ..
                } => t.mark(Mark {
                    kind: MarkKind::Command,
                    host: host.clone(),
                    step: step.clone(),
                    start_ms: now.saturating_sub(*duration_ms),
                    end_ms: now,
                    code: *code,
                    ok: *code == Some(0),
                    what: command.clone(),
                    record: i,
                }),
                Event::Transfer {
                    step,
                    from,
                    to,
                    error,
                    duration_ms,
                    ..
                } => t.mark(Mark {
                    kind: MarkKind::Copy,
                    host: copy_host(from, to),
                    step: step.clone(),
                    start_ms: now.saturating_sub(*duration_ms),
                    end_ms: now,
                    code: None,
                    ok: error.is_none(),
                    what: format!("copy {from} → {to}"),
                    record: i,
                }),
                Event::UndoPush {
                    id,
                    host,
                    description,
                    ..
                } => {
                    undo_host.insert(*id, (host.clone(), description.clone()));
                }
                Event::UndoPop { id, ok, .. } => {
                    let (host, what) = undo_host
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| ("?".into(), format!("undo #{id}")));
                    // An undo runs when its scope closes, outside the step that pushed it.
                    t.mark(Mark {
                        kind: MarkKind::Undo,
                        host,
                        step: None,
                        start_ms: now,
                        end_ms: now,
                        code: None,
                        ok: *ok,
                        what: format!("undo: {what}"),
                        record: i,
                    });
                }
                Event::WindowOpen { depth, .. } => t.windows.push(Window {
                    depth: *depth,
                    start_ms: now,
                    end_ms: now,
                    closed: None,
                }),
                Event::WindowClose {
                    depth,
                    undone,
                    ok,
                    duration_ms,
                    ..
                } => {
                    if let Some(w) = t
                        .windows
                        .iter_mut()
                        .rev()
                        .find(|w| w.depth == *depth && w.closed.is_none())
                    {
                        w.end_ms = now;
                        w.closed = Some(WindowEnd {
                            undone: *undone,
                            ok: *ok,
                            duration_ms: *duration_ms,
                        });
                    }
                }
                Event::Question { step, kind, text } => t.asked.push(Asked {
                    step: step.clone(),
                    kind: *kind,
                    text: text.clone(),
                    answer: None,
                }),
                Event::Answer { answer, by, .. } => {
                    if let Some(q) = t.asked.iter_mut().rev().find(|q| q.answer.is_none()) {
                        q.answer = Some((*answer, by.clone()));
                    }
                }
                Event::RunEnd { ok, error } => t.outcome = Some((*ok, error.clone())),
                Event::RunStart { .. } | Event::Resume { .. } => t.outcome = None,
                _ => {}
            }
        }
        // A step or window that never ended lasts until the journal's last record.
        let end = t.duration_ms;
        for s in t.steps.iter_mut().filter(|s| s.ok.is_none()) {
            s.end_ms = end;
        }
        for w in t.windows.iter_mut().filter(|w| w.closed.is_none()) {
            w.end_ms = end;
        }
        t
    }

    fn open_step(&mut self, name: &str) -> Option<&mut StepSpan> {
        self.steps
            .iter_mut()
            .rev()
            .find(|s| s.name == name && s.ok.is_none())
    }

    fn mark(&mut self, mark: Mark) {
        if !self.hosts.contains(&mark.host) {
            self.hosts.push(mark.host.clone());
        }
        if mark.kind != MarkKind::Undo {
            if let Some(step) = mark.step.as_deref() {
                let host = mark.host.clone();
                if let Some(s) = self.open_step(step) {
                    if !s.hosts.contains(&host) {
                        s.hosts.push(host);
                    }
                }
            }
        }
        self.marks.push(mark);
    }

    /// The outermost windows: for the upgrade, how long the timeouts stayed raised.
    pub fn outer_windows(&self) -> impl Iterator<Item = &Window> {
        self.windows.iter().filter(|w| w.depth == 1)
    }
}

impl Timeline {
    /// How the run ended, as people read it; `false`: it failed or never ended.
    pub fn outcome_text(&self) -> (bool, String) {
        match &self.outcome {
            Some((true, _)) => (true, "finished".into()),
            Some((false, e)) => (false, format!("failed: {}", e.as_deref().unwrap_or(""))),
            None => (
                false,
                "did not end (crashed or killed; see `runbook resume`)".into(),
            ),
        }
    }
}

impl StepSpan {
    /// `✓`, `✗ error` or `did not end`; `false`: not ok.
    pub fn result_text(&self) -> (bool, String) {
        match (self.ok, &self.error) {
            (Some(true), _) => (true, "✓".into()),
            (Some(false), e) => (false, format!("✗ {}", e.as_deref().unwrap_or(""))),
            (None, _) => (false, "did not end".into()),
        }
    }
}

impl Window {
    /// How long it was open and what its undo did; `false`: an undo failed or it never closed.
    pub fn length_text(&self) -> (bool, String) {
        match &self.closed {
            Some(c) => (
                c.ok,
                format!(
                    "{} ({} undo record(s) run as it closed{})",
                    human(c.duration_ms),
                    c.undone,
                    if c.ok { "" } else { ", an undo FAILED" }
                ),
            ),
            None => (
                false,
                format!("{}, never closed", human(self.end_ms - self.start_ms)),
            ),
        }
    }
}

impl Asked {
    /// `yes (by)`, `no (by)` or `not answered`.
    pub fn answer_text(&self) -> String {
        match &self.answer {
            Some((a, by)) => format!("{} ({by})", if *a { "yes" } else { "no" }),
            None => "not answered".into(),
        }
    }
}

/// The host a copy is drawn on: the remote end (`host:path`), the destination when both are.
fn copy_host(from: &str, to: &str) -> String {
    let host = |side: &str| {
        side.split_once(':')
            .map(|(h, _)| h.to_string())
            .filter(|h| h != "local")
    };
    host(to)
        .or_else(|| host(from))
        .unwrap_or_else(|| "local".into())
}

/// Milliseconds as people read them: `850 ms`, `12.3 s`, `4 min 05 s`.
pub fn human(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}
