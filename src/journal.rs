//! The journal: one JSON-lines file per run, fsync'd after every record, mode 0600.
//!
//! It is the run's memory: `resume` skips the steps it shows finished, `revert` and `resume` run the
//! undo records it shows pushed but not popped (after a crash or SIGKILL), and `log` renders it.
//!
//! What people read in it (messages, commands, output tails) is masked before it is serialized;
//! what the program replays (an undo's commands and the original bytes it puts back) is kept
//! exactly, because a masked file restored by `revert` would be a corrupted file. So the journal
//! can hold secrets in clear: it is 0600 in a 0700 folder, like the secrets' own sources.
//!
//! A crash can tear the last line. [`Journal::open`] cuts a torn tail off into `journal.jsonl.torn`
//! and records that before it appends, so a torn line never merges with the next record.

pub mod events;
mod replay;
mod run_dir;
pub mod window;

pub use replay::{replay, Replay};
pub use run_dir::{RunDir, RunMeta};

use crate::error::{Error, Result};
use crate::secret::Redactor;
use crate::undo::{InFlight, UndoAction};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStart {
        runbook: String,
        mode: String,
    },
    Resume {
        skipping: Vec<String>,
    },
    StepStart {
        step: String,
    },
    StepEnd {
        step: String,
        ok: bool,
        error: Option<String>,
        duration_ms: u64,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    Command {
        step: Option<String>,
        host: String,
        command: String,
        code: Option<i32>,
        error: Option<String>,
        duration_ms: u64,
        stdout_tail: String,
        stderr_tail: String,
        /// For a command that hit its deadline or was interrupted: whether it was confirmed
        /// stopped on its host (false: it may still be running there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped: Option<bool>,
    },
    Transfer {
        step: Option<String>,
        from: String,
        to: String,
        bytes: u64,
        sha256: Option<String>,
        error: Option<String>,
        duration_ms: u64,
        /// Bytes already at the destination (from an earlier attempt, verified) that this
        /// attempt did not send again; 0 for a copy from the start.
        #[serde(default, skip_serializing_if = "is_zero")]
        resumed_from: u64,
    },
    Note {
        step: Option<String>,
        message: String,
    },
    UndoPush {
        id: u64,
        /// The step that pushed it: when a failure undoes it, that step is no longer finished.
        #[serde(default)]
        step: Option<String>,
        host: String,
        description: String,
        action: UndoAction,
    },
    UndoPop {
        id: u64,
        ok: bool,
        error: Option<String>,
        /// Run because its scope failed or was interrupted (not because the work was done).
        #[serde(default)]
        after_failure: bool,
    },
    RunEnd {
        ok: bool,
        error: Option<String>,
    },
    /// A pause or a confirmation asks the operator; the run waits for the `answer`.
    Question {
        step: Option<String>,
        kind: QuestionKind,
        text: String,
    },
    /// How a `question` was answered: `answer` (a pause answered no stops the run), and `by`
    /// whom: `terminal`, `--yes`, or `answers FILE`.
    Answer {
        step: Option<String>,
        kind: QuestionKind,
        answer: bool,
        by: String,
    },
    /// A `temporarily` scope opened (`depth` 1 is the outermost): the temporary window.
    WindowOpen {
        step: Option<String>,
        depth: usize,
    },
    /// A `temporarily` scope closed, after its undo ran (`undone` records; `ok`: the undo did).
    WindowClose {
        step: Option<String>,
        depth: usize,
        undone: usize,
        ok: bool,
        duration_ms: u64,
    },
    /// Long work that runs on without us started on a host (see [`crate::undo::InFlight`]).
    InFlight {
        #[serde(default)]
        step: Option<String>,
        work: InFlight,
    },
    /// In-flight work `id` is over for the undo: `how` says why (its probe said it ended, or an
    /// operator overruled a probe that said it still runs).
    InFlightEnd {
        id: u64,
        how: String,
    },
    /// The run took, took back, broke or gave back its lease on `host` (`what` says which).
    Lease {
        host: String,
        what: String,
    },
    /// The dead man's switch on `host` was armed, disarmed, taken back, or ran the undo `undone`
    /// by itself (`what` says which and when): those count as popped.
    Guard {
        host: String,
        what: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        undone: Vec<u64>,
    },
    /// The journal ended in a torn line (a crash mid-write): cut off and kept in `kept_in`.
    Torn {
        line: usize,
        bytes: u64,
        kept_in: String,
    },
}

