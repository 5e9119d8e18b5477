//! `patroni::*`: read and change the Patroni cluster's dynamic configuration (in the DCS) through
//! the host's `patronictl`, typed, with a deadline on every call, and reversibly.
//!
//! The guide's shell lines and their equivalents:
//! - `patronictl -c /etc/patroni.conf show-config | tee /etc/patroni.conf.bak` → `show_config`, and
//!   the backup `raise` writes (refusing an empty one, which `--apply` could not restore).
//! - `edit-config -s ttl=86400 -s retry_timeout=86400 --force` → `edit_config` / `raise`.
//! - `edit-config --apply /etc/patroni.conf.bak --force` → the undo `raise` pushes, which uses
//!   `--replace` from the journaled original: `--apply` merges, so a key the edit added would stay.
//!
//! Host variables: `patronictl` (default /opt/patroni/bin/patronictl), `patroni_conf`
//! (/etc/patroni.conf), `patroni_timeout` (seconds, default 30: patronictl retries forever when the
//! DCS is unreachable), `sudo` (default true).

use super::{add, at, host_of, ssh::exited, transport_failure, usage, Failure, RhaiResult};
use crate::context::{Ctx, Effect, Mode};
use crate::error::Kind;
use crate::inventory::HostInfo;
use crate::transport::{Command, ExecOutput, ExecRequest, Outcome};
use crate::undo::{UndoAction, UndoExec};
use rhai::{Array, Dynamic, Map, Module, NativeCallContext};
use std::sync::Arc;
use std::time::Duration;

struct Patronictl {
    host: Arc<HostInfo>,
    bin: String,
    conf: String,
    sudo: bool,
    timeout: Duration,
}

impl Patronictl {
    fn of(ctx: &Ctx, host: &Dynamic) -> RhaiResult<Self> {
        let host = host_of(ctx, host)?;
        let timeout = host
            .var_str("patroni_timeout", "30")
            .parse::<u64>()
            .unwrap_or(30)
            .max(1);
        Ok(Self {
            bin: host.var_str("patronictl", "/opt/patroni/bin/patronictl"),
            conf: host.var_str("patroni_conf", "/etc/patroni.conf"),
            sudo: host.var_str("sudo", "true") != "false",
            timeout: Duration::from_secs(timeout),
            host,
        })
    }

    fn request(&self, args: &[&str], stdin: Option<String>) -> ExecRequest {
        let mut argv = vec![self.bin.as_str(), "-c", self.conf.as_str()];
        argv.extend_from_slice(args);
        ExecRequest {
            command: Command::argv(argv),
            sudo: self.sudo,
            stdin: stdin.map(String::into_bytes),
            timeout: self.timeout,
            sensitive: false,
        }
    }

    /// Run patronictl; a non-zero exit or a missed deadline is a failure naming what happened.
    fn run(
        &self,
        ctx: &Ctx,
        args: &[&str],
        stdin: Option<String>,
        effect: Effect,
    ) -> RhaiResult<Outcome> {
        let req = self.request(args, stdin);
        let out = ctx.exec(&self.host, &req, effect).map_err(|e| {
            let mut f = transport_failure(&self.host, e);
            if let rhai::EvalAltResult::ErrorRuntime(v, _) = f.as_mut() {
                if let Some(mut failure) = v.clone().try_cast::<Failure>() {
                    failure.message.push_str(
                        "\n(patronictl retries while the DCS is unreachable: is etcd up?)",
                    );
                    *v = Dynamic::from(failure);
                }
            }
            f
        })?;
        if let Outcome::Ran(out) = &out {
            if out.code != 0 {
                return Err(exited(ctx, &self.host, &req, out).into_err());
            }
        }
        Ok(out)
    }

