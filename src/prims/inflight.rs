//! `inflight::begin/end`: long work on a host that runs on without us (a snapshot restore),
//! journaled with a read-only probe so that no undo reverts what it needs while it still runs
//! (see `context/inflight.rs`).

use super::{add, at, host_of, RhaiResult};
use crate::context::{Ctx, Mode};
use crate::undo::UndoExec;
use rhai::{Dynamic, Module, NativeCallContext};
use std::sync::Arc;
use std::time::Duration;

fn begin(ctx: &Ctx, host: &Dynamic, what: &str, probe: &str, cap: Option<i64>) -> RhaiResult<i64> {
    let host = host_of(ctx, host)?;
    let cap = match cap {
        None => None,
        Some(s) if s > 0 => Some(Duration::from_secs(s as u64)),
        Some(s) => {
            return Err(crate::error::Error::usage(format!(
                "inflight::begin: the longest `{what}` may run must be a positive number of seconds, not {s}"
            ))
            .into_rhai(&host.name))
        }
    };
    if ctx.mode != Mode::Run {
        ctx.show_planned(
            &host.name,
            &format!("(in flight: {what}; probed before any undo, which waits while it runs)"),
        );
    }
    let probe = UndoExec::shell(probe.into(), false, Duration::from_secs(60));
    ctx.begin_in_flight(&host.name, what, probe, cap)
        .map(|id| id as i64)
        .map_err(|e| e.into_rhai(&host.name))
}

pub fn module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    add!(&mut m, "begin", &["host: Host", "what: String", "probe: String", "int"],
        "Journal that `what` now runs on `host` on its own (it goes on if this run dies), with\n`probe`: a read-only shell snippet whose last line of output is `running` or `ended`. Until\n`inflight::end`, every undo of the enclosing scope first asks the probe: while the work runs\n(or the probe cannot answer), the undo waits (resume) or refuses (revert, abort). The same\nwork still open from an earlier attempt is re-attached. Returns the handle's id.",
        move |nc: NativeCallContext, host: Dynamic, what: &str, probe: &str| at(&nc, begin(&c, &host, what, probe, None)));
    let c = ctx.clone();
    add!(&mut m, "begin", &["host: Host", "what: String", "probe: String", "cap: int", "int"],
        "As `inflight::begin(host, what, probe)`, for work with a timeout of its own: it runs `cap`\nseconds at most from now (e.g. the restore's timeout). A host's guard that fired waits for\nit no longer than that (else 6 h), and a guard on another host, which cannot ask the probe,\nwaits until then.",
        move |nc: NativeCallContext, host: Dynamic, what: &str, probe: &str, cap: i64| at(&nc, begin(&c, &host, what, probe, Some(cap))));
    let c = ctx.clone();
    add!(
        &mut m,
        "end",
        &["id: int", "()"],
        "The work `id` (from `inflight::begin`) ended: it holds no undo back any more. Journaled.",
        move |nc: NativeCallContext, id: i64| at(
            &nc,
            c.end_in_flight(id.max(0) as u64, "ended")
                .map_err(|e| e.into_rhai(""))
        )
    );
    m
}
