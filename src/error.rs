//! The crate's one error type, and the exit code each kind of failure maps to.
//!
//! *Where* (a file and a span in it) is kept apart from *what* (the kind and message), so every kind
//! of error can point into a runbook or an inventory when it knows where it happened.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use rhai::{Dynamic, EvalAltResult, Map, Position};
use std::fmt;

/// Exit codes, distinct per kind of failure so wrappers can tell them apart.
pub mod exit {
    pub const OK: i32 = 0;
    /// A command on a host failed (or a host could not be reached).
    pub const REMOTE: i32 = 1;
    /// Bad usage: unknown runbook, step or parameter, bad inventory, bad flag.
    pub const USAGE: i32 = 2;
    /// The runbook script itself is wrong: a parse error or a runtime error in its logic.
    pub const SCRIPT: i32 = 3;
    /// Undo (compensations) failed: a host may be left with a temporary change.
    pub const UNDO: i32 = 4;
    /// The journal could not be written or read whole (disk full, a corrupt line): what ran may
    /// be unrecorded. The undo still ran; the message names the journal.
    pub const JOURNAL: i32 = 5;
    /// Interrupted by SIGINT/SIGTERM (after running the undo).
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Script,
    Remote,
    Usage,
    Undo,
    Journal,
    Interrupted,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Script => exit::SCRIPT,
            Kind::Remote => exit::REMOTE,
            Kind::Usage => exit::USAGE,
            Kind::Undo => exit::UNDO,
            Kind::Journal => exit::JOURNAL,
            Kind::Interrupted => exit::INTERRUPTED,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Kind::Script => "runbook::script",
            Kind::Remote => "runbook::remote",
            Kind::Usage => "runbook::usage",
            Kind::Undo => "runbook::undo",
            Kind::Journal => "runbook::journal",
            Kind::Interrupted => "runbook::interrupted",
        }
    }
}

/// A place in a source file: which file, and the span the message is about.
#[derive(Debug)]
pub struct Location {
    pub src: NamedSource<String>,
    pub span: SourceSpan,
    pub label: String,
}

/// The error every fallible part of runbook returns.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub location: Option<Box<Location>>,
    pub help: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            location: None,
            help: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn script(message: impl Into<String>) -> Self {
        Self::new(Kind::Script, message)
    }

    pub fn remote(message: impl Into<String>) -> Self {
        Self::new(Kind::Remote, message)
    }

    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self::usage(format!("{context}: {err}"))
    }

    /// The journal at `path` could not be written.
    pub fn journal(path: &std::path::Path, err: impl fmt::Display) -> Self {
        Self::new(
            Kind::Journal,
            format!("cannot write journal {}: {err}", path.display()),
        )
        .with_help("free space (or fix the file system) under the state dir; `runbook log` shows what was recorded")
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Point the error at `span` (byte offset, length) in the file `name` holding `text`.
    pub fn at(
        mut self,
        name: &str,
        text: &str,
        span: (usize, usize),
        label: impl Into<String>,
    ) -> Self {
        self.location = Some(Box::new(Location {
            src: NamedSource::new(name, text.to_string()),
            span: span.into(),
            label: label.into(),
        }));
        self
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.location.as_ref().map(|l| &l.src as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.location.as_ref().map(|l| {
            Box::new(std::iter::once(LabeledSpan::new_with_span(
                Some(l.label.clone()),
                l.span,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }
}

/// What a primitive throws: catchable in a script (`catch (e) { e.host }`), and mapped by the runner
/// to an exit code by its kind.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: Kind,
    pub host: String,
    pub message: String,
    pub code: Option<i32>,
    pub stderr: String,
    /// For a command on many hosts: each host's result, including the ones that succeeded.
    pub results: Map,
}

impl Failure {
    pub fn new(kind: Kind, host: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            host: host.to_string(),
            message: message.into(),
            code: None,
            stderr: String::new(),
            results: Map::new(),
        }
    }

    pub fn into_err(self) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(self),
            Position::NONE,
        ))
    }
}

/// Why a command did not run to completion.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {host}: {message}")]
    Connect { host: String, message: String },
    #[error("no answer from {host} within {secs:.0} s (deadline){}", stop_note(*stopped))]
    Timeout {
        host: String,
        secs: f64,
        /// Whether the command was confirmed stopped on its host (None: it never started).
        stopped: Option<bool>,
    },
    #[error("interrupted{}", stop_note(*stopped))]
    Cancelled { stopped: Option<bool> },
    #[error("commands run only inside steps: top-level code also runs when the runbook is loaded (check, plan)")]
    OutsideStep,
    #[error("{host}: {message}")]
    Io { host: String, message: String },
    /// The command ran, but its record could not be journaled.
    #[error("{message}")]
    Journal { message: String },
}

fn stop_note(stopped: Option<bool>) -> &'static str {
    match stopped {
        None => "",
        Some(true) => "; the command was stopped on the host",
        Some(false) => "; the command could NOT be confirmed stopped and may still run on the host",
    }
}

impl TransportError {
    /// For a command cut short by its deadline or Ctrl-C: whether it was confirmed stopped.
    pub fn stopped(&self) -> Option<bool> {
        match self {
            TransportError::Timeout { stopped, .. } | TransportError::Cancelled { stopped } => {
                *stopped
            }
            _ => None,
        }
    }
}
