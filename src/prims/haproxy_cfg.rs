//! Lossless HAProxy configuration parsing and a typed edit of `timeout client` / `timeout server`.
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

/// Which of the two edited timeouts a directive sets; the runbook only needs these two because
/// they are what cut long idle-looking restore connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Which {
    /// `timeout client`: inactivity on the client side; takes effect in defaults/frontend/listen.
    Client,
    /// `timeout server`: inactivity on the server side; takes effect in defaults/backend/listen.
    Server,
}

impl Which {
    /// The keyword after `timeout`, as HAProxy spells it (case-sensitive).
    pub fn keyword(self) -> &'static str {
        match self {
            Which::Client => "client",
            Which::Server => "server",
        }
    }

    /// Whether HAProxy applies this timeout in a section of `kind` (elsewhere it warns and
    /// ignores it, or the section is not a proxy at all), so we edit only where it matters.
    pub fn takes_effect_in(self, kind: &str) -> bool {
        matches!(
            (self, kind),
            (_, "defaults" | "listen") | (Which::Client, "frontend") | (Which::Server, "backend")
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

/// If the line is `timeout client|server VALUE…`, which one and the value word.
fn timeout_directive(text: &str) -> Option<(Which, Word)> {
    let mut w = words(body(text)).into_iter();
    if w.next()?.text != "timeout" {
        return None;
    }
    let which = match w.next()?.text.as_str() {
        "client" => Which::Client,
        "server" => Which::Server,
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
    pub fn sections(&self) -> Vec<Section> {
        self.sections.clone()
    }

    /// Every active (uncommented) `timeout client` and `timeout server` directive, in file order,
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
    pub fn set_timeouts(
        &mut self,
        client: Option<&str>,
        server: Option<&str>,
    ) -> Result<EditReport, Error> {
        let wanted = [(Which::Client, client), (Which::Server, server)];
        for (which, value) in wanted {
            if let Some(value) = value {
                parse_duration(value).map_err(|e| Error::InvalidTimeout {
                    which,
                    reason: Box::new(e),
                })?;
            }
        }
        let mut report = EditReport::default();
        let mut found = [false, false];
        for t in self.timeouts() {
            let Some(new) = wanted[t.which as usize].1 else {
                continue;
            };
            if !t.effective {
                report.ignored.push(t);
                continue;
            }
            found[t.which as usize] = true;
            if t.value == new {
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
        report.missing = wanted
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
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn corpus_dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/haproxy"))
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(corpus_dir().join(name)).expect("read corpus file")
    }

    /// Names of every `*.cfg` of the corpus (not its `expected/` folder), sorted.
    fn corpus() -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(corpus_dir())
            .expect("corpus dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "cfg"))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.len() >= 6, "corpus went missing: {names:?}");
        names
    }

    /// A report in short: `c7` = client edited at line 7, `!s29` = server ignored at line 29,
    /// `-client` = client missing.
    fn summary(r: &EditReport) -> String {
        let tag = |w: Which| &w.keyword()[..1];
        let changes = r
            .changes
            .iter()
            .map(|c| format!("{}{}", tag(c.which), c.line));
        let ignored = r
            .ignored
            .iter()
            .map(|t| format!("!{}{}", tag(t.which), t.line));
        let missing = r.missing.iter().map(|w| format!("-{w}"));
        changes
            .chain(ignored)
            .chain(missing)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Per corpus file: summary of set_timeouts(1440m, 1440m); `expected/NAME` is the output.
    const EXPECT: &[(&str, &str)] = &[
        ("cloudify-manager.cfg", "c7 s9"),
        ("debian-default.cfg", "c26 s27"),
        ("legacy-1x.cfg", "-client -server"),
        (
            "multi-named-defaults.cfg",
            "c11 s12 c18 s19 c23 s34 c44 s45 s60 !s29 !c39",
        ),
        ("no-trailing-newline.cfg", "c4 s10"),
        ("sed-traps.cfg", "c9 s10"),
        ("tabs-crlf.cfg", "c9 s10"),
    ];

    #[test]
    fn corpus_round_trips_byte_for_byte() {
        for name in corpus() {
            let text = read(&name);
            assert_eq!(Config::parse(&text).render(), text, "{name}");
        }
        for text in ["", "\n", "\r\n", "x", "a\rb\n", " \t\n#\n", "é\"#\"'q\n\\"] {
            assert_eq!(Config::parse(text).render(), text);
        }
    }

    #[test]
    fn corpus_edit_gives_expected_files_and_touches_only_those_lines() {
        let listed: Vec<_> = EXPECT.iter().map(|e| e.0.to_string()).collect();
        assert_eq!(corpus(), listed, "every corpus file needs an EXPECT entry");
        for &(name, want) in EXPECT {
            let text = read(name);
            let mut c = Config::parse(&text);
            let before = c.timeouts();
            let r = c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
            assert_eq!(summary(&r), want, "{name}");
            for ch in &r.changes {
                let t = before.iter().find(|t| t.line == ch.line).unwrap();
                let old = (&*t.value, &*t.section, "1440m");
                assert_eq!((&*ch.old, &*ch.section, &*ch.new), old);
            }
            let out = c.render();
            assert_eq!(out, read(&format!("expected/{name}")), "{name}");
            let (a, b) = (text.split_inclusive('\n'), out.split_inclusive('\n'));
            assert_eq!(a.clone().count(), b.clone().count());
            for (i, (x, y)) in a.zip(b).enumerate() {
                let edited = r.changes.iter().any(|c| c.line == i + 1);
                assert_eq!(x != y, edited, "{name}:{}", i + 1);
            }
            let again = c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
            assert!(again.is_noop(), "{name} is not idempotent: {again:?}");
            assert_eq!(c.render(), out);
        }
    }

    #[test]
    fn sed_traps_full_output() {
        let text = "defaults\n  timeout client 30m # keep\n  timeout  server   30m\n  \
            timeout client-fin 30s\n  timeout server-fin 30s\n  # timeout client 30m\n  \
            #timeout server 1m\n  timeout clientXYZ 1s\n  timeout tunnel 1h\n";
        let mut c = Config::parse(text);
        let r = c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
        let want = "defaults\n  timeout client 1440m # keep\n  timeout  server   1440m\n  \
            timeout client-fin 30s\n  timeout server-fin 30s\n  # timeout client 30m\n  \
            #timeout server 1m\n  timeout clientXYZ 1s\n  timeout tunnel 1h\n";
        assert_eq!(c.render(), want);
        assert_eq!(summary(&r), "c2 s3");
        assert!(r
            .changes
            .iter()
            .all(|c| c.section == "defaults" && c.old == "30m"));
    }

    #[test]
    fn timeouts_and_sections_are_reported() {
        let t = &Config::parse(&read("debian-default.cfg")).timeouts()[0];
        let got = (&*t.section, t.which, &*t.value, t.line, t.effective);
        assert_eq!(got, ("defaults", Which::Client, "50000", 26, true));
        let c = Config::parse(&read("multi-named-defaults.cfg"));
        let labels = c
            .sections()
            .into_iter()
            .map(|s| format!("{}@{}", s.label(), s.line));
        let labels: Vec<_> = labels.collect();
        assert_eq!(labels.len(), 12);
        assert_eq!(
            labels[..3],
            ["global@2", "defaults web@6", "defaults tcp@15"]
        );
        assert_eq!(labels[11], "backend indented-header@59");
        let ignored: Vec<_> = c.timeouts().into_iter().filter(|t| !t.effective).collect();
        let ignored: Vec<_> = ignored.iter().map(|t| &*t.section).collect();
        assert_eq!(ignored, ["frontend api", "backend api"]);
        let unnamed = Config::parse("defaults from base\n").sections();
        assert_eq!(unnamed[0].name, None);
        let stray = &Config::parse("  timeout client 1s\nglobal\n").timeouts()[0];
        assert_eq!((&*stray.section, stray.effective), (NO_SECTION, false));
    }

    #[test]
    fn missing_and_ignored_are_reported_not_added() {
        let text = "frontend fe\n  timeout client 30s\n  timeout server 30s\n\
            backend be\n  timeout client 9s\n";
        let mut c = Config::parse(text);
        let r = c.set_timeouts(None, Some("1440m")).unwrap();
        assert!(r.is_noop());
        assert_eq!(summary(&r), "!s3 -server");
        assert_eq!(c.render(), text);
        let r = c.set_timeouts(Some("1d"), None).unwrap();
        assert_eq!(summary(&r), "c2 !c5");
        assert_eq!(c.render(), text.replacen("client 30s", "client 1d", 1));
        let mut c = Config::parse("global\n  daemon\n");
        let r = c.set_timeouts(Some("1m"), Some("1m")).unwrap();
        assert_eq!(r.missing, [Which::Client, Which::Server]);
    }

    #[test]
    fn comment_inside_word_and_quoted_value() {
        let text = "listen l\n\ttimeout client 30m#n\r\n\ttimeout server \"30m\"\r\n";
        let mut c = Config::parse(text);
        assert_eq!(c.timeouts()[0].value, "30m");
        c.set_timeouts(Some("5m"), Some("5m")).unwrap();
        let want = "listen l\n\ttimeout client 5m#n\r\n\ttimeout server 5m\r\n";
        assert_eq!(c.render(), want);
    }

    #[test]
    fn invalid_value_changes_nothing() {
        let text = read("cloudify-manager.cfg");
        let mut c = Config::parse(&text);
        let (ok, bad) = (Some("1440m"), ["30x", "30d", "", "5 m", "-1"].map(Some));
        for (client, server) in bad.iter().flat_map(|&b| [(ok, b), (b, ok), (b, None)]) {
            let err = c.set_timeouts(client, server).unwrap_err();
            assert!(matches!(err, Error::InvalidTimeout { .. }), "{err:?}");
            assert_eq!(c.render(), text);
        }
        let err = c.set_timeouts(ok, Some("30x")).unwrap_err().to_string();
        let want = "refusing to set `timeout server`: invalid duration value \"30x\": \
            unit must be one of us, ms, s, m, h, d";
        assert_eq!(err, want);
    }

    #[test]
    fn parse_duration_units_and_limits() {
        // VALUE=MICROSECONDS
        let ok = "50000=50000000 250ms=250000 1500us=1500 30s=30000000 1440m=86400000000 \
            2h=7200000000 24d=2073600000000 0=0 0005s=5000000 2147483647=2147483647000 \
            596h=2145600000000";
        for (s, micros) in ok.split(' ').map(|p| p.split_once('=').unwrap()) {
            let want = Duration::from_micros(micros.parse().unwrap());
            assert_eq!(parse_duration(s), Ok(want), "{s}");
        }
        let err = |s: &str| parse_duration(s).unwrap_err();
        for s in "2147483648 597h 25d 30d 2147483647001us 99999999999999999999".split(' ') {
            assert_eq!(err(s), Error::TimerOverflow { value: s.into() });
        }
        for s in [
            "30x", "1M", "1S", "1d1h", "5 s", "5s ", "30m#x", "1.5s", "5\u{b5}s",
        ] {
            assert_eq!(err(s), Error::BadUnit { value: s.into() });
        }
        for s in ["", "m", "-1", "+5s", ".5s", " 5s", "\"5s\"", "\u{661}s"] {
            assert_eq!(err(s), Error::NotANumber { value: s.into() });
        }
        let msg = err("30d").to_string();
        let want = "timer overflow in duration value \"30d\": HAProxy's maximum is 2147483647 ms \
            (~24.8 days)";
        assert_eq!(msg, want);
    }

    #[test]
    fn unified_diff_format() {
        let old = read("cloudify-manager.cfg");
        let mut c = Config::parse(&old);
        c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
        let d = unified_diff("/etc/haproxy/haproxy.cfg", &old, &c.render());
        let want = "--- a/etc/haproxy/haproxy.cfg\n+++ b/etc/haproxy/haproxy.cfg\n@@ -4,9 +4,9 @@\n     \
            log global\n     mode tcp\n     retries 2\n-    timeout client 30m\n+    timeout client \
            1440m\n     timeout connect 4s\n-    timeout server 30m\n+    timeout server 1440m\n     \
            timeout check 5s\n listen stats\n     mode http\n";
        assert_eq!(d, want);
        assert_eq!(unified_diff("x", &old, &old), "");
        let d = unified_diff("x.cfg", "a\nb", "a\nc");
        let want =
            "--- a/x.cfg\n+++ b/x.cfg\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n";
        assert!(d.starts_with(want), "{d}");
    }
}
