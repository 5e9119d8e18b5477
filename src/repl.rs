//! `runbook repl`: the runbook primitives at a prompt, for manual recovery — check Patroni, revert
//! the timeouts, start one manager, copy the snapshot again — without writing a script.
//!
//! A session is a run like any other: same engine, primitives, stdlib and inventory, Mode::Run,
//! its own run folder and journal (so every command typed is journaled, secrets redacted, and
//! `runbook log`/`runbook revert` work on it). `--run RUN` attaches to an earlier run instead: its
//! journal, its runbook, and the undo it left pending. A failed step of an interactive `run` opens
//! the same REPL on the live run (see [`Prompt`], the hook the CLI hands to `run` and `resume`).

mod complete;
mod recover;
mod session;
mod show;

pub use recover::Prompt;

use crate::context::{Mode, Settings};
use crate::error::{Error, Result};
use crate::journal::{self, Event, RunDir, RunMeta};
use crate::runbook;
use crate::runner::{self, Invocation, Run};
use session::{LineEditor, Session};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

/// What `runbook repl` was given.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The inventory (`-i`); without one, only `local` exists.
    pub inventory: Option<PathBuf>,
    /// A bundled runbook's name or a file: its steps for `:run`, its variables in scope.
    pub runbook: Option<String>,
    /// Attach to this run (id or folder) instead of starting a session of its own.
    pub run: Option<String>,
    /// `--set name=value` parameter overrides.
    pub sets: Vec<String>,
    /// `--set-secret NAME=SOURCE` secrets.
    pub secrets: Vec<String>,
    /// How commands run (timeouts, SSH, live output).
    pub settings: Settings,
    /// Where run folders live (`--state-dir`).
    pub state_dir: Option<PathBuf>,
}

thread_local! {
    /// REPL sessions open on this thread: a step failing inside one reports its error there
    /// instead of opening another recovery prompt.
    static SESSIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts a session as open while it lives.
struct Active;

impl Active {
    fn enter() -> Self {
        SESSIONS.set(SESSIONS.get() + 1);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        SESSIONS.set(SESSIONS.get().saturating_sub(1));
    }
}

/// The history file: `$XDG_STATE_HOME/runbook/repl_history` (or ~/.local/state/…).
fn history_path() -> Option<PathBuf> {
    let dir = dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))?
        .join("runbook");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("repl_history"))
}

/// A line editor with completion for `session`, and the history loaded.
fn editor(session: &Session) -> Result<LineEditor> {
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .max_history_size(5000)
        .map_err(|e| Error::usage(format!("line editor: {e}")))?
        .build();
    let mut rl = keeping_sigint(|| LineEditor::with_config(config))
        .map_err(|e| Error::io("cannot open the line editor", e))?;
    rl.set_helper(Some(complete::Helper::new(session.words())));
    if let Some(path) = history_path() {
        let _ = rl.load_history(&path);
    }
    Ok(rl)
}

/// Make a line editor without letting it take SIGINT. rustyline installs its own handler for as
/// long as an editor exists (to wake a prompt that, in raw mode, never gets the signal anyway); it
/// would swallow the Ctrl-C meant to stop a running line. The handler in place before (runbook's,
/// through signal-hook) is put back, and rustyline restores that same one when the editor drops.
/// (rustyline's `signal-hook` feature avoids this, but then loses typed-ahead input.)
fn keeping_sigint<T>(make: impl FnOnce() -> T) -> T {
    // SAFETY: `sigaction` only reads the current disposition into `before` (zeroed, then fully
    // written), and later re-installs exactly that disposition.
    let mut before: libc::sigaction = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut before) };
    let made = make();
    unsafe { libc::sigaction(libc::SIGINT, &before, std::ptr::null_mut()) };
    made
}

fn save_history(rl: &mut LineEditor) {
    if let Some(path) = history_path() {
        if let Err(e) = rl.save_history(&path) {
            errln!(
                "warning: cannot save the history to {}: {e}",
                path.display()
            );
        }
    }
}

/// Ctrl-C while a line runs stops that call (the engine and every remote call watch the token);
/// at the prompt the line editor sees it as a key instead.
fn install_interrupt(ctx: &Arc<crate::context::Ctx>) {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT]) else {
        return;
    };
    let cancel = ctx.cancel().clone();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            errln!("\ninterrupted: stopping the running call");
            cancel.cancel();
        }
    });
}

/// `runbook repl`.
pub fn repl(opts: &Options) -> Result<()> {
    let root = RunDir::root(opts.state_dir.as_deref());
    let (mut session, id, attached) = match &opts.run {
        Some(run_id) => attach(opts, &root, run_id)?,
        None => start(opts, &root)?,
    };
    install_interrupt(&session.ctx);
    let mut rl = editor(&session)?;
    let ctx = session.ctx.clone();
    let inventory = ctx
        .inventory
        .path
        .as_ref()
        .map_or_else(|| "no inventory".into(), |p| p.display().to_string());
    errln!(
        "runbook repl, {} {id} (`runbook log {id}` shows its journal)",
        if attached {
            "attached to run"
        } else {
            "session"
        },
    );
    errln!(
        "inventory {inventory} ({} hosts){}",
        ctx.inventory.hosts().len(),
        session
            .runbook_summary()
            .map(|s| format!(", runbook {s}"))
            .unwrap_or_default()
    );
    if !session.attached.is_empty() {
        errln!(
            "the run left {} temporary change(s) pending: `:undo` reverts them",
            session.attached.len()
        );
    }
    errln!(":help lists commands; Tab completes; Ctrl-C stops a running call; Ctrl-D quits");
    session.interact(&mut rl);
    save_history(&mut rl);
    let left = finish_pending(&mut session, &mut rl, &id);
    let end = if attached {
        Event::Note {
            step: None,
            message: "repl: detached".into(),
        }
    } else {
        Event::RunEnd {
            ok: left == 0,
            error: (left > 0).then(|| format!("{left} temporary change(s) left in place")),
        }
    };
    ctx.record(end)
}