    /// `show-config` as text; refuses an empty or unparsable answer.
    fn show_raw(&self, ctx: &Ctx) -> RhaiResult<(String, serde_yaml_ng::Mapping)> {
        let text = match self.run(ctx, &["show-config"], None, Effect::Probe)? {
            Outcome::Ran(out) => out.stdout,
            // Offline: the probe was only shown; nothing to read.
            Outcome::Planned => return Ok((String::new(), serde_yaml_ng::Mapping::new())),
        };
        if text.trim().is_empty() {
            return fail(&self.host, "`patronictl show-config` printed nothing: the cluster has no dynamic configuration in the DCS, so there is nothing to back up or restore; refusing to go on");
        }
        match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
            Ok(serde_yaml_ng::Value::Mapping(m)) => Ok((text, m)),
            Ok(other) => fail(&self.host, format!("`patronictl show-config` did not print a YAML mapping but {other:?}; refusing to go on")),
            Err(e) => fail(&self.host, format!("`patronictl show-config` printed invalid YAML ({e}); refusing to go on")),
        }
    }
}

fn fail<T>(host: &HostInfo, message: impl Into<String>) -> RhaiResult<T> {
    Err(Failure::new(
        Kind::Remote,
        &host.name,
        format!("{}: {}", host.describe(), message.into()),
    )
    .into_err())
}

/// A Rhai value as the YAML text `patronictl -s key=VALUE` parses back to the same type.
fn yaml_scalar(v: &Dynamic) -> RhaiResult<String> {
    if v.is_unit() {
        return Ok("null".into());
    }
    let value = if let Ok(i) = v.as_int() {
        serde_yaml_ng::Value::from(i)
    } else if let Ok(f) = v.as_float() {
        serde_yaml_ng::Value::from(f)
    } else if let Ok(b) = v.as_bool() {
        serde_yaml_ng::Value::from(b)
    } else if v.is_string() {
        serde_yaml_ng::Value::from(v.to_string())
    } else if let Some(a) = v.clone().try_cast::<Array>() {
        let items: RhaiResult<Vec<String>> = a.iter().map(yaml_scalar).collect();
        return Ok(format!("[{}]", items?.join(", ")));
    } else {
        return usage(format!(
            "cannot write a {} into the Patroni config",
            v.type_name()
        ));
    };
    Ok(serde_yaml_ng::to_string(&value)
        .map_err(|e| Failure::new(Kind::Usage, "", e.to_string()).into_err())?
        .trim()
        .to_string())
}

/// Flatten `#{ postgresql: #{ parameters: #{ x: 1 } } }` into `postgresql.parameters.x=1` settings.
fn flatten(prefix: &str, map: &Map, out: &mut Vec<(String, Dynamic)>) {
    for (k, v) in map {
        let key = if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        };
        match v.clone().try_cast::<Map>() {
            Some(inner) if !inner.is_empty() => flatten(&key, &inner, out),
            _ => out.push((key, v.clone())),
        }
    }
}

fn lookup<'a>(m: &'a serde_yaml_ng::Mapping, dotted: &str) -> Option<&'a serde_yaml_ng::Value> {
    let mut parts = dotted.split('.');
    let mut cur = m.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_mapping()?.get(p)?;
    }
    Some(cur)
}

fn show_value(v: Option<&serde_yaml_ng::Value>) -> String {
    v.map(|v| {
        serde_yaml_ng::to_string(v)
            .unwrap_or_default()
            .trim()
            .to_string()
    })
    .unwrap_or_else(|| "(unset)".into())
}

fn edit_args(settings: &[(String, Dynamic)]) -> RhaiResult<Vec<String>> {
    let mut args = vec!["edit-config".to_string()];
    for (k, v) in settings {
        args.push("-s".into());
        args.push(format!("{k}={}", yaml_scalar(v)?));
    }
    args.push("--force".into());
    Ok(args)
}

/// Keys Patroni reads as integers (seconds or bytes).
const INTEGER_KEYS: &[&str] = &[
    "ttl",
    "loop_wait",
    "retry_timeout",
    "maximum_lag_on_failover",
    "master_start_timeout",
    "primary_start_timeout",
    "synchronous_node_count",
];

