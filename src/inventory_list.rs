//! `runbook inventory -i FILE`: the hosts, groups and variables runbook reads from an inventory,
//! as JSON, so a site can check what an Ansible inventory turns into before a run uses it.

use crate::error::Result;
use crate::inventory::{Inventory, TransportKind};
use serde_json::{json, Value};
use std::path::Path;

/// The inventory as runbook resolved it: hosts in order with their connection, groups and vars;
/// groups in order of first appearance with their hosts.
pub fn to_json(inv: &Inventory) -> Value {
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let hosts: Vec<Value> = inv
        .hosts()
        .iter()
        .map(|h| {
            json!({
                "name": h.name,
                "address": h.address,
                "port": h.port,
                "user": h.user,
                "identity_file": path(&h.identity_file),
                "known_hosts_file": path(&h.known_hosts_file),
                "ssh_config": path(&h.ssh_config),
                "transport": match h.transport { TransportKind::Ssh => "ssh", TransportKind::Local => "local" },
                "groups": h.groups,
                "vars": h.vars,
            })
        })
        .collect();
    let groups: Vec<Value> = inv
        .group_names()
        .into_iter()
        .map(|g| {
            let members: Vec<&str> = inv
                .hosts()
                .iter()
                .filter(|h| h.groups.contains(&g))
                .map(|h| h.name.as_str())
                .collect();
            json!({ "name": g, "hosts": members })
        })
        .collect();
    json!({ "hosts": hosts, "groups": groups })
}

/// `runbook inventory -i FILE`.
pub fn print(path: &Path) -> Result<()> {
    let inv = Inventory::load(path)?;
    let text = serde_json::to_string_pretty(&to_json(&inv)).unwrap_or_default();
    outln!("{text}");
    Ok(())
}
