//! The commands that execute runbooks: check, plan, run, resume, revert, log.
//!
//! Every execution is two passes over the same script: a declaring pass (collects params and
//! steps, runs no step, touches no host) so bad `--set`/`--only`/`--from` input fails before
//! anything changes, then the real pass in which `step()` runs the selected steps.

use crate::context::{Ctx, Mode, Phase, Selection, Settings};
use crate::engine::{self, Script};
use crate::error::{Error, Kind, Result};
use crate::inventory::Inventory;
use crate::journal::{self, Event, RunDir, RunMeta};
use crate::runbook::{self, Source};
use crate::secret::{parse_secret_arg, SecretSource};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod inflight;
mod run;
pub use run::Run;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub runbook: String,
    pub inventory: Option<PathBuf>,
    /// `name=value` pairs.
    pub sets: Vec<String>,
    /// `NAME=env:VAR|file:PATH|VALUE`.
    pub secrets: Vec<String>,
    pub selection: Selection,
    pub settings: Settings,
    pub state_dir: Option<PathBuf>,
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::usage(format!("--set expects name=value, got `{s}`")))
        })
        .collect()
}

fn load_inventory(path: Option<&Path>) -> Result<Inventory> {
    match path {
        Some(p) => Inventory::load(p),
        None => Ok(Inventory::default()),
    }
}

/// `check`, `show` and `plan --offline` need no inventory: without one, every group resolves to
/// a stand-in host.
fn inventory_or_placeholder(path: Option<&Path>) -> Result<Inventory> {
    match path {
        Some(p) => Inventory::load(p),
        None => Ok(Inventory::placeholder()),
    }
}

/// The context of an invocation: inventory, `--set` overrides and secrets (no runbook yet).
pub fn context(mode: Mode, inv: &Invocation) -> Result<(Ctx, BTreeMap<String, SecretSource>)> {
    let inventory = match mode {
        Mode::Offline => inventory_or_placeholder(inv.inventory.as_deref())?,
        _ => load_inventory(inv.inventory.as_deref())?,
    };
    let mut ctx = Ctx::new(mode, inventory, inv.settings.clone())?;
    ctx.overrides = parse_sets(&inv.sets)?;
    let mut secret_sources = BTreeMap::new();
    for arg in &inv.secrets {
        let (secret, src) = parse_secret_arg(arg).map_err(Error::usage)?;
        secret_sources.insert(secret.name().to_string(), src);
        ctx.add_secret(secret);
    }
    Ok((ctx, secret_sources))
}

/// Build the context and engine, compile, and run the declaring pass.
pub fn prepare(
    mode: Mode,
    source: &Source,
    inv: &Invocation,
) -> Result<(Arc<Ctx>, Script, BTreeMap<String, SecretSource>)> {
    let (ctx, secret_sources) = context(mode, inv)?;
    let ctx = Arc::new(ctx);
    let script = engine::compile(&ctx, source)?;
    let declared = {
        let _declaring = ctx.enter(Phase::Declaring);
        script.run(&ctx)
    };
    declared.map_err(|e| match (e.kind(), inv.inventory.is_none()) {
        (Kind::Usage, true) => {
            e.with_help("this runbook reads the inventory when it loads: pass -i INVENTORY")
        }
        _ => e,
    })?;
    validate(&ctx, &inv.selection)?;
    ctx.model().selection = inv.selection.clone();
    Ok((ctx, script, secret_sources))
}

fn validate(ctx: &Ctx, selection: &Selection) -> Result<()> {
    let model = ctx.model();
    for key in ctx.overrides.keys() {
        if !model.params.iter().any(|p| &p.name == key) {
            let known: Vec<_> = model.params.iter().map(|p| p.name.as_str()).collect();
            return Err(
                Error::usage(format!("unknown parameter `{key}` (from --set)")).with_help(format!(
                    "parameters: {}",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )),
            );
        }
    }
    let names: Vec<_> = model.steps.iter().map(|s| s.name.as_str()).collect();
    for step in selection.only.iter().chain(selection.from.iter()) {
        if !names.contains(&step.as_str()) {
            return Err(Error::usage(format!("unknown step `{step}`"))
                .with_help(format!("steps: {}", names.join(", "))));
        }
    }
    if let Some(answers) = &ctx.settings.answers {
        if let Some(step) = answers.steps().find(|s| !names.contains(s)) {
            return Err(Error::usage(format!(
                "unknown step `{step}` in answers file {}",
                answers.path.display()
            ))
            .with_help(format!("steps: {}", names.join(", "))));
        }
    }
    if model.steps.is_empty() {
        return Err(Error::script(
            "the runbook declares no step: add step(\"name\", \"description\", || { … })",
        ));
    }
    Ok(())
}

