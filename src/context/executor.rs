//! How commands run: the one async runtime (the only place it is entered), the hosts'
//! transports, Ctrl-C, and the redactor every line shown or kept passes through.

use super::lock;
use crate::error::{Error, Result};
use crate::inventory::HostInfo;
use crate::secret::Redactor;
use crate::transport::{self, ssh::SshOptions, Factory, Transport};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio_util::sync::CancellationToken;

/// The cancellation of a run: derefs to the current [`CancellationToken`], so it is used like one
/// (`&ctx.cancel`, `ctx.cancel.cancel()`), and clones share it.
///
/// A run is cancelled once, for good. A REPL session is not: Ctrl-C stops the line being run, and
/// [`Cancel::renew`] then puts a fresh token in place so the next line is not born cancelled.
/// Tokens are chained, never freed before the `Cancel` (one per interrupted line), so a reference
/// to the current one stays valid without a lock.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelLink>);

#[derive(Default)]
struct CancelLink {
    token: CancellationToken,
    next: OnceLock<Box<CancelLink>>,
}

impl Cancel {
    fn current(&self) -> &CancelLink {
        let mut link: &CancelLink = &self.0;
        while let Some(next) = link.next.get() {
            link = next;
        }
        link
    }

    /// Replace a cancelled token by a fresh one (nothing happens while the current one is live).
    /// Holders of the old token, if any, still see it cancelled.
    pub fn renew(&self) {
        let current = self.current();
        if current.token.is_cancelled() {
            let _ = current.next.set(Box::default());
        }
    }
}

impl std::ops::Deref for Cancel {
    type Target = CancellationToken;

    fn deref(&self) -> &CancellationToken {
        &self.current().token
    }
}

/// The runtime, the connections, cancellation and redaction of one run.
pub struct Executor {
    /// Masks secrets in everything shown or journaled.
    pub redactor: Redactor,
    /// Ctrl-C: the token the running call and the engine watch (derefs to the current one).
    pub cancel: Cancel,
    /// The one runtime: entered only through [`Executor::wait`].
    rt: tokio::runtime::Runtime,
    transports: Mutex<HashMap<String, Arc<dyn Transport>>>,
    /// Makes a host's transport on first use.
    factory: Factory,
}

impl Executor {
    /// A runtime of two workers, no connection yet, transports as the inventory names them.
    pub fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the async runtime", e))?;
        Ok(Self {
            redactor: Redactor::default(),
            cancel: Cancel::default(),
            rt,
            transports: Mutex::new(HashMap::new()),
            factory: Arc::new(transport::for_host),
        })
    }

    /// Get transports from `factory` instead (a recording transport in unit tests).
    #[cfg(test)]
    pub fn set_factory(&mut self, factory: Factory) {
        self.factory = factory;
    }

    /// Wait for async `work` from synchronous code (Rhai functions, Drop): the one place the
    /// run's runtime is entered.
    pub fn wait<F: std::future::Future>(&self, work: F) -> F::Output {
        self.rt.block_on(work)
    }

    /// Run `work` in the background on the run's runtime (it ends with the process at the latest).
    pub fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, work: F) {
        self.rt.spawn(work);
    }

    /// The host's transport, connected lazily on first use and reused after.
    pub fn transport(&self, host: &Arc<HostInfo>, ssh: &SshOptions) -> Arc<dyn Transport> {
        let mut map = lock(&self.transports);
        map.entry(host.name.clone())
            .or_insert_with(|| (self.factory)(host, ssh))
            .clone()
    }

    /// Close every connection the run opened, all at once.
    pub fn close_transports(&self) {
        let transports: Vec<_> = lock(&self.transports).drain().map(|(_, t)| t).collect();
        if transports.is_empty() {
            return;
        }
        self.wait(futures::future::join_all(
            transports.iter().map(|t| t.close()),
        ));
    }
}
