//! The crate's one error type, and the exit code each kind of failure maps to.
//!
//! [`Error`] is one enum with a variant per kind of failure, carrying what that kind knows (a
//! remote command's host, command, exit code and stderr; a journal's path). *Where* (a file and a
//! span in it) and *what to do* (help) are kept apart from *what* in [`Detail`], so every kind can
//! point into a runbook or an inventory when it knows where it happened.
//!
//! Rhai's errors meet ours at the engine boundary: a primitive throws a [`Failure`] (a Rhai value a
//! script can catch), `Error` becomes one with [`Error::into_rhai`], and `diag::eval_error` turns
//! whatever a script ended with back into an `Error`.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use rhai::{Dynamic, EvalAltResult, Map, Position};
use std::fmt;
use std::path::{Path, PathBuf};

/// Exit codes, distinct per kind of failure so wrappers can tell them apart.
pub mod exit {
    pub const OK: i32 = 0;
    /// A command on a host failed (or a host could not be reached).
    pub const REMOTE: i32 = 1;
    /// Bad usage: unknown runbook, step or parameter, bad inventory, bad flag; a pause without
    /// `--yes` in a non-interactive run.
    pub const USAGE: i32 = 2;
    /// The runbook script itself is wrong: a parse error or a runtime error in its logic.
    pub const SCRIPT: i32 = 3;
    /// Undo (compensations) failed: a host may be left with a temporary change.
    pub const UNDO: i32 = 4;
    /// The journal or the run's folder could not be written or read whole (disk full, a corrupt
    /// line): what ran may be unrecorded. The undo still ran; the message names the file.
    pub const JOURNAL: i32 = 5;
    /// A local file other than the journal could not be written, or the runtime not started.
    pub const IO: i32 = 6;
    /// Interrupted by SIGINT/SIGTERM (after running the undo).
    pub const INTERRUPTED: i32 = 130;
}

/// The kind of a failure, as a [`Failure`] (the Rhai side) carries it; one per [`Error`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Script,
    Remote,
    Usage,
    /// Stopped at a pause no one could answer (`--yes` not given, no terminal).
    Paused,
    Undo,
    Journal,
    Io,
    Interrupted,
}

impl Kind {
    /// The process's exit status for a failure of this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Usage | Kind::Paused => exit::USAGE,
            Kind::Script => exit::SCRIPT,
            Kind::Remote => exit::REMOTE,
            Kind::Undo => exit::UNDO,
            Kind::Journal => exit::JOURNAL,
            Kind::Io => exit::IO,
            Kind::Interrupted => exit::INTERRUPTED,
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

/// What every kind of error may also know: where it happened and what to do about it (boxed, so
/// an error stays small to return).
#[derive(Debug, Default)]
pub struct Detail(Option<Box<Known>>);

#[derive(Debug, Default)]
struct Known {
    location: Option<Location>,
    help: Option<String>,
}

impl Detail {
    fn known(&mut self) -> &mut Known {
        self.0.get_or_insert_with(Box::default)
    }

    fn location(&self) -> Option<&Location> {
        self.0.as_ref()?.location.as_ref()
    }