fn yaml_kind(v: &serde_yaml_ng::Value) -> &'static str {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => "null",
        Y::Bool(_) => "bool",
        Y::Number(_) => "number",
        Y::String(_) => "string",
        Y::Sequence(_) => "list",
        Y::Mapping(_) => "mapping",
        Y::Tagged(_) => "tagged value",
    }
}

fn dynamic_kind(v: &Dynamic) -> &'static str {
    if v.is_unit() {
        "null"
    } else if v.is_bool() {
        "bool"
    } else if v.is_int() || v.is_float() {
        "number"
    } else if v.is_string() {
        "string"
    } else if v.is::<Array>() {
        "list"
    } else {
        "mapping"
    }
}

/// Patroni 3.0 stores whatever `-s` says: `ttl=soon`, or `postgresql=5` (which drops the whole
/// postgresql section). Refuse edits that change a key's type, and non-integers for integer keys.
fn check_types(
    host: &HostInfo,
    current: &serde_yaml_ng::Mapping,
    settings: &[(String, Dynamic)],
) -> RhaiResult<()> {
    for (key, value) in settings {
        if value.is_unit() {
            continue;
        }
        if INTEGER_KEYS.contains(&key.as_str()) && !value.is_int() {
            return Err(Failure::new(
                Kind::Usage,
                &host.name,
                format!("Patroni's `{key}` is an integer, not {value:?}; nothing was changed"),
            )
            .into_err());
        }
        if let Some(old) = lookup(current, key) {
            let (was, now) = (yaml_kind(old), dynamic_kind(value));
            if was != now && was != "null" {
                return Err(Failure::new(
                    Kind::Usage,
                    &host.name,
                    format!("`{key}` is a {was} in the Patroni config; setting it to a {now} ({value:?}) would replace it; nothing was changed"),
                )
                .into_err());
            }
        }
    }
    Ok(())
}

/// An edit checked against the config it changes.
struct Edit {
    /// Dotted key → new value.
    settings: Vec<(String, Dynamic)>,
    /// `show-config` as printed (the backup), and parsed.
    original: String,
    parsed: serde_yaml_ng::Mapping,
}

/// The settings of an edit, checked against the current config (read with a probe).
fn prepare(ctx: &Ctx, p: &Patronictl, changes: &Map, what: &str) -> RhaiResult<Edit> {
    let mut settings = Vec::new();
    flatten("", changes, &mut settings);
    if settings.is_empty() {
        return usage(format!("patroni::{what} needs at least one key to set, e.g. #{{ ttl: 86400, retry_timeout: 86400 }}"));
    }
    let (original, parsed) = p.show_raw(ctx)?;
    check_types(&p.host, &parsed, &settings)?;
    Ok(Edit {
        settings,
        original,
        parsed,
    })
}

fn edit_config(ctx: &Ctx, host: &Dynamic, changes: &Map) -> RhaiResult<()> {
    let p = Patronictl::of(ctx, host)?;
    let Edit { settings, .. } = prepare(ctx, &p, changes, "edit_config")?;
    let args = edit_args(&settings)?;
    let out = p.run(
        ctx,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
        Effect::Mutation,
    )?;
    let said = |out: &ExecOutput| {
        !out.stdout.contains("Configuration changed") && !out.stdout.contains("Not changed")
    };
    if let Some(out) = out.ran().filter(said) {
        ctx.say(&format!(
            "{}: patronictl edit-config said: {}",
            p.host.name,
            out.stdout.trim()
        ));
    }
    Ok(())
}

fn apply_config(ctx: &Ctx, host: &Dynamic, file: &str) -> RhaiResult<()> {
    let p = Patronictl::of(ctx, host)?;
    // `--apply` of a missing or empty file dies with a traceback: check it first.
    let check = ExecRequest {
        command: Command::argv(["test", "-s", file]),
        sudo: p.sudo,
        stdin: None,
        timeout: p.timeout,
        sensitive: false,
    };
    let out = ctx
        .exec(&p.host, &check, Effect::Probe)
        .map_err(|e| transport_failure(&p.host, e))?;
    if out.ran().is_some_and(|out| out.code != 0) {
        return fail(
            &p.host,
            format!(
                "{file} is missing or empty; `edit-config --apply` would fail and change nothing"
            ),
        );
    }
    p.run(
        ctx,
        &["edit-config", "--apply", file, "--force"],
        None,
        Effect::Mutation,
    )
    .map(|_| ())
}

