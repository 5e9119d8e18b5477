//! One REPL session: the engine, the variables and functions typed so far, the loaded runbook, and
//! the loop that reads a line and runs it or a meta command.
//!
//! One [`Scope`] lives for the whole session and functions accumulate (each line is merged into the
//! session's function library, whose statements are dropped after the line ran), as in Rhai's own
//! `rhai-repl`. A runbook's top level is run once into that scope in declaring mode — no step runs,
//! no host is touched — so its parameters and variables are there to use by hand.

use super::complete::{self, Helper, Words};
use super::{show, Active};
use crate::context::{Ctx, Phase, Selection};
use crate::diag::{self, Sources};
use crate::engine::{self, Script};
use crate::error::Error;
use crate::journal;
use crate::reference::{self, FnDoc};
use crate::runbook::Source;
use crate::undo::Pending;
use rhai::{Dynamic, Engine, Position, Scope, AST};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;
use std::path::PathBuf;
use std::sync::Arc;

/// The line editor a session reads from.
pub type LineEditor = Editor<Helper, FileHistory>;

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// `:quit` or Ctrl-D.
    Quit,
    /// `:retry`, `:skip`, `:abort`: only in a REPL opened on a failed step.
    Retry,
    Skip,
    Abort,
}

/// A runbook loaded into the session, for `:run` and `:steps`.
struct Loaded {
    source: Source,
    ast: AST,
}

pub struct Session {
    pub ctx: Arc<Ctx>,
    engine: Engine,
    scope: Scope<'static>,
    /// Every function defined so far: the runbook's, then the session's.
    lib: AST,
    sources: Sources,
    runbook: Option<Loaded>,
    /// Undo an attached run (`--run`) left pending, newest first, with their journal ids; `:undo`
    /// runs them after the session's own.
    pub attached: Vec<Pending>,
    /// The failed step, when the REPL was opened from the recovery prompt.
    recovering: Option<String>,
    docs: Vec<FnDoc>,
    /// Modules imported by name (`import "x" as y;`), kept for the lines after.
    modules: Vec<String>,
    _active: Active,
}

impl Session {
    /// A session on `ctx`, with the runbook (its engine and compiled script) if one is loaded.
    pub fn new(
        ctx: &Arc<Ctx>,
        runbook: Option<(Source, Script)>,
        recovering: Option<String>,
    ) -> Self {
        let (engine, sources, loaded) = match runbook {
            Some((source, script)) => (
                script.engine,
                script.sources,
                Some(Loaded {
                    source,
                    ast: script.ast,
                }),
            ),
            None => {
                let sources = Sources::default();
                (engine::engine(ctx, None, &sources), sources, None)
            }
        };
        let mut session = Self {
            ctx: ctx.clone(),
            engine,
            scope: engine::scope(ctx),
            lib: loaded
                .as_ref()
                .map_or_else(AST::empty, |l| l.ast.clone_functions_only()),
            sources,
            runbook: loaded,
            attached: Vec::new(),
            recovering,
            docs: reference::functions().unwrap_or_default(),
            modules: Vec::new(),
            _active: Active::enter(),
        };
        session.declare();
        if let Some(text) = session.runbook.as_ref().map(|r| r.source.text.clone()) {
            session.import_modules(&text);
        }
        session
    }

    /// The loaded runbook's name and step count, for the banner.
    pub fn runbook_summary(&self) -> Option<String> {
        let rb = self.runbook.as_ref()?;
        Some(format!(
            "{} ({} steps)",
            rb.source.name,
            self.ctx.model().steps.len()
        ))
    }

    /// Run the runbook's top level into the session's scope in declaring mode, leaving the run's
    /// model (params, steps, current step) as it was.
    fn declare(&mut self) {
        let Some(rb) = &self.runbook else {
            return;
        };
        let saved = {
            let mut m = self.ctx.model();
            (
                std::mem::take(&mut m.params),
                std::mem::take(&mut m.steps),
                m.current_step.take(),
            )
        };
        self.sources.add("", &rb.source.display, &rb.source.text);
        let declared = {
            let _declaring = self.ctx.enter(Phase::Declaring);
            self.engine.run_ast_with_scope(&mut self.scope, &rb.ast)
        };
        {
            let mut m = self.ctx.model();
            (m.params, m.steps, m.current_step) = saved;
        }
        if let Err(e) = declared {
            errln!(
                "warning: the runbook's variables are not all defined: {}",
                diag::message_of(&e)
            );
        }
    }

