//! The `ansible_*` variables that say how to reach a host, mapped onto runbook's [`HostInfo`].
//!
//! A key is mapped (address, port, user, key, known_hosts, ssh config), harmless (it changes
//! nothing runbook does: it multiplexes, checks host keys strictly and runs sudo itself), or
//! refused: a connection setting runbook cannot honour is an error that names it, because
//! connecting differently from what the inventory says (another user, no host key check, a
//! password) is worse than not connecting.

use crate::error::{Error, Result};
use crate::inventory::{HostInfo, TransportKind};
use indexmap::IndexMap;
use serde_json::Value;

/// Keys that become a [`HostInfo`] field, and so leave `host.vars`.
const MAPPED: &[&str] = &[
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_connection",
];

/// Prefixes of the keys that configure a connection; any such key not mapped or known harmless
/// is refused.
const CONNECTION_PREFIXES: &[&str] = &[
    "ansible_ssh",
    "ansible_scp",
    "ansible_sftp",
    "ansible_become",
    "ansible_sudo",
    "ansible_su_",
    "ansible_pass",
    "ansible_password",
    "ansible_host_key",
    "ansible_timeout",
    "ansible_remote",
    "ansible_port",
    "ansible_user",
    "ansible_private_key",
    "ansible_paramiko",
    "ansible_libssh",
    "ansible_winrm",
    "ansible_psrp",
    "ansible_docker",
    "ansible_kubectl",
    "ansible_persistent",
    "ansible_network",
];

/// Connection keys that change nothing runbook does, when they have the value given (`None`:
/// any value).
const HARMLESS: &[(&str, Option<&str>)] = &[
    ("ansible_become", None),
    ("ansible_become_method", Some("sudo")),
    ("ansible_become_user", Some("root")),
    ("ansible_ssh_pipelining", None),
    ("ansible_ssh_transfer_method", None),
    ("ansible_scp_if_ssh", None),
    ("ansible_host_key_checking", Some("true")),
    ("ansible_ssh_host_key_checking", Some("true")),
];

/// One resolved host: `vars` are its variables after Ansible's precedence.
pub(super) fn host(
    inventory: &str,
    name: &str,
    groups: Vec<String>,
    mut vars: IndexMap<String, Value>,
) -> Result<HostInfo> {
    let bad = |what: String| {
        Error::usage(format!(
            "invalid inventory {inventory}: host `{name}`: {what}"
        ))
    };
    for (k, v) in &vars {
        if MAPPED.contains(&k.as_str()) || !CONNECTION_PREFIXES.iter().any(|p| k.starts_with(p)) {
            continue;
        }
        match HARMLESS.iter().find(|(key, _)| key == k) {
            Some((_, None)) => {}
            Some((_, Some(want))) if scalar(v).eq_ignore_ascii_case(want) => {}
            _ => {
                // A password's value stays out of the message.
                let shown = if k.contains("pass") {
                    k.clone()
                } else {
                    format!("{k}: {}", scalar(v))
                };
                return Err(
                    bad(format!("runbook cannot honour `{shown}`")).with_help(refusal_help(k))
                );
            }
        }
    }
    let take = |vars: &mut IndexMap<String, Value>, keys: &[&str]| -> Result<Option<String>> {
        let mut found = None;
        for k in keys {
            if let Some(v) = vars.shift_remove(*k) {
                let s = scalar(&v);
                if s.contains("{{") || s.contains("{%") {
                    return Err(bad(format!(
                        "`{k}` is a Jinja template (`{s}`); runbook does not render templates"
                    ))
                    .with_help("write the value itself in the inventory"));
                }
                if !v.is_null() && found.is_none() {
                    found = Some(s);
                }
            }
        }
        Ok(found)
    };
    let address = take(&mut vars, &["ansible_host", "ansible_ssh_host"])?;
    let port = take(&mut vars, &["ansible_port", "ansible_ssh_port"])?;
    let user = take(&mut vars, &["ansible_user", "ansible_ssh_user"])?;
    let key = take(
        &mut vars,
        &["ansible_ssh_private_key_file", "ansible_private_key_file"],
    )?;
    let common = take(&mut vars, &["ansible_ssh_common_args"])?;
    let extra = take(&mut vars, &["ansible_ssh_extra_args"])?;
    let connection = take(&mut vars, &["ansible_connection"])?;

    let transport = match connection.as_deref() {
        None | Some("ssh" | "smart" | "ansible.builtin.ssh") => TransportKind::Ssh,
        Some("local" | "ansible.builtin.local") => TransportKind::Local,
        Some(other) => {
            return Err(bad(format!(
                "`ansible_connection: {other}`: runbook connects with ssh or locally"
            ))
            .with_help("use ssh (the default) or local"))
        }
    };
    let mut ssh = SshArgs::default();
    for args in [common, extra].into_iter().flatten() {
        ssh.parse(&args).map_err(|(what, help)| {
            bad(what).with_help(format!("(in ansible_ssh_common_args `{args}`) {help}"))
        })?;
    }
    let port = match port.or(ssh.port) {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| bad(format!("port `{p}` is not a port number")))?,
        ),
    };
    let identity_file = match (key, ssh.identity_file) {
        (Some(a), Some(b)) if a != b => {
            return Err(bad(format!(
                "two private keys (`{a}` and, in the ssh args, `{b}`); runbook offers one"
            )))
        }
        (a, b) => a.or(b),
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = |p: String| crate::inventory::expand_home(&p, &cwd);
    let address = address.unwrap_or_else(|| name.to_string());
    if address.starts_with('-') || name.starts_with('-') {
        return Err(bad(format!(
            "address `{address}` starts with `-` (ssh would read it as an option)"
        )));
    }
    Ok(HostInfo {
        name: name.to_string(),
        address,
        port,
        user: user.or(ssh.user),
        identity_file: identity_file.map(path),
        known_hosts_file: ssh.known_hosts_file.map(path),
        ssh_config: ssh.config_file.map(path),
        transport,
        groups,
        vars: vars
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), super::to_toml(v)?)))
            .collect(),
    })
}

