//! Recovery on a failed step: when a step fails in an interactive run, the operator chooses —
//! `retry` it, `skip` it, open a `repl` on the live run (same context: SSH sessions, journal,
//! inventory, undo stack) to fix things by hand, or `abort` (the failure goes on as without a
//! terminal: the `temporarily` scopes and the run's undo run, then runbook exits). Every choice is
//! journaled.

use super::session::{Leave, Session};
use super::{editor, keeping_sigint, save_history, SESSIONS};
use crate::context::{Ctx, Mode, StepRecovery};
use crate::journal::{Event, RunDir};
use crate::prims::RhaiResult;
use crate::runner::Run;
use rhai::EvalAltResult;
use std::sync::Arc;

/// The recovery prompt as the hook a run calls on a failed step (see [`StepRecovery`]).
pub struct Prompt;

impl StepRecovery for Prompt {
    fn step_failed(
        &self,
        ctx: &Arc<Ctx>,
        step: &str,
        error: Box<EvalAltResult>,
        retry: &dyn Fn() -> RhaiResult<()>,
    ) -> RhaiResult<()> {
        if offers_recovery(ctx) {
            recover(ctx, step, error, retry)
        } else {
            Err(error)
        }
    }
}

/// Whether a failed step asks the operator what to do: a real run, a person at the terminal, no
/// `--yes`, not interrupted, and not already inside a REPL (`:run` there reports the error).
fn offers_recovery(ctx: &Ctx) -> bool {
    ctx.mode == Mode::Run
        && ctx.settings.interactive
        && !ctx.settings.yes
        && !ctx.cancel().is_cancelled()
        && SESSIONS.get() == 0
}

fn note(ctx: &Ctx, step: &str, message: String) -> RhaiResult<()> {
    ctx.record(Event::Note {
        step: Some(step.to_string()),
        message,
    })
    .map_err(|e| e.into_rhai(""))
}

/// Ask what to do about `step`, which failed with `error`; `retry` runs the step again.
fn recover(
    ctx: &Arc<Ctx>,
    step: &str,
    error: Box<EvalAltResult>,
    retry: &dyn Fn() -> RhaiResult<()>,
) -> RhaiResult<()> {
    let choice = loop {
        errln!(
            "\nstep `{step}` failed. What now?\n  \
             retry  run it again\n  \
             skip   leave it and go on with the next step\n  \
             repl   open a REPL on this run to look and fix by hand (same hosts, sessions, journal)\n  \
             abort  stop the run: temporary changes are undone"
        );
        match ask("retry, skip, repl or abort? ").as_str() {
            "retry" => break Leave::Retry,
            "skip" => break Leave::Skip,
            "abort" => break Leave::Abort,
            "repl" => {
                note(ctx, step, "recovery: the operator opened a REPL".into())?;
                match open_repl(ctx, step) {
                    Leave::Quit => continue,
                    chosen => break chosen,
                }
            }
            other => errln!("`{other}` is not a choice"),
        }
    };
    let word = match choice {
        Leave::Retry => "retry",
        Leave::Skip => "skip",
        _ => "abort",
    };
    note(
        ctx,
        step,
        format!("recovery: the operator chose {word} after `{step}` failed"),
    )?;
    match choice {
        Leave::Retry => {
            ctx.say(&format!("↻ {step}: again"));
            retry()
        }
        Leave::Skip => {
            ctx.record(Event::StepSkipped {
                step: step.to_string(),
                reason: "skipped by the operator after it failed".into(),
            })
            .map_err(|e| e.into_rhai(""))?;
            ctx.say(&format!("- {step}: skipped by the operator"));
            Ok(())
        }
        _ => Err(error),
    }
}

/// One answer from the terminal; Ctrl-C or Ctrl-D mean abort.
fn ask(question: &str) -> String {
    let Ok(mut rl) = keeping_sigint(rustyline::DefaultEditor::new) else {
        return "abort".into();
    };
    match rl.readline(question) {
        Ok(line) => line.trim().to_ascii_lowercase(),
        Err(_) => "abort".into(),
    }
}

/// The REPL on the live run, with the run's own runbook loaded (from its folder).
fn open_repl(ctx: &Arc<Ctx>, step: &str) -> Leave {
    let folder = ctx
        .recorder
        .journal()
        .as_ref()
        .and_then(|j| j.path().parent().map(|p| p.to_path_buf()));
    let runbook = folder.and_then(|path| {
        let loaded = Run::open(RunDir { path })
            .and_then(|run| run.source())
            .and_then(|source| crate::engine::compile(ctx, &source).map(|script| (source, script)));
        loaded
            .map_err(|e| errln!("warning: the runbook is not loaded: {}", e.message()))
            .ok()
    });
    let mut session = Session::new(ctx, runbook, Some(step.to_string()));
    let Ok(mut rl) = editor(&session) else {
        errln!("cannot open the line editor");
        return Leave::Quit;
    };
    errln!(
        "REPL on the live run, stopped at `{step}`: same hosts, SSH sessions, journal and undo.\n\
         Fix by hand, then :retry, :skip or :abort; Ctrl-D goes back to the question. :help lists the rest."
    );
    let leave = session.interact(&mut rl);
    save_history(&mut rl);
    leave
}
