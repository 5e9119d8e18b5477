//! The line editor's helper: Tab completion and multi-line input.
//!
//! Completion offers, by where the cursor is: meta commands after `:`, step names after `:run`,
//! function names after `:help`; inside a string literal the inventory's host and group names and
//! the runbook's step names; elsewhere module names (`ssh::`), function names and variables.
//! A statement that is not finished (Rhai reports the parse error at the end of the input) makes
//! Enter start a new line instead of running it; an empty line runs it anyway.

use rhai::{Engine, LexError, ParseErrorType};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::Context;

/// The meta commands, for completion and `:help`.
pub const COMMANDS: &[(&str, &str)] = &[
    (":help", "[NAME] the doc of a function (`:help ssh::run`), a module's functions (`:help ssh::`), or this list"),
    (":hosts", "the inventory's hosts and groups"),
    (":steps", "the loaded runbook's steps (✓ finished in this journal)"),
    (":run", "STEP: run one step of the loaded runbook, journaled like any run"),
    (":undo", "run the pending undo now (e.g. revert raised timeouts), newest first"),
    (":journal", "show this session's journal (as `runbook log` does)"),
    (":vars", "the variables defined so far"),
    (":quit", "leave (Ctrl-D too); offers to run pending undo first"),
];

/// The meta commands a REPL opened on a failed step adds.
pub const RECOVERY_COMMANDS: &[(&str, &str)] = &[
    (":retry", "leave the REPL and run the failed step again"),
    (":skip", "leave the REPL and go on with the next step"),
    (":abort", "leave the REPL and stop the run (its undo runs)"),
];

/// What completion can offer, refreshed by the session as it changes.
#[derive(Debug, Default, Clone)]
pub struct Words {
    /// `ssh::`, `copy::`, … and modules the session imported.
    pub modules: Vec<String>,
    /// `ssh::run`, `step`, … (from the engine's metadata) and functions the session defined.
    pub functions: Vec<String>,
    pub variables: Vec<String>,
    pub hosts: Vec<String>,
    pub groups: Vec<String>,
    pub steps: Vec<String>,
    pub commands: Vec<&'static str>,
}

pub struct Helper {
    pub words: Words,
    /// Parses input to tell a finished statement from one that goes on (no functions needed).
    parser: Engine,
}

impl Helper {
    pub fn new(words: Words) -> Self {
        Self {
            words,
            parser: Engine::new_raw(),
        }
    }

    fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let current = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
        let w = &self.words;
        let trimmed = current.trim_start();
        if trimmed.starts_with(':') {
            let Some((command, _)) = trimmed.split_once(char::is_whitespace) else {
                return (pos - trimmed.len(), starting(w.commands.iter(), trimmed));
            };
            let arg = &current[current.rfind(char::is_whitespace).map_or(0, |i| i + 1)..];
            let start = pos - arg.len();
            return match command {
                ":run" => (start, starting(w.steps.iter(), arg)),
                ":help" => (start, starting(w.modules.iter().chain(&w.functions), arg)),
                _ => (start, Vec::new()),
            };
        }
        if inside_string(current) {
            let word = &current[current.rfind('"').map_or(0, |i| i + 1)..];
            let names = w.hosts.iter().chain(&w.groups).chain(&w.steps);
            return (pos - word.len(), starting(names, word));
        }
        let word_len = current
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .map(char::len_utf8)
            .sum::<usize>();
        let word = &current[current.len() - word_len..];
        if word.is_empty() {
            return (pos, Vec::new());
        }
        let names = w.modules.iter().chain(&w.functions).chain(&w.variables);
        let mut found = starting(names, word);
        if found.len() > 1 {
            found.retain(|n| n != word); // `ssh::` lists the module's functions, not itself
        }
        (pos - word.len(), found)
    }
}

