//! Where an Ansible inventory comes from, told apart by content as ansible-core's plugins are
//! tried in turn: an executable file is a dynamic inventory script (`--list`, then `--host` when
//! it gives no `_meta`), text starting with `{` is `ansible-inventory --list` JSON, then YAML, then
//! INI. Runbook's own TOML is left to [`crate::inventory`].

use super::{ini, Model};
use crate::error::{Error, Result};
use crate::inventory::HostInfo;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::path::Path;
use std::process::Command;

/// Hosts from the Ansible inventory at `path`, or `None` when it is runbook's own TOML.
pub fn load(path: &Path) -> Result<Option<Vec<HostInfo>>> {
    let name = path.display().to_string();
    let hosts = |mut model: Model| -> Result<Option<Vec<HostInfo>>> {
        model.vars_dirs = super::vars_dirs::VarsDirs::beside(path);
        model.resolve(&name).map(Some)
    };
    if is_executable(path) {
        return hosts(script(path, &name)?);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::input("inventory", path, e))?;
    if text.trim_start().starts_with('{') {
        let data: IndexMap<String, Value> = serde_json::from_str(&text).map_err(|e| {
            Error::usage(format!("invalid inventory {name}: not JSON: {e}"))
                .with_help("a file starting with `{` is read as `ansible-inventory --list` output")
        })?;
        return hosts(json_model(&name, &data, |_| Ok(Value::Null))?);
    }
    let toml_error = match toml::from_str::<toml::Table>(&text) {
        Ok(t) if t.contains_key("hosts") || t.contains_key("defaults") => return Ok(None),
        Ok(_) => "no [hosts.NAME] or [defaults] table".to_string(),
        Err(e) => e.message().replace('\n', " "),
    };
    let yaml_error = match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
        Ok(serde_yaml_ng::Value::Mapping(m)) => {
            return hosts(yaml_model(&name, &m)?);
        }
        Ok(_) => "not a mapping of groups".to_string(),
        Err(e) => e.to_string(),
    };
    let ini_error = match ini::parse(&name, &text) {
        Ok(model) => return hosts(model),
        Err(e) => e,
    };
    if looks_like_runbook_toml(&text) {
        return Ok(None); // the TOML parser points at the line that is wrong
    }
    Err(Error::usage(format!(
        "cannot read inventory {name}: it is not runbook TOML, Ansible YAML or Ansible INI"
    ))
    .with_help(format!(
        "as TOML: {toml_error}\nas YAML: {}\nas INI: {ini_error}\n\
         see `runbook help inventory` for the formats runbook reads",
        yaml_error.lines().next().unwrap_or_default()
    )))
}

fn looks_like_runbook_toml(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .any(|l| l.starts_with("[hosts.") || l.starts_with("[defaults") || l.starts_with("[[hosts"))
}

/// A script as ansible-core's `script` plugin tells one: executable, and a `#!` line (or a
/// compiled program). A static file that merely has the x bit (a checkout on a FAT disk) is read.
fn is_executable(path: &Path) -> bool {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let x =
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut head));
    x && matches!(read, Ok(n) if head[..n].starts_with(b"#!") || head[..n].starts_with(b"\x7fELF"))
}

/// Run a dynamic inventory script as Ansible's `script` plugin does.
fn script(path: &Path, name: &str) -> Result<Model> {
    let exe = path
        .canonicalize()
        .map_err(|e| Error::input("inventory", path, e))?;
    fn call<T: serde::de::DeserializeOwned>(exe: &Path, name: &str, args: &[&str]) -> Result<T> {
        let shown = format!("{name} {}", args.join(" "));
        let out = Command::new(exe)
            .args(args)
            .output()
            .map_err(|e| Error::input("inventory script", exe, e))?;
        if !out.status.success() {
            return Err(Error::usage(format!(
                "inventory script `{shown}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .with_help("an executable inventory is run as an Ansible dynamic inventory script; `chmod -x` a static file"));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| Error::usage(format!("inventory script `{shown}` printed no JSON: {e}")))
    }
    let list: IndexMap<String, Value> = call(&exe, name, &["--list"])?;
    json_model(name, &list, |host| call(&exe, name, &["--host", host]))
}

/// The JSON of `ansible-inventory --list` or of a script's `--list`; `host_vars` asks for one
/// host's vars when the JSON has no `_meta.hostvars`.
fn json_model(
    name: &str,
    top: &IndexMap<String, Value>,
    mut host_vars: impl FnMut(&str) -> Result<Value>,
) -> Result<Model> {
    let bad = |what: String| Error::usage(format!("invalid inventory {name}: {what}"));
    let mut m = Model::default();
    for (group, gd) in top.iter().filter(|(g, _)| *g != "_meta") {
        m.group(group);
        // The script plugin's shorthands: a list of hosts, or a map of vars of a one-host group.
        let gd = match gd {
            Value::Object(o)
                if ["hosts", "vars", "children"]
                    .iter()
                    .any(|k| o.contains_key(*k)) =>
            {
                gd.clone()
            }
            Value::Object(_) => serde_json::json!({ "hosts": [group], "vars": gd }),
            other => serde_json::json!({ "hosts": other }),
        };
        for h in list_of(&gd["hosts"], || {
            bad(format!("group `{group}`: `hosts` is not a list"))
        })? {
            m.add_host(&h, group);
        }
        if let Some(vars) = gd["vars"].as_object() {
            for (k, v) in vars {
                m.group(group).vars.insert(k.clone(), v.clone());
            }
        }
        for c in list_of(&gd["children"], || {
            bad(format!("group `{group}`: `children` is not a list"))
        })? {
            m.add_child(group, &c);
        }
    }
    let meta = top.get("_meta").and_then(|m| m.get("hostvars"));
    let hosts: Vec<String> = m.hosts.keys().cloned().collect();
    for h in hosts {
        let vars = match meta {
            Some(all) => all.get(&h).cloned().unwrap_or(Value::Null),
            None => host_vars(&h)?,
        };
        for (k, v) in vars.as_object().into_iter().flatten() {
            m.set_host_var(&h, k, v.clone());
        }
    }
    Ok(m)
}

fn list_of(v: &Value, err: impl Fn() -> Error) -> Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(err()),
            })
            .collect(),
        _ => Err(err()),
    }
}

