//! What `resume` and `revert` do about work an earlier attempt left running on a host: they
//! never revert under it (see `context/inflight.rs`).

use crate::context::{describe, Ctx};
use crate::error::{Error, Kind, Result};
use crate::journal::{Event, Replay};
use crate::undo::Probed;

/// Before `resume` reverts what an earlier attempt left pending: probe the work it left open.
/// `Ok(true)`: some still runs, so the undo stays in force (carried: it runs where its scope ends
/// in the resumed run, after the steps that wait for the work); `Ok(false)`: revert as usual. A
/// probe that cannot answer stops the resume with nothing reverted.
pub fn hold_for_resume(ctx: &Ctx, replay: &Replay) -> Result<bool> {
    if replay.pending_undo.is_empty() {
        return Ok(false);
    }
    let waiting = ctx.still_running(0)?;
    if waiting.is_empty() {
        return Ok(false);
    }
    if waiting.iter().any(|(_, p)| matches!(p, Probed::Unknown(_))) {
        let message = format!(
            "nothing reverted: {} temporary change(s) stay in force:\n  {}",
            replay.pending_undo.len(),
            describe(&waiting)
        );
        ctx.record(Event::Note {
            step: None,
            message: message.clone(),
        })?;
        return Err(Error::new(Kind::Remote, message)
            .with_help("never reverted blind: run `runbook resume` again once the host answers"));
    }
    let message = format!(
        "{} temporary change(s) stay in force; the run waits inside the window, then reverts:\n  {}",
        replay.pending_undo.len(),
        describe(&waiting)
    );
    ctx.say(&format!("⧗ {message}"));
    ctx.record(Event::Note {
        step: None,
        message,
    })?;
    // The changes stay in force on hosts: their guards are armed again under this run's lease
    // (the earlier attempt's were taken back to read what they did).
    ctx.enable_leases();
    ctx.carry_undo(
        replay
            .pending()
            .into_iter()
            .rev()
            .map(|p| (replay.pushed_by.get(&p.id).cloned(), p))
            .collect(),
    )?;
    Ok(true)
}

/// Before `revert` runs the pending undo: refuse while work it needs still runs, unless `force`
/// (then each overruled handle is closed in the journal, saying so).
pub fn check_for_revert(ctx: &Ctx, run_id: &str, force: bool) -> Result<()> {
    let waiting = ctx.still_running(0)?;
    if waiting.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(Error::new(
            Kind::Undo,
            format!(
                "run {run_id}: not reverting while work its changes are for runs:\n  {}",
                describe(&waiting)
            ),
        )
        .with_help(format!(
            "`runbook resume {run_id}` waits for it inside the window, then reverts and finishes the run; `runbook revert {run_id} --force` reverts now, under it"
        )));
    }
    ctx.overrule_in_flight(&waiting, "`runbook revert --force`")
}