/// A session of its own: a run folder named `…-repl`, the runbook (if any) loaded.
fn start(opts: &Options, root: &std::path::Path) -> Result<(Session, String, bool)> {
    if opts.inventory.is_none() {
        return Err(Error::usage("runbook repl needs an inventory")
            .with_help("pass -i INVENTORY, or --run RUN to attach to a run"));
    }
    let inv = Invocation {
        runbook: opts.runbook.clone().unwrap_or_default(),
        inventory: opts.inventory.clone(),
        sets: opts.sets.clone(),
        secrets: opts.secrets.clone(),
        settings: opts.settings.clone(),
        state_dir: opts.state_dir.clone(),
        ..Invocation::default()
    };
    let (ctx, loaded, secrets) = match &opts.runbook {
        Some(spec) => {
            let source = runbook::load(spec)?;
            let (ctx, script, secrets) = runner::prepare(Mode::Run, &source, &inv)?;
            (ctx, Some((source, script)), secrets)
        }
        None => {
            let (ctx, secrets) = runner::context(Mode::Run, &inv)?;
            (Arc::new(ctx), None, secrets)
        }
    };
    let (name, text, module_dir) = match &loaded {
        Some((s, _)) => (s.name.clone(), s.text.clone(), s.module_dir.clone()),
        None => ("repl".to_string(), String::new(), None),
    };
    let meta = RunMeta {
        runbook: name,
        module_dir,
        inventory: ctx.inventory.path.clone(),
        params: ctx.overrides.clone(),
        secrets,
        created: journal::now(),
        ..RunMeta::default()
    };
    let run = Run::create(root, "repl", meta, &text, &ctx, "repl")?;
    let session = Session::new(&ctx, loaded, None);
    Ok((session, run.meta.id, false))
}

/// Attach to an earlier run: its runbook, inventory and parameters, its journal, and the undo it
/// left pending (`:undo` runs it, journaled under the ids it was pushed with).
fn attach(opts: &Options, root: &std::path::Path, run_id: &str) -> Result<(Session, String, bool)> {
    let run = Run::find(root, Some(run_id))?;
    let (source, mut inv) = runner::reopen(&run, &opts.secrets, &opts.settings)?;
    if opts.inventory.is_some() {
        inv.inventory = opts.inventory.clone();
    }
    inv.sets.extend(opts.sets.iter().cloned());
    let replay = journal::replay(&journal::read(&run.dir.journal_path())?);
    let (ctx, loaded) = if source.text.trim().is_empty() {
        // A REPL session's own folder: no runbook to load.
        let (ctx, _) = runner::context(Mode::Run, &inv)?;
        (Arc::new(ctx), None)
    } else {
        let (ctx, script, _) = runner::prepare(Mode::Run, &source, &inv)?;
        (ctx, Some((source, script)))
    };
    run.attach(&ctx, replay.next_undo_id)?;
    ctx.record(Event::Note {
        step: None,
        message: "repl: attached (runbook repl --run)".into(),
    })?;
    let mut session = Session::new(&ctx, loaded, None);
    session.attached = replay.pending();
    Ok((session, run.meta.id, true))
}

/// On leaving with temporary changes still in place: offer to undo them (at a terminal), else say
/// how to later. Returns how many are left.
fn finish_pending(session: &mut Session, rl: &mut LineEditor, id: &str) -> usize {
    let pending = session.pending();
    if pending == 0 {
        return 0;
    }
    let ctx = session.ctx.clone();
    if ctx.settings.interactive && !ctx.settings.yes {
        let question =
            format!("{pending} temporary change(s) still in place: undo them now? [y/N] ");
        if let Ok(answer) = rl.readline(&question) {
            if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                session.undo();
                return session.pending();
            }
        }
    }
    errln!(
        "warning: {pending} temporary change(s) left in place; `runbook revert {id}` undoes them"
    );
    pending
}

#[cfg(test)]
mod tests {
    use crate::context::Cancel;

    #[test]
    fn a_renewed_cancel_is_live_again_and_shared_by_clones() {
        let cancel = Cancel::default();
        let seen_by_engine = cancel.clone();
        cancel.renew(); // live: nothing to renew
        cancel.cancel();
        assert!(seen_by_engine.is_cancelled());
        cancel.renew();
        assert!(!cancel.is_cancelled() && !seen_by_engine.is_cancelled());
        seen_by_engine.cancel();
        assert!(cancel.is_cancelled());
    }
}
