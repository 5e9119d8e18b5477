//! Secrets: values a runbook may use but never show.
//!
//! A [`Secret`] has no string form inside Rhai (printing it shows `<secret NAME>`); only exec
//! primitives unwrap it into a command's argv or stdin. Every output path (terminal, journal, error
//! text, progress lines) passes through the one [`Redactor`], which replaces any known secret value.

use std::fmt;
use std::sync::{Arc, RwLock};

/// An opaque secret value. Cloning shares the value; `Debug`/`Display` never show it.
#[derive(Clone)]
pub struct Secret {
    name: Arc<str>,
    value: Arc<str>,
}

impl Secret {
    /// A secret called `name` holding `value`.
    pub fn new(name: &str, value: &str) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The secret's name (what output shows in its place).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value itself: for exec primitives only.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<secret {}>", self.name)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where a secret comes from on the command line: `NAME=env:VAR`, `NAME=file:PATH` or `NAME=VALUE`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub enum SecretSource {
    /// From an environment variable (`env:VAR`).
    Env(String),
    /// From a file's content, trailing newline dropped (`file:PATH`).
    File(String),
    /// Given literally on the command line; never persisted, so `resume` asks for it again.
    Literal,
}

/// Parse `NAME=env:VAR` / `NAME=file:PATH` / `NAME=VALUE` into a secret.
pub fn parse_secret_arg(arg: &str) -> Result<(Secret, SecretSource), String> {
    let (name, spec) = arg.split_once('=').ok_or_else(|| {
        format!("--set-secret expects NAME=env:VAR, NAME=file:PATH or NAME=VALUE, got `{arg}`")
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("--set-secret `{arg}` has an empty name"));
    }
    let (value, source) = if let Some(var) = spec.strip_prefix("env:") {
        let value = std::env::var(var)
            .map_err(|_| format!("secret `{name}`: environment variable {var} is not set"))?;
        (value, SecretSource::Env(var.to_string()))
    } else if let Some(path) = spec.strip_prefix("file:") {
        let value = std::fs::read_to_string(path)
            .map_err(|e| format!("secret `{name}`: cannot read {path}: {e}"))?;
        (
            value.trim_end_matches(['\n', '\r']).to_string(),
            SecretSource::File(path.to_string()),
        )
    } else {
        (spec.to_string(), SecretSource::Literal)
    };
    if value.is_empty() {
        return Err(format!("secret `{name}` is empty"));
    }
    Ok((Secret::new(name, &value), source))
}

/// The one redactor every output path goes through.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<(String, String)>>>,
}

/// Lines of a multi-line secret shorter than this (trimmed) are not masked on their own: a line
/// such as `}` or `-----` would mask half of every output. The whole value is always masked.
const MIN_MASKED_LINE: usize = 6;

impl Redactor {
    /// Mask `secret` from now on: its whole value, and for a multi-line value each of its lines
    /// (an output tail or a live line never holds the whole value, only some of its lines).
    pub fn add(&self, secret: &Secret) {
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        let mask = format!("<secret {}>", secret.name());
        let value = secret.expose();
        let lines = value
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| value.contains('\n') && l.trim().len() >= MIN_MASKED_LINE);
        for part in std::iter::once(value).chain(lines) {
            if !values.iter().any(|(v, _)| v == part) {
                values.push((part.to_string(), mask.clone()));
            }
        }
        // Longest first, so a secret containing another (or one of its lines) is replaced whole.
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// `text` with every known secret value replaced by its mask: for text people read only
    /// (terminal, journal messages and tails, errors), never for data the program replays.
    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for (value, mask) in values.iter() {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), mask);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_occurrence_longest_first() {
        let r = Redactor::default();
        r.add(&Secret::new("short", "pass"));
        r.add(&Secret::new("long", "password1"));
        assert_eq!(
            r.redact("x password1 pass"),
            "x <secret long> <secret short>"
        );
    }

    #[test]
    fn a_multi_line_secret_is_masked_whole_and_line_by_line() {
        let r = Redactor::default();
        r.add(&Secret::new(
            "key",
            "-----BEGIN KEY-----\r\nAAAAline-one\nBBBBline-two\n}\n-----END KEY-----",
        ));
        assert_eq!(r.redact("x\nBBBBline-two\ny"), "x\n<secret key>\ny");
        assert_eq!(r.redact("AAAAline-one"), "<secret key>");
        assert_eq!(
            r.redact("a } b"),
            "a } b",
            "short lines are not masked alone"
        );
        assert_eq!(
            r.redact("-----BEGIN KEY-----\r\nAAAAline-one\nBBBBline-two\n}\n-----END KEY-----!"),
            "<secret key>!"
        );
    }

    #[test]
    fn debug_never_shows_value() {
        let s = Secret::new("db", "hunter2");
        assert_eq!(format!("{s:?} {s}"), "<secret db> <secret db>");
    }
}