/// Serde: leave a zero count out of the record.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Event {
    /// The event with the text people read masked; undo actions (replayed data) left exact.
    fn masked(self, r: &Redactor) -> Self {
        let m = |s: String| r.redact(&s);
        let mo = |s: Option<String>| s.map(|s| r.redact(&s));
        match self {
            Event::StepEnd {
                step,
                ok,
                error,
                duration_ms,
            } => Event::StepEnd {
                step,
                ok,
                error: mo(error),
                duration_ms,
            },
            Event::StepSkipped { step, reason } => Event::StepSkipped {
                step,
                reason: m(reason),
            },
            Event::Command {
                step,
                host,
                command,
                code,
                error,
                duration_ms,
                stdout_tail,
                stderr_tail,
                stopped,
            } => Event::Command {
                step,
                host,
                command: m(command),
                code,
                error: mo(error),
                duration_ms,
                stdout_tail: m(stdout_tail),
                stderr_tail: m(stderr_tail),
                stopped,
            },
            Event::Transfer {
                step,
                from,
                to,
                bytes,
                sha256,
                error,
                duration_ms,
                resumed_from,
            } => Event::Transfer {
                step,
                from: m(from),
                to: m(to),
                bytes,
                sha256,
                error: mo(error),
                duration_ms,
                resumed_from,
            },
            Event::Note { step, message } => Event::Note {
                step,
                message: m(message),
            },
            Event::UndoPush {
                id,
                step,
                host,
                description,
                action,
            } => Event::UndoPush {
                id,
                step,
                host,
                description: m(description),
                action,
            },
            Event::UndoPop {
                id,
                ok,
                error,
                after_failure,
            } => Event::UndoPop {
                id,
                ok,
                error: mo(error),
                after_failure,
            },
            Event::RunEnd { ok, error } => Event::RunEnd {
                ok,
                error: mo(error),
            },
            Event::Question { step, kind, text } => Event::Question {
                step,
                kind,
                text: m(text),
            },
            other => other,
        }
    }
}

/// What asks: `pause(…)` (answered: done, continue) or `confirm(…)` (answered yes or no).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    Pause,
    Confirm,
}

impl QuestionKind {
    /// Its name in the journal and the answers file.
    pub fn name(self) -> &'static str {
        match self {
            QuestionKind::Pause => "pause",
            QuestionKind::Confirm => "confirm",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub ts: String,
    #[serde(flatten)]
    pub event: Event,
}

/// The current time, RFC 3339 in UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Appends records to a run's journal file.
pub struct Journal {
    file: Mutex<File>,
    path: PathBuf,
    redactor: Redactor,
}

impl Journal {
    /// Open (or create) a journal for appending. A torn last line is cut off first, kept in
    /// `<journal>.torn`, and recorded as the first thing appended.
    pub fn open(path: &Path, redactor: Redactor) -> Result<Self> {
        let torn = cut_torn_tail(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::journal(path, e))?;
        let journal = Self {
            file: Mutex::new(file),
            path: path.to_path_buf(),
            redactor,
        };
        if let Some(event) = torn {
            journal.append(event)?;
        }
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write one record and fsync it: a record that `append` returned for survives a crash.
    /// The record is one `write` of the whole line, so a crash tears at most this line.
    pub fn append(&self, event: Event) -> Result<()> {
        let record = Record {
            ts: now(),
            event: event.masked(&self.redactor),
        };
        let mut line = serde_json::to_string(&record).map_err(|e| Error::journal(&self.path, e))?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| Error::journal(&self.path, e))?;
        events::journal_record(&self.path, &record);
        Ok(())
    }
}

/// The path a torn tail of `journal` is kept in.
pub fn torn_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".torn");
    PathBuf::from(name)
}

/// If `path` ends in a torn line (no newline after it, or not a record), move that line to
/// [`torn_path`] and truncate the journal before it. Returns the event recording the cut.
fn cut_torn_tail(path: &Path) -> Result<Option<Event>> {
    let io = |e: std::io::Error| {
        Error::state(
            path,
            format!(
                "cannot cut the torn last line off journal {}: {e}",
                path.display()
            ),
        )
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let cut = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let last = &bytes[cut..];
    let complete =
        last.ends_with(b"\n") && serde_json::from_slice::<Record>(&last[..last.len() - 1]).is_ok();
    if complete {
        return Ok(None);
    }
    let kept = torn_path(path);
    let mut torn = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&kept)
        .map_err(io)?;
    torn.write_all(last)
        .and_then(|_| torn.write_all(b"\n"))
        .and_then(|_| torn.sync_all())
        .map_err(io)?;
    let file = OpenOptions::new().write(true).open(path).map_err(io)?;
    file.set_len(cut as u64)
        .and_then(|_| file.sync_all())
        .map_err(io)?;
    Ok(Some(Event::Torn {
        line: bytes[..cut].iter().filter(|&&b| b == b'\n').count() + 1,
        bytes: last.len() as u64,
        kept_in: kept.display().to_string(),
    }))
}

/// A journal line that is not a record: its number and the parser's reason.
type CorruptLine = (usize, String);

