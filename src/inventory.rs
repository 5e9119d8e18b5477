//! The inventory: which hosts a runbook acts on, how to reach them, their groups and variables.
//!
//! ```toml
//! [defaults]            # applies to every host unless the host sets it
//! user = "ops"
//! port = 22
//! identity_file = "~/.ssh/id_ed25519"
//! known_hosts_file = "~/.ssh/known_hosts"
//! [defaults.vars]
//! patronictl = "/opt/patroni/bin/patronictl"
//!
//! [hosts.mgr-1]
//! address = "10.0.0.12"   # default: the host name (so ~/.ssh/config applies)
//! groups = ["new_managers"]
//! vars = { haproxy_reload = "systemctl reload haproxy" }
//! ```
//! Host order is the file's order: `group("new_managers")[0]` is the first one written.

pub mod ansible;

use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    defaults: RawHost,
    #[serde(default)]
    hosts: IndexMap<String, toml::Spanned<RawHost>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawHost {
    address: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    identity_file: Option<String>,
    known_hosts_file: Option<String>,
    ssh_config: Option<String>,
    transport: Option<toml::Spanned<String>>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    vars: IndexMap<String, toml::Value>,
}

/// How commands reach a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Over OpenSSH (the default), with the user's ~/.ssh/config, agent and known_hosts.
    Ssh,
    /// Run on this machine, as the user running runbook (tests, and runbooks that act locally).
    Local,
}

/// One host, resolved against the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    /// The host's name in the inventory (what runbooks and the journal call it).
    pub name: String,
    /// The address SSH connects to (a name or an IP).
    pub address: String,
    /// The SSH port; None leaves it to ssh (its config, else 22).
    pub port: Option<u16>,
    /// The SSH user; None leaves it to ssh.
    pub user: Option<String>,
    /// The private key to use (`ssh -i`).
    pub identity_file: Option<PathBuf>,
    /// The known_hosts file (`UserKnownHostsFile`), for hosts outside the user's own.
    pub known_hosts_file: Option<PathBuf>,
    /// An ssh_config file to read instead of the user's (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// How commands reach the host.
    pub transport: TransportKind,
    /// The groups the host belongs to.
    pub groups: Vec<String>,
    /// Host variables (patronictl, haproxy_cfg, sudo, …), the defaults' merged under the host's own.
    pub vars: IndexMap<String, toml::Value>,
}

impl HostInfo {
    /// A string variable, or `default` when the inventory does not set it.
    pub fn var_str(&self, key: &str, default: &str) -> String {
        match self.vars.get(key) {
            Some(toml::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => default.to_string(),
        }
    }

    /// `user@address:port` as a human reads it in an error.
    pub fn describe(&self) -> String {
        match self.transport {
            TransportKind::Local => format!("{} (local)", self.name),
            TransportKind::Ssh => {
                let user = self
                    .user
                    .as_deref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                let port = self
                    .port
                    .filter(|p| *p != 22)
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default();
                format!("{} ({user}{}{port})", self.name, self.address)
            }
        }
    }
}

/// The parsed inventory.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The file it was read from (None: no inventory given).
    pub path: Option<PathBuf>,
    hosts: Vec<Arc<HostInfo>>,
    /// For `check`/`show` without `-i`: every group and host name resolves to a stand-in host,
    /// so a runbook that reads the inventory when it loads can still be checked.
    placeholder: bool,
}

/// `~/` is the home folder; a relative path is relative to `base`.
pub(crate) fn expand_home(p: &str, base: &Path) -> PathBuf {
    let path = match p.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
        None => PathBuf::from(p),
    };
    if path.is_relative() {
        base.join(path)
    } else {
        path
    }
}

