//! `group_vars/` and `host_vars/` beside an inventory, read as ansible-core's `host_group_vars`
//! plugin reads them: for a group or host `N`, the first of `N`, `N.yml`, `N.yaml`, `N.json` that
//! exists; a folder `N/` holds files read in name order (hidden and `~` backups skipped).

use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde_json::Value;
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 4] = ["", ".yml", ".yaml", ".json"];

/// The folder that may hold `group_vars/` and `host_vars/`.
#[derive(Debug)]
pub(crate) struct VarsDirs {
    base: PathBuf,
}

impl VarsDirs {
    /// The vars folders beside the inventory at `path`, when there are any.
    pub(crate) fn beside(path: &Path) -> Option<Self> {
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let any = ["group_vars", "host_vars"]
            .iter()
            .any(|d| base.join(d).is_dir());
        any.then_some(Self { base })
    }

    pub(crate) fn group(&self, name: &str) -> Result<IndexMap<String, Value>> {
        self.vars("group_vars", name)
    }

    pub(crate) fn host(&self, name: &str) -> Result<IndexMap<String, Value>> {
        self.vars("host_vars", name)
    }

    fn vars(&self, folder: &str, name: &str) -> Result<IndexMap<String, Value>> {
        let dir = self.base.join(folder);
        let mut out = IndexMap::new();
        if !dir.is_dir() {
            return Ok(out);
        }
        let Some(found) = EXTENSIONS
            .iter()
            .map(|ext| dir.join(format!("{name}{ext}")))
            .find(|p| p.exists())
        else {
            return Ok(out);
        };
        let mut files = Vec::new();
        if found.is_dir() {
            files_in(&found, &mut files)?;
        } else {
            files.push(found);
        }
        for file in files {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::input("variables file", &file, e))?;
            let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)
                .map_err(|e| Error::usage(format!("invalid variables file {shown}: {e}")))?;
            match super::sources::yaml_to_json(&shown, &yaml)? {
                Value::Object(m) => out.extend(m),
                Value::Null => {}
                _ => {
                    return Err(Error::usage(format!(
                        "invalid variables file {shown}: not a mapping of variables"
                    )))
                }
            }
        }
        Ok(out)
    }
}

fn files_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::input("variables directory", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if p.is_dir() {
            files_in(&p, out)?;
        } else {
            let ext = p
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            if EXTENSIONS.contains(&ext.as_str()) {
                out.push(p);
            }
        }
    }
    Ok(())
}