/// What Patroni ≥ 3.2 really runs with for `(ttl, loop_wait, retry_timeout)`: it raises each to
/// its minimum (ttl 20, loop_wait 1, retry_timeout 3) and, where `loop_wait + 2*retry_timeout >
/// ttl`, lowers loop_wait to `ttl - 2*retry_timeout`, or, when even loop_wait 1 does not fit,
/// sets loop_wait 1 and retry_timeout `(ttl - 1) / 2` — silently but for its log (Patroni's
/// patroni/config.py, `Config._validate_and_adjust_timeouts`; release notes 3.2.0, "Enforce
/// loop_wait + 2*retry_timeout <= ttl rule"). `None` when Patroni keeps the values as given.
pub(crate) fn patroni_adjusts(
    ttl: i64,
    loop_wait: i64,
    retry_timeout: i64,
) -> Option<(i64, i64, i64)> {
    const MIN_LOOP_WAIT: i64 = 1;
    let given = (ttl, loop_wait, retry_timeout);
    let (ttl, mut loop_wait, mut retry) = (
        ttl.max(20),
        loop_wait.max(MIN_LOOP_WAIT),
        retry_timeout.max(3),
    );
    if MIN_LOOP_WAIT + 2 * retry > ttl {
        loop_wait = MIN_LOOP_WAIT;
        retry = (ttl - MIN_LOOP_WAIT) / 2;
    } else if loop_wait + 2 * retry > ttl {
        loop_wait = ttl - 2 * retry;
    }
    let adjusted = (ttl, loop_wait, retry);
    (adjusted != given).then_some(adjusted)
}

/// The warning `raise` gives (plan and run) when Patroni ≥ 3.2 would not use the values as set.
fn adjustment_warning(
    host: &str,
    settings: &[(String, Dynamic)],
    current: &serde_yaml_ng::Mapping,
) -> Option<String> {
    let value = |key: &str, default: i64| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_int().ok())
            .or_else(|| lookup(current, key).and_then(serde_yaml_ng::Value::as_i64))
            .unwrap_or(default)
    };
    if !settings
        .iter()
        .any(|(k, _)| matches!(k.as_str(), "ttl" | "loop_wait" | "retry_timeout"))
    {
        return None;
    }
    let (ttl, loop_wait, retry) = (
        value("ttl", 30),
        value("loop_wait", 10),
        value("retry_timeout", 10),
    );
    let (t, l, r) = patroni_adjusts(ttl, loop_wait, retry)?;
    Some(format!(
        "{host}: warning: ttl {ttl}, loop_wait {loop_wait}, retry_timeout {retry} break Patroni's rule loop_wait + 2*retry_timeout <= ttl: Patroni 3.2 and later will run with ttl {t}, loop_wait {l}, retry_timeout {r} instead (and say so only in its log); choose consistent values, e.g. retry_timeout {} with ttl {ttl} and loop_wait {loop_wait}",
        ((ttl - loop_wait.max(1)) / 2).max(3)
    ))
}

