//! The runbook model: `param`, `secret`, `step`, `temporarily`, and the `undo` module.
//!
//! A runbook runs top to bottom. `param` and `secret` return values; `step(name, description, || …)`
//! runs its closure when the step is selected (or, while declaring, only records the step), so steps
//! see the script's imports and variables as ordinary code does.

use super::{add, argv_of, at, host_of, usage, Failure, RhaiResult};
use crate::context::{Ctx, Mode, ParamDecl, Phase, StepDecl, UndoOutcome};
use crate::error::Kind;
use crate::journal::Event;
use crate::secret::Secret;
use crate::transport::Arg;
use crate::undo::{UndoAction, UndoExec};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, Module, NativeCallContext};
use std::sync::Arc;
use std::time::Instant;

fn param(ctx: &Ctx, name: &str, help: &str, default: Dynamic) -> RhaiResult<Dynamic> {
    {
        let mut model = ctx.model();
        if model.phase == Phase::Declaring {
            if model.params.iter().any(|p| p.name == name) {
                return usage(format!("parameter `{name}` is declared twice"));
            }
            model.params.push(ParamDecl {
                name: name.into(),
                help: help.into(),
                default: default.to_string(),
            });
        }
    }
    let Some(text) = ctx.overrides.get(name) else {
        return Ok(default);
    };
    let bad = |what: &str| {
        usage(format!(
            "parameter `{name}` expects {what}, got `{text}` (from --set)"
        ))
    };
    if default.is_int() {
        text.trim()
            .parse::<i64>()
            .map(Dynamic::from)
            .or_else(|_| bad("an integer"))
    } else if default.is_bool() {
        text.trim()
            .parse::<bool>()
            .map(Dynamic::from)
            .or_else(|_| bad("true or false"))
    } else if default.is_float() {
        text.trim()
            .parse::<f64>()
            .map(Dynamic::from)
            .or_else(|_| bad("a number"))
    } else {
        Ok(text.clone().into())
    }
}

fn secret(ctx: &Ctx, name: &str) -> RhaiResult<Secret> {
    match ctx.secrets.get(name) {
        Some(s) => Ok(s.clone()),
        // A dry run makes no change a secret could be needed for.
        None if ctx.mode != Mode::Run => Ok(Secret::new(name, "")),
        None => usage(format!(
            "secret `{name}` was not given: pass --set-secret {name}=env:VAR (or file:PATH)"
        )),
    }
}

/// Whether the step runs in this invocation; journals why not when it does not.
fn selected(ctx: &Ctx, name: &str) -> RhaiResult<bool> {
    let mut model = ctx.model();
    if model.selection.finished.iter().any(|s| s == name) {
        drop(model);
        ctx.say(&format!(
            "✓ {name}: finished in an earlier attempt, skipped"
        ));
        // Its temporary changes, kept in force by a resume, belong to the scope it runs in.
        ctx.adopt_carried(name);
        ctx.record(Event::StepSkipped {
            step: name.into(),
            reason: "finished earlier".into(),
        })
        .map_err(|e| e.into_rhai(""))?;
        return Ok(false);
    }
    if let Some(from) = model.selection.from.clone() {
        if !model.from_reached {
            if from != name {
                return Ok(false);
            }
            model.from_reached = true;
        }
    }
    Ok(model.selection.only.is_empty() || model.selection.only.iter().any(|s| s == name))
}