/// Load a runbook and run its declaring pass only (no step, no host): for `check` and `show`.
fn declare(spec: &str, inventory: Option<PathBuf>) -> Result<(Source, Arc<Ctx>)> {
    let source = runbook::load(spec)?;
    let inv = Invocation {
        runbook: spec.into(),
        inventory,
        ..Default::default()
    };
    let (ctx, _, _) = prepare(Mode::Offline, &source, &inv)?;
    Ok((source, ctx))
}

/// A runbook's step names, in order (shell completion of `--only` and `--from`).
pub fn step_names(spec: &str) -> Result<Vec<String>> {
    let (_, ctx) = declare(spec, None)?;
    let names = ctx.model().steps.iter().map(|s| s.name.clone()).collect();
    Ok(names)
}

/// `runbook check`: parse and declare, touch no host.
pub fn check(spec: &str, inventory: Option<PathBuf>) -> Result<()> {
    let (source, ctx) = declare(spec, inventory)?;
    let model = ctx.model();
    outln!(
        "{}: ok ({} parameters, {} steps)",
        source.display,
        model.params.len(),
        model.steps.len()
    );
    Ok(())
}

/// `runbook show`: the runbook's summary, parameters and steps.
pub fn show(spec: &str, inventory: Option<PathBuf>) -> Result<()> {
    let (source, ctx) = declare(spec, inventory)?;
    let model = ctx.model();
    outln!("{} — {}\n", source.name, source.summary());
    outln!("Parameters (--set name=value):");
    for p in &model.params {
        outln!("  {:<20} {} (default: {})", p.name, p.help, p.default);
    }
    outln!("\nSteps:");
    for (i, s) in model.steps.iter().enumerate() {
        outln!("  {:>2}. {:<20} {}", i + 1, s.name, s.description);
    }
    Ok(())
}

/// `runbook plan`: run probes, show every mutation per host, change nothing.
pub fn plan(inv: &Invocation, offline: bool) -> Result<()> {
    let source = runbook::load(&inv.runbook)?;
    let (ctx, script, _) = prepare(
        if offline { Mode::Offline } else { Mode::Plan },
        &source,
        inv,
    )?;
    outln!(
        "Plan for {} ({}): changes are shown, not made{}",
        source.name,
        inv.inventory
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        if offline {
            "; no host contacted"
        } else {
            "; read-only probes ran"
        }
    );
    script.run(&ctx)?;
    if let Some(leases) = ctx.planned_leases() {
        outln!("\n{leases}\n{}", ctx.planned_guard());
    }
    Ok(())
}

/// Ctrl-C and SIGTERM cancel the running call; the undo still runs.
fn install_signals(ctx: &Arc<Ctx>) {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) else {
        return;
    };
    let cancel = ctx.cancel().clone();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if cancel.is_cancelled() {
                errln!("\nstill running the undo: wait for it to finish (kill -9 leaves it to `runbook revert`)");
            } else {
                errln!("\ninterrupted: stopping the current step, then running the undo");
                cancel.cancel();
            }
        }
    });
}

/// Execute the selected steps, then the run-level undo; journal the outcome.
fn execute(ctx: &Arc<Ctx>, script: &Script, run: &Run) -> Result<()> {
    let (id, dir) = (run.id(), &run.dir);
    install_signals(ctx);
    // A bug that panics must not skip the undo: the run-level close below still finds every
    // scope the panic left open.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| script.run(ctx)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::script(format!(
                "internal error (a bug in runbook, please report it): {what}"
            )))
        });
    let mut pending = ctx.recorder.undo().close(0);
    pending.extend(ctx.take_carried());
    let undo = ctx
        .run_undo_unless_in_flight(pending, result.is_err(), 0)
        .into_result();
    let result = match (result, undo) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) => Err(e),
        (_, Err(u)) => Err(u),
    };
    // Its leases go with the process; only a killed run leaves them (stale once not renewed).
    ctx.release_leases();
    let ended = ctx.record(Event::RunEnd {
        ok: result.is_ok(),
        error: result.as_ref().err().map(Error::message),
    });
    // The run's own failure says more than a journal that could not record it.
    let result = match (result, ended) {
        (Ok(()), Err(journal)) => Err(journal),
        (result, _) => result,
    };
    match &result {
        Ok(()) => outln!(
            "run {id} finished: {}\njournal: {}",
            summary(dir),
            dir.journal_path().display()
        ),
        // The operator stopped at a pause on purpose: the pause said how to go on.
        Err(Error::Paused { .. }) => {}
        Err(_) => errln!(
            "run {id} failed; journal: {}\nafter fixing the cause: runbook resume {id}",
            dir.journal_path().display()
        ),
    }
    result
}