/// Back up, push the exact-restore undo, then edit: the guide's step 5 for Patroni.
fn raise(ctx: &Ctx, host: &Dynamic, changes: &Map) -> RhaiResult<Map> {
    let p = Patronictl::of(ctx, host)?;
    let Edit {
        settings,
        original,
        parsed,
    } = prepare(ctx, &p, changes, "raise")?;
    let mut report = Map::new();
    if let Some(warning) = adjustment_warning(&p.host.name, &settings, &parsed) {
        ctx.say(&warning);
        report.insert("warning".into(), warning.into());
    }
    for (k, v) in &settings {
        let old = show_value(lookup(&parsed, k));
        if ctx.mode != Mode::Run {
            ctx.show_planned(&p.host.name, &format!("patroni {k}: {old} → {v}"));
        }
        report.insert(k.as_str().into(), Dynamic::from(format!("{old} → {v}")));
    }
    // The backup the guide keeps on the host, and (below) the same text in the journal's undo.
    let backup = format!("{}.bak", p.conf);
    let write_backup = ExecRequest {
        command: Command::argv([
            "sh",
            "-c",
            "umask 077 && cat > \"$1\"",
            "runbook-backup",
            backup.as_str(),
        ]),
        sudo: p.sudo,
        stdin: Some(original.clone().into_bytes()),
        timeout: p.timeout,
        sensitive: false,
    };
    let out = ctx
        .exec(&p.host, &write_backup, Effect::Mutation)
        .map_err(|e| transport_failure(&p.host, e))?;
    if let Outcome::Ran(out) = out {
        if out.code != 0 {
            return Err(exited(ctx, &p.host, &write_backup, &out).into_err());
        }
    }
    let mut argv = vec![p.bin.clone(), "-c".into(), p.conf.clone()];
    argv.extend(["edit-config", "--replace", "-", "--force"].map(String::from));
    let undo = UndoExec::argv(argv, p.sudo, p.timeout).with_stdin(original);
    let keys: Vec<_> = settings.iter().map(|(k, _)| k.as_str()).collect();
    ctx.push_undo(
        &format!(
            "{}: restore the Patroni config ({} back to the original)",
            p.host.name,
            keys.join(", ")
        ),
        UndoAction {
            host: p.host.name.clone(),
            commands: vec![undo],
        },
    )
    .map_err(|e| e.into_rhai(&p.host.name))?;
    let args = edit_args(&settings)?;
    p.run(
        ctx,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        None,
        Effect::Mutation,
    )?;
    Ok(report)
}

pub fn module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    add!(
        &mut m,
        "show_config",
        &["host: Host", "Map"],
        "The cluster's dynamic configuration (`patronictl show-config`), parsed: a probe.",
        move |nc: NativeCallContext, host: Dynamic| -> RhaiResult<Map> {
            at(
                &nc,
                Patronictl::of(&c, &host)
                    .and_then(|p| p.show_raw(&c))
                    .map(|(_, m)| {
                        super::text::yaml_to_dynamic(&serde_yaml_ng::Value::Mapping(m))
                            .cast::<Map>()
                    }),
            )
        }
    );
    let c = ctx.clone();
    add!(&mut m, "edit_config", &["host: Host", "changes: Map", "()"],
        "Set keys (`edit-config -s key=value --force`); nested maps become dotted keys, types are kept,\n`()` deletes a key. Not undone by itself: see `patroni::raise`.",
        move |nc: NativeCallContext, host: Dynamic, changes: Map| at(&nc, edit_config(&c, &host, &changes)));
    let c = ctx.clone();
    add!(&mut m, "apply_config", &["host: Host", "file: String", "()"],
        "Merge a YAML file on the host into the config (`edit-config --apply FILE --force`);\nrefuses a missing or empty file.",
        move |nc: NativeCallContext, host: Dynamic, file: &str| at(&nc, apply_config(&c, &host, file)));
    let c = ctx.clone();
    add!(&mut m, "raise", &["host: Host", "changes: Map", "Map"],
        "Temporarily set keys: back up `show-config` (on the host as <patroni_conf>.bak, and in the\njournal), refuse an empty backup, push the undo that restores the original exactly\n(`--replace`, so keys the edit added go away), then edit. Warns (plan and run) when Patroni 3.2+\nwould lower loop_wait/retry_timeout (loop_wait + 2*retry_timeout > ttl), naming the values it\nwill use. Returns #{ key: \"old → new\", warning }.",
        move |nc: NativeCallContext, host: Dynamic, changes: Map| at(&nc, raise(&c, &host, &changes)));
    m
}

#[cfg(test)]
mod tests;