    /// Keep modules imported by name (`import "checks" as checks;` on a line of its own) for the
    /// lines after: Rhai forgets imports when a script ends.
    fn import_modules(&mut self, text: &str) {
        for (path, alias) in import_aliases(text) {
            let resolved =
                self.engine
                    .module_resolver()
                    .resolve(&self.engine, None, &path, Position::NONE);
            match resolved {
                Ok(module) => {
                    self.engine.register_static_module(alias.as_str(), module);
                    if !self.modules.contains(&alias) {
                        self.modules.push(alias);
                    }
                }
                Err(e) => errln!(
                    "warning: cannot keep module `{path}`: {}",
                    diag::message_of(&e)
                ),
            }
        }
    }

    /// What completion offers now.
    pub fn words(&self) -> Words {
        let mut modules: Vec<String> = self
            .docs
            .iter()
            .filter_map(|f| f.name.split_once("::").map(|(m, _)| format!("{m}::")))
            .chain(self.modules.iter().map(|m| format!("{m}::")))
            .collect();
        modules.dedup();
        let inventory = &self.ctx.inventory;
        let mut commands: Vec<&str> = complete::COMMANDS.iter().map(|(c, _)| *c).collect();
        if self.recovering.is_some() {
            commands.extend(complete::RECOVERY_COMMANDS.iter().map(|(c, _)| *c));
        }
        Words {
            modules,
            functions: self
                .docs
                .iter()
                .map(|f| f.name.clone())
                .chain(self.lib.iter_functions().map(|f| f.name.to_string()))
                .collect(),
            variables: self.scope.iter_raw().map(|(n, ..)| n.to_string()).collect(),
            hosts: inventory.hosts().iter().map(|h| h.name.clone()).collect(),
            groups: inventory.group_names(),
            steps: self
                .ctx
                .model()
                .steps
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            commands,
        }
    }

    fn prompt(&self) -> String {
        match &self.recovering {
            Some(step) => format!("repl({step})> "),
            None => "repl> ".into(),
        }
    }

