//! Lossless HAProxy configuration parsing and a typed edit of `timeout client` / `timeout server`
//! (and of `timeout tunnel`, which supersedes both once a TCP connection is a tunnel).
//!
//! Why: the upgrade guide raises HAProxy's timeouts with
//! `sed -e 's/timeout client.*$/timeout client 1440m/' -e 's/timeout server.*$/…/'`, which also
//! rewrites `timeout client-fin` / `timeout server-fin`, edits commented-out lines, drops trailing
//! comments and misses `timeout  server   30m`. This module edits exactly the value word of the
//! directives that take effect and keeps every other byte, so `runbook plan` can show the diff
//! and the revert is the untouched backup. Pure: no I/O, no async.

use std::fmt;
use std::time::Duration;

/// Largest timer HAProxy accepts, in milliseconds (`2^31 - 1`, ~24.8 days): beyond it HAProxy
/// refuses the file with "timer overflow", so we refuse such a value before writing it.
pub const MAX_TIMER_MS: u64 = 2_147_483_647;

/// Words that open a section when they are the first word of a line, at any indentation
/// (HAProxy 2.6 plus the later `crt-store`, `traces` and `acme`), so lines are attributed to
/// the right section even in configs written for other versions.
const SECTION_KEYWORDS: &str = "global defaults frontend backend listen peers resolvers userlist \
    mailers program http-errors ring cache fcgi-app log-forward crt-store traces acme";

/// Whether `word` opens a section (exact, case-sensitive match, as in HAProxy).
fn is_section_keyword(word: &str) -> bool {
    SECTION_KEYWORDS.split_whitespace().any(|k| k == word)
}

/// Label used for directives that appear before the first section header (HAProxy rejects
/// them, but we still report them rather than hide them).
const NO_SECTION: &str = "(before any section)";

/// Errors of this module: the value-validation failures that make `set_timeouts` refuse an
/// edit (so a bad value never reaches a file that `service haproxy reload` would then reject).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The value does not start with a decimal integer (empty, negative, fractional, words).
    #[error("invalid duration value {value:?}: expected an integer with an optional unit (us, ms, s, m, h, d; no unit means milliseconds)")]
    NotANumber {
        /// The rejected text.
        value: String,
    },
    /// The integer is followed by something that is not one of HAProxy's units.
    #[error("invalid duration value {value:?}: unit must be one of us, ms, s, m, h, d")]
    BadUnit {
        /// The rejected text.
        value: String,
    },
    /// The value exceeds HAProxy's timer range ([`MAX_TIMER_MS`]).
    #[error("timer overflow in duration value {value:?}: HAProxy's maximum is 2147483647 ms (~24.8 days)")]
    TimerOverflow {
        /// The rejected text.
        value: String,
    },
    /// A value given to [`Config::set_timeouts`] is invalid; nothing was changed.
    #[error("refusing to set `timeout {which}`: {reason}")]
    InvalidTimeout {
        /// Which timeout had the invalid value.
        which: Which,
        /// Why the value is invalid.
        reason: Box<Error>,
    },
}

/// Which of the edited timeouts a directive sets: what cuts long idle-looking restore connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Which {
    /// `timeout client`: inactivity on the client side; takes effect in defaults/frontend/listen.
    Client,
    /// `timeout server`: inactivity on the server side; takes effect in defaults/backend/listen.
    Server,
    /// `timeout tunnel`: inactivity of an established tunnel, which in TCP mode every connection
    /// becomes once no analyzer is attached; where set, it supersedes client and server
    /// (HAProxy's configuration manual, `timeout tunnel`). Takes effect in defaults/listen/backend.
    Tunnel,
}

impl Which {
    /// The keyword after `timeout`, as HAProxy spells it (case-sensitive).
    pub fn keyword(self) -> &'static str {
        match self {
            Which::Client => "client",
            Which::Server => "server",
            Which::Tunnel => "tunnel",
        }
    }

    /// Whether HAProxy applies this timeout in a section of `kind` (elsewhere it warns and
    /// ignores it, or the section is not a proxy at all), so we edit only where it matters.
    pub fn takes_effect_in(self, kind: &str) -> bool {
        matches!(
            (self, kind),
            (_, "defaults" | "listen")
                | (Which::Client, "frontend")
                | (Which::Server | Which::Tunnel, "backend")
        )
    }
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// One section header, so callers can show where a directive lives and which proxies exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section keyword: global, defaults, frontend, backend, listen, peers, resolvers, …
    pub kind: String,
    /// The section's name, if any (`defaults` may be unnamed; `defaults from x` is unnamed).
    pub name: Option<String>,
    /// 1-based line number of the header.
    pub line: usize,
}