/// A scalar as Ansible would write it into a command line.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn refusal_help(key: &str) -> String {
    match key {
        k if k.contains("pass") => {
            "runbook logs in and runs sudo with keys only (ssh agent or ansible_ssh_private_key_file, NOPASSWD sudo)".into()
        }
        k if k.contains("host_key_checking") => {
            "runbook checks host keys strictly; pass --accept-new-host-keys to accept unknown ones".into()
        }
        k if k.contains("timeout") => "use --connect-timeout SECS and --timeout SECS".into(),
        k if k.starts_with("ansible_become") || k.starts_with("ansible_sudo") => {
            "runbook's ssh::sudo runs commands as root with sudo; remove the key or set it to that".into()
        }
        _ => "remove it from the inventory, or put ssh options in an ssh config file and pass `-F FILE` in ansible_ssh_common_args".into(),
    }
}

/// What `ansible_ssh_common_args` / `ansible_ssh_extra_args` say, as far as runbook can do it.
#[derive(Debug, Default)]
struct SshArgs {
    port: Option<String>,
    user: Option<String>,
    identity_file: Option<String>,
    known_hosts_file: Option<String>,
    config_file: Option<String>,
}

type ArgError = (String, String);

impl SshArgs {
    fn parse(&mut self, args: &str) -> Result<(), ArgError> {
        let words = shlex::split(args).ok_or_else(|| {
            (
                "unbalanced quotes".to_string(),
                "quote as a shell would".to_string(),
            )
        })?;
        let mut it = words.into_iter();
        while let Some(w) = it.next() {
            let mut value = |flag: &str, rest: &str| -> Result<String, ArgError> {
                if rest.is_empty() {
                    it.next()
                        .ok_or_else(|| (format!("`{flag}` without a value"), String::new()))
                } else {
                    Ok(rest.to_string())
                }
            };
            match w.get(..2) {
                Some("-o") => {
                    let opt = value("-o", &w[2..])?;
                    self.option(&opt)?;
                }
                Some("-i") => self.identity_file = Some(value("-i", &w[2..])?),
                Some("-p") => self.port = Some(value("-p", &w[2..])?),
                Some("-l") => self.user = Some(value("-l", &w[2..])?),
                Some("-F") => self.config_file = Some(value("-F", &w[2..])?),
                Some("-q" | "-C" | "-v") if w.len() == 2 => {}
                _ => {
                    return Err((
                        format!("runbook cannot pass `{w}` to ssh"),
                        "put it in an ssh config file and pass `-F FILE` instead".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// One `-o Key=Value` (or `Key Value`).
    fn option(&mut self, opt: &str) -> Result<(), ArgError> {
        let (key, value) = opt
            .split_once(['=', ' '])
            .map(|(k, v)| (k.trim(), v.trim()))
            .unwrap_or((opt, ""));
        match key.to_ascii_lowercase().as_str() {
            "userknownhostsfile" => {
                if value.split_whitespace().count() != 1 {
                    return Err((
                        format!("`-o {opt}`: runbook reads one known_hosts file"),
                        String::new(),
                    ));
                }
                self.known_hosts_file = Some(value.to_string());
            }
            "identityfile" => self.identity_file = Some(value.to_string()),
            "port" => self.port = Some(value.to_string()),
            "user" => self.user = Some(value.to_string()),
            "stricthostkeychecking" if value.eq_ignore_ascii_case("yes") => {}
            "stricthostkeychecking" => {
                return Err((
                    format!("`-o {opt}`: runbook checks host keys strictly"),
                    "pass --accept-new-host-keys to accept (and remember) keys not yet known"
                        .into(),
                ))
            }
            // What runbook already does (batch mode, only the given key), or its own
            // multiplexing and keep-alives, and --connect-timeout, stand in for these.
            "batchmode" if value.eq_ignore_ascii_case("yes") => {}
            "identitiesonly" | "controlmaster" | "controlpersist" | "controlpath"
            | "serveraliveinterval" | "serveralivecountmax" | "connecttimeout" | "loglevel"
            | "compression" => {}
            _ => {
                return Err((
                    format!("runbook cannot pass `-o {opt}` to ssh"),
                    "put it in an ssh config file (a `Host` block) and pass `-F FILE` in ansible_ssh_common_args".into(),
                ))
            }
        }
        Ok(())
    }
}
