//! One engine builder for `run`, `plan`, `check` and `repl`, so a primitive behaves the same in all.

use crate::context::Ctx;
use crate::diag::{self, Sources};
use crate::error::Result;
use crate::prims::{self, inventory::InventoryRef};
use crate::runbook::{Resolver, Source};
use rhai::{Engine, Scope, AST};
use std::sync::Arc;

/// An engine bound to a run's context, with the runbook compiled.
pub struct Script {
    pub engine: Engine,
    pub ast: AST,
    pub sources: Sources,
}

/// Build the engine: primitives, stdlib resolver, Ctrl-C, and print() through the redactor.
pub fn engine(ctx: &Arc<Ctx>, source: Option<&Source>, sources: &Sources) -> Engine {
    let mut engine = Engine::new();
    // Rhai's default nesting limits (64, 32 in functions) are tight for runbook helpers.
    engine.set_max_expr_depths(256, 128);
    engine.set_module_resolver(Resolver {
        module_dir: source.and_then(|s| s.module_dir.clone()),
        sources: sources.clone(),
    });
    prims::register_all(&mut engine, ctx);
    let cancel = ctx.cancel.clone();
    engine.on_progress(move |_| cancel.is_cancelled().then(|| "interrupted".into()));
    let redactor = ctx.redactor.clone();
    engine.on_print(move |s| println!("{}", redactor.redact(s)));
    let redactor = ctx.redactor.clone();
    engine.on_debug(move |s, _, pos| eprintln!("[debug {pos}] {}", redactor.redact(s)));
    engine
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
