//! How the REPL prints a value: readable first, Rhai syntax second.
//!
//! A map reads like YAML (`key: value`, nested maps indented), a map whose values are all flat maps
//! (the `_all` primitives' per-host results, HAProxy's per-section timeouts) as a table with one
//! row per key, a short array of plain values on one line and any other array one item per line.
//! Strings print bare; a multi-line string is indented under its key.

use crate::error::Failure;
use crate::prims::inventory::{Host, InventoryRef};
use crate::secret::Secret;
use rhai::{Array, Dynamic, Map};

/// Inline arrays and table cells stay under this many characters.
const WIDTH: usize = 72;

/// The text the REPL prints for a result; empty for `()`.
pub fn render(value: &Dynamic) -> String {
    if value.is_unit() {
        return String::new();
    }
    let mut out = String::new();
    if let Some(map) = value.read_lock::<Map>() {
        if map.is_empty() {
            return "#{}".into();
        }
        match table(&map) {
            Some(t) => out = t,
            None => tree(&map, 0, &mut out),
        }
    } else if let Some(array) = value.read_lock::<Array>() {
        match inline_array(&array) {
            Some(line) => out = line,
            None => list(&array, 0, &mut out),
        }
    } else {
        out = scalar(value);
    }
    out.trim_end_matches('\n').to_string()
}

/// A value with no structure of its own, as text (strings bare, trailing newline dropped).
fn scalar(value: &Dynamic) -> String {
    if value.is_string() {
        return value
            .clone()
            .into_string()
            .unwrap_or_default()
            .trim_end_matches('\n')
            .to_string();
    }
    if let Some(h) = value.clone().try_cast::<Host>() {
        return h.0.name.clone();
    }
    if let Some(s) = value.clone().try_cast::<Secret>() {
        return s.to_string();
    }
    if let Some(f) = value.clone().try_cast::<Failure>() {
        return format!("Failure: {}", f.message);
    }
    if let Some(i) = value.clone().try_cast::<InventoryRef>() {
        return format!("inventory of {} hosts", i.0.inventory.hosts().len());
    }
    if value.is_unit() {
        return "()".into();
    }
    value.to_string()
}

fn is_nested(value: &Dynamic) -> bool {
    value.is_map() || value.is_array()
}

/// One line for a value inside a structure: empty strings shown as `""`.
fn inline(value: &Dynamic) -> Option<String> {
    if value.is_array() {
        return value.read_lock::<Array>().and_then(|a| inline_array(&a));
    }
    if value.is_map() {
        return value
            .read_lock::<Map>()
            .filter(|m| m.is_empty())
            .map(|_| "#{}".into());
    }
    let text = scalar(value);
    if text.contains('\n') {
        return None;
    }
    Some(if text.is_empty() && value.is_string() {
        "\"\"".into()
    } else {
        text
    })
}

/// `[a, b, c]` when every item is plain and the line stays short.
fn inline_array(array: &Array) -> Option<String> {
    if array.is_empty() {
        return Some("[]".into());
    }
    if array.iter().any(is_nested) {
        return None;
    }
    let items: Option<Vec<String>> = array.iter().map(inline).collect();
    let line = format!("[{}]", items?.join(", "));
    (line.chars().count() <= WIDTH).then_some(line)
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

fn tree(map: &Map, depth: usize, out: &mut String) {
    let pad = indent(depth);
    for (key, value) in map {
        entry(&format!("{pad}{key}:"), value, depth, out);
    }
}

fn list(array: &Array, depth: usize, out: &mut String) {
    let pad = indent(depth);
    for value in array {
        entry(&format!("{pad}-"), value, depth, out);
    }
}

/// `label value` on one line, or `label` and the value indented below it.
fn entry(label: &str, value: &Dynamic, depth: usize, out: &mut String) {
    if let Some(text) = inline(value) {
        out.push_str(&format!("{label} {text}\n"));
        return;
    }
    if let Some(map) = value.read_lock::<Map>() {
        out.push_str(&format!("{label}\n"));
        tree(&map, depth + 1, out);
    } else if let Some(array) = value.read_lock::<Array>() {
        out.push_str(&format!("{label}\n"));
        list(&array, depth + 1, out);
    } else {
        out.push_str(&format!("{label} |\n"));
        for line in scalar(value).lines() {
            out.push_str(&format!("{}{line}\n", indent(depth + 1)));
        }
    }
}

/// A map of flat maps as a table: a row per key, a column per inner key. None when the values
/// are not all flat maps.
fn table(map: &Map) -> Option<String> {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<(String, Map)> = Vec::new();
    for (key, value) in map {
        let inner = value.read_lock::<Map>()?.clone();
        if inner.is_empty() || inner.values().any(is_nested) {
            return None;
        }
        for k in inner.keys() {
            if !columns.iter().any(|c| c == k.as_str()) {
                columns.push(k.to_string());
            }
        }
        rows.push((key.to_string(), inner));
    }
    let cell = |m: &Map, column: &str| -> String {
        let text = m.get(column).map(scalar).unwrap_or_default();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("").to_string();
        let mut cell = if lines.next().is_some() {
            format!("{first} …")
        } else {
            first
        };
        if cell.chars().count() > WIDTH / 2 {
            cell = cell.chars().take(WIDTH / 2 - 1).collect::<String>() + "…";
        }
        cell
    };
    let mut grid = vec![std::iter::once(String::new())
        .chain(columns.iter().cloned())
        .collect::<Vec<_>>()];
    for (key, inner) in &rows {
        grid.push(
            std::iter::once(key.clone())
                .chain(columns.iter().map(|c| cell(inner, c)))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..=columns.len())
        .map(|i| grid.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in grid {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Dynamic)]) -> Dynamic {
        Dynamic::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn a_command_result_reads_like_yaml() {
        let r = map(&[
            ("code", 0_i64.into()),
            ("ok", true.into()),
            ("stderr", "".into()),
            ("stdout", "one\ntwo\n".into()),
        ]);
        assert_eq!(
            render(&r),
            "code: 0\nok: true\nstderr: \"\"\nstdout: |\n  one\n  two"
        );
    }

    #[test]
    fn a_map_of_flat_maps_is_a_table() {
        let row = |c: &str, s: &str| map(&[("client", c.into()), ("server", s.into())]);
        let r = map(&[
            ("defaults", row("30m", "30m")),
            ("frontend pg", row("4s", "")),
        ]);
        assert_eq!(
            render(&r),
            "             client  server\ndefaults     30m     30m\nfrontend pg  4s"
        );
    }

    #[test]
    fn nested_maps_indent_and_arrays_go_inline_when_short() {
        let r = map(&[
            (
                "postgresql",
                map(&[("parameters", map(&[("max_connections", 100_i64.into())]))]),
            ),
            ("tags", Dynamic::from_array(vec!["a".into(), "b".into()])),
            ("ttl", 30_i64.into()),
        ]);
        assert_eq!(
            render(&r),
            "postgresql:\n  parameters:\n    max_connections: 100\ntags: [a, b]\nttl: 30"
        );
        let long: Array = (0..30)
            .map(|i| Dynamic::from(format!("item-{i}")))
            .collect();
        assert!(render(&Dynamic::from_array(long)).starts_with("- item-0\n- item-1\n"));
        assert_eq!(render(&Dynamic::UNIT), "");
    }
}
