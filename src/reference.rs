//! The reference of every function a runbook can call, read from the engine's own metadata (the
//! doc strings registered with each primitive), so `runbook doc`, the REPL and the book agree.

use crate::context::{Ctx, Mode, Settings};
use crate::diag::Sources;
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use std::sync::Arc;

/// One documented function.
#[derive(Debug, Clone)]
pub struct FnDoc {
    /// `ssh::run` or `step`.
    pub name: String,
    pub signature: String,
    pub doc: String,
}

/// Every runbook function with its signature and documentation, sorted by name.
pub fn functions() -> Result<Vec<FnDoc>> {
    let ctx = Arc::new(Ctx::new(
        Mode::Offline,
        Inventory::default(),
        Settings::default(),
    )?);
    let engine = crate::engine::engine(&ctx, None, &Sources::default());
    let json = engine
        .gen_fn_metadata_to_json(false)
        .map_err(|e| Error::usage(format!("cannot read function metadata: {e}")))?;
    let meta: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| Error::usage(e.to_string()))?;
    let mut out = Vec::new();
    let mut collect = |prefix: &str, fns: &serde_json::Value| {
        for f in fns.as_array().into_iter().flatten() {
            let comments: Vec<String> = f["docComments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str())
                .map(|c| c.trim_start_matches("///").trim().to_string())
                .collect();
            if comments.is_empty() {
                continue; // Rhai's own built-ins; runbook documents every one of its functions
            }
            let name = format!("{prefix}{}", f["name"].as_str().unwrap_or(""));
            let signature = f["signature"].as_str().unwrap_or("").to_string();
            out.push(FnDoc {
                name,
                signature: format!("{prefix}{signature}"),
                doc: comments.join("\n"),
            });
        }
    };
    collect("", &meta["functions"]);
    if let Some(modules) = meta["modules"].as_object() {
        for (name, m) in modules {
            collect(&format!("{name}::"), &m["functions"]);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.signature.cmp(&b.signature)));
    Ok(out)
}

/// `runbook doc [FILTER]`.
pub fn print(filter: Option<&str>) -> Result<()> {
    let mut last = String::new();
    for f in functions()?
        .into_iter()
        .filter(|f| filter.is_none_or(|p| f.name.contains(p)))
    {
        outln!("{}", f.signature);
        if f.name != last {
            for line in f.doc.lines() {
                outln!("    {line}");
            }
        }
        last = f.name;
    }
    Ok(())
}
