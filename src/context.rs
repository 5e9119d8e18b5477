//! The state one run (or REPL session) shares between the runner and every primitive: mode,
//! inventory, settings and the runbook's model, with what executes commands ([`Executor`]: the
//! runtime, the transports, Ctrl-C, the redactor) and what records them ([`Recorder`]: the
//! journal, the undo stack, in-flight work), and the one place commands execute
//! ([`Ctx::exec_async`]), which uses both.

use crate::answers::Answers;
use crate::error::{Error, Kind, Result};
use crate::inventory::{HostInfo, Inventory};
use crate::journal::{Event, Journal};
use crate::secret::{Redactor, Secret};
#[cfg(test)]
use crate::transport::Factory;
use crate::transport::{
    self, ssh::SshOptions, ExecRequest, LineSink, Outcome, Transport, TransportError,
};
use crate::undo::{Pending, UndoAction};
use rhai::EvalAltResult;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What executing a command means in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Probes and mutations run.
    Run,
    /// Dry run: probes run for real, mutations are printed and recorded, not run.
    Plan,
    /// Nothing touches a host: every command is printed (plan --offline, check).
    Offline,
}

/// Whether a command only reads (a probe) or changes a host (a mutation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Probe,
    Mutation,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Answer pauses and confirmations with yes (non-interactive runs).
    pub yes: bool,
    /// Answer pauses and confirmations from a file (`--answers`): the only source of answers then.
    pub answers: Option<Arc<Answers>>,
    /// A person is at a terminal (prompts possible, progress bars and live output shown).
    pub interactive: bool,
    pub default_timeout: Duration,
    pub ssh: SshOptions,
    /// Hosts worked on at once by the `*_all` primitives.
    pub parallel: usize,
    /// Show remote output live, prefixed by host.
    pub live_output: bool,
    /// What a failed step does before it fails the run (none: it fails the run).
    pub recovery: Option<Recovery>,
    /// `--lease`: seconds without a heartbeat after which a run's host lease counts as stale.
    pub lease_secs: u64,
    /// `--break-lease`: take over a host lease another run holds (journaled).
    pub break_lease: bool,
}

/// A hook a failed step calls before its failure goes on: the layer that starts a run hands it
/// down (the CLI gives the REPL's recovery prompt), so primitives never reach up to the REPL.
pub trait StepRecovery: Send + Sync {
    /// `step` failed with `error`. `Ok` goes on with the next step, `Err` fails the step (the
    /// hook passes `error` on when it does not apply); `retry` runs the step again.
    fn step_failed(
        &self,
        ctx: &Arc<Ctx>,
        step: &str,
        error: Box<EvalAltResult>,
        retry: &dyn Fn() -> std::result::Result<(), Box<EvalAltResult>>,
    ) -> std::result::Result<(), Box<EvalAltResult>>;
}

/// A [`StepRecovery`] in [`Settings`] (cloned with them, shown by name in debug output).
#[derive(Clone)]
pub struct Recovery(pub Arc<dyn StepRecovery>);

impl std::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recovery(..)")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            yes: false,
            answers: None,
            interactive: false,
            default_timeout: Duration::from_secs(120),
            ssh: SshOptions::default(),
            parallel: 16,
            live_output: false,
            recovery: None,
            lease_secs: 300,
            break_lease: false,
        }
    }
}

/// A parameter a runbook declared with `param(name, help, default)`.
#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub name: String,
    pub help: String,
    pub default: String,
}

/// A step a runbook declared with `step(name, description, || …)`.
#[derive(Debug, Clone)]
pub struct StepDecl {
    pub name: String,
    pub description: String,
}

/// Which declared steps this run executes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub from: Option<String>,
    /// Steps a previous attempt of this run finished (resume).
    pub finished: Vec<String>,
    /// Ask before each step (`--step`).
    pub confirm_each: bool,
}

/// What running the script's top level does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// `step()` runs the selected steps.
    #[default]
    Running,
    /// Only collecting declarations (`check`, `show`, the first pass of `run`, a runbook loaded
    /// into the REPL): no step runs, no host is touched.
    Declaring,
}