/// Every line of a journal, parsed: a record, or the line number and why it is not one.
/// The last line may be torn (a crash mid-write): it is left out rather than reported.
fn parse_lines(path: &Path) -> Result<(Vec<Record>, Vec<CorruptLine>)> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::state(path, format!("cannot read journal {}: {e}", path.display())))?;
    let lines: Vec<&[u8]> = bytes
        .strip_suffix(b"\n")
        .unwrap_or(&bytes)
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let n = lines.len();
    let mut records = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => records.push(r),
            Err(_) if i + 1 == n => {}
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    Ok((records, bad))
}

/// Read every record of a journal; a torn last line (crash mid-write) is ignored, a corrupt line
/// before it is an error (what it recorded is unknown, so nothing may be decided from the rest).
pub fn read(path: &Path) -> Result<Vec<Record>> {
    let (records, bad) = parse_lines(path)?;
    match bad.first() {
        None => Ok(records),
        Some((line, why)) => Err(Error::state(
            path,
            format!(
                "journal {} line {line} is corrupt ({why}){}",
                path.display(),
                if bad.len() > 1 {
                    format!(", and {} more line(s)", bad.len() - 1)
                } else {
                    String::new()
                }
            ),
        )
        .with_help(
            "a run cannot resume from a journal it cannot read whole; `runbook revert --salvage RUN` runs the undo records it can still read",
        )),
    }
}

/// Read what can be read of a damaged journal: the records, and the numbers of the lines that
/// are not records (for `revert --salvage`).
pub fn read_salvage(path: &Path) -> Result<(Vec<Record>, Vec<usize>)> {
    let (records, bad) = parse_lines(path)?;
    Ok((records, bad.into_iter().map(|(n, _)| n).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(event: Event) -> Record {
        Record {
            ts: String::new(),
            event,
        }
    }

    fn end(step: &str) -> Record {
        rec(Event::StepEnd {
            step: step.into(),
            ok: true,
            error: None,
            duration_ms: 0,
        })
    }

    fn push(id: u64, step: &str) -> Record {
        rec(Event::UndoPush {
            id,
            step: Some(step.into()),
            host: "h".into(),
            description: format!("undo {id}"),
            action: UndoAction {
                host: "h".into(),
                commands: vec![],
            },
        })
    }

    fn pop(id: u64, after_failure: bool) -> Record {
        rec(Event::UndoPop {
            id,
            ok: true,
            error: None,
            after_failure,
        })
    }

    #[test]
    fn a_step_undone_by_a_failure_is_not_finished_but_one_reverted_on_purpose_is() {
        let r = replay(&[
            end("a"),
            push(0, "raise"),
            end("raise"),
            push(1, "b"),
            end("b"),
            pop(1, false),
            pop(0, true),
        ]);
        assert_eq!(r.finished_steps, ["a", "b"]);
        assert!(r.pending_undo.is_empty());
        assert_eq!(r.next_undo_id, 2);
    }

    #[test]
    fn only_what_people_read_is_masked_and_every_line_still_parses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let redactor = Redactor::default();
        for (name, value) in [
            ("a", "true"),
            ("b", "\""),
            ("c", "\\"),
            ("d", "pw\nline-two!"),
        ] {
            redactor.add(&crate::secret::Secret::new(name, value));
        }
        let original = "auth admin:pw\nline-two!\nflag true \"q\" \\x\n";
        let action = UndoAction {
            host: "h".into(),
            commands: vec![crate::undo::UndoExec::argv(
                vec!["sh".into(), "-c".into(), "cat > f".into()],
                true,
                std::time::Duration::from_secs(5),
            )
            .with_stdin(original.into())],
        };
        let journal = Journal::open(&path, redactor).expect("open");
        journal
            .append(Event::UndoPush {
                id: 0,
                step: None,
                host: "h".into(),
                description: "restore f (true)".into(),
                action: action.clone(),
            })
            .expect("append");
        journal
            .append(Event::Note {
                step: None,
                message: original.into(),
            })
            .expect("append");
        let records = read(&path).expect("every line parses");
        match &records[0].event {
            Event::UndoPush {
                action: kept,
                description,
                ..
            } => {
                assert_eq!(kept, &action, "the undo is kept exactly");
                assert_eq!(description, "restore f (<secret a>)");
            }
            other => panic!("{other:?}"),
        }
        match &records[1].event {
            Event::Note { message, .. } => assert_eq!(
                message,
                "auth admin:<secret d>\nflag <secret a> <secret b>q<secret b> <secret c>x\n"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pending_undo_after_a_crash_unfinishes_its_step_once_reverted() {
        let r = replay(&[end("a"), push(0, "raise"), end("raise")]);
        assert_eq!(r.finished_steps, ["a", "raise"]);
        assert_eq!(r.pending_undo.len(), 1);
        assert_eq!(r.finished_after_revert(), ["a"]);
    }
}
