//! Talking to the operator: `pause`, `confirm`, `log`.
//!
//! A pause is how a runbook hands work to a person (install the new cluster, delete old hosts).
//! Without a terminal a pause fails unless `--answers FILE` or `--yes` answers it, so an
//! unattended run never blocks. Each question and its answer are journaled.

use super::{add, at, fail, RhaiResult};
use crate::context::{Ctx, Mode};
use crate::error::{Interrupted, Kind};
use crate::journal::{Event, QuestionKind};
use rhai::{Engine, Module, NativeCallContext};
use std::io::{BufRead, Write};
use std::sync::Arc;

/// Ask a yes/no question on stdin. Fails when nobody can answer: no terminal and no `--yes`,
/// unless `piped_ok` (the operator asked for questions, e.g. `--step`, so piped answers count).
pub fn ask(ctx: &Ctx, question: &str, piped_ok: bool) -> RhaiResult<bool> {
    if ctx.settings.yes {
        ctx.say(&format!("? {question} yes (--yes)"));
        return Ok(true);
    }
    if !ctx.settings.interactive && !piped_ok {
        return fail(Kind::Usage, "", format!("`{question}` needs an answer, but there is no terminal: run interactively, or pass --answers FILE or --yes"));
    }
    err!("? {question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        super::Failure::new(Kind::Io, "", format!("cannot read the answer: {e}")).into_err()
    })?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn note(ctx: &Ctx, message: &str) -> RhaiResult<()> {
    ctx.record(Event::Note {
        step: ctx.current_step(),
        message: message.to_string(),
    })
    .map_err(|e| e.into_rhai(""))
}

/// Ask the operator: a pause's instructions (answered: done, continue) or a confirmation's
/// question. Journaled as a `question` before anything waits, then its `answer`, which comes from
/// the answers file (`--answers`: the only source then; a question it does not answer fails at
/// once), `--yes`, or the terminal.
fn question(ctx: &Ctx, kind: QuestionKind, text: &str) -> RhaiResult<bool> {
    let step = ctx.current_step();
    let record = |event| ctx.record(event).map_err(|e| e.into_rhai(""));
    record(Event::Question {
        step: step.clone(),
        kind,
        text: text.to_string(),
    })?;
    let prompt = match kind {
        QuestionKind::Pause => {
            ctx.say(&format!("⏸ {text}"));
            "done; continue?"
        }
        QuestionKind::Confirm => text,
    };
    let (answer, by) = match &ctx.settings.answers {
        Some(answers) => match answers.answer(step.as_deref(), text) {
            Some(answer) => {
                let by = format!("answers {}", answers.path.display());
                let said = if answer { "yes" } else { "no" };
                ctx.say(&format!("? {prompt} {said} ({by})"));
                (answer, by)
            }
            None => {
                return Err(answers
                    .unanswered(step.as_deref(), kind, text)
                    .into_rhai(""))
            }
        },
        None if ctx.settings.yes => (ask(ctx, prompt, false)?, "--yes".to_string()),
        None => (ask(ctx, prompt, false)?, "terminal".to_string()),
    };
    record(Event::Answer {
        step,
        kind,
        answer,
        by,
    })?;
    Ok(answer)
}

/// A question in a dry run: shown, and answered yes — or, with `--answers`, as the file answers
/// it, and a question the file does not answer fails the plan as it would fail the run.
fn planned(ctx: &Ctx, kind: QuestionKind, text: &str) -> RhaiResult<bool> {
    let shown = match kind {
        QuestionKind::Pause => text.lines().next().unwrap_or(""),
        QuestionKind::Confirm => text,
    };
    let Some(answers) = &ctx.settings.answers else {
        match kind {
            QuestionKind::Pause => outln!("  pause: {shown}"),
            QuestionKind::Confirm => outln!("  confirm: {shown} (planned as yes)"),
        }
        return Ok(true);
    };
    let step = ctx.current_step();
    match answers.answer(step.as_deref(), text) {
        Some(answer) => {
            let stops = if kind == QuestionKind::Pause && !answer {
                ": the run stops here"
            } else {
                ""
            };
            outln!(
                "  {}: {shown} (answered {} by {}{stops})",
                kind.name(),
                if answer { "yes" } else { "no" },
                answers.path.display()
            );
            Ok(answer)
        }
        None => Err(answers
            .unanswered(step.as_deref(), kind, text)
            .into_rhai("")),
    }
}