impl Section {
    /// Human label such as `defaults`, `defaults foo` or `listen postgres`, used in reports.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// An active `timeout client` / `timeout server` directive, as found by [`Config::timeouts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeout {
    /// Label of the enclosing section ([`Section::label`]).
    pub section: String,
    /// Which timeout the directive sets.
    pub which: Which,
    /// The value word exactly as written (e.g. `50000`, `30m`).
    pub value: String,
    /// 1-based line number.
    pub line: usize,
    /// False where HAProxy ignores the directive (e.g. `timeout client` in a backend).
    pub effective: bool,
}

/// One edited line, so the plan/report can say what changed where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Label of the enclosing section.
    pub section: String,
    /// Which timeout was changed.
    pub which: Which,
    /// 1-based line number.
    pub line: usize,
    /// The value word before the edit, as written.
    pub old: String,
    /// The value word after the edit.
    pub new: String,
}

/// What [`Config::set_timeouts`] did, so the runbook can explain (and not guess) the outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditReport {
    /// One entry per edited line, in file order. Empty when every value already matched.
    pub changes: Vec<Change>,
    /// Requested timeouts set by no section where they take effect: HAProxy then has no such
    /// timeout (already unbounded), so nothing was added.
    pub missing: Vec<Which>,
    /// Requested directives left alone because HAProxy ignores them where they are.
    pub ignored: Vec<Timeout>,
}

impl EditReport {
    /// True when the edit changed nothing (no reload needed).
    #[cfg(test)]
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A parsed HAProxy configuration that remembers every byte, so it renders back identically
/// except for the words an edit replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    lines: Vec<Line>,
    sections: Vec<Section>,
}

/// One physical line with its exact bytes (line ending included) and its section index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    text: String,
    section: Option<usize>,
}

/// A word of a line: its byte range in the raw text and its value after quote/escape removal.
#[derive(Debug)]
struct Word {
    start: usize,
    end: usize,
    text: String,
}

/// Splits a line (without its line ending) into words the way HAProxy does: spaces and tabs
/// separate words; `'…'` and `"…"` quote; `\` escapes the next character (not inside single
/// quotes); an unquoted, unescaped `#` starts a comment anywhere, even inside a word
/// (HAProxy 2.6 reads `mode tcp#x` as `mode tcp`).
fn words(line: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.next_if(|&(_, c)| c == ' ' || c == '\t').is_some() {}
        let Some(&(start, first)) = chars.peek() else {
            break;
        };
        if first == '#' {
            break;
        }
        let (mut text, mut squote, mut dquote) = (String::new(), false, false);
        let mut end = line.len();
        while let Some(&(i, c)) = chars.peek() {
            if !squote && !dquote && matches!(c, ' ' | '\t' | '#') {
                end = i;
                break;
            }
            chars.next();
            match c {
                '\\' if !squote => text.extend(chars.next().map(|(_, e)| e)),
                '\'' if !dquote => squote = !squote,
                '"' if !squote => dquote = !dquote,
                _ => text.push(c),
            }
        }
        out.push(Word { start, end, text });
    }
    out
}

/// The line without its `\n` / `\r\n` ending: the part that words are read from.
fn body(text: &str) -> &str {
    let t = text.strip_suffix('\n').unwrap_or(text);
    t.strip_suffix('\r').unwrap_or(t)
}

/// If the line is `timeout client|server|tunnel VALUE…`, which one and the value word.
fn timeout_directive(text: &str) -> Option<(Which, Word)> {
    let mut w = words(body(text)).into_iter();
    if w.next()?.text != "timeout" {
        return None;
    }
    let which = match w.next()?.text.as_str() {
        "client" => Which::Client,
        "server" => Which::Server,
        "tunnel" => Which::Tunnel,
        _ => return None,
    };
    Some((which, w.next()?))
}

impl Config {
    /// Parses a configuration. Never fails: anything not understood is kept verbatim, because
    /// the only job here is to locate sections and two directives without losing a byte.
    pub fn parse(text: &str) -> Config {
        let mut lines = Vec::new();
        let mut sections: Vec<Section> = Vec::new();
        let mut current = None;
        for (idx, raw) in text.split_inclusive('\n').enumerate() {
            let w = words(body(raw));
            if let Some(kind) = w.first().filter(|w| is_section_keyword(&w.text)) {
                let name = w.get(1).map(|n| n.text.clone());
                // `defaults from NAME` is an unnamed defaults section inheriting from NAME.
                let name = name.filter(|n| !(kind.text == "defaults" && n == "from"));
                sections.push(Section {
                    kind: kind.text.clone(),
                    name,
                    line: idx + 1,
                });
                current = Some(sections.len() - 1);
            }
            lines.push(Line {
                text: raw.to_string(),
                section: current,
            });
        }
        Config { lines, sections }
    }

