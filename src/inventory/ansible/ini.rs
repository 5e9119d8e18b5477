//! Ansible's INI inventory, read as ansible-core's `ini` plugin reads it: `[group]` host lines
//! split like a POSIX shell (with `#` comments), `[group:vars]` lines split at the first `=`,
//! `[group:children]`, and every value passed through Python's `ast.literal_eval` (so `22` is a
//! number, `True` a boolean, `'a b'` a string, `[1, 2]` a list) or kept as text when that fails.

use super::Model;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// The model, or `line N: what is wrong`.
pub(super) fn parse(_name: &str, text: &str) -> Result<Model, String> {
    let mut m = Model::default();
    let mut known: HashSet<String> = ["all", "ungrouped"].map(String::from).into();
    // Groups named before they are declared: (line, kind, parent).
    let mut pending: Vec<(String, usize, &str, String)> = Vec::new();
    let (mut group, mut state) = ("ungrouped".to_string(), "hosts");
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = |what: String| format!("line {n}: {what}");
        if line.starts_with('[') {
            let (g, kind) = section(line).ok_or_else(|| {
                at(format!(
                    "invalid section `{line}` (expected [GROUP], [GROUP:vars] or [GROUP:children])"
                ))
            })?;
            if !["hosts", "vars", "children"].contains(&kind) {
                return Err(at(format!("section `{line}` has unknown type `{kind}`")));
            }
            if !known.contains(g) {
                if kind == "vars" && !pending.iter().any(|p| p.0 == g) {
                    pending.push((g.to_string(), n, "vars", String::new()));
                }
                m.group(g);
            }
            if kind != "vars" {
                known.insert(g.to_string());
                // A child named before its own section: link it now that it is declared.
                for (_, _, _, parent) in pending.iter().filter(|p| p.0 == g && p.2 == "children") {
                    m.add_child(parent, g);
                }
                pending.retain(|p| p.0 != g);
            }
            (group, state) = (g.to_string(), kind);
            continue;
        }
        match state {
            "hosts" => {
                let words = shell_words(line).map_err(at)?;
                let Some((pattern, rest)) = words.split_first() else {
                    continue;
                };
                let (hosts, port) = super::expand_host_pattern(pattern).map_err(at)?;
                let mut vars = Map::new();
                for w in rest {
                    let (k, v) = w.split_once('=').ok_or_else(|| {
                        at(format!(
                            "expected key=value host variable assignment, got `{w}`"
                        ))
                    })?;
                    vars.insert(k.to_string(), literal(v));
                }
                for h in hosts {
                    m.add_host(&h, &group);
                    if let Some(p) = port {
                        m.set_host_var(&h, "ansible_port", p.into());
                    }
                    for (k, v) in &vars {
                        m.set_host_var(&h, k, v.clone());
                    }
                }
            }
            "vars" => {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| at(format!("expected key=value, got `{line}`")))?;
                m.group(&group)
                    .vars
                    .insert(k.trim().to_string(), literal(v.trim()));
            }
            _ => {
                let words = shell_words(line).map_err(at)?;
                let [child] = words.as_slice() else {
                    return Err(at(format!("expected one group name, got `{line}`")));
                };
                if known.contains(child) {
                    m.add_child(&group, child);
                } else {
                    pending.push((child.clone(), n, "children", group.clone()));
                }
            }
        }
    }
    match pending.first() {
        None => Ok(m),
        Some((g, n, "vars", _)) => Err(format!(
            "line {n}: section [{g}:vars] is for a group never declared"
        )),
        Some((g, n, _, parent)) => Err(format!(
            "line {n}: section [{parent}:children] names `{g}`, a group never declared"
        )),
    }
}

/// `[name]` or `[name:kind]`, with an optional trailing comment.
fn section(line: &str) -> Option<(&str, &str)> {
    let close = line.find(']')?;
    let after = line[close + 1..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let inner = &line[1..close];
    let (g, kind) = match inner.split_once(':') {
        Some((g, k)) if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            (g, k)
        }
        Some(_) => return None,
        None => (inner, "hosts"),
    };
    (!g.is_empty() && !g.contains(char::is_whitespace)).then_some((g, kind))
}