fn pause(ctx: &Ctx, message: &str) -> RhaiResult<()> {
    if ctx.declaring() {
        return Ok(());
    }
    if ctx.mode != Mode::Run {
        return planned(ctx, QuestionKind::Pause, message).map(|_| ());
    }
    if question(ctx, QuestionKind::Pause, message)? {
        Ok(())
    } else {
        fail(
            Kind::Paused,
            "",
            "stopped at a pause by the operator; `runbook resume` continues from this step",
        )
    }
}

fn confirm(ctx: &Ctx, question_text: &str) -> RhaiResult<bool> {
    if ctx.declaring() {
        return Ok(false);
    }
    if ctx.mode != Mode::Run {
        return planned(ctx, QuestionKind::Confirm, question_text);
    }
    question(ctx, QuestionKind::Confirm, question_text)
}

/// Wait `seconds` (fractions allowed), interrupted by Ctrl-C; a dry run does not wait.
fn sleep(ctx: &Ctx, seconds: f64) -> RhaiResult<()> {
    if ctx.mode != Mode::Run || ctx.declaring() {
        return Ok(());
    }
    if !(0.0..=86400.0).contains(&seconds) {
        return fail(
            Kind::Usage,
            "",
            format!("sleep({seconds}): seconds must be between 0 and 86400"),
        );
    }
    let cancel = ctx.cancel().clone();
    let interrupted = ctx.wait(async {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)) => false,
            _ = cancel.cancelled() => true,
        }
    });
    if interrupted {
        return Err(Interrupted.into_rhai());
    }
    Ok(())
}

pub fn register(engine: &mut Engine, ctx: &Arc<Ctx>) {
    let mut m = Module::new();
    let c = ctx.clone();
    add!(
        &mut m,
        "sleep",
        &["seconds: float", "()"],
        "Wait `seconds` (e.g. between polls); Ctrl-C interrupts it; `plan` does not wait.",
        move |nc: NativeCallContext, seconds: f64| at(&nc, sleep(&c, seconds))
    );
    let c = ctx.clone();
    add!(
        &mut m,
        "sleep",
        &["seconds: int", "()"],
        "Wait `seconds` (e.g. between polls); Ctrl-C interrupts it; `plan` does not wait.",
        move |nc: NativeCallContext, seconds: i64| at(&nc, sleep(&c, seconds as f64))
    );
    let c = ctx.clone();
    add!(&mut m, "dry_run", &["bool"],
        "True in `plan` (and `check`): mutations are shown, not made, so their output is empty.\nBranch on it where a later call needs a mutation's output.",
        move || c.mode != Mode::Run);
    let c = ctx.clone();
    add!(&mut m, "pause", &["message: String", "()"],
        "Show `message` (instructions for the operator) and wait until they confirm it is done.\nFails without a terminal unless `--yes` or `--answers FILE` answers it; `plan` only shows it.",
        move |nc: NativeCallContext, message: &str| at(&nc, pause(&c, message)));
    let c = ctx.clone();
    add!(
        &mut m,
        "confirm",
        &["question: String", "bool"],
        "Ask a yes/no question; `--yes` answers yes, `--answers FILE` as the file says. Fails without\na terminal, `--yes` or an answer in the file.",
        move |nc: NativeCallContext, question: &str| at(&nc, confirm(&c, question))
    );
    let c = ctx.clone();
    add!(
        &mut m,
        "log",
        &["message: String", "()"],
        "Print `message` for the operator and write it to the journal.",
        move |message: &str| -> RhaiResult<()> {
            c.say(message);
            note(&c, message)
        }
    );
    engine.register_global_module(m.into());
}
