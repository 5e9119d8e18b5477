//! The Local transport: runs command lines on this machine through `sh -c`, exactly as a remote
//! login shell would receive them, so quoting and sudo behave the same as over SSH.

use super::{BoxRead, Spawned, Transport, TransportError};
use std::process::Stdio;

/// Runs command lines on this machine.
pub struct Local {
    /// The inventory's name for this machine, for error messages.
    pub host: String,
}

#[async_trait::async_trait]
impl Transport for Local {
    async fn spawn(&self, line: &str, bulk: bool) -> Result<Spawned, TransportError> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so a command cut short is stopped with all it started.
            .process_group(0)
            .spawn()
            .map_err(|e| TransportError::Io {
                host: self.host.clone(),
                message: format!("cannot start sh: {e}"),
            })?;
        let missing = || TransportError::Io {
            host: self.host.clone(),
            message: "child has no piped stdio".into(),
        };
        let (stdin, stdout) = super::boxed_stdio(
            child.stdin.take().ok_or_else(missing)?,
            child.stdout.take().ok_or_else(missing)?,
            bulk,
        );
        let stderr: BoxRead = Box::new(child.stderr.take().ok_or_else(missing)?);
        Ok(Spawned {
            stdin,
            stdout,
            stderr,
            wait: Box::pin(async move {
                let status = child.wait().await?;
                Ok(status.code().unwrap_or(-1))
            }),
        })
    }
}