/// Python's `shlex.split(line, comments=True)`: POSIX quoting, `#` starts a comment where a word
/// could end.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                words.extend(word.take());
            }
            '#' => break,
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => w.push(x),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => w.push(x),
                            Some(x) => {
                                w.push('\\');
                                w.push(x);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(x) => w.push(x),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '\\' => {
                let x = chars.next().ok_or("no escaped character")?;
                word.get_or_insert_with(String::new).push(x);
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Python's `ast.literal_eval`, or the text itself when it is not a literal.
pub(super) fn literal(text: &str) -> Value {
    let mut p = Literal {
        s: text.trim_start_matches([' ', '\t']).as_bytes(),
        i: 0,
    };
    match p.value() {
        Some(v) if p.rest_is_blank() => v,
        _ => Value::String(text.to_string()),
    }
}

struct Literal<'a> {
    s: &'a [u8],
    i: usize,
}

impl Literal<'_> {
    fn blank(&mut self) {
        while self
            .s
            .get(self.i)
            .is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            self.i += 1;
        }
    }

    fn rest_is_blank(&mut self) -> bool {
        self.blank();
        self.i == self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        self.blank();
        let hit = self.s.get(self.i) == Some(&b);
        if hit {
            self.i += 1;
        }
        hit
    }

    fn value(&mut self) -> Option<Value> {
        self.blank();
        match *self.s.get(self.i)? {
            b'\'' | b'"' => {
                let mut out = self.string()?;
                // Adjacent literals concatenate, as in Python.
                while {
                    self.blank();
                    matches!(self.s.get(self.i), Some(b'\'' | b'"'))
                } {
                    out.push_str(&self.string()?);
                }
                Some(Value::String(out))
            }
            b'[' => self.seq(b']').map(Value::Array),
            b'(' => self.seq(b')').map(Value::Array),
            b'{' => self.dict(),
            _ => self.atom(),
        }
    }

    fn string(&mut self) -> Option<String> {
        let q = self.s[self.i];
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b if b == q => break,
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'0' => out.push(0),
                        b'\\' | b'\'' | b'"' => out.push(e),
                        _ => out.extend([b'\\', e]),
                    }
                }
                b'\n' => return None,
                b => out.push(b),
            }
        }
        String::from_utf8(out).ok()
    }

    fn seq(&mut self, close: u8) -> Option<Vec<Value>> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        self.i += 1;
        let mut map = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !self.eat(b':') {
                return None;
            }
            map.insert(key, self.value()?);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
        }
    }

    /// A number, `True`, `False` or `None`.
    fn atom(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'))
        {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        match word {
            "True" => return Some(Value::Bool(true)),
            "False" => return Some(Value::Bool(false)),
            "None" => return Some(Value::Null),
            _ => {}
        }
        let (neg, digits) = match word.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, word.strip_prefix('+').unwrap_or(word)),
        };
        if digits.starts_with(['-', '+']) || digits.ends_with('_') || digits.contains("__") {
            return None;
        }
        let clean = digits.replace('_', "");
        let int = |s: &str, radix| i64::from_str_radix(s, radix).ok();
        let parsed = match clean.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("0x") => int(&clean[2..], 16),
            Some("0o") => int(&clean[2..], 8),
            Some("0b") => int(&clean[2..], 2),
            _ if clean.bytes().all(|b| b.is_ascii_digit()) && !clean.is_empty() => {
                // Python refuses `0755` (a leading zero on a non-zero number).
                if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
                    return None;
                }
                clean.parse().ok()
            }
            _ => {
                let is_float = clean
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"eE.+-".contains(&b))
                    && clean.bytes().any(|b| b.is_ascii_digit());
                let f: f64 = if is_float {
                    clean.parse().ok()?
                } else {
                    return None;
                };
                return serde_json::Number::from_f64(if neg { -f } else { f }).map(Value::Number);
            }
        };
        parsed.map(|i| Value::from(if neg { -i } else { i }))
    }
}