    /// Read and run lines until the operator leaves.
    pub fn interact(&mut self, rl: &mut LineEditor) -> Leave {
        loop {
            if let Some(h) = rl.helper_mut() {
                h.words = self.words();
            }
            match rl.readline(&self.prompt()) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = rl.add_history_entry(line.as_str());
                    }
                    if let Some(leave) = self.handle(&line) {
                        return leave;
                    }
                }
                // Ctrl-C at the prompt drops the line being typed, as in a shell.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => return Leave::Quit,
                Err(e) => {
                    errln!("cannot read the terminal: {e}");
                    return Leave::Quit;
                }
            }
        }
    }

    /// Run one input: a meta command or Rhai code. `Some` when the session ends.
    pub fn handle(&mut self, input: &str) -> Option<Leave> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.starts_with(':') {
            return self.command(trimmed);
        }
        self.eval(input);
        None
    }

    fn eval(&mut self, input: &str) {
        self.sources.add("", "repl", input);
        let ast = match self.engine.compile_with_scope(&self.scope, input) {
            Ok(ast) => ast,
            Err(e) => return report(diag::parse_error(&e, &self.sources, "")),
        };
        self.lib += ast;
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &self.lib);
        self.lib.clear_statements();
        self.after_call();
        match result {
            Ok(value) => {
                let text = show::render(&value);
                if !text.is_empty() {
                    outln!("{}", self.ctx.redactor().redact(&text));
                }
                self.import_modules(input);
            }
            Err(e) => report(diag::eval_error(&e, &self.sources)),
        }
    }

    /// After a call Ctrl-C stopped, a fresh token, so the next line is not born cancelled.
    fn after_call(&self) {
        if self.ctx.cancel().is_cancelled() {
            self.ctx.cancel().renew();
            if self.recovering.is_some() {
                errln!("(only that line was stopped: the run waits at its failed step)");
            }
        }
    }

    fn command(&mut self, line: &str) -> Option<Leave> {
        let (command, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        match command {
            ":help" | ":h" | ":?" => self.help(arg),
            ":hosts" => self.hosts(),
            ":steps" => self.steps(),
            ":run" => self.run_step(arg),
            ":undo" => self.undo(),
            ":journal" => self.journal(),
            ":vars" => self.vars(),
            ":quit" | ":q" | ":exit" => return Some(Leave::Quit),
            ":retry" | ":skip" | ":abort" if self.recovering.is_none() => errln!(
                "{command} is for a REPL opened on a failed step (the recovery prompt of `runbook run`)"
            ),
            ":retry" => return Some(Leave::Retry),
            ":skip" => return Some(Leave::Skip),
            ":abort" => return Some(Leave::Abort),
            other => errln!("unknown command `{other}`: `:help` lists them"),
        }
        None
    }

    fn help(&self, arg: &str) {
        if arg.is_empty() {
            outln!("Type Rhai: the runbook functions, on the inventory's hosts. Commands:");
            let recovery = self
                .recovering
                .iter()
                .flat_map(|_| complete::RECOVERY_COMMANDS);
            for (c, what) in complete::COMMANDS.iter().chain(recovery) {
                outln!("  {c:<9} {what}");
            }
            let words = self.words();
            outln!("Modules: {}", words.modules.join(" "));
            outln!(
                "Tab completes functions, variables, and host, group and step names in strings."
            );
            return;
        }
        let exact: Vec<&FnDoc> = self.docs.iter().filter(|f| f.name == arg).collect();
        if let Some(first) = exact.first() {
            for f in &exact {
                outln!("{}", f.signature);
            }
            for line in first.doc.lines() {
                outln!("    {line}");
            }
            return;
        }
        let mut listed: Vec<&FnDoc> = self
            .docs
            .iter()
            .filter(|f| f.name.starts_with(arg))
            .collect();
        listed.dedup_by(|a, b| a.name == b.name);
        if listed.is_empty() {
            let near: Vec<&str> = self
                .docs
                .iter()
                .map(|f| f.name.as_str())
                .filter(|n| n.contains(arg.rsplit("::").next().unwrap_or(arg)))
                .collect();
            errln!("no function `{arg}`");
            if !near.is_empty() {
                errln!("similar: {}", near.join(", "));
            }
            return;
        }
        let width = listed.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in listed {
            let first = f.doc.lines().next().unwrap_or("");
            outln!("{:<width$}  {first}", f.name);
        }
    }

    fn hosts(&self) {
        let inventory = &self.ctx.inventory;
        let width = inventory
            .hosts()
            .iter()
            .map(|h| h.name.len())
            .max()
            .unwrap_or(0);
        for h in inventory.hosts() {
            let reach = match &h.user {
                Some(u) => format!("{u}@{}", h.address),
                None => h.address.clone(),
            };
            outln!("{:<width$}  {reach:<24} {}", h.name, h.groups.join(", "));
        }
        let groups: Vec<String> = inventory
            .group_names()
            .into_iter()
            .map(|g| {
                let n = inventory.group(&g).map(|h| h.len()).unwrap_or(0);
                format!("{g} ({n})")
            })
            .collect();
        if !groups.is_empty() {
            outln!("groups: {}", groups.join(", "));
        }
    }

    fn journal_path(&self) -> Option<PathBuf> {
        let journal = self.ctx.recorder.journal();
        journal.as_ref().map(|j| j.path().to_path_buf())
    }

    fn steps(&self) {
        if self.runbook.is_none() {
            errln!("no runbook loaded: start the REPL with --runbook NAME|FILE or --run RUN");
            return;
        }
        let finished = self
            .journal_path()
            .and_then(|p| journal::read(&p).ok())
            .map(|records| journal::replay(&records).finished_steps)
            .unwrap_or_default();
        let model = self.ctx.model();
        let width = model.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for (i, s) in model.steps.iter().enumerate() {
            let mark = if self.recovering.as_deref() == Some(s.name.as_str()) {
                "✗"
            } else if finished.contains(&s.name) {
                "✓"
            } else {
                " "
            };
            outln!("{mark} {:>2}. {:<width$}  {}", i + 1, s.name, s.description);
        }
    }

    /// `:run STEP`: the runbook from the top with only that step selected (a fresh scope, as a
    /// run has), so it is journaled like any run's step.
    fn run_step(&mut self, name: &str) {
        let Some(rb) = &self.runbook else {
            errln!("no runbook loaded: start the REPL with --runbook NAME|FILE or --run RUN");
            return;
        };
        let names: Vec<String> = self
            .ctx
            .model()
            .steps
            .iter()
            .map(|s| s.name.clone())
            .collect();
        if !names.iter().any(|s| s == name) {
            errln!("unknown step `{name}`; steps: {}", names.join(", "));
            return;
        }
        if self.recovering.as_deref() == Some(name) {
            errln!("`{name}` is the step that failed: `:retry` runs it again as part of the run");
            return;
        }
        let saved = {
            let mut m = self.ctx.model();
            let selection = Selection {
                only: vec![name.to_string()],
                ..Selection::default()
            };
            (
                std::mem::replace(&mut m.selection, selection),
                std::mem::replace(&mut m.from_reached, false),
            )
        };
        self.sources.add("", &rb.source.display, &rb.source.text);
        let mut scope = engine::scope(&self.ctx);
        let result = {
            let _running = self.ctx.enter(Phase::Running);
            self.engine.run_ast_with_scope(&mut scope, &rb.ast)
        };
        {
            let mut m = self.ctx.model();
            (m.selection, m.from_reached) = saved;
        }
        self.after_call();
        if let Err(e) = result {
            report(diag::eval_error(&e, &self.sources));
        }
    }

    /// Everything pending: the session's own undo (newest first), then an attached run's.
    pub fn pending(&self) -> usize {
        let stack = self.ctx.recorder.undo();
        stack.pending().len() + self.attached.len()
    }

    /// `:undo`: run every pending undo now. Undo scopes a running step still has open (in a REPL
    /// on a failed step) stay open, emptied, for that step's `temporarily` to close.
    pub fn undo(&mut self) {
        let mut pending = {
            let mut stack = self.ctx.recorder.undo();
            let open = stack.open(); // how many scopes there were
            stack.close(open);
            let all = stack.close(0);
            for _ in 1..open {
                stack.open();
            }
            all
        };
        pending.append(&mut self.attached);
        if pending.is_empty() {
            outln!("nothing to undo");
            return;
        }
        let n = pending.len();
        match self.ctx.run_undo(pending, true) {
            Ok(()) => outln!("undone: {n} temporary change(s)"),
            Err(e) => report(e),
        }
    }

    fn journal(&self) {
        let Some(path) = self.journal_path() else {
            errln!("this session has no journal");
            return;
        };
        match journal::read(&path) {
            Ok(records) => {
                for r in &records {
                    outln!("{}", crate::report::text::line(r));
                }
            }
            Err(e) => report(e),
        }
    }

    fn vars(&self) {
        for (name, constant, value) in self.scope.iter_raw() {
            let text = show::render(value);
            let first = text.lines().next().unwrap_or("");
            let more = if text.lines().nth(1).is_some() {
                " …"
            } else {
                ""
            };
            let kind = if constant { "const" } else { "let" };
            outln!("{kind} {name}: {} = {first}{more}", value.type_name());
        }
    }
}

/// Print an error as a diagnostic; the session goes on.
pub fn report(e: Error) {
    errln!("{:?}", miette::Report::new(e));
}

/// `import "path" as alias` statements that start a line, in order.
fn import_aliases(text: &str) -> Vec<(String, String)> {
    crate::runbook::import_statements(text)
        .into_iter()
        .filter_map(|i| Some((i.path, i.alias?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_on_their_own_line_are_found() {
        let text = "import \"checks\" as checks;\n  import \"x/y\" as y\nlet important = 1;\nimport \"z\" asz;";
        assert_eq!(
            import_aliases(text),
            [
                ("checks".to_string(), "checks".to_string()),
                ("x/y".to_string(), "y".to_string())
            ]
        );
    }
}
