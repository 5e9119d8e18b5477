//! Ansible inventories, read as Ansible reads them: YAML, INI, `ansible-inventory --list` JSON and
//! dynamic inventory scripts (an executable whose `--list` prints that JSON).
//!
//! Why: the people who run an upgrade already keep their managers in an Ansible inventory; writing
//! the hosts twice is how the two copies drift apart. Each format is parsed into one [`Model`]
//! (groups with hosts, children and vars; hosts with their own vars), then resolved the way
//! ansible-core's `VariableManager` does: `all` < parent group < child group (by depth, then
//! `ansible_group_priority`, then name) < host. The `ansible_*` keys that say how to connect become
//! the host's address, port, user and key files ([`connection`]); one that would change how we
//! connect and that runbook cannot honour is an error, never silently dropped.

mod connection;
mod ini;
mod sources;
mod vars_dirs;

use crate::error::{Error, Result};
use crate::inventory::HostInfo;
use indexmap::IndexMap;
use serde_json::Value;

pub use sources::load;

/// An Ansible group as a source declares it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Group {
    hosts: Vec<String>,
    children: Vec<String>,
    vars: IndexMap<String, Value>,
}

/// An inventory as its source declares it, before variables are resolved.
#[derive(Debug, Default)]
pub(crate) struct Model {
    /// Every host in order of first appearance, with the vars set on the host itself.
    hosts: IndexMap<String, IndexMap<String, Value>>,
    groups: IndexMap<String, Group>,
    /// `group_vars/` and `host_vars/` beside the inventory file.
    vars_dirs: Option<vars_dirs::VarsDirs>,
}

impl Model {
    fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    fn add_host(&mut self, host: &str, group: &str) {
        self.hosts.entry(host.to_string()).or_default();
        let g = self.group(group);
        if !g.hosts.iter().any(|h| h == host) {
            g.hosts.push(host.to_string());
        }
    }

    fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        self.hosts
            .entry(host.to_string())
            .or_default()
            .insert(key.to_string(), value);
    }

    fn add_child(&mut self, parent: &str, child: &str) {
        self.group(child);
        let p = self.group(parent);
        if !p.children.iter().any(|c| c == child) {
            p.children.push(child.to_string());
        }
    }

    /// What ansible-core's `reconcile_inventory` does: `all` and `ungrouped` exist, every group
    /// without a parent is a child of `all`, and a host in no group but `all` is in `ungrouped`.
    fn reconcile(&mut self) {
        self.group("all");
        self.group("ungrouped");
        let orphans: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != "all" && !self.groups.values().any(|p| p.children.contains(g)))
            .cloned()
            .collect();
        for g in orphans {
            self.add_child("all", &g);
        }
        let hosts: Vec<String> = self.hosts.keys().cloned().collect();
        for h in hosts {
            let grouped = self
                .groups
                .iter()
                .any(|(name, g)| name != "all" && name != "ungrouped" && g.hosts.contains(&h));
            if grouped {
                self.groups["ungrouped"].hosts.retain(|x| *x != h);
            } else {
                self.add_host(&h, "ungrouped");
            }
        }
    }

    /// Each group's depth as ansible-core counts it: `all` is 0, a child is one deeper than its
    /// deepest parent. A cycle is an error (Ansible refuses it too).
    fn depths(&self, name: &str) -> Result<IndexMap<String, usize>> {
        let mut depth: IndexMap<String, usize> = IndexMap::new();
        depth.insert("all".into(), 0);
        // Longest path from `all`: relax edges at most |groups| times.
        for _ in 0..=self.groups.len() {
            let mut changed = false;
            for (parent, g) in &self.groups {
                let Some(&d) = depth.get(parent) else {
                    continue;
                };
                for c in &g.children {
                    if depth.get(c).is_none_or(|&cd| cd < d + 1) {
                        depth.insert(c.clone(), d + 1);
                        changed = true;
                    }
                }
            }
            // After `reconcile` every group hangs under `all`, unless it sits in a cycle.
            if !changed && self.groups.keys().all(|g| depth.contains_key(g)) {
                return Ok(depth);
            }
            if !changed {
                break;
            }
        }
        Err(Error::usage(format!(
            "invalid inventory {name}: its groups' `children` form a cycle"
        )))
    }

    /// The groups `host` is in: its own and every ancestor of them, `all` included.
    fn groups_of(&self, host: &str) -> Vec<&str> {
        let mut found: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, g)| g.hosts.iter().any(|h| h == host))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut i = 0;
        while i < found.len() {
            let child = found[i];
            for (parent, g) in &self.groups {
                if g.children.iter().any(|c| c == child) && !found.contains(&parent.as_str()) {
                    found.push(parent);
                }
            }
            i += 1;
        }
        found
    }

    /// Resolve every host: its groups, its vars by Ansible's precedence, its connection.
    fn resolve(mut self, name: &str) -> Result<Vec<HostInfo>> {
        self.reconcile();
        let depth = self.depths(name)?;
        let mut out = Vec::new();
        for (host, own_vars) in &self.hosts {
            let member_of = self.groups_of(host);
            let mut ordered: Vec<(usize, i64, &str)> = member_of
                .iter()
                .map(|g| {
                    let priority = self.groups[*g]
                        .vars
                        .get("ansible_group_priority")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    (depth.get(*g).copied().unwrap_or(0), priority, *g)
                })
                .collect();
            ordered.sort();
            // ansible-core's VARIABLE_PRECEDENCE: the file's `all` and group vars, then
            // group_vars/all and group_vars/GROUP, then the file's host vars, then host_vars/HOST.
            let mut vars: IndexMap<String, Value> = IndexMap::new();
            for (_, _, g) in &ordered {
                vars.extend(self.groups[*g].vars.clone());
            }
            if let Some(dirs) = &self.vars_dirs {
                for (_, _, g) in &ordered {
                    vars.extend(dirs.group(g)?);
                }
            }
            vars.extend(own_vars.clone());
            if let Some(dirs) = &self.vars_dirs {
                vars.extend(dirs.host(host)?);
            }
            vars.shift_remove("ansible_group_priority");
            // Groups in the order the inventory declares them, `all` left out.
            let groups: Vec<String> = self
                .groups
                .keys()
                .filter(|g| *g != "all" && member_of.contains(&g.as_str()))
                .cloned()
                .collect();
            out.push(connection::host(name, host, groups, vars)?);
        }
        if out.is_empty() {
            return Err(Error::usage(format!("inventory {name} has no host"))
                .with_help("see `runbook help inventory` for the formats runbook reads"));
        }
        Ok(out)
    }
}