/// Puts the phase that was before back when dropped (also on an early return or a panic); see
/// [`Ctx::enter`].
pub struct PhaseGuard<'a> {
    ctx: &'a Ctx,
    before: Phase,
}

impl Drop for PhaseGuard<'_> {
    fn drop(&mut self) {
        self.ctx.model().phase = self.before;
    }
}

/// The runbook model as the script declares it.
#[derive(Debug, Default)]
pub struct Model {
    pub phase: Phase,
    pub params: Vec<ParamDecl>,
    pub steps: Vec<StepDecl>,
    pub selection: Selection,
    /// Set once `--from` has been reached.
    pub from_reached: bool,
    pub current_step: Option<String>,
    /// A probe in the current step was shown, not run (`plan --offline`): its output is empty.
    pub offline_probed: bool,
}

pub struct Ctx {
    pub mode: Mode,
    pub inventory: Inventory,
    pub settings: Settings,
    /// How commands run: the runtime, the transports, Ctrl-C, the redactor.
    pub executor: Executor,
    /// What the run keeps: the journal, the undo stack, in-flight work.
    pub recorder: Recorder,
    pub model: Mutex<Model>,
    /// `--set name=value` overrides.
    pub overrides: BTreeMap<String, String>,
    pub secrets: HashMap<String, Secret>,
    /// The hosts this run holds a lease on (see `lease.rs`).
    leases: Mutex<lease::Leases>,
    /// The hosts this run armed a guard on (see `guard.rs`).
    guards: Mutex<guard::Guards>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Ctx {
    fn drop(&mut self) {
        self.release_leases();
        self.executor.close_transports();
    }
}

impl Ctx {
    pub fn new(mode: Mode, inventory: Inventory, settings: Settings) -> Result<Self> {
        Ok(Self {
            mode,
            inventory,
            settings,
            executor: Executor::new()?,
            recorder: Recorder::default(),
            model: Mutex::new(Model::default()),
            overrides: BTreeMap::new(),
            secrets: HashMap::new(),
            leases: Mutex::new(lease::Leases::default()),
            guards: Mutex::new(guard::Guards::default()),
        })
    }

    /// Get transports from `factory` instead of the inventory's kinds (a recording transport in
    /// unit tests).
    #[cfg(test)]
    pub fn with_transports(mut self, factory: Factory) -> Self {
        self.executor.set_factory(factory);
        self
    }

    /// Masks secrets in everything shown or journaled.
    pub fn redactor(&self) -> &Redactor {
        &self.executor.redactor
    }

    /// Ctrl-C: the token the running call and the engine watch.
    pub fn cancel(&self) -> &Cancel {
        &self.executor.cancel
    }

    pub fn add_secret(&mut self, secret: Secret) {
        self.executor.redactor.add(&secret);
        self.secrets.insert(secret.name().to_string(), secret);
    }

    pub fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        lock(&self.model)
    }