/// The names starting with `prefix`, sorted, once each.
fn starting<'a, S: AsRef<str> + 'a>(
    names: impl Iterator<Item = &'a S>,
    prefix: &str,
) -> Vec<String> {
    let mut out: Vec<String> = names
        .map(|n| n.as_ref())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether the end of `line` is inside a "…" string (an odd number of unescaped quotes).
fn inside_string(line: &str) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if inside && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => inside = !inside,
            _ => {}
        }
        escaped = false;
    }
    inside
}

/// Whether `input` is an unfinished statement: Rhai stops at the end of it (a missing `}`, `)`,
/// operand …), or a backtick string is still open.
pub fn incomplete(parser: &Engine, input: &str) -> bool {
    let Err(e) = parser.compile(input) else {
        return false;
    };
    match e.err_type() {
        ParseErrorType::UnexpectedEOF => true,
        ParseErrorType::BadInput(LexError::UnterminatedString) => {
            input.matches('`').count() % 2 == 1
        }
        _ => {
            let pos = e.position();
            let (Some(line), Some(column)) = (pos.line(), pos.position()) else {
                return true; // Rhai gives the end of input no position
            };
            let (last_line, last_column) = last_char(input);
            line > last_line || (line == last_line && column > last_column)
        }
    }
}

/// 1-based line and column of the last non-blank character (0, 0 when there is none).
fn last_char(input: &str) -> (usize, usize) {
    let mut at = (0, 0);
    for (i, line) in input.lines().enumerate() {
        let trimmed = line.trim_end();
        if !trimmed.is_empty() {
            at = (i + 1, trimmed.chars().count());
        }
    }
    at
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(line, pos);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Validator for Helper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let trimmed = input.trim();
        let done = trimmed.is_empty()
            || trimmed.starts_with(':')
            || input.ends_with('\n')
            || !incomplete(&self.parser, input);
        Ok(if done {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Hinter for Helper {
    type Hint = String;
}

impl Highlighter for Helper {}

impl rustyline::Helper for Helper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> Helper {
        Helper::new(Words {
            modules: vec!["ssh::".into(), "haproxy::".into()],
            functions: vec!["ssh::run".into(), "ssh::run_all".into(), "step".into()],
            variables: vec!["snapshot".into()],
            hosts: vec!["mgr-1".into(), "mgr-2".into(), "old-1".into()],
            groups: vec!["new_managers".into()],
            steps: vec!["reach".into(), "sudo".into()],
            commands: COMMANDS.iter().map(|(c, _)| *c).collect(),
        })
    }

    fn complete(line: &str) -> (usize, Vec<String>) {
        helper().candidates(line, line.len())
    }

    #[test]
    fn completes_by_position() {
        assert_eq!(
            complete("ssh::r"),
            (0, vec!["ssh::run".into(), "ssh::run_all".into()])
        );
        assert_eq!(
            complete("let x = ss").1,
            ["ssh::", "ssh::run", "ssh::run_all"]
        );
        assert_eq!(
            complete("ssh::run(\"mg"),
            (10, vec!["mgr-1".into(), "mgr-2".into()])
        );
        assert_eq!(complete("inventory.group(\"new").1, ["new_managers"]);
        assert_eq!(complete(":ru"), (0, vec![":run".into()]));
        assert_eq!(complete(":run s"), (5, vec!["sudo".into()]));
        assert_eq!(complete(":help ssh::run_").1, ["ssh::run_all"]);
        assert_eq!(complete("snap").1, ["snapshot"]);
        assert!(complete("x + ").1.is_empty());
        assert!(complete("\"a\\\" b\" + sn")
            .1
            .contains(&"snapshot".to_string()));
    }

    #[test]
    fn an_unfinished_statement_continues() {
        let p = Engine::new_raw();
        for unfinished in [
            "fn f(x) {",
            "let a = [1,",
            "ssh::run(h,",
            "let x =",
            "if a {\n  1",
            "`multi",
        ] {
            assert!(incomplete(&p, unfinished), "{unfinished}");
        }
        for finished in [
            "let a = 1",
            "fn f(x) { x }",
            "let a = 1 1",
            "x = )",
            "\"open",
        ] {
            assert!(!incomplete(&p, finished), "{finished}");
        }
    }
}
