//! `inflight::begin/end`: long work on a host that runs on without us (a snapshot restore),
//! journaled with a read-only probe so that no undo reverts what it needs while it still runs
//! (see `context/inflight.rs`).

use super::{add, at, host_of, RhaiResult};
use crate::context::{Ctx, Mode};
use crate::undo::UndoExec;
use rhai::{Dynamic, Module, NativeCallContext};
use std::sync::Arc;
use std::time::Duration;

fn begin(ctx: &Ctx, host: &Dynamic, what: &str, probe: &str) -> RhaiResult<i64> {
    let host = host_of(ctx, host)?;
    if ctx.mode != Mode::Run {
        ctx.show_planned(
            &host.name,
            &format!("(in flight: {what}; probed before any undo, which waits while it runs)"),
        );
    }
    let probe = UndoExec::shell(probe.into(), false, Duration::from_secs(60));
    ctx.begin_in_flight(&host.name, what, probe)
        .map(|id| id as i64)
        .map_err(|e| e.into_rhai(&host.name))
}

pub fn module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    add!(&mut m, "begin", &["host: Host", "what: String", "probe: String", "int"],
        "Journal that `what` now runs on `host` on its own (it goes on if this run dies), with\n`probe`: a read-only shell snippet whose last line of output is `running` or `ended`. Until\n`inflight::end`, every undo of the enclosing scope first asks the probe: while the work runs\n(or the probe cannot answer), the undo waits (resume) or refuses (revert, abort). The same\nwork still open from an earlier attempt is re-attached. Returns the handle's id.",
        move |nc: NativeCallContext, host: Dynamic, what: &str, probe: &str| at(&nc, begin(&c, &host, what, probe)));
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