fn step(
    ctx: &Arc<Ctx>,
    call: &NativeCallContext,
    name: &str,
    description: &str,
    body: FnPtr,
) -> RhaiResult<()> {
    {
        let mut model = ctx.model();
        if model.phase == Phase::Declaring {
            if model.steps.iter().any(|s| s.name == name) {
                return usage(format!("step `{name}` is declared twice"));
            }
            if name.is_empty() || name.contains(char::is_whitespace) {
                return usage(format!(
                    "step name `{name}` must be non-empty and without spaces"
                ));
            }
            model.steps.push(StepDecl {
                name: name.into(),
                description: description.into(),
            });
            return Ok(());
        }
    }
    if !selected(ctx, name)? {
        return Ok(());
    }
    let (index, total) = {
        let model = ctx.model();
        (
            model
                .steps
                .iter()
                .position(|s| s.name == name)
                .map_or(0, |i| i + 1),
            model.steps.len(),
        )
    };
    if ctx.mode != Mode::Run {
        outln!("[{index}/{total}] {name}: {description}");
        {
            let mut model = ctx.model();
            model.current_step = Some(name.into());
            model.offline_probed = false;
        }
        let r = body.call_within_context::<Dynamic>(call, ());
        let offline_probed = std::mem::take(&mut ctx.model().offline_probed);
        ctx.model().current_step = None;
        return match r {
            // Offline, a probe answers nothing: what the step does next depends on the hosts'
            // answers, so the plan notes where it stopped and goes on with the next step.
            Err(e) if offline_probed && !matches!(*e, EvalAltResult::ErrorTerminated(..)) => {
                outln!(
                    "  … the rest of this step depends on what the hosts answer (offline, the probes \
                     answered nothing: {}); `runbook plan` without --offline asks them",
                    crate::diag::message_of(&e)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim_end_matches([':', ' '])
                );
                Ok(())
            }
            r => r.map(|_| ()),
        };
    }
    if ctx.model().selection.confirm_each
        && !super::interact::ask(ctx, &format!("run step `{name}` ({description})?"), true)?
    {
        ctx.say(&format!("- {name}: skipped by the operator"));
        return Ok(());
    }
    let journal = |e: crate::error::Error| e.into_rhai("");
    ctx.record(Event::StepStart { step: name.into() })
        .map_err(journal)?;
    ctx.say(&format!("▶ [{index}/{total}] {name}: {description}"));
    ctx.model().current_step = Some(name.into());
    let started = Instant::now();
    let r = body.call_within_context::<Dynamic>(call, ());
    ctx.model().current_step = None;
    let duration_ms = started.elapsed().as_millis() as u64;
    let error = r.as_ref().err().map(|e| crate::diag::message_of(e));
    let ended = ctx.record(Event::StepEnd {
        step: name.into(),
        ok: r.is_ok(),
        error: error.clone(),
        duration_ms,
    });
    // The step's own failure says more than a journal that could not record it.
    if let (Err(e), true) = (ended, r.is_ok()) {
        return Err(journal(e));
    }
    match &error {
        None => ctx.say(&format!("✓ {name} ({:.1} s)", duration_ms as f64 / 1000.0)),
        Some(e) => ctx.say(&format!("✗ {name}: {e}")),
    }
    match r {
        // An operator at the terminal decides: retry (this function again), skip, a REPL, abort.
        Err(e) => match ctx.settings.recovery.clone() {
            Some(hook) => hook.0.step_failed(ctx, name, e, &|| {
                step(ctx, call, name, description, body.clone())
            }),
            None => Err(e),
        },
        Ok(_) => Ok(()),
    }
}

fn temporarily(ctx: &Ctx, call: &NativeCallContext, body: FnPtr) -> RhaiResult<Dynamic> {
    // A runbook that holds hosts in a temporary state takes a lease on each host it changes
    // (seen already while it loads when the scope is at its top level).
    ctx.enable_leases();
    let depth = ctx.recorder.undo().open();
    // The window's opening and closing are journaled (for `--events` and `runbook report`).
    let window = match Window::open(ctx, depth) {
        Ok(w) => w,
        Err(e) => {
            // Nothing ran in the scope yet: close it empty, so no later scope lands in it.
            let _ = ctx.recorder.undo().close(depth);
            return Err(e.into_rhai(""));
        }
    };
    let r = body.call_within_context::<Dynamic>(call, ());
    let pending = ctx.recorder.undo().close(depth);
    let count = pending.len();
    // Work started inside the scope that still runs keeps the scope's undo pending: then the
    // window stays open (its changes are in force), and no close is journaled.
    let undone = match ctx.run_undo_unless_in_flight(pending, r.is_err(), depth + 1) {
        UndoOutcome::Ran(undone) => {
            let closed = window.close(ctx, count, undone.is_ok());
            undone.and(closed)
        }
        UndoOutcome::Kept(e) => Err(e),
    };
    match (r, undone) {
        (r, Ok(())) => r,
        (Ok(_), Err(e)) => {
            let message = e.message();
            fail_undo(e, message)
        }
        (Err(original), Err(e)) => {
            let message = format!(
                "{}\n(the scope had failed first: {})",
                e.message(),
                crate::diag::message_of(&original)
            );
            fail_undo(e, message)
        }
    }
}