/// One line about the latest attempt of a run: steps done and skipped, commands, hosts, copies.
fn summary(run: &RunDir) -> String {
    let records = journal::read(&run.journal_path()).unwrap_or_default();
    let start = records
        .iter()
        .rposition(|r| matches!(r.event, Event::RunStart { .. } | Event::Resume { .. }))
        .unwrap_or(0);
    let (mut done, mut skipped, mut commands, mut copies) = (0, 0, 0, 0);
    let mut hosts = std::collections::BTreeSet::new();
    for r in &records[start..] {
        match &r.event {
            Event::StepEnd { ok: true, .. } => done += 1,
            Event::StepSkipped { .. } => skipped += 1,
            Event::Command { host, .. } => {
                commands += 1;
                hosts.insert(host.clone());
            }
            Event::Transfer { .. } => copies += 1,
            _ => {}
        }
    }
    let skipped = if skipped > 0 {
        format!(" ({skipped} finished earlier)")
    } else {
        String::new()
    };
    format!("{done} step(s) done{skipped}, {commands} command(s) on {} host(s), {copies} file copy(ies) verified", hosts.len())
}

/// `runbook run`.
pub fn run(inv: &Invocation) -> Result<()> {
    let source = runbook::load(&inv.runbook)?;
    let (ctx, script, secrets) = prepare(Mode::Run, &source, inv)?;
    let root = RunDir::root(inv.state_dir.as_deref());
    let meta = RunMeta {
        id: String::new(),
        runbook: source.name.clone(),
        module_dir: source.module_dir.clone(),
        inventory: ctx.inventory.path.clone(),
        params: ctx.overrides.clone(),
        only: inv.selection.only.clone(),
        from: inv.selection.from.clone(),
        secrets,
        created: journal::now(),
    };
    let run = Run::create(&root, &source.name, meta, &source.text, &ctx, "run")?;
    ctx.say(&format!(
        "run {}: {} on {}",
        run.id(),
        source.name,
        run.meta
            .inventory
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    ));
    execute(&ctx, &script, &run)
}

/// The invocation a run was started with, from its folder (secrets re-read from their sources).
pub fn reopen(
    run: &Run,
    extra_secrets: &[String],
    settings: &Settings,
) -> Result<(Source, Invocation)> {
    let (source, meta) = (run.source()?, &run.meta);
    let mut secrets = Vec::new();
    for (name, src) in &meta.secrets {
        match src {
            SecretSource::Env(var) => secrets.push(format!("{name}=env:{var}")),
            SecretSource::File(path) => secrets.push(format!("{name}=file:{path}")),
            SecretSource::Literal if extra_secrets.iter().any(|s| s.starts_with(&format!("{name}="))) => {}
            SecretSource::Literal => {
                return Err(Error::usage(format!("secret `{name}` was given literally and is not stored: pass --set-secret {name}=… again")))
            }
        }
    }
    secrets.extend(extra_secrets.iter().cloned());
    let inv = Invocation {
        runbook: meta.runbook.clone(),
        inventory: meta.inventory.clone(),
        sets: meta
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        secrets,
        selection: Selection {
            only: meta.only.clone(),
            from: meta.from.clone(),
            ..Selection::default()
        },
        settings: settings.clone(),
        state_dir: None,
    };
    Ok((source, inv))
}

/// Run the undo an earlier attempt left pending (it crashed or was killed mid-scope).
fn revert_pending(ctx: &Ctx, replay: &journal::Replay) -> Result<()> {
    if replay.pending_undo.is_empty() {
        return Ok(());
    }
    ctx.say(&format!(
        "running {} undo record(s) left by the earlier attempt",
        replay.pending_undo.len()
    ));
    ctx.run_undo(replay.pending(), true)
}

/// `runbook resume`: pending undo first, then the steps that did not finish.
pub fn resume(
    run_id: Option<&str>,
    state_dir: Option<&Path>,
    settings: &Settings,
    secrets: &[String],
) -> Result<()> {
    let mut run = Run::find(&RunDir::root(state_dir), run_id)?;
    run.lock()?;
    let (source, mut inv) = reopen(&run, secrets, settings)?;
    let mut replay = journal::replay(&journal::read(&run.dir.journal_path())?);
    // The pending undo runs first (below), so the steps whose changes it reverts run again.
    inv.selection.finished = replay.finished_after_revert();
    let (ctx, script, _) = prepare(Mode::Run, &source, &inv)?;
    run.attach(&ctx, replay.next_undo_id)?;
    // A guard the earlier attempt armed is taken back, or has reverted on its own: journaled
    // first, so what it ran counts as done.
    if !replay.guard_hosts.is_empty() {
        ctx.collect_guards(&replay.guard_hosts)?;
        replay = journal::replay(&journal::read(&run.dir.journal_path())?);
        inv.selection.finished = replay.finished_after_revert();
    }
    ctx.adopt_in_flight(replay.in_flight.clone(), replay.next_in_flight_id);
    // Unless work that the pending undo is for still runs: then nothing is reverted, the steps
    // that made those changes stay finished, and the resumed run waits for the work first.
    let held = inflight::hold_for_resume(&ctx, &replay)?;
    let finished = if held {
        replay.finished_steps.clone()
    } else {
        inv.selection.finished.clone()
    };
    ctx.model().selection.finished = finished.clone();
    ctx.record(Event::Resume {
        skipping: finished.clone(),
    })?;
    ctx.say(&format!(
        "resuming run {}: {} step(s) finished earlier",
        run.id(),
        finished.len()
    ));
    if !held {
        revert_pending(&ctx, &replay)?;
    }
    execute(&ctx, &script, &run)
}

