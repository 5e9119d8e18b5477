//! Unit tests of primitives through a recording transport ([`Recorded`]): one host, `mgr`, whose
//! answers a test scripts; a real engine with every primitive registered; a real journal. What the
//! primitive sent, in which order, and what it journaled are then read back.

use crate::context::{Ctx, Mode, Settings};
use crate::engine;
use crate::inventory::Inventory;
use crate::journal::{self, Event, Journal};
use crate::transport::recorded::{Call, Recorded, Reply};
use rhai::Dynamic;
use std::sync::Arc;

/// A run in `mode` against the scripted host `mgr` (HostInfo vars from `vars`, TOML lines).
pub struct Harness {
    pub ctx: Arc<Ctx>,
    pub host: Recorded,
    dir: tempfile::TempDir,
}

impl Harness {
    pub fn new(
        mode: Mode,
        vars: &str,
        answer: impl Fn(&Call) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let text = format!("[hosts.mgr]\naddress = \"192.0.2.10\"\n[hosts.mgr.vars]\n{vars}\n");
        let inventory = Inventory::parse("inv.toml", &text, std::path::Path::new("/"))
            .expect("the harness inventory parses");
        let host = Recorded::new(answer);
        let recorded = host.clone();
        let ctx = Ctx::new(mode, inventory, Settings::default())
            .expect("a runtime")
            .with_transports(Arc::new(move |_, _| Arc::new(recorded.clone())));
        let dir = tempfile::tempdir().expect("a temp dir");
        let journal = Journal::open(&dir.path().join("journal.jsonl"), ctx.redactor().clone())
            .expect("a journal");
        ctx.set_journal(journal, 1);
        Self {
            ctx: Arc::new(ctx),
            host,
            dir,
        }
    }

    /// Evaluate `script` (Rhai) with every primitive registered; an error as the runner shows it.
    pub fn eval(&self, script: &str) -> Result<Dynamic, String> {
        let sources = crate::diag::Sources::default();
        sources.add("", "test.rhai", script);
        let engine = engine::engine(&self.ctx, None, &sources);
        let mut scope = engine::scope(&self.ctx);
        engine
            .eval_with_scope::<Dynamic>(&mut scope, script)
            .map_err(|e| crate::diag::eval_error(&e, &sources).message())
    }

    /// Evaluate `script`, which must succeed.
    #[track_caller]
    pub fn run(&self, script: &str) {
        if let Err(e) = self.eval(script) {
            panic!("{script} failed: {e}");
        }
    }

    /// What the journal holds, in order.
    pub fn journal(&self) -> Vec<Event> {
        journal::read(&self.dir.path().join("journal.jsonl"))
            .expect("the journal reads")
            .into_iter()
            .map(|r| r.event)
            .collect()
    }

    /// The journal, one short line per command or undo push: `$ CMD` or `undo+ DESCRIPTION`.
    pub fn trail(&self) -> Vec<String> {
        self.journal()
            .into_iter()
            .filter_map(|e| match e {
                Event::Command { command, code, .. } => Some(match code {
                    Some(0) | None => format!("$ {command}"),
                    Some(c) => format!("$ {command}  → {c}"),
                }),
                Event::UndoPush { description, .. } => Some(format!("undo+ {description}")),
                Event::UndoPop { ok, .. } => Some(format!("undo- ok={ok}")),
                _ => None,
            })
            .collect()
    }
}