    /// Be in `phase` until the returned guard drops.
    pub fn enter(&self, phase: Phase) -> PhaseGuard<'_> {
        let before = std::mem::replace(&mut self.model().phase, phase);
        PhaseGuard { ctx: self, before }
    }

    /// Whether the script only declares now (no step runs, no host is touched).
    pub fn declaring(&self) -> bool {
        self.model().phase == Phase::Declaring
    }

    /// Wait for async `work` from synchronous code (Rhai functions, Drop): the one place the
    /// run's runtime is entered.
    pub fn wait<F: std::future::Future>(&self, work: F) -> F::Output {
        self.executor.wait(work)
    }

    /// Run `work` in the background on the run's runtime (it ends with the process at the latest).
    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, work: F) {
        self.executor.spawn(work);
    }

    /// Journal to `journal` from now on; undo ids continue at `next_undo_id`.
    pub fn set_journal(&self, journal: Journal, next_undo_id: u64) {
        self.recorder.set_journal(journal, next_undo_id);
    }

    /// Journal an event; a journal that cannot be written stops the run (nothing may go unrecorded).
    pub fn record(&self, event: Event) -> Result<()> {
        self.recorder.record(event)
    }

    /// Journal an event during an undo: a journal that cannot be written must not stop the undo
    /// (it is the last line of defence); the first failure is said now and reported by
    /// [`Ctx::run_undo`] at its end.
    fn record_during_undo(&self, event: Event) {
        if let Some(lost) = self.recorder.record_during_undo(event) {
            self.say(&format!("✗ {lost}: the undo goes on unrecorded"));
        }
    }

    pub fn current_step(&self) -> Option<String> {
        self.model().current_step.clone()
    }

    /// Print a status line for the operator (stderr), redacted.
    pub fn say(&self, text: &str) {
        errln!("{}", self.executor.redactor.redact(text));
    }

    /// The host's transport, connected lazily on first use and reused after.
    pub fn transport(&self, host: &Arc<HostInfo>) -> Arc<dyn Transport> {
        self.executor.transport(host, &self.settings.ssh)
    }

    fn sink(&self, host: &str) -> Option<LineSink> {
        if !self.settings.live_output {
            return None;
        }
        let redactor = self.executor.redactor.clone();
        let host = host.to_string();
        Some(Arc::new(move |line: &str, _is_err: bool| {
            errln!("  {host} | {}", redactor.redact(line));
        }))
    }

    /// Whether a command with this effect really runs in this mode (else it is only shown).
    pub fn executes(&self, effect: Effect) -> bool {
        match self.mode {
            Mode::Run => true,
            Mode::Plan => effect == Effect::Probe,
            Mode::Offline => false,
        }
    }

    /// Show a change a dry run would make (on stdout: it is the plan's output).
    pub fn show_planned(&self, host: &str, what: &str) {
        outln!("  {host}: {}", self.executor.redactor.redact(what));
    }

    /// Run a command on a host: the one place every primitive's commands go through.
    /// Honours the mode (a dry run only shows mutations), the deadline and Ctrl-C, and journals it.
    pub async fn exec_async(
        &self,
        host: &Arc<HostInfo>,
        req: &ExecRequest,
        effect: Effect,
        cancel: &CancellationToken,
    ) -> std::result::Result<Outcome, TransportError> {
        self.exec_journaled(host, req, effect, cancel, false).await
    }

    /// [`Ctx::exec_async`]; `undoing`: a journal failure is kept for later, not returned.
    async fn exec_journaled(
        &self,
        host: &Arc<HostInfo>,
        req: &ExecRequest,
        effect: Effect,
        cancel: &CancellationToken,
        undoing: bool,
    ) -> std::result::Result<Outcome, TransportError> {
        let shown = req.command.display(req.sudo);
        if self.declaring() {
            return Err(TransportError::OutsideStep);
        }
        if !self.executes(effect) {
            let tag = if effect == Effect::Probe {
                self.model().offline_probed = true;
                " (probe, offline)"
            } else {
                ""
            };
            self.show_planned(&host.name, &format!("{shown}{tag}"));
            if effect == Effect::Mutation {
                self.plan_lease(host);
            }
            return Ok(Outcome::Planned);
        }
        if effect == Effect::Mutation && self.mode == Mode::Run {
            self.ensure_lease(host, cancel).await?;
        }
        let transport = self.transport(host);
        let result = transport::exec(
            transport.as_ref(),
            &host.name,
            req,
            cancel,
            if req.sensitive {
                None
            } else {
                self.sink(&host.name)
            },
        )
        .await;
        let stopped = result.as_ref().err().and_then(TransportError::stopped);
        let (code, error, duration, out, err) = match &result {
            Ok(o) => (
                Some(o.code),
                None,
                o.duration,
                o.stdout.as_str(),
                o.stderr.as_str(),
            ),
            Err(e) => (None, Some(e.to_string()), Duration::ZERO, "", ""),
        };
        let (out, err) = if req.sensitive {
            ("(sensitive output not kept)", "")
        } else {
            (out, err)
        };
        let event = Event::Command {
            step: self.current_step(),
            host: host.name.clone(),
            command: shown,
            code,
            error,
            duration_ms: duration.as_millis() as u64,
            stdout_tail: transport::tail(out, 20, &self.executor.redactor),
            stderr_tail: transport::tail(err, 20, &self.executor.redactor),
            stopped,
        };
        if undoing {
            self.record_during_undo(event);
        } else if let Err(e) = self.record(event) {
            return Err(TransportError::Journal {
                message: e.message(),
            });
        }
        result.map(Outcome::Ran)
    }

    /// Blocking form of [`Ctx::exec_async`] for Rhai functions, cancelled by Ctrl-C.
    pub fn exec(
        &self,
        host: &Arc<HostInfo>,
        req: &ExecRequest,
        effect: Effect,
    ) -> std::result::Result<Outcome, TransportError> {
        self.wait(self.exec_async(host, req, effect, &self.executor.cancel))
    }

    /// Record an undo *before* the change it undoes; returns its id.
    pub fn push_undo(&self, description: &str, action: UndoAction) -> Result<u64> {
        if self.mode != Mode::Run {
            self.show_planned(&action.host, &format!("(undo later: {description})"));
        }
        let pending = self
            .recorder
            .undo()
            .push(description.to_string(), action.clone());
        self.record(Event::UndoPush {
            id: pending.id,
            step: self.current_step(),
            host: action.host.clone(),
            description: description.to_string(),
            action: action.clone(),
        })?;
        // Inside a window, the host's dead man's switch carries it too.
        if self.recorder.undo().depth() > 1 {
            self.arm_guard(&action.host)?;
        }
        Ok(pending.id)
    }

    /// Run compensations (newest first), each to the end even if Ctrl-C was pressed or the
    /// journal cannot be written; returns the first failure after trying them all (an undo that
    /// failed, else a journal that could not record it). `after_failure`: their scope failed or
    /// was interrupted.
    pub fn run_undo(&self, pending: Vec<Pending>, after_failure: bool) -> Result<()> {
        let mut failures = Vec::new();
        for p in pending {
            self.say(&format!("↺ undo: {}", p.description));
            let outcome = self.run_undo_action(&p.action);
            let error = outcome.as_ref().err().map(Error::message);
            self.record_during_undo(Event::UndoPop {
                id: p.id,
                ok: outcome.is_ok(),
                error: error.clone(),
                after_failure,
            });
            if let Some(e) = error {
                self.say(&format!("✗ undo failed: {}: {e}", p.description));
                failures.push(format!("{}: {e}", p.description));
            }
        }
        let lost = self.recorder.take_lost();
        if failures.is_empty() {
            return match lost {
                None => Ok(()),
                Some(e) => Err(Error::new(
                    Kind::Journal,
                    format!("the undo ran to the end, but {}", e.message()),
                )
                .with_help("free space under the state dir; the journal may still list this undo as pending, and `runbook revert` would run it again (it puts back the same state)")),
            };
        }
        let unrecorded = lost
            .map(|e| format!("\n(and {})", e.message()))
            .unwrap_or_default();
        Err(Error::new(
            Kind::Undo,
            format!(
                "undo failed, hosts may keep a temporary change:\n  {}{unrecorded}",
                failures.join("\n  ")
            ),
        )
        .with_help("fix the cause, then `runbook revert` runs the remaining undo again"))
    }

    fn run_undo_action(&self, action: &UndoAction) -> Result<()> {
        let host = self.inventory.host(&action.host)?;
        let never = CancellationToken::new();
        for cmd in &action.commands {
            let req = cmd.request();
            let out = self
                .wait(self.exec_journaled(&host, &req, Effect::Mutation, &never, true))
                .map_err(|e| Error::remote(&host.name, None, None, "", e.to_string()))?;
            // Planned (a dry run's undo): shown, nothing to check.
            let Outcome::Ran(out) = out else { continue };
            if out.code != 0 {
                let (command, stderr) = (
                    req.command.display(req.sudo),
                    transport::tail(&out.stderr, 5, &self.executor.redactor),
                );
                let message = format!("`{command}` exited with {}: {stderr}", out.code);
                return Err(Error::remote(
                    &host.name,
                    Some(command),
                    Some(out.code),
                    &stderr,
                    message,
                ));
            }
        }
        Ok(())
    }
}

mod executor;
mod guard;
mod inflight;
mod interrupt;
mod lease;
mod recorder;
pub use executor::{Cancel, Executor};
pub use inflight::{describe, UndoOutcome};
pub use recorder::Recorder;

#[cfg(test)]
mod tests;