/// A YAML inventory, walked as ansible-core's `yaml` plugin walks it: keys in file order (the
/// YAML mapping keeps it; JSON objects here would sort it).
pub(crate) fn yaml_model(name: &str, top: &serde_yaml_ng::Mapping) -> Result<Model> {
    let bad = |what: String| Error::usage(format!("invalid inventory {name}: {what}"));
    if top.contains_key("plugin") {
        return Err(bad("an inventory plugin's config (`plugin:`) is not an inventory".into())
            .with_help(format!("let Ansible run the plugin: `ansible-inventory -i {name} --list > hosts.json`, then `-i hosts.json`")));
    }
    let mut m = Model::default();
    for (group, gd) in top {
        yaml_group(&mut m, name, &yaml_key(name, group)?, gd)?;
    }
    Ok(m)
}

fn yaml_group(m: &mut Model, name: &str, group: &str, data: &serde_yaml_ng::Value) -> Result<()> {
    use serde_yaml_ng::Value as Y;
    let bad =
        |what: String| Error::usage(format!("invalid inventory {name}: group `{group}`: {what}"));
    m.group(group);
    let entries = match data {
        Y::Null => return Ok(()),
        Y::Mapping(o) => o,
        _ => return Err(bad("not a mapping (of `hosts`, `children`, `vars`)".into())),
    };
    for (key, v) in entries {
        let key = yaml_key(name, key)?;
        // A string is allowed for a single host or child.
        let one;
        let section = match v {
            Y::Null => continue,
            Y::Mapping(o) => o,
            Y::String(s) => {
                one = serde_yaml_ng::Mapping::from_iter([(Y::String(s.clone()), Y::Null)]);
                &one
            }
            _ => return Err(bad(format!("`{key}` is not a mapping"))),
        };
        match key.as_str() {
            "vars" => {
                for (k, val) in section {
                    let k = yaml_key(name, k)?;
                    let val = yaml_to_json(name, val)?;
                    m.group(group).vars.insert(k, val);
                }
            }
            "children" => {
                for (child, cd) in section {
                    let child = yaml_key(name, child)?;
                    yaml_group(m, name, &child, cd)?;
                    m.add_child(group, &child);
                }
            }
            "hosts" => {
                for (pattern, hv) in section {
                    let pattern = yaml_key(name, pattern)?;
                    let (hosts, port) = super::expand_host_pattern(&pattern)
                        .map_err(|e| bad(format!("host `{pattern}`: {e}")))?;
                    let vars = match yaml_to_json(name, hv)? {
                        Value::Null => Map::new(),
                        Value::Object(o) => o,
                        _ => {
                            return Err(bad(format!(
                                "host `{pattern}`: its vars are not a mapping"
                            )))
                        }
                    };
                    for h in hosts {
                        m.add_host(&h, group);
                        if let Some(p) = port {
                            m.set_host_var(&h, "ansible_port", p.into());
                        }
                        for (k, val) in &vars {
                            m.set_host_var(&h, k, val.clone());
                        }
                    }
                }
            }
            other => {
                return Err(bad(format!(
                    "unexpected key `{other}` (a group has only `hosts`, `children` and `vars`)"
                )))
            }
        }
    }
    Ok(())
}

fn yaml_key(name: &str, k: &serde_yaml_ng::Value) -> Result<String> {
    use serde_yaml_ng::Value as Y;
    match k {
        Y::String(s) => Ok(s.clone()),
        Y::Number(n) => Ok(n.to_string()),
        Y::Bool(b) => Ok(b.to_string()),
        Y::Null => Ok("null".into()),
        _ => Err(Error::usage(format!(
            "invalid inventory {name}: a mapping key is not a scalar"
        ))),
    }
}

/// YAML to JSON, keys as strings. A vault-encrypted value cannot be read without the vault.
pub(crate) fn yaml_to_json(name: &str, v: &serde_yaml_ng::Value) -> Result<Value> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                serde_json::Number::from_f64(n.as_f64().unwrap_or(f64::NAN))
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(s) => Value::Array(s.iter().map(|x| yaml_to_json(name, x)).collect::<Result<_>>()?),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                out.insert(yaml_key(name, k)?, yaml_to_json(name, val)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) if t.tag == "!vault" => {
            return Err(Error::usage(format!(
                "invalid inventory {name}: a vault-encrypted value (`!vault`)"
            ))
            .with_help("runbook does not read Ansible Vault: give secrets with --set-secret NAME=env:VAR or NAME=file:PATH"))
        }
        Y::Tagged(t) => yaml_to_json(name, &t.value)?,
    })
}