    fn hint(&self) -> Option<&String> {
        self.0.as_ref()?.help.as_ref()
    }
}

/// The error every fallible part of runbook returns.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    /// Bad usage: an unknown runbook, step or parameter, a bad inventory or flag.
    #[error("{message}")]
    #[diagnostic(code(runbook::usage), forward(detail))]
    Usage { message: String, detail: Detail },
    /// An input named on the command line (runbook, inventory) cannot be read.
    #[error("cannot read {what} {}: {cause}", path.display())]
    #[diagnostic(code(runbook::usage), forward(detail))]
    Input {
        what: &'static str,
        path: PathBuf,
        cause: String,
        detail: Detail,
    },
    /// The runbook is wrong: a syntax error, an error in its logic, an engine limit.
    #[error("{message}")]
    #[diagnostic(code(runbook::script), forward(detail))]
    Script { message: String, detail: Detail },
    /// A command on a host failed, or the host could not be reached. `host` is empty when the
    /// failure came from a script's own `fail`/catch without one.
    #[error("{message}")]
    #[diagnostic(code(runbook::remote), forward(detail))]
    Remote {
        message: String,
        host: String,
        command: Option<String>,
        code: Option<i32>,
        stderr: String,
        detail: Detail,
    },
    /// A pause (or confirmation) no one could answer: the run stopped there, on purpose.
    #[error("{message}")]
    #[diagnostic(code(runbook::paused), forward(detail))]
    Paused { message: String, detail: Detail },
    /// An undo failed: a host may keep a temporary change.
    #[error("{message}")]
    #[diagnostic(code(runbook::undo), forward(detail))]
    Undo { message: String, detail: Detail },
    /// The journal (or the run's folder: meta, source, state dir) at `path` could not be written
    /// or read whole. `path` is None when only the message survived a trip through Rhai.
    #[error("{message}")]
    #[diagnostic(code(runbook::journal), forward(detail))]
    Journal {
        message: String,
        path: Option<PathBuf>,
        detail: Detail,
    },
    /// A local file could not be written (not the journal), or the runtime could not start.
    #[error("{what}: {cause}")]
    #[diagnostic(code(runbook::io), forward(detail))]
    Io {
        what: String,
        cause: String,
        detail: Detail,
    },
    /// Ctrl-C or SIGTERM, after the undo ran.
    #[error("{}", Interrupted)]
    #[diagnostic(code(runbook::interrupted), forward(detail))]
    Interrupted { detail: Detail },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message` (for a kind that carries nothing else).
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        let message = message.into();
        let detail = Detail::default();
        match kind {
            Kind::Script => Error::Script { message, detail },
            Kind::Remote => Error::Remote {
                message,
                host: String::new(),
                command: None,
                code: None,
                stderr: String::new(),
                detail,
            },
            Kind::Usage => Error::Usage { message, detail },
            Kind::Paused => Error::Paused { message, detail },
            Kind::Undo => Error::Undo { message, detail },
            Kind::Journal => Error::Journal {
                message,
                path: None,
                detail,
            },
            Kind::Io => Error::Io {
                what: message,
                cause: String::new(),
                detail,
            },
            Kind::Interrupted => Error::Interrupted { detail },
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn script(message: impl Into<String>) -> Self {
        Self::new(Kind::Script, message)
    }

    /// A command on `host` failed: `command` as shown to people, its exit code, its stderr tail.
    pub fn remote(
        host: &str,
        command: Option<String>,
        code: Option<i32>,
        stderr: &str,
        message: impl Into<String>,
    ) -> Self {
        Error::Remote {
            message: message.into(),
            host: host.to_string(),
            command,
            code,
            stderr: stderr.to_string(),
            detail: Detail::default(),
        }
    }

    /// The input `what` (a runbook, an inventory) at `path` cannot be read.
    pub fn input(what: &'static str, path: &Path, err: std::io::Error) -> Self {
        Error::Input {
            what,
            path: path.to_path_buf(),
            cause: err.to_string(),
            detail: Detail::default(),
        }
    }

    /// A local file could not be written (`what` names it), or the runtime not started.
    pub fn io(what: impl fmt::Display, err: impl fmt::Display) -> Self {
        Error::Io {
            what: what.to_string(),
            cause: err.to_string(),
            detail: Detail::default(),
        }
    }

    /// The journal at `path` could not be written.
    pub fn journal(path: &Path, err: impl fmt::Display) -> Self {
        Self::state(path, format!("cannot write journal {}: {err}", path.display()))
            .with_help("free space (or fix the file system) under the state dir; `runbook log` shows what was recorded")
    }

    /// The journal or a file of the run's folder at `path`: `message` says what went wrong.
    pub fn state(path: &Path, message: impl Into<String>) -> Self {
        Error::Journal {
            message: message.into(),
            path: Some(path.to_path_buf()),
            detail: Detail::default(),
        }
    }

    /// The kind, as a [`Failure`] carries it.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Usage { .. } | Error::Input { .. } => Kind::Usage,
            Error::Script { .. } => Kind::Script,
            Error::Remote { .. } => Kind::Remote,
            Error::Paused { .. } => Kind::Paused,
            Error::Undo { .. } => Kind::Undo,
            Error::Journal { .. } => Kind::Journal,
            Error::Io { .. } => Kind::Io,
            Error::Interrupted { .. } => Kind::Interrupted,
        }
    }

    /// The message, without where or help.
    pub fn message(&self) -> String {
        self.to_string()
    }

    fn detail_mut(&mut self) -> &mut Detail {
        match self {
            Error::Usage { detail, .. }
            | Error::Input { detail, .. }
            | Error::Script { detail, .. }
            | Error::Remote { detail, .. }
            | Error::Paused { detail, .. }
            | Error::Undo { detail, .. }
            | Error::Journal { detail, .. }
            | Error::Io { detail, .. }
            | Error::Interrupted { detail } => detail,
        }
    }

    /// What to do about it.
    pub fn help_text(&self) -> Option<String> {
        Diagnostic::help(self).map(|h| h.to_string())
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.detail_mut().known().help = Some(help.into());
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
        self.detail_mut().known().location = Some(Location {
            src: NamedSource::new(name, text.to_string()),
            span: span.into(),
            label: label.into(),
        });
        self
    }

    /// The process's exit status for this error.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }

    /// This error as a Rhai error, about `host` ("" when none): a [`Failure`] a script can catch,
    /// or Rhai's own termination for an interruption (which no `catch` stops).
    pub fn into_rhai(self, host: &str) -> Box<EvalAltResult> {
        if let Error::Interrupted { .. } = self {
            return Interrupted.into_rhai();
        }
        let mut failure = Failure::new(self.kind(), host, self.message());
        failure.help = self.help_text();
        if let Error::Remote {
            host, code, stderr, ..
        } = self
        {
            if failure.host.is_empty() {
                failure.host = host;
            }
            failure.code = code;
            failure.stderr = stderr;
        }
        failure.into_err()
    }
}

impl From<Error> for Box<EvalAltResult> {
    fn from(e: Error) -> Self {
        e.into_rhai("")
    }
}

/// The value Rhai's termination carries when Ctrl-C stopped a script (engine progress hook, a
/// primitive that saw the cancellation): typed, so no one matches on a message.
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted (Ctrl-C or SIGTERM)")
    }
}

impl Interrupted {
    /// Rhai's termination with this value: no `catch` in a script stops it.
    pub fn into_rhai(self) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(self),
            Position::NONE,
        ))
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl std::error::Error for Detail {}

impl Diagnostic for Detail {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.hint().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.location().map(|l| &l.src as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.location().map(|l| {
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
    /// What to do about it, when the error that became this failure said (shown by the runner).
    pub help: Option<String>,
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
            help: None,
        }
    }

    pub fn into_err(self) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(self),
            Position::NONE,
        ))
    }
}

/// Why a copy did not finish: interrupted (Ctrl-C), or failed with a message naming the command,
/// the file or the checksum that did not agree.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CopyError {
    #[error("{}", Interrupted)]
    Interrupted,
    /// The copy stopped; the bytes at the destination's temporary name are kept for the next
    /// attempt to resume from (a dropped connection, a stalled host).
    #[error("{0}")]
    Failed(String),
    /// The bytes at the destination cannot be kept: a checksum mismatch, or the destination
    /// refused the writes (a full disk). The temporary file is removed.
    #[error("{0}")]
    Rejected(String),
}

impl From<TransportError> for CopyError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Cancelled { .. } => CopyError::Interrupted,
            e => CopyError::Failed(e.to_string()),
        }
    }
}

impl From<String> for CopyError {
    fn from(message: String) -> Self {
        CopyError::Failed(message)
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
    /// Another run holds the host's lease (one run per cluster); nothing ran.
    #[error("{host} is leased by another run: {holder}; nothing was changed there (if that run is gone for good: --break-lease)")]
    Leased { host: String, holder: String },
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
