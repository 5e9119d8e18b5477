//! Rhai errors as diagnostics: the innermost error's message, in the file it happened in, with a
//! labelled span at its line:column.
//!
//! Rhai positions are 1-based line and 1-based character column; miette wants a byte offset.

use crate::error::{Error, Failure, Interrupted, Kind};
use rhai::{EvalAltResult, ParseError, Position};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Source texts by the name Rhai reports for them (a module's name; "" for the runbook itself).
#[derive(Clone, Default)]
pub struct Sources {
    inner: Arc<Mutex<HashMap<String, (String, String)>>>,
}

impl Sources {
    /// Remember `text`, reported by Rhai as `key`, shown to users as `display`.
    pub fn add(&self, key: &str, display: &str, text: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), (display.to_string(), text.to_string()));
    }

    fn get(&self, key: &str) -> Option<(String, String)> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
}

/// Byte range of the token at a 1-based (line, column) position: an identifier (with `::` paths)
/// or a single character.
pub fn span_at(text: &str, line: usize, column: usize) -> Option<(usize, usize)> {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let start = offset
                + l.char_indices()
                    .nth(column.saturating_sub(1))
                    .map(|(b, _)| b)
                    .unwrap_or(l.trim_end().len());
            let rest = &text[start..];
            let ident = rest
                .char_indices()
                .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':')
                .last()
                .map(|(b, c)| b + c.len_utf8());
            let len = ident.unwrap_or_else(|| rest.chars().next().map_or(0, char::len_utf8));
            return Some((start, len.max(1).min(text.len() - start)));
        }
        offset += l.len();
    }
    None
}

/// The message of a (possibly nested) Rhai error, without position decorations.
pub fn message_of(err: &EvalAltResult) -> String {
    match innermost(err).0 {
        EvalAltResult::ErrorRuntime(v, _) => match v.clone().try_cast::<Failure>() {
            Some(f) => f.message,
            None => v.to_string(),
        },
        EvalAltResult::ErrorTerminated(..) => Interrupted.to_string(),
        e => {
            let text = e.to_string();
            match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_string(),
                _ => text,
            }
        }
    }
}

/// The error that really happened, the source it happened in (None: the runbook), and the call
/// chain from the runbook down to it.
fn innermost(mut err: &EvalAltResult) -> (&EvalAltResult, Option<String>, Vec<(String, Position)>) {
    let mut source = None;
    let mut chain = Vec::new();
    loop {
        match err {
            EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) => {
                if !name.starts_with("anon$") {
                    chain.push((name.clone(), *pos));
                }
                source = if src.is_empty() {
                    source
                } else {
                    Some(src.clone())
                };
                err = inner;
            }
            EvalAltResult::ErrorInModule(name, inner, _) => {
                source = Some(name.clone());
                err = inner;
            }
            _ => return (err, source, chain),
        }
    }
}

fn kind_of(err: &EvalAltResult) -> Kind {
    match err {
        EvalAltResult::ErrorRuntime(v, _) => v
            .clone()
            .try_cast::<Failure>()
            .map_or(Kind::Script, |f| f.kind),
        EvalAltResult::ErrorTerminated(..) => Kind::Interrupted,
        _ => Kind::Script,
    }
}

fn locate(err: Error, sources: &Sources, key: &str, pos: Position, label: &str) -> Error {
    let (Some(line), Some((name, text))) = (pos.line(), sources.get(key)) else {
        return err;
    };
    match span_at(&text, line, pos.position().unwrap_or(1)) {
        Some(span) => err.at(&name, &text, span, label),
        None => err,
    }
}

/// A runtime error from a runbook as a diagnostic.
pub fn eval_error(err: &EvalAltResult, sources: &Sources) -> Error {
    let (inner, source, chain) = innermost(err);
    let kind = kind_of(inner);
    let message = message_of(inner);
    let label = match kind {
        Kind::Remote => "this call failed",
        Kind::Interrupted => "interrupted here",
        Kind::Undo => "undo failed for this scope",
        _ => "here",
    };
    let failure = match inner {
        EvalAltResult::ErrorRuntime(v, _) => v.clone().try_cast::<Failure>(),
        _ => None,
    };
    let mut e = match &failure {
        // A remote failure keeps what the primitive knew: the host, the exit code, stderr.
        Some(f) if kind == Kind::Remote => Error::remote(&f.host, None, f.code, &f.stderr, message),
        _ => Error::new(kind, message),
    };
    let help = failure.and_then(|f| f.help);
    e = locate(
        e,
        sources,
        source.as_deref().unwrap_or(""),
        inner.position(),
        label,
    );
    let called = chain
        .first()
        .filter(|_| source.is_some())
        .and_then(|(name, pos)| {
            pos.line()
                .map(|line| format!("in `{name}`, called from the runbook at line {line}"))
        });
    match (help, called) {
        (Some(help), Some(called)) => e.with_help(format!("{help}\n({called})")),
        (Some(help), None) => e.with_help(help),
        (None, Some(called)) => e.with_help(called),
        (None, None) => e,
    }
}

/// A parse error in `name` (shown as `display`) as a diagnostic.
pub fn parse_error(err: &ParseError, sources: &Sources, key: &str) -> Error {
    let message = err.err_type().to_string();
    locate(
        Error::script(format!("syntax error: {message}")),
        sources,
        key,
        err.position(),
        "here",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    #[test]
    fn errors_keep_their_kind_and_exit_code_through_rhai() {
        let sources = Sources::default();
        let back = |e: Error| eval_error(&e.into_rhai("mgr-1"), &sources);
        let remote = back(Error::remote(
            "mgr-1",
            Some("cfy status".into()),
            Some(2),
            "boom",
            "`cfy status` exited with 2",
        ));
        match &remote {
            Error::Remote {
                host, code, stderr, ..
            } => assert_eq!(
                (host.as_str(), *code, stderr.as_str()),
                ("mgr-1", Some(2), "boom")
            ),
            other => panic!("not remote: {other:?}"),
        }
        assert_eq!(remote.exit_code(), exit::REMOTE);
        let journal = back(Error::journal(std::path::Path::new("/j"), "disk full"));
        assert_eq!(journal.exit_code(), exit::JOURNAL);
        assert_eq!(journal.message(), "cannot write journal /j: disk full");
        assert_eq!(back(Error::new(Kind::Paused, "p")).exit_code(), exit::USAGE);
        assert!(matches!(
            back(Error::new(Kind::Paused, "p")),
            Error::Paused { .. }
        ));
        assert_eq!(back(Error::new(Kind::Undo, "u")).exit_code(), exit::UNDO);
        let stopped = back(Error::new(Kind::Interrupted, ""));
        assert!(matches!(stopped, Error::Interrupted { .. }));
        assert_eq!(stopped.exit_code(), exit::INTERRUPTED);
        let io = Error::io("cannot write x", std::io::Error::other("disk full"));
        assert_ne!(io.exit_code(), exit::USAGE, "I/O never claims bad usage");
    }

    #[test]
    fn spans_are_byte_offsets_of_1_based_positions() {
        let text = "let a = 1;\nlet é = ssh::run(h);\n";
        let (start, len) = span_at(text, 2, 9).unwrap();
        assert_eq!(&text[start..start + len], "ssh::run");
        let (start, len) = span_at(text, 1, 1).unwrap();
        assert_eq!(&text[start..start + len], "let");
        let (start, len) = span_at(text, 1, 7).unwrap();
        assert_eq!(&text[start..start + len], "=");
    }
}