/// A `temporarily` scope's time open, journaled as `window_open` and `window_close`.
struct Window {
    depth: usize,
    started: Option<Instant>,
}

impl Window {
    fn open(ctx: &Ctx, depth: usize) -> crate::error::Result<Self> {
        // A declaring pass only collects steps: no window opens.
        if ctx.declaring() {
            return Ok(Self {
                depth,
                started: None,
            });
        }
        ctx.record(Event::WindowOpen {
            step: ctx.current_step(),
            depth,
        })?;
        Ok(Self {
            depth,
            started: Some(Instant::now()),
        })
    }

    fn close(self, ctx: &Ctx, undone: usize, ok: bool) -> crate::error::Result<()> {
        let Some(started) = self.started else {
            return Ok(());
        };
        ctx.record(Event::WindowClose {
            step: ctx.current_step(),
            depth: self.depth,
            undone,
            ok,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }
}

/// The undo of a scope failed (`Kind::Undo`), or ran but could not be journaled (`Kind::Journal`).
/// A scope's undo failed or was kept (`e`, its help kept), said as `message`.
fn fail_undo<T>(e: crate::error::Error, message: String) -> RhaiResult<T> {
    let mut failure = Failure::new(e.kind(), "", message);
    failure.help = e.help_text();
    Err(failure.into_err())
}

fn push_undo(ctx: &Ctx, host: &Dynamic, cmd: UndoExec, what: String) -> RhaiResult<()> {
    let host = host_of(ctx, host)?;
    let action = UndoAction {
        host: host.name.clone(),
        commands: vec![cmd],
    };
    ctx.push_undo(&format!("{}: {what}", host.name), action)
        .map(|_| ())
        .map_err(|e| e.into_rhai(&host.name))
}

fn plain_argv(argv: &Array) -> RhaiResult<Vec<String>> {
    argv_of(argv)?
        .into_iter()
        .map(|a| match a {
            Arg::Plain(s) => Ok(s),
            Arg::Secret(s) => usage(format!(
                "an undo command cannot hold a secret (<secret {}>): undo is journaled to disk",
                s.name()
            )),
        })
        .collect()
}

pub fn register(engine: &mut Engine, ctx: &Arc<Ctx>) {
    engine
        .register_type_with_name::<Secret>("Secret")
        .register_get("name", |s: &mut Secret| s.name().to_string())
        .register_fn("to_string", |s: &mut Secret| format!("{s}"))
        .register_fn("to_debug", |s: &mut Secret| format!("{s}"))
        .register_type_with_name::<Failure>("Failure")
        .register_get("message", |f: &mut Failure| f.message.clone())
        .register_get("host", |f: &mut Failure| f.host.clone())
        .register_get("code", |f: &mut Failure| {
            f.code.map_or(Dynamic::UNIT, |c| (c as i64).into())
        })
        .register_get("stderr", |f: &mut Failure| f.stderr.clone())
        .register_get("results", |f: &mut Failure| f.results.clone())
        .register_fn("to_string", |f: &mut Failure| f.message.clone())
        .register_fn("to_debug", |f: &mut Failure| {
            format!("Failure({})", f.message)
        });

    let mut m = Module::new();
    let c = ctx.clone();
    add!(&mut m, "param", &["name: String", "help: String", "default: ?", "?"],
        "Declare a parameter and return its value: `--set name=value` if given (converted to the\ndefault's type), else `default`.",
        move |nc: NativeCallContext, name: &str, help: &str, default: Dynamic| at(&nc, param(&c, name, help, default)));
    let c = ctx.clone();
    add!(&mut m, "secret", &["name: String", "Secret"],
        "A secret given with `--set-secret name=env:VAR|file:PATH`. It has no string form: only\ncommand primitives can use it, and every output masks it.",
        move |nc: NativeCallContext, name: &str| at(&nc, secret(&c, name)));
    add!(&mut m, "fail", &["host: Host", "message: String", "()"],
        "Stop with a failure about `host` (exit code 1, like a failed command), for a state a\nhelper found on the host that the runbook cannot go on from. `throw` is for mistakes in the script.",
        |nc: NativeCallContext, host: Dynamic, message: &str| -> RhaiResult<()> {
            at(&nc, Err(Failure::new(Kind::Remote, &host.to_string(), message.to_string()).into_err()))
        });
    let c = ctx.clone();
    add!(&mut m, "mask", &["text: String", "String"],
        "Mask `text` in every output from now on (terminal, journal, errors), as a secret's value is,\nand return it unchanged: for sensitive values a runbook reads from a host.",
        move |text: &str| -> String {
            if !text.is_empty() {
                c.redactor().add(&Secret::new("masked", text));
            }
            text.to_string()
        });
    let c = ctx.clone();
    add!(&mut m, "step", &["name: String", "description: String", "body: Fn", "()"],
        "Declare a step and run `body` when it is selected (`--only`, `--from`, not finished by an\nearlier attempt). Journaled: start, end, every command inside.",
        move |call: NativeCallContext, name: &str, description: &str, body: FnPtr| at(&call, step(&c, &call, name, description, body)));
    let c = ctx.clone();
    add!(&mut m, "temporarily", &["body: Fn", "?"],
        "Run `body`; then undo every temporary change pushed inside it (newest first), whether\n`body` succeeded, failed or was interrupted. Returns what `body` returned.",
        move |call: NativeCallContext, body: FnPtr| temporarily(&c, &call, body));
    engine.register_global_module(m.into());
}

/// `undo::run/sudo/shell`: push a compensation onto the innermost undo scope; `undo::now`.
pub fn undo_module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    add!(&mut m, "now", &["()"],
        "Undo the innermost scope's temporary changes now (newest first), because the work that\nneeded them is done — e.g. revert the timeouts once the restore finished. The scope stays open.",
        move |nc: NativeCallContext| -> RhaiResult<()> {
            let (pending, depth) = {
                let mut undo = c.recorder.undo();
                (undo.take_innermost(), undo.depth())
            };
            at(&nc, c.run_undo_unless_in_flight(pending, false, depth).into_result().map_err(|e| e.into_rhai("")))
        });
    let timeout = ctx.settings.default_timeout;
    let c = ctx.clone();
    add!(&mut m, "run", &["host: Host", "argv: Array", "()"],
        "When the enclosing `temporarily` scope (or the run) ends, run `argv` on `host`.\nJournaled before anything else happens, so it also runs after a crash (`runbook revert`).",
        move |nc: NativeCallContext, host: Dynamic, argv: Array| {
            at(&nc, plain_argv(&argv).and_then(|argv| {
                let what = argv.join(" ");
                push_undo(&c, &host, UndoExec::argv(argv, false, timeout), what)
            }))
        });
    let c = ctx.clone();
    add!(
        &mut m,
        "sudo",
        &["host: Host", "argv: Array", "()"],
        "Like `undo::run`, as root through sudo.",
        move |host: Dynamic, argv: Array| {
            let argv = plain_argv(&argv)?;
            let what = format!("sudo {}", argv.join(" "));
            push_undo(&c, &host, UndoExec::argv(argv, true, timeout), what)
        }
    );
    let c = ctx.clone();
    add!(
        &mut m,
        "shell",
        &["host: Host", "snippet: String", "()"],
        "Like `undo::run`, for a shell snippet.",
        move |nc: NativeCallContext, host: Dynamic, snippet: &str| at(
            &nc,
            push_undo(
                &c,
                &host,
                UndoExec::shell(snippet.into(), false, timeout),
                snippet.into()
            )
        )
    );
    m
}
