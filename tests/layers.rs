//! The top-level modules of `src/` depend on each other in one direction only (cli → repl →
//! runner → engine → prims → context → transport → error): a cycle is found here, from the
//! `crate::` and `super::` paths in the source, before it can grow unseen. A module and its own
//! children may use each other; unit-test files (`tests.rs`, `testing.rs`) are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module → the other top-level modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level modules a file names through `crate::…` (also `crate::{a, b::c}`) and through
/// `super::` chains that climb to the crate root. `module` is the file's module path
/// (`["prims", "copy"]`); comment lines are skipped.
fn named_modules(text: &str, module: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            // `$crate::` (macros) is not a path into this crate's modules.
            if rest[..i].ends_with('$') {
                rest = after;
                continue;
            }
            out.extend(heads(after));
            rest = after;
        }
        let mut rest = line;
        while let Some(i) = rest.find("super::") {
            let mut after = &rest[i..];
            let mut up = 0;
            while let Some(r) = after.strip_prefix("super::") {
                up += 1;
                after = r;
            }
            // `super` once is the file's parent module, and so on: as many as the file is deep
            // reach the crate root. (Read from a `mod tests` inside a file, that overshoots by
            // one: its `super::item` is looked up as a top-level module and, not being one, is
            // ignored.)
            if up >= module.len() {
                out.extend(heads(after));
            } else {
                out.insert(module[0].to_string());
            }
            rest = after;
        }
    }
    out
}

/// The first path segment(s) after `crate::`: one identifier, or each item of a `{…}` group.
fn heads(after: &str) -> Vec<String> {
    if let Some(group) = after.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut current = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => items.push(std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        items.push(current);
        return items
            .iter()
            .filter_map(|i| ident(i.trim()))
            .collect::<Vec<_>>();
    }
    ident(after).into_iter().collect()
}

fn ident(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The dependency graph of `src/`'s top-level modules (lib.rs and main.rs are the root).
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ is readable").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut modules = BTreeMap::new();
    for path in &files {
        let rel = path.strip_prefix(src).expect("under src/");
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if matches!(parts.as_slice(), [only] if only == "lib" || only == "main") {
            continue;
        }
        // Unit-test files are not a layer: a test of a primitive runs it through the engine
        // (src/prims/testing.rs), as the runner would.
        if parts.last().is_some_and(|p| p == "tests" || p == "testing") {
            continue;
        }
        modules.insert(path.clone(), parts);
    }
    let tops: BTreeSet<String> = modules.values().map(|p| p[0].clone()).collect();
    let mut graph = Graph::new();
    for (path, parts) in &modules {
        let text = std::fs::read_to_string(path).expect("source is readable");
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let edges = graph.entry(parts[0].to_string()).or_default();
        for name in named_modules(&text, &parts) {
            if name != parts[0] && tops.contains(&name) {
                edges.insert(name);
            }
        }
    }
    graph
}

/// A cycle, as the modules along it (first repeated at the end), if there is one.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut found = path[i..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_of_src_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.contains_key("prims") && graph.contains_key("runner"));
    if let Some(found) = cycle(&graph) {
        let edges: Vec<String> = graph
            .iter()
            .map(|(m, to)| {
                format!(
                    "  {m} -> {}",
                    to.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        panic!(
            "import cycle between top-level modules: {}\n(a lower layer that needs a higher one gets a hook handed down)\n{}",
            found.join(" -> "),
            edges.join("\n")
        );
    }
}

#[test]
fn the_checker_sees_grouped_paths_super_chains_and_cycles() {
    let text = "use crate::{error::Error, context::{Ctx, Mode}};\n\
                // use crate::repl;\n\
                let x = crate::journal::read(p);\n\
                use super::super::undo::Pending;\n\
                use super::add;\n\
                $crate::ignored";
    let named = named_modules(text, &["prims", "copy"]);
    let expected: BTreeSet<String> = ["error", "context", "journal", "undo", "prims"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(named, expected);
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(cycle(&graph), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