/// `runbook log`: what the guards a run armed say now, read-only (`resume`/`revert` journal it).
pub fn guards_now(
    run_id: Option<&str>,
    state_dir: Option<&Path>,
    settings: &Settings,
) -> Result<Vec<String>> {
    let run = Run::find(&RunDir::root(state_dir), run_id)?;
    let records = journal::read_salvage(&run.dir.journal_path())?.0;
    let replay = journal::replay(&records);
    // Hosts whose guard the journal shows armed and not since taken back or fired.
    let open: Vec<String> = replay
        .guard_hosts
        .iter()
        .filter(|h| {
            records.iter().rev().find_map(|r| match &r.event {
                Event::Guard { host, what, .. } if host == *h => Some(what.starts_with("armed")),
                _ => None,
            }) == Some(true)
        })
        .cloned()
        .collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = Ctx::new(
        Mode::Run,
        load_inventory(run.meta.inventory.as_deref())?,
        settings.clone(),
    )?;
    Ok(ctx.peek_guards(run.id(), &open))
}

/// `runbook revert`: run the undo a crashed or killed run left pending — not while work it needs
/// still runs on a host, unless `force` (journaled). With `salvage`, a journal
/// with corrupt lines is read around them: the undo records that can be read run (journaled, with
/// a note naming the lines skipped); without it, a corrupt journal stops here.
pub fn revert(
    run_id: Option<&str>,
    state_dir: Option<&Path>,
    settings: &Settings,
    salvage: bool,
    force: bool,
) -> Result<()> {
    let mut run = Run::find(&RunDir::root(state_dir), run_id)?;
    run.lock()?;
    let (meta, journal_path) = (&run.meta, run.dir.journal_path());
    let (records, skipped) = if salvage {
        journal::read_salvage(&journal_path)?
    } else {
        (journal::read(&journal_path)?, Vec::new())
    };
    let mut replay = journal::replay(&records);
    let ctx = Ctx::new(
        Mode::Run,
        load_inventory(meta.inventory.as_deref())?,
        settings.clone(),
    )?;
    run.attach(&ctx, replay.next_undo_id)?;
    if !replay.guard_hosts.is_empty() {
        ctx.enable_leases();
        ctx.collect_guards(&replay.guard_hosts)?;
        let (records, _) = journal::read_salvage(&journal_path)?;
        replay = journal::replay(&records);
    }
    if !skipped.is_empty() {
        let lines: Vec<String> = skipped.iter().map(|n| n.to_string()).collect();
        let message = format!(
            "revert --salvage: journal line(s) {} corrupt and skipped; an undo recorded there cannot run, one whose end was recorded there may run again",
            lines.join(", ")
        );
        ctx.say(&message);
        ctx.record(Event::Note {
            step: None,
            message,
        })?;
    }
    if replay.pending_undo.is_empty() {
        outln!("run {}: nothing to revert", meta.id);
        return Ok(());
    }
    ctx.adopt_in_flight(replay.in_flight.clone(), replay.next_in_flight_id);
    ctx.enable_leases();
    if let Err(refused) = inflight::check_for_revert(&ctx, &meta.id, force) {
        // The changes stay in force under the work: the guards taken back above are armed again,
        // so the hosts still revert on their own if nobody comes back.
        ctx.carry_undo(
            replay
                .pending()
                .into_iter()
                .rev()
                .map(|p| (None, p))
                .collect(),
        )?;
        let guard = ctx.guards_stay_armed(|_| true);
        if guard.is_empty() {
            return Err(refused);
        }
        // Not given back: a guard whose lease is gone fires at once, and the `--force` this
        // message offers would find the window already taken over.
        ctx.leave_leases();
        let help = refused.help_text().unwrap_or_default();
        return Err(refused.with_help(format!(
            "{help}{guard} and this run's lease has gone {} s without renewal",
            settings.lease_secs
        )));
    }
    revert_pending(&ctx, &replay)?;
    ctx.release_leases();
    outln!(
        "run {}: reverted {} temporary change(s)",
        meta.id,
        replay.pending_undo.len()
    );
    Ok(())
}