    /// Renders the configuration: byte-identical to the parsed text unless edited.
    pub fn render(&self) -> String {
        self.lines.iter().map(|l| l.text.as_str()).collect()
    }

    /// All section headers in file order, to show the file's structure.
    #[cfg(test)]
    pub fn sections(&self) -> Vec<Section> {
        self.sections.clone()
    }

    /// Every active (uncommented) `timeout client`, `server` and `tunnel` directive, in file order,
    /// including those HAProxy ignores (`effective == false`), so `plan` can show current values.
    pub fn timeouts(&self) -> Vec<Timeout> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(idx, line)| {
                let (which, value) = timeout_directive(&line.text)?;
                let section = line.section.map(|s| &self.sections[s]);
                Some(Timeout {
                    section: section.map_or_else(|| NO_SECTION.to_string(), Section::label),
                    which,
                    value: line.text[value.start..value.end].to_string(),
                    line: idx + 1,
                    effective: section.is_some_and(|s| which.takes_effect_in(&s.kind)),
                })
            })
            .collect()
    }

    /// Sets `timeout client` and/or `timeout server` (None leaves that one alone) in every
    /// section where the directive takes effect, replacing only the value word: indentation,
    /// spacing, trailing comments and line endings stay. Values are validated with
    /// [`parse_duration`] first; on error nothing changes. A value already written exactly as
    /// requested is not a change, so a second run reports no changes. Timeouts that no effective
    /// section sets are reported as `missing` (HAProxy then has none: already unbounded) and not
    /// added; directives HAProxy ignores are reported as `ignored` and not edited.
    ///
    /// A `timeout tunnel` in effect is raised too, to the longer of the two values, since it
    /// supersedes both on an established TCP connection (a restore's); one already at least that
    /// long is left alone, and none is added where no section sets one (HAProxy then uses client
    /// and server).
    pub fn set_timeouts(
        &mut self,
        client: Option<&str>,
        server: Option<&str>,
    ) -> Result<EditReport, Error> {
        let mut longest: Option<(Duration, &str)> = None;
        for (which, value) in [(Which::Client, client), (Which::Server, server)] {
            if let Some(value) = value {
                let d = parse_duration(value).map_err(|e| Error::InvalidTimeout {
                    which,
                    reason: Box::new(e),
                })?;
                if longest.is_none_or(|(l, _)| d > l) {
                    longest = Some((d, value));
                }
            }
        }
        let wanted = [
            (Which::Client, client),
            (Which::Server, server),
            (Which::Tunnel, longest.map(|(_, v)| v)),
        ];
        let mut report = EditReport::default();
        let mut found = [false; 3];
        for t in self.timeouts() {
            let Some(new) = wanted[t.which as usize].1 else {
                continue;
            };
            if !t.effective {
                report.ignored.push(t);
                continue;
            }
            found[t.which as usize] = true;
            let long_enough = t.which == Which::Tunnel
                && parse_duration(&t.value)
                    .is_ok_and(|have| longest.is_some_and(|(want, _)| have >= want));
            if t.value == new || long_enough {
                continue;
            }
            let line = &mut self.lines[t.line - 1];
            let (_, word) = timeout_directive(&line.text).expect("timeouts() found it");
            line.text.replace_range(word.start..word.end, new);
            report.changes.push(Change {
                section: t.section,
                which: t.which,
                line: t.line,
                old: t.value,
                new: new.to_string(),
            });
        }
        report.missing = wanted[..2]
            .iter()
            .filter(|(which, value)| value.is_some() && !found[*which as usize])
            .map(|(which, _)| *which)
            .collect();
        Ok(report)
    }
}

/// Parses HAProxy's time syntax (a decimal integer with an optional unit `us`, `ms`, `s`, `m`,
/// `h` or `d`; no unit means milliseconds), rejecting what HAProxy would reject, so a value is
/// checked before it is written. Values above [`MAX_TIMER_MS`] (after HAProxy's rounding of
/// microseconds up to whole milliseconds) are a timer overflow. Units are case-sensitive.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let value = || s.to_string();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(Error::NotANumber { value: value() });
    }
    let (number, unit) = s.split_at(digits);
    let micros_per_unit: u64 = match unit {
        "us" => 1,
        "" | "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => return Err(Error::BadUnit { value: value() }),
    };
    let micros = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(micros_per_unit))
        .filter(|us| us.div_ceil(1_000) <= MAX_TIMER_MS)
        .ok_or_else(|| Error::TimerOverflow { value: value() })?;
    Ok(Duration::from_micros(micros))
}

/// A unified diff of `old` → `new` (3 lines of context, `--- a/PATH` / `+++ b/PATH` headers,
/// leading `/` of PATH dropped so `/etc/x` gives `a/etc/x`) for `runbook plan` to show before
/// anything is written. Empty when the texts are equal.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    let path = path.trim_start_matches('/');
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests;
