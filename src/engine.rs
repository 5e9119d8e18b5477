//! One engine builder for `run`, `plan`, `check` and `repl`, so a primitive behaves the same in all.

use crate::context::Ctx;
use crate::diag::{self, Sources};
use crate::error::{Interrupted, Result};
use crate::prims::{self, inventory::InventoryRef};
use crate::runbook::{Resolver, Source};
use rhai::{Dynamic, Engine, Scope, AST};
use std::sync::Arc;

/// An engine bound to a run's context, with the runbook compiled.
pub struct Script {
    /// The engine with every primitive registered and the stdlib resolver set.
    pub engine: Engine,
    /// The runbook, compiled.
    pub ast: AST,
    /// The texts diagnostics point into (the runbook and each stdlib module it imported).
    pub sources: Sources,
}

/// Build the engine: primitives, stdlib resolver, Ctrl-C, and print() through the redactor.
pub fn engine(ctx: &Arc<Ctx>, source: Option<&Source>, sources: &Sources) -> Engine {
    let mut engine = Engine::new();
    // Rhai's default nesting limits (64, 32 in functions) are tight for runbook helpers.
    engine.set_max_expr_depths(256, 128);
    set_limits(&mut engine);
    engine.set_module_resolver(Resolver {
        module_dir: source.and_then(|s| s.module_dir.clone()),
        sources: sources.clone(),
    });
    prims::register_all(&mut engine, ctx);
    let cancel = ctx.cancel().clone();
    engine.on_progress(move |_| cancel.is_cancelled().then(|| Dynamic::from(Interrupted)));
    let redactor = ctx.redactor().clone();
    engine.on_print(move |s| outln!("{}", redactor.redact(s)));
    let redactor = ctx.redactor().clone();
    engine.on_debug(move |s, _, pos| errln!("[debug {pos}] {}", redactor.redact(s)));
    engine
}

/// Engine limits: far above what a runbook does (the bundled upgrade stays below 1/1000 of each),
/// low enough that a runaway script fails as a script error, which runs the undo, instead of
/// exhausting memory (killed by the kernel: no undo) or looping forever. See book/src/safety.md.
pub mod limits {
    /// Rhai operations (roughly one per expression evaluated) in one run.
    pub const OPERATIONS: u64 = 2_000_000_000;
    /// Bytes in one string (a whole config file or a command's output fits many times over).
    pub const STRING_BYTES: usize = 256 << 20;
    /// Items in one array or map.
    pub const ITEMS: usize = 4_000_000;
    /// Nested function calls.
    pub const CALL_DEPTH: usize = 256;
}

fn set_limits(engine: &mut Engine) {
    engine.set_max_operations(limits::OPERATIONS);
    engine.set_max_string_size(limits::STRING_BYTES);
    engine.set_max_array_size(limits::ITEMS);
    engine.set_max_map_size(limits::ITEMS);
    engine.set_max_call_levels(limits::CALL_DEPTH);
}

/// The scope every runbook starts with: the `inventory` constant.
pub fn scope(ctx: &Arc<Ctx>) -> Scope<'static> {
    let mut scope = Scope::new();
    scope.push_constant("inventory", InventoryRef(ctx.clone()));
    scope
}

/// Build the engine and compile `source`; a syntax error becomes a located diagnostic.
pub fn compile(ctx: &Arc<Ctx>, source: &Source) -> Result<Script> {
    let sources = Sources::default();
    sources.add("", &source.display, &source.text);
    let engine = engine(ctx, Some(source), &sources);
    let ast = engine
        .compile(&source.text)
        .map_err(|e| diag::parse_error(&e, &sources, ""))?;
    Ok(Script {
        engine,
        ast,
        sources,
    })
}

impl Script {
    /// Run the whole runbook top to bottom in a fresh scope.
    pub fn run(&self, ctx: &Arc<Ctx>) -> Result<()> {
        let mut scope = scope(ctx);
        self.engine
            .run_ast_with_scope(&mut scope, &self.ast)
            .map_err(|e| diag::eval_error(&e, &self.sources))
    }
}
