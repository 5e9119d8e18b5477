//! The SSH transport: one multiplexed OpenSSH session per host (the system `ssh`, so the user's
//! ~/.ssh/config, agent and known_hosts apply), opened lazily on first use, reused by every
//! primitive, closed at the end of the run.

use super::{BoxRead, Spawned, Transport, TransportError};
use crate::inventory::HostInfo;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Connection settings that come from the command line rather than the inventory.
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Accept and remember unknown host keys (`StrictHostKeyChecking=accept-new`); strict otherwise.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        Self {
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

pub struct Ssh {
    host: Arc<HostInfo>,
    options: SshOptions,
    /// The multiplexed connection; replaced when it is found dead (master killed, network lost).
    session: Mutex<Option<Arc<Session>>>,
}

impl Ssh {
    pub fn new(host: Arc<HostInfo>, options: SshOptions) -> Self {
        Self {
            host,
            options,
            session: Mutex::new(None),
        }
    }

    fn connect_error(&self, message: String) -> TransportError {
        TransportError::Connect {
            host: self.host.describe(),
            message,
        }
    }

    /// The live session, connecting (or reconnecting, with `fresh`) when needed.
    async fn session(&self, fresh: bool) -> Result<Arc<Session>, TransportError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref().filter(|_| !fresh) {
            return Ok(s.clone());
        }
        let session = self.connect().await?;
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn connect(&self) -> Result<Arc<Session>, TransportError> {
        let h = &self.host;
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if self.options.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .connect_timeout(self.options.connect_timeout)
        .server_alive_interval(Duration::from_secs(5))
        // A master left behind by a killed runbook exits on its own once idle; a live run whose
        // master went idle reconnects (see `spawn`).
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(300).unwrap_or(NonZeroUsize::MIN),
        ));
        if let Some(u) = &h.user {
            b.user(u.clone());
        }
        if let Some(p) = h.port {
            b.port(p);
        }
        if let Some(k) = &h.identity_file {
            b.keyfile(k);
        }
        if let Some(k) = &h.known_hosts_file {
            b.user_known_hosts_file(k);
        }
        if let Some(c) = &h.ssh_config {
            b.config_file(c);
        }
        // ssh's ConnectTimeout does not bound a server that accepts TCP and then stalls.
        let deadline = self.options.connect_timeout + Duration::from_secs(5);
        match tokio::time::timeout(deadline, b.connect_mux(&h.address)).await {
            Ok(Ok(s)) => Ok(Arc::new(s)),
            Ok(Err(e)) => Err(self.connect_error(describe_openssh_error(&e))),
            Err(_) => Err(self.connect_error(format!(
                "no SSH handshake within {} s (host frozen or overloaded?)",
                deadline.as_secs()
            ))),
        }
    }
}

/// openssh wraps ssh's own message several levels deep; show all of it, on one line.
fn describe_openssh_error(e: &openssh::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(text.trim());
        }
        source = s.source();
    }
    msg.replace('\n', " ")
}

#[async_trait::async_trait]
impl Transport for Ssh {
    /// Stop the master (`ssh -O exit`). Dropping the session would do the same, but blocking
    /// and one host after another: at 100 hosts that alone cost half a second.
    async fn close(&self) {
        let Some(session) = self.session.lock().await.take() else {
            return;
        };
        // Still shared (a command outliving the run)? Then its drop ends the master later.
        if let Ok(session) = Arc::try_unwrap(session) {
            if let Err(e) = session.close().await {
                tracing::debug!(host = %self.host.describe(), "closing the SSH master: {e}");
            }
        }
    }

    async fn spawn(&self, line: &str, bulk: bool) -> Result<Spawned, TransportError> {
        let start = |session: Arc<Session>| async move {
            Session::to_raw_command(session, line)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .await
        };
        let session = self.session(false).await?;
        let mut child = match start(session.clone()).await {
            Ok(child) => child,
            // The master connection died (dropped, host rebooted): reconnect once.
            Err(_) if session.check().await.is_err() => start(self.session(true).await?)
                .await
                .map_err(|e| TransportError::Io {
                    host: self.host.describe(),
                    message: describe_openssh_error(&e),
                })?,
            Err(e) => {
                return Err(TransportError::Io {
                    host: self.host.describe(),
                    message: describe_openssh_error(&e),
                })
            }
        };
        let host = self.host.describe();
        let missing = || TransportError::Io {
            host: host.clone(),
            message: "remote child has no piped stdio".into(),
        };
        let (stdin, stdout) = super::boxed_stdio(
            child.stdin().take().ok_or_else(missing)?,
            child.stdout().take().ok_or_else(missing)?,
            bulk,
        );
        let stderr: BoxRead = Box::new(child.stderr().take().ok_or_else(missing)?);
        Ok(Spawned {
            stdin,
            stdout,
            stderr,
            wait: Box::pin(async move {
                match child.wait().await {
                    Ok(status) => Ok(status.code().unwrap_or(-1)),
                    Err(e) => Err(std::io::Error::other(describe_openssh_error(&e))),
                }
            }),
        })
    }
}
