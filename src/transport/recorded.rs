//! A transport that records every command line it is given and answers from a script, for unit
//! tests of what a primitive sends (its commands, their order, their quoting, the undo it pushes
//! before a change) and of how it reads answers a lab cannot easily give (a rejected config, a
//! reload that fails after the change). The lab tests stay: they prove the commands work on real
//! hosts; these prove the glue around them, one failure path at a time.

use super::{Spawned, Transport, TransportError};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One command the transport was given: its line as the host's shell would receive it (the pid
/// announcement every command starts with taken off) and what was fed to its stdin.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub line: String,
    pub stdin: String,
}

/// How the scripted host answers a command.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Reply {
    /// Exit 0 with `stdout`.
    pub fn ok(stdout: &str) -> Self {
        Self {
            stdout: stdout.to_string(),
            ..Self::default()
        }
    }

    /// Exit `code` with `stderr`.
    pub fn exit(code: i32, stderr: &str) -> Self {
        Self {
            code,
            stderr: stderr.to_string(),
            ..Self::default()
        }
    }
}

type Answer = dyn Fn(&Call) -> Reply + Send + Sync;

/// Records calls and answers each with `answer`; clones share the record.
#[derive(Clone)]
pub struct Recorded {
    calls: Arc<Mutex<Vec<Call>>>,
    answer: Arc<Answer>,
}

impl Recorded {
    /// A host that answers every command with `answer(call)`.
    pub fn new(answer: impl Fn(&Call) -> Reply + Send + Sync + 'static) -> Self {
        Self {
            calls: Arc::default(),
            answer: Arc::new(answer),
        }
    }

    /// Every call so far, in the order the commands ended.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every command line so far.
    pub fn lines(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.line).collect()
    }
}

/// `line` without the pid announcement [`super::exec`] puts in front of every command.
fn unannounced(line: &str) -> &str {
    match line.find(">&2; ") {
        Some(at) if line.starts_with("printf '\\036runbook-pid") => &line[at + 5..],
        _ => line,
    }
}

#[async_trait::async_trait]
impl Transport for Recorded {
    async fn spawn(&self, line: &str, _bulk: bool) -> Result<Spawned, TransportError> {
        let (stdin, mut stdin_host) = tokio::io::duplex(64 * 1024);
        let (mut stdout_host, stdout) = tokio::io::duplex(64 * 1024);
        let (mut stderr_host, stderr) = tokio::io::duplex(64 * 1024);
        let (done, exited) = tokio::sync::oneshot::channel();
        let (calls, answer, line) = (
            self.calls.clone(),
            self.answer.clone(),
            unannounced(line).to_string(),
        );
        // The "host": reads the whole stdin, then answers, like a command that reads before it writes.
        tokio::spawn(async move {
            let mut fed = Vec::new();
            let _ = stdin_host.read_to_end(&mut fed).await;
            let call = Call {
                line,
                stdin: String::from_utf8_lossy(&fed).into_owned(),
            };
            let reply = answer(&call);
            calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
            let _ = stdout_host.write_all(reply.stdout.as_bytes()).await;
            let _ = stderr_host.write_all(reply.stderr.as_bytes()).await;
            drop((stdout_host, stderr_host));
            let _ = done.send(reply.code);
        });
        Ok(Spawned {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            wait: Box::pin(async move {
                exited
                    .await
                    .map_err(|_| std::io::Error::other("the scripted host went away"))
            }),
        })
    }
}
