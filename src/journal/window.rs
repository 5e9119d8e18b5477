//! The risk window of a run, read from the journal's own timestamps: it opens with the first
//! temporary change (an undo pushed while none was pending) and closes when the last pending one
//! is undone. `runbook log` shows its length beside the steps that ran inside it (the restore),
//! so the time the cluster spends with raised timeouts beyond the work is visible.

use super::{Event, Record};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One window: when it opened and closed (None: still open at the journal's end), and the
/// steps that started and finished inside it with their durations in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub opened: String,
    pub closed: Option<String>,
    pub steps: Vec<(String, f64)>,
}

impl Window {
    /// Its length in seconds, once closed.
    pub fn secs(&self) -> Option<f64> {
        let (a, b) = (parse(&self.opened)?, parse(self.closed.as_deref()?)?);
        Some((b - a).as_seconds_f64())
    }
}

fn parse(ts: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(ts, &Rfc3339).ok()
}

/// The windows of a journal, in order.
pub fn windows(records: &[Record]) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    let mut pending = std::collections::BTreeSet::new();
    let mut started: Vec<(String, String)> = Vec::new();
    for r in records {
        match &r.event {
            Event::UndoPush { id, .. } => {
                if pending.is_empty() {
                    out.push(Window {
                        opened: r.ts.clone(),
                        closed: None,
                        steps: Vec::new(),
                    });
                    started.clear();
                }
                pending.insert(*id);
            }
            Event::UndoPop { id, .. } if pending.remove(id) && pending.is_empty() => {
                if let Some(w) = out.last_mut() {
                    w.closed = Some(r.ts.clone());
                }
            }
            Event::StepStart { step } if !pending.is_empty() => {
                started.push((step.clone(), r.ts.clone()));
            }
            Event::StepEnd {
                step,
                ok: true,
                duration_ms,
                ..
            } if !pending.is_empty() && started.iter().any(|(s, _)| s == step) => {
                if let Some(w) = out.last_mut() {
                    w.steps.push((step.clone(), *duration_ms as f64 / 1000.0));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::undo::UndoAction;

    fn rec(ts: &str, event: Event) -> Record {
        Record {
            ts: format!("2026-12-05T07:00:{ts}Z"),
            event,
        }
    }

    fn push(id: u64) -> Event {
        Event::UndoPush {
            id,
            step: None,
            host: "mgr-1".into(),
            description: "d".into(),
            action: UndoAction {
                host: "mgr-1".into(),
                commands: vec![],
            },
        }
    }

    fn pop(id: u64) -> Event {
        Event::UndoPop {
            id,
            ok: true,
            error: None,
            after_failure: false,
        }
    }

    #[test]
    fn a_window_spans_first_push_to_last_pop_with_the_steps_inside() {
        let step = |s: &str| Event::StepStart { step: s.into() };
        let end = |s: &str, ms| Event::StepEnd {
            step: s.into(),
            ok: true,
            error: None,
            duration_ms: ms,
        };
        let records = vec![
            rec("00", step("raise")),
            rec("01", push(1)),
            rec("02", push(2)),
            rec("03", end("raise", 2000)),
            rec("03", step("restore")),
            rec("13", end("restore", 10000)),
            rec("13", step("revert")),
            rec("14", pop(2)),
            rec("14.5", pop(1)),
            rec("15", end("revert", 2000)),
        ];
        let w = windows(&records);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].steps, vec![("restore".to_string(), 10.0)]);
        assert_eq!(w[0].secs(), Some(13.5));
    }
}
