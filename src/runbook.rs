//! Finding runbook sources: bundled ones (embedded in the binary), a user's file, and the modules
//! they import (the runbook's own folder first, then the embedded stdlib). Also `fork`.

use crate::diag::Sources;
use crate::error::{Error, Result};
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};
use std::path::{Path, PathBuf};

/// Runbooks shipped in the binary: (name, source).
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "cloudify-ha-upgrade",
        include_str!("../runbooks/cloudify-ha-upgrade.rhai"),
    ),
    ("hosts-check", include_str!("../runbooks/hosts-check.rhai")),
];

/// Rhai modules shipped in the binary: (name used by `import`, source).
pub const STDLIB: &[(&str, &str)] = &[
    ("checks", include_str!("../stdlib/checks.rhai")),
    ("cloudify", include_str!("../stdlib/cloudify.rhai")),
];

/// A runbook's source, and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The bundled name, or the file's path as given.
    pub name: String,
    /// Shown in diagnostics: `runbooks/NAME.rhai` for bundled ones, else the path.
    pub display: String,
    /// The runbook's Rhai source.
    pub text: String,
    /// Folder whose `.rhai` files override stdlib modules (the runbook file's folder).
    pub module_dir: Option<PathBuf>,
}

impl Source {
    /// The first line of the runbook's leading `//!` comment.
    pub fn summary(&self) -> String {
        summary(&self.text)
    }
}

/// The first line of `text`'s leading `//!` comment (empty when it has none).
pub fn summary(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("//!")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_default()
}

fn is_path(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".rhai") || Path::new(spec).is_file()
}

/// Load `spec`: a path to a `.rhai` file, or the name of a bundled runbook.
pub fn load(spec: &str) -> Result<Source> {
    if is_path(spec) {
        let path = Path::new(spec);
        let text = std::fs::read_to_string(path).map_err(|e| Error::input("runbook", path, e))?;
        let dir = path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        });
        return Ok(Source {
            name: spec.to_string(),
            display: spec.to_string(),
            text,
            module_dir: dir.map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf())),
        });
    }
    BUNDLED
        .iter()
        .find(|(n, _)| *n == spec)
        .map(|(n, t)| Source {
            name: n.to_string(),
            display: format!("runbooks/{n}.rhai"),
            text: t.to_string(),
            module_dir: None,
        })
        .ok_or_else(|| {
            let names: Vec<_> = BUNDLED.iter().map(|(n, _)| *n).collect();
            Error::usage(format!("no runbook `{spec}`")).with_help(format!(
                "bundled runbooks: {}; or give the path of a .rhai file",
                names.join(", ")
            ))
        })
}

/// Resolves `import "name"`: `<runbook folder>/name.rhai` if it exists, else the embedded stdlib.
pub struct Resolver {
    /// The runbook's folder, whose `.rhai` files override stdlib modules.
    pub module_dir: Option<PathBuf>,
    /// Where each module's text is kept, for diagnostics that point into it.
    pub sources: Sources,
}

impl Resolver {
    fn find(&self, name: &str) -> Option<(String, String)> {
        if let Some(dir) = &self.module_dir {
            let p = dir.join(format!("{name}.rhai"));
            if let Ok(text) = std::fs::read_to_string(&p) {
                return Some((p.display().to_string(), text));
            }
        }
        STDLIB
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| (format!("stdlib/{n}.rhai"), t.to_string()))
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let (display, text) = self
            .find(path)
            .ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos)))?;
        self.sources.add(path, &display, &text);
        let in_module = |e: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(path.to_string(), e, pos))
        };
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(path);
        let module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        Ok(module.into())
    }
}

/// An `import "path"` statement that starts a line, with its alias (`as name`) if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The module path as written (`"cloudify"`).
    pub path: String,
    /// The name it is bound to (`as cfy`), if any.
    pub alias: Option<String>,
}

/// The `import "path" [as alias]` statements that start a line, in order: the one reading of
/// imports (for `fork`, which copies the modules, and the REPL, which keeps them by alias).
pub fn import_statements(text: &str) -> Vec<Import> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("import") else {
            continue;
        };
        let Some((path, rest)) = rest
            .trim_start()
            .strip_prefix('"')
            .and_then(|r| r.split_once('"'))
        else {
            continue;
        };
        let alias = rest
            .trim_start()
            .strip_prefix("as")
            .filter(|r| r.starts_with(char::is_whitespace))
            .map(|r| {
                r.trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|a| !a.is_empty());
        out.push(Import {
            path: path.to_string(),
            alias,
        });
    }
    out
}

/// The modules a source imports by name (`import "x" as y;`), in order, without duplicates.
pub fn imports(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for import in import_statements(text) {
        if !out.contains(&import.path) {
            out.push(import.path);
        }
    }
    out
}

/// `runbook fork`: write the runbook and every stdlib module it (transitively) imports into `dir`.
/// Returns the files written.
pub fn fork(spec: &str, dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
    let source = load(spec)?;
    let base = Path::new(&source.name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "runbook".into());
    let mut files = vec![(dir.join(format!("{base}.rhai")), source.text.clone())];
    let mut queue = imports(&source.text);
    let mut seen = Vec::new();
    while let Some(name) = queue.pop() {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        if let Some((_, text)) = STDLIB.iter().find(|(n, _)| *n == name) {
            queue.extend(imports(text));
            files.push((dir.join(format!("{name}.rhai")), text.to_string()));
        }
    }
    let existing: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() && !force {
        return Err(
            Error::usage(format!("refusing to overwrite {}", existing.join(", ")))
                .with_help("pass --force to overwrite, or fork into another folder"),
        );
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    for (path, text) in &files {
        std::fs::write(path, text)
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_imports_and_summary() {
        let t = "//! Check hosts.\n//! More.\nimport \"checks\" as c;\n  import \"x\" as y;\nimport \"checks\" as d;";
        assert_eq!(imports(t), ["checks", "x"]);
        assert_eq!(summary(t), "Check hosts.");
    }

    #[test]
    fn every_bundled_runbook_has_a_summary() {
        for (name, text) in BUNDLED {
            assert!(!summary(text).is_empty(), "{name} has no //! summary");
        }
    }
}
