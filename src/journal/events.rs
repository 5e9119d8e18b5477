//! `--events FILE|-`: a JSON event stream for the programs that schedule runs (a CI runner, AWX,
//! Rundeck, a Kubernetes Job), one object a line, instead of scraping the lines meant for people.
//!
//! Every journal record is also an event, written as the journal writes it — so the text in it
//! is masked exactly as the journal's — with the schema's name, a sequence number and the run's
//! id added. One thing the journal keeps that the stream does not: an undo's `action` (the
//! original bytes it puts back, which the journal must keep exact and may hold secrets). The
//! last event is `exit` with the process's exit code. Between records, a copy reports its
//! progress (`copy_progress`, throttled; not journaled). Schema: book/src/events.md.
//!
//! With `-`, events are the only thing on stdout: the lines meant for people go to stderr.

use crate::error::{Error, Result};
use crate::journal::Record;
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The schema's name and version: a consumer checks it and refuses a version it does not know.
pub const SCHEMA: &str = "runbook.events/1";

struct Sink {
    out: Box<dyn Write + Send>,
    seq: u64,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();
/// The id of the run whose journal wrote last: the run of the events that are not records.
static RUN: Mutex<Option<String>> = Mutex::new(None);
static ON_STDOUT: AtomicBool = AtomicBool::new(false);

/// Whether events own stdout (`--events -`): then [`outln!`] writes to stderr.
pub fn on_stdout() -> bool {
    ON_STDOUT.load(Ordering::Relaxed)
}

/// Send events to `target` (`-` for stdout) for the rest of the process.
pub fn open(target: &Path) -> Result<()> {
    let out: Box<dyn Write + Send> = if target == Path::new("-") {
        ON_STDOUT.store(true, Ordering::Relaxed);
        Box::new(std::io::stdout())
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(target)
            .map_err(|e| Error::io(format!("cannot write events to {}", target.display()), e))?;
        Box::new(file)
    };
    SINK.set(Mutex::new(Sink { out, seq: 0 }))
        .map_err(|_| Error::usage("--events was given twice"))
}

/// A journal record as it is shown outside the run's folder (the event stream, `runbook log
/// --format json`, the report): as journaled, but for an undo's `action` (the exact bytes it puts
/// back, which may hold secrets).
pub fn public(record: &Record) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    if let Some(o) = value.as_object_mut() {
        if o.get("event").and_then(Value::as_str) == Some("undo_push") {
            o.remove("action");
        }
    }
    value
}

/// A journal record, as an event of the run whose journal is at `journal`.
pub fn journal_record(journal: &Path, record: &Record) {
    if SINK.get().is_none() {
        return;
    }
    let mut event = public(record);
    if let Some(o) = event.as_object_mut() {
        let run = journal
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned());
        *RUN.lock().unwrap_or_else(|e| e.into_inner()) = run.clone();
        o.insert("run".into(), json!(run));
    }
    emit(event);
}

/// How often a copy reports its progress at most (its first and last chunk always do).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A copy's progress as `copy_progress` events: not journaled (the `transfer` record that ends
/// the copy is), and throttled to one a second, plus the first chunk and the last.
pub struct CopyProgress {
    step: Option<String>,
    from: String,
    to: String,
    total: u64,
    last: Mutex<Option<Instant>>,
}

impl CopyProgress {
    /// `None` when no event stream is open. `from` and `to` are masked as the journal's are.
    pub fn new(step: Option<String>, from: String, to: String, total: u64) -> Option<Self> {
        SINK.get()?;
        Some(Self {
            step,
            from,
            to,
            total,
            last: Mutex::new(None),
        })
    }

    /// `bytes` have been written to the destination.
    pub fn at(&self, bytes: u64) {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || bytes >= self.total;
            if !due {
                return;
            }
            *last = Some(Instant::now());
        }
        let run = RUN.lock().unwrap_or_else(|e| e.into_inner()).clone();
        emit(json!({
            "ts": crate::journal::now(),
            "event": "copy_progress",
            "step": self.step,
            "from": self.from,
            "to": self.to,
            "bytes": bytes,
            "total": self.total,
            "run": run,
        }));
    }
}

/// The last event: the process's exit code.
pub fn exit(code: i32) {
    emit(json!({ "ts": crate::journal::now(), "event": "exit", "code": code }));
}

fn emit(mut event: Value) {
    let Some(sink) = SINK.get() else {
        return;
    };
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    sink.seq += 1;
    if let Some(o) = event.as_object_mut() {
        o.insert("schema".into(), json!(SCHEMA));
        o.insert("seq".into(), json!(sink.seq));
    }
    // A reader that went away must not stop a run mid-scope (as with stdout).
    let _ = writeln!(sink.out, "{event}").and_then(|()| sink.out.flush());
}
