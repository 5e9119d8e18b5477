//! Undo: compensations for temporary changes, kept as data so they survive the process.
//!
//! A primitive that changes a host temporarily pushes an [`UndoAction`] — plain commands, with the
//! original content they restore carried inline — and the push is journaled *before* the change.
//! Scopes (`temporarily(|| …)`, and the run itself) pop and run their actions newest first when they
//! end: on success, on a script error, on Ctrl-C. After SIGKILL, `runbook revert`/`resume` find the
//! pushes without a pop in the journal and run them.

use crate::transport::{Command, ExecRequest};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One command of a compensation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UndoExec {
    /// argv (quoted for the remote shell) or, for `shell`, a snippet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    #[serde(default)]
    pub sudo: bool,
    /// Data fed to the command's stdin, e.g. the original file content to put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    pub timeout_secs: u64,
}

impl UndoExec {
    pub fn argv(argv: Vec<String>, sudo: bool, timeout: Duration) -> Self {
        Self {
            argv,
            shell: None,
            sudo,
            stdin: None,
            timeout_secs: timeout.as_secs().max(1),
        }
    }

    pub fn shell(snippet: String, sudo: bool, timeout: Duration) -> Self {
        Self {
            argv: Vec::new(),
            shell: Some(snippet),
            sudo,
            stdin: None,
            timeout_secs: timeout.as_secs().max(1),
        }
    }

    pub fn with_stdin(mut self, stdin: String) -> Self {
        self.stdin = Some(stdin);
        self
    }

    pub fn request(&self) -> ExecRequest {
        let command = match &self.shell {
            Some(s) => Command::Shell(s.clone()),
            None => Command::argv(self.argv.clone()),
        };
        ExecRequest {
            command,
            sudo: self.sudo,
            stdin: self.stdin.clone().map(String::into_bytes),
            timeout: Duration::from_secs(self.timeout_secs),
            sensitive: false,
        }
    }
}

/// A compensation: commands run in order on one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UndoAction {
    pub host: String,
    pub commands: Vec<UndoExec>,
}

/// Long work started on a host that runs on without us (a snapshot restore): journaled before it
/// is waited for, so that no undo reverts what it needs while it still runs. `probe` is read-only
/// and prints, as its last line, `running` or `ended`; anything else (or no answer) counts as
/// running.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InFlight {
    pub id: u64,
    pub host: String,
    pub what: String,
    pub probe: UndoExec,
    /// The undo scope depth it was started in (scopes at or above it wait for it).
    #[serde(default)]
    pub depth: usize,
    /// When it may still run at most (Unix seconds: its start plus its own timeout, e.g. the
    /// restore's): a fired guard waits for it no longer (without one, [`crate::context::guard::CAP_SECS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
}

/// What a probe said about in-flight work.
#[derive(Debug, Clone, PartialEq)]
pub enum Probed {
    Running,
    Ended,
    /// The probe could not answer (host unreachable, unreadable output): counts as running.
    Unknown(String),
}

impl Probed {
    /// The probe's verdict from its stdout: the last non-empty line.
    pub fn from_output(stdout: &str) -> Self {
        match stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
            Some("running") => Probed::Running,
            Some("ended") => Probed::Ended,
            Some(other) => Probed::Unknown(format!("the probe answered `{other}`")),
            None => Probed::Unknown("the probe printed nothing".into()),
        }
    }
}

/// An undo pushed and not yet run.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: u64,
    pub description: String,
    pub action: UndoAction,
}

/// Nested undo scopes; the outermost is the run (or the REPL session) itself.
#[derive(Debug)]
pub struct UndoStack {
    next_id: u64,
    scopes: Vec<Vec<Pending>>,
}

impl UndoStack {
    pub fn new(next_id: u64) -> Self {
        Self {
            next_id,
            scopes: vec![Vec::new()],
        }
    }

    /// Open a scope; returns the depth to hand to [`UndoStack::close`].
    pub fn open(&mut self) -> usize {
        self.scopes.push(Vec::new());
        self.scopes.len() - 1
    }

    pub fn push(&mut self, description: String, action: UndoAction) -> Pending {
        let p = Pending {
            id: self.next_id,
            description,
            action,
        };
        self.next_id += 1;
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(p.clone());
        }
        p
    }

    /// Close the scope at `depth` (and any left open inside it): its actions, newest first.
    pub fn close(&mut self, depth: usize) -> Vec<Pending> {
        let mut out = Vec::new();
        while self.scopes.len() > depth.max(1) {
            if let Some(mut scope) = self.scopes.pop() {
                scope.reverse();
                out.extend(scope);
            }
        }
        if depth == 0 {
            if let Some(scope) = self.scopes.first_mut() {
                out.extend(scope.drain(..).rev());
            }
        }
        out
    }

    /// Take the innermost scope's actions (newest first), leaving the scope open: `undo::now()`.
    pub fn take_innermost(&mut self) -> Vec<Pending> {
        self.scopes
            .last_mut()
            .map(|s| s.drain(..).rev().collect())
            .unwrap_or_default()
    }

    /// How many scopes are open (1: only the run's own).
    pub fn depth(&self) -> usize {
        self.scopes.len()
    }

    /// Put back an undo an earlier attempt pushed, into the innermost scope (resume).
    pub fn adopt(&mut self, p: Pending) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(p);
        }
    }

    /// Everything pending, newest first, without running it (for `:undo` and the run's end).
    pub fn pending(&self) -> Vec<Pending> {
        self.scopes.iter().flatten().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(n: &str) -> UndoAction {
        UndoAction {
            host: n.into(),
            commands: vec![],
        }
    }

    #[test]
    fn scopes_unwind_newest_first() {
        let mut s = UndoStack::new(7);
        s.push("run-level".into(), action("a"));
        let d = s.open();
        s.push("one".into(), action("b"));
        s.push("two".into(), action("c"));
        let closed: Vec<_> = s
            .close(d)
            .into_iter()
            .map(|p| (p.id, p.description))
            .collect();
        assert_eq!(closed, [(9, "two".to_string()), (8, "one".to_string())]);
        let rest: Vec<_> = s.close(0).into_iter().map(|p| p.id).collect();
        assert_eq!(rest, [7]);
    }
}