/// A JSON value as an inventory variable. TOML has no null: a variable set to null (YAML `~`,
/// INI `None`) is left out, as if unset, so `host.var(name, default)` gives the default.
pub(crate) fn to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(to_toml).collect()),
        Value::Object(m) => toml::Value::Table(
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), to_toml(v)?)))
                .collect(),
        ),
    })
}

/// A host pattern as ansible-core's `_expand_hostpattern` reads it: `name[:port]`, with ranges
/// `web[01:03]`, `db-[a:c]`, `x[1:9:2]` expanded; an IPv6 address keeps its colons.
pub(crate) fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    // A range holds colons too: a port can only follow the last `]`.
    let after_ranges = pattern.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match pattern.rsplit_once(':') {
        Some((h, p))
            if h.len() >= after_ranges
                && !h[after_ranges..].contains(':')
                && !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let port = p
                .parse::<u16>()
                .map_err(|_| format!("port `{p}` is out of range"))?;
            (h, Some(port))
        }
        _ => (pattern, None),
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("a host name must be non-empty and without spaces".into());
    }
    Ok((expand_ranges(host)?, port))
}

fn expand_ranges(host: &str) -> Result<Vec<String>, String> {
    let (Some(open), Some(close)) = (host.find('['), host.find(']')) else {
        return Ok(vec![host.to_string()]);
    };
    if close < open {
        return Err("`]` before `[`".into());
    }
    let (head, range, tail) = (&host[..open], &host[open + 1..close], &host[close + 1..]);
    let parts: Vec<&str> = range.split(':').collect();
    let (beg, end, stride) = match parts.as_slice() {
        [b, e] => (*b, *e, 1usize),
        [b, e, s] => (*b, *e, s.parse().map_err(|_| format!("bad stride `{s}`"))?),
        _ => {
            return Err(format!(
                "bad range `[{range}]` (expected [BEGIN:END] or [BEGIN:END:STEP])"
            ))
        }
    };
    if stride == 0 {
        return Err("a range's step is 0".into());
    }
    let items: Vec<String> = if let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) {
        let width = if beg.starts_with('0') { beg.len() } else { 0 };
        (b..=e)
            .step_by(stride)
            .map(|i| format!("{i:0width$}"))
            .collect()
    } else {
        let (b, e) = match (beg.as_bytes(), end.as_bytes()) {
            ([b], [e]) if b.is_ascii_alphabetic() && e.is_ascii_alphabetic() => (*b, *e),
            _ => return Err(format!("bad range `[{range}]`")),
        };
        (b..=e)
            .step_by(stride)
            .map(|c| (c as char).to_string())
            .collect()
    };
    if items.is_empty() {
        return Err(format!("the range `[{range}]` is empty"));
    }
    let mut out = Vec::new();
    for item in items {
        for rest in expand_ranges(tail)? {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