impl Inventory {
    /// Read an inventory file: runbook's TOML, or an Ansible inventory (YAML, INI, JSON, a
    /// dynamic inventory script), told apart by content (see [`ansible`]).
    pub fn load(path: &Path) -> Result<Self> {
        let mut inv = match ansible::load(path)? {
            Some(hosts) => Self::from_hosts(hosts),
            None => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::input("inventory", path, e))?;
                Self::parse(
                    &path.display().to_string(),
                    &text,
                    path.parent().unwrap_or(Path::new(".")),
                )?
            }
        };
        inv.path = Some(path.canonicalize().unwrap_or_else(|_| path.to_path_buf()));
        Ok(inv)
    }

    /// Parse inventory text; `name` is used in diagnostics, `base` resolves relative paths.
    pub fn parse(name: &str, text: &str, base: &Path) -> Result<Self> {
        let raw: RawInventory = toml::from_str(text).map_err(|e| {
            let span = e
                .span()
                .map(|r| (r.start, r.end.saturating_sub(r.start).max(1)))
                .unwrap_or((0, 0));
            Error::usage(format!("invalid inventory {name}: {}", e.message()))
                .at(name, text, span, "here")
                .with_help("`runbook help inventory` shows the formats runbook reads (also in `runbook man`)")
        })?;
        let d = &raw.defaults;
        let mut hosts = Vec::new();
        for (host_name, spanned) in &raw.hosts {
            let span = spanned.span();
            let h = spanned.get_ref();
            let bad = |msg: String| {
                Error::usage(format!("invalid inventory {name}: {msg}")).at(
                    name,
                    text,
                    (span.start, span.end - span.start),
                    "in this host",
                )
            };
            if host_name.is_empty() || host_name.contains(char::is_whitespace) {
                return Err(bad(format!(
                    "host name `{host_name}` must be non-empty and without spaces"
                )));
            }
            let transport_raw = h.transport.as_ref().or(d.transport.as_ref());
            let transport = match transport_raw.map(|s| s.get_ref().as_str()) {
                None | Some("ssh") => TransportKind::Ssh,
                Some("local") => TransportKind::Local,
                Some(other) => {
                    let s = transport_raw.map(|s| s.span()).unwrap_or(span.clone());
                    return Err(Error::usage(format!(
                        "invalid inventory {name}: host `{host_name}`: unknown transport `{other}`"
                    ))
                    .at(
                        name,
                        text,
                        (s.start, s.end - s.start),
                        "expected \"ssh\" or \"local\"",
                    ));
                }
            };
            let address = h
                .address
                .clone()
                .or(d.address.clone())
                .unwrap_or_else(|| host_name.clone());
            // ssh would read `-oProxyCommand=…` as an option, not a destination.
            if address.starts_with('-') {
                return Err(bad(format!(
                    "host `{host_name}`: address `{address}` starts with `-` (ssh would read it as an option)"
                )));
            }
            let mut vars = d.vars.clone();
            for (k, v) in &h.vars {
                vars.insert(k.clone(), v.clone());
            }
            let path_of = |own: &Option<String>, def: &Option<String>| {
                own.as_ref().or(def.as_ref()).map(|p| expand_home(p, base))
            };
            hosts.push(Arc::new(HostInfo {
                name: host_name.clone(),
                address,
                port: h.port.or(d.port),
                user: h.user.clone().or(d.user.clone()),
                identity_file: path_of(&h.identity_file, &d.identity_file),
                known_hosts_file: path_of(&h.known_hosts_file, &d.known_hosts_file),
                ssh_config: path_of(&h.ssh_config, &d.ssh_config),
                transport,
                groups: if h.groups.is_empty() {
                    d.groups.clone()
                } else {
                    h.groups.clone()
                },
                vars,
            }));
        }
        if hosts.is_empty() {
            return Err(Error::usage(format!("inventory {name} has no host"))
                .at(name, text, (0, 0), "no [hosts.NAME] table in this file")
                .with_help(
                    "add a host: [hosts.web-1] with address = \"…\" (`runbook help inventory` shows the format)",
                ));
        }
        Ok(Self {
            path: None,
            hosts,
            placeholder: false,
        })
    }

    /// An inventory of hosts resolved elsewhere (an Ansible inventory), in their order.
    pub fn from_hosts(hosts: Vec<HostInfo>) -> Self {
        Self {
            path: None,
            hosts: hosts.into_iter().map(Arc::new).collect(),
            placeholder: false,
        }
    }

    /// An inventory in which every group has one stand-in host (see `placeholder`).
    pub fn placeholder() -> Self {
        Self {
            path: None,
            hosts: Vec::new(),
            placeholder: true,
        }
    }

    fn stand_in(name: &str) -> Arc<HostInfo> {
        Arc::new(HostInfo {
            name: name.to_string(),
            address: name.to_string(),
            port: None,
            user: None,
            identity_file: None,
            known_hosts_file: None,
            ssh_config: None,
            transport: TransportKind::Local,
            groups: Vec::new(),
            vars: IndexMap::new(),
        })
    }

    /// Every host, in the inventory's order.
    pub fn hosts(&self) -> &[Arc<HostInfo>] {
        &self.hosts
    }

    /// The host called `name`; an error naming the hosts there are when there is none.
    pub fn host(&self, name: &str) -> Result<Arc<HostInfo>> {
        if self.placeholder {
            return Ok(Self::stand_in(name));
        }
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<_> = self.hosts.iter().map(|h| h.name.as_str()).collect();
                Error::usage(format!("the inventory has no host `{name}`"))
                    .with_help(format!("hosts: {}", names.join(", ")))
            })
    }

    /// Every group name, in order of first appearance.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for h in &self.hosts {
            for g in &h.groups {
                if !names.contains(g) {
                    names.push(g.clone());
                }
            }
        }
        names
    }

    /// The hosts of `group`, in the inventory's order; an error when no host is in it.
    pub fn group(&self, group: &str) -> Result<Vec<Arc<HostInfo>>> {
        if self.placeholder {
            return Ok(vec![Self::stand_in(&format!("{group}-1"))]);
        }
        let members: Vec<_> = self
            .hosts
            .iter()
            .filter(|h| h.groups.iter().any(|g| g == group))
            .cloned()
            .collect();
        if members.is_empty() {
            return Err(
                Error::usage(format!("the inventory has no group `{group}`"))
                    .with_help(format!("groups: {}", self.group_names().join(", "))),
            );
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INV: &str = r#"
[defaults]
user = "ops"
[defaults.vars]
patronictl = "/opt/patroni/bin/patronictl"

[hosts.mgr-2]
address = "10.0.0.13"
groups = ["new_managers"]

[hosts.mgr-1]
address = "10.0.0.12"
groups = ["new_managers", "patroni"]
vars = { patronictl = "/usr/bin/patronictl" }

[hosts.here]
transport = "local"
"#;

    #[test]
    fn an_empty_inventory_and_an_address_like_an_option_are_refused() {
        let empty = Inventory::parse("inv.toml", "[defaults]\nuser = \"ops\"\n", Path::new("/"));
        assert_eq!(
            empty.unwrap_err().message(),
            "inventory inv.toml has no host"
        );
        let text = "[hosts.evil]\naddress = \"-oProxyCommand=touch /tmp/pwned\"\n";
        let err = Inventory::parse("inv.toml", text, Path::new("/")).unwrap_err();
        assert!(
            err.message().contains("starts with `-`"),
            "{}",
            err.message()
        );
        let text = "[hosts.-evil]\n";
        assert!(Inventory::parse("inv.toml", text, Path::new("/")).is_err());
    }

    #[test]
    fn keeps_file_order_and_merges_defaults() {
        let inv = Inventory::parse("inv.toml", INV, Path::new("/")).unwrap();
        let g = inv.group("new_managers").unwrap();
        assert_eq!(
            g.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            ["mgr-2", "mgr-1"]
        );
        assert_eq!(g[0].user.as_deref(), Some("ops"));
        assert_eq!(
            g[0].var_str("patronictl", ""),
            "/opt/patroni/bin/patronictl"
        );
        assert_eq!(g[1].var_str("patronictl", ""), "/usr/bin/patronictl");
        assert_eq!(inv.host("here").unwrap().transport, TransportKind::Local);
        assert_eq!(inv.host("here").unwrap().address, "here");
    }

    #[test]
    fn errors_name_the_key_and_point_at_it() {
        let text = "[hosts.a]\nadress = \"x\"\n";
        let err = Inventory::parse("inv.toml", text, Path::new("/")).unwrap_err();
        assert!(
            err.message().contains("unknown field `adress`"),
            "{}",
            err.message()
        );
        let span = miette::Diagnostic::labels(&err)
            .and_then(|mut labels| labels.next())
            .expect("the error points at the field");
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "adress");
    }

    #[test]
    fn unknown_group_lists_the_known_ones() {
        let inv = Inventory::parse("inv.toml", INV, Path::new("/")).unwrap();
        let err = inv.group("old").unwrap_err();
        assert_eq!(
            err.help_text().as_deref(),
            Some("groups: new_managers, patroni")
        );
    }
}
