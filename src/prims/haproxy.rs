//! `haproxy::*`: read and change HAProxy's `timeout client` / `timeout server`, validated before
//! any reload, reversibly.
//!
//! The guide's `sed -i.bak -e 's/timeout client.*$/…/' …; service haproxy reload` also rewrites
//! `timeout client-fin`/`server-fin` and commented lines, misses odd spacing, does nothing (silently)
//! where no section sets a timeout, and never validates. `set_timeouts` edits exactly the two
//! directives where they take effect (the parser in `haproxy_cfg` keeps every other byte), checks
//! the result with `haproxy -c -f` on a temporary file before the live file is touched, reloads, and
//! pushes an undo that restores the original bytes and reloads again. Where a section in effect
//! sets `timeout tunnel` — in TCP mode it supersedes client and server once a connection is
//! established — that is raised too (to the longer value), and the plan and the run say so.
//!
//! Host variables: `haproxy_cfg` (default /etc/haproxy/haproxy.cfg), `haproxy_reload` (a shell
//! command, default `service haproxy reload`), `haproxy_bin` (default haproxy), `sudo` (default true).

use super::haproxy_cfg::{unified_diff, Config, Which};
use super::{add, at, host_of, ssh::exited, transport_failure, usage, Failure, RhaiResult};
use crate::context::{Ctx, Effect, Mode};
use crate::error::Kind;
use crate::inventory::HostInfo;
use crate::transport::{Command, ExecRequest, Outcome};
use crate::undo::{UndoAction, UndoExec};
use rhai::{Dynamic, Map, Module, NativeCallContext};
use std::sync::Arc;

struct Haproxy {
    host: Arc<HostInfo>,
    cfg: String,
    reload: String,
    bin: String,
    sudo: bool,
    timeout: std::time::Duration,
}

impl Haproxy {
    fn of(ctx: &Ctx, host: &Dynamic) -> RhaiResult<Self> {
        let host = host_of(ctx, host)?;
        Ok(Self {
            cfg: host.var_str("haproxy_cfg", "/etc/haproxy/haproxy.cfg"),
            reload: host.var_str("haproxy_reload", "service haproxy reload"),
            bin: host.var_str("haproxy_bin", "haproxy"),
            sudo: host.var_str("sudo", "true") != "false",
            timeout: ctx.settings.default_timeout,
            host,
        })
    }

    fn req(&self, command: Command, stdin: Option<String>) -> ExecRequest {
        ExecRequest {
            command,
            sudo: self.sudo,
            stdin: stdin.map(String::into_bytes),
            timeout: self.timeout,
            sensitive: false,
        }
    }

    fn exec(&self, ctx: &Ctx, req: &ExecRequest, effect: Effect) -> RhaiResult<Outcome> {
        ctx.exec(&self.host, req, effect)
            .map_err(|e| transport_failure(&self.host, e))
    }

    /// Run `req`; a non-zero exit is a failure (a planned command is not checked).
    fn checked(&self, ctx: &Ctx, req: ExecRequest, effect: Effect) -> RhaiResult<()> {
        match self.exec(ctx, &req, effect)? {
            Outcome::Ran(out) if out.code != 0 => {
                Err(exited(ctx, &self.host, &req, &out).into_err())
            }
            _ => Ok(()),
        }
    }

    /// The config's bytes; None when the file does not exist (a host without HAProxy).
    fn read(&self, ctx: &Ctx) -> RhaiResult<Option<String>> {
        let req = self.req(
            Command::argv([
                "sh",
                "-c",
                "if [ -e \"$1\" ]; then cat -- \"$1\"; else exit 3; fi",
                "x",
                &self.cfg,
            ]),
            None,
        );
        let out = match self.exec(ctx, &req, Effect::Probe)? {
            Outcome::Ran(out) => out,
            // Offline: the probe was only shown; plan as for an empty file.
            Outcome::Planned => return Ok(Some(String::new())),
        };
        match out.code {
            0 => Ok(Some(out.stdout)),
            3 => Ok(None),
            _ => Err(exited(ctx, &self.host, &req, &out).into_err()),
        }
    }

    /// argv writing stdin to `path` atomically (temp file + rename), with the live file's owner and mode.
    fn write_argv(&self, path: &str) -> Vec<String> {
        [
            "sh",
            "-c",
            "t=\"$1.runbook-tmp\" && cat > \"$t\" && { [ ! -e \"$2\" ] || { chown --reference=\"$2\" \"$t\" && chmod --reference=\"$2\" \"$t\"; }; } && mv -f \"$t\" \"$1\"",
            "runbook-write",
            path,
            &self.cfg,
        ]
        .map(String::from)
        .to_vec()
    }

    fn reload_cmd(&self) -> Command {
        Command::Shell(self.reload.clone())
    }
}

/// `timeouts(host)`: `#{ "defaults": #{ client: "30m", server: "30m" }, … }`, where they take effect.
fn timeouts(ctx: &Ctx, host: &Dynamic) -> RhaiResult<Map> {
    let h = Haproxy::of(ctx, host)?;
    let Some(text) = h.read(ctx)? else {
        return Err(Failure::new(
            Kind::Remote,
            &h.host.name,
            format!("{}: {} does not exist", h.host.describe(), h.cfg),
        )
        .into_err());
    };
    let mut out = Map::new();
    for t in Config::parse(&text)
        .timeouts()
        .into_iter()
        .filter(|t| t.effective)
    {
        let entry = out
            .entry(t.section.as_str().into())
            .or_insert_with(|| Dynamic::from_map(Map::new()));
        if let Some(mut section) = entry.clone().try_cast::<Map>() {
            section.insert(t.which.to_string().into(), t.value.clone().into());
            *entry = Dynamic::from_map(section);
        }
    }
    Ok(out)
}

fn value_of(opts: &Map, key: &str) -> RhaiResult<Option<String>> {
    match opts.get(key) {
        None => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => usage(format!(
            "timeout `{key}` must be a string such as \"1440m\", got {v}"
        )),
    }
}

/// `set_timeouts(host, #{ client: "1440m", server: "1440m" })`.
fn set_timeouts(ctx: &Ctx, host: &Dynamic, values: &Map) -> RhaiResult<Map> {
    let h = Haproxy::of(ctx, host)?;
    for k in values.keys() {
        if k != "client" && k != "server" {
            return usage(format!(
                "haproxy::set_timeouts sets `client` and `server`, not `{k}`"
            ));
        }
    }
    let (client, server) = (value_of(values, "client")?, value_of(values, "server")?);
    let mut report = Map::new();
    let Some(original) = h.read(ctx)? else {
        let msg = format!(
            "{}: {} does not exist; nothing to change",
            h.host.name, h.cfg
        );
        ctx.say(&msg);
        report.insert("changed".into(), false.into());
        report.insert("note".into(), msg.into());
        return Ok(report);
    };
    let mut cfg = Config::parse(&original);
    let edit = cfg
        .set_timeouts(client.as_deref(), server.as_deref())
        .map_err(|e| Failure::new(Kind::Usage, &h.host.name, e.to_string()).into_err())?;
    for which in &edit.missing {
        let msg = format!(
            "{}: no section of {} sets `timeout {which}` where it takes effect: HAProxy's is already unbounded; left as is",
            h.host.name, h.cfg
        );
        ctx.say(&msg);
    }
    for c in edit.changes.iter().filter(|c| c.which == Which::Tunnel) {
        ctx.say(&format!(
            "{}: `timeout tunnel {}` in {} supersedes client/server on an established TCP connection (a restore's): raised to {} too",
            h.host.name, c.old, c.section, c.new
        ));
    }
    let changes: rhai::Array = edit
        .changes
        .iter()
        .map(|c| {
            Dynamic::from(format!(
                "{} line {}: timeout {} {} → {}",
                c.section, c.line, c.which, c.old, c.new
            ))
        })
        .collect();
    report.insert("changed".into(), (!edit.changes.is_empty()).into());
    report.insert("changes".into(), changes.into());
    if edit.changes.is_empty() {
        return Ok(report);
    }
    let new = cfg.render();
    if ctx.mode != Mode::Run {
        ctx.show_planned(
            &h.host.name,
            &format!(
                "edit {} (validated with `{} -c` before reload):",
                h.cfg, h.bin
            ),
        );
        for line in unified_diff(&h.cfg, &original, &new).lines() {
            outln!("      {line}");
        }
    }
    // 1. Validate the new text on the host before the live file is touched.
    let candidate = format!("{}.runbook-new", h.cfg);
    h.checked(
        ctx,
        h.req(Command::argv(h.write_argv(&candidate)), Some(new.clone())),
        Effect::Mutation,
    )?;
    let check = h.req(
        Command::argv([h.bin.as_str(), "-c", "-f", candidate.as_str()]),
        None,
    );
    // Planned (a dry run): shown, not checked.
    let rejected = match h.exec(ctx, &check, Effect::Mutation)? {
        Outcome::Ran(checked) if checked.code != 0 => Some(checked),
        _ => None,
    };
    if let Some(checked) = rejected {
        let _ = h.exec(
            ctx,
            &h.req(Command::argv(["rm", "-f", "--", &candidate]), None),
            Effect::Mutation,
        );
        let said = crate::transport::tail(
            &format!("{}\n{}", checked.stdout, checked.stderr),
            10,
            ctx.redactor(),
        );
        return Err(Failure::new(
            Kind::Remote,
            &h.host.name,
            format!("{}: haproxy rejects the edited config; {} was left unchanged and nothing was reloaded:\n{said}", h.host.describe(), h.cfg),
        )
        .into_err());
    }
    // 2. The guide's .bak, then the undo (original bytes back, reload), journaled before the change.
    let backup = Command::argv(h.write_argv(&format!("{}.bak", h.cfg)));
    h.checked(ctx, h.req(backup, Some(original.clone())), Effect::Mutation)?;
    let restore = h.write_argv(&h.cfg);
    ctx.push_undo(
        &format!("{}: restore {} and reload haproxy", h.host.name, h.cfg),
        UndoAction {
            host: h.host.name.clone(),
            commands: vec![
                UndoExec::argv(restore, h.sudo, h.timeout).with_stdin(original),
                UndoExec::shell(h.reload.clone(), h.sudo, h.timeout),
            ],
        },
    )
    .map_err(|e| e.into_rhai(&h.host.name))?;
    // 3. Put the validated file in place and reload.
    h.checked(
        ctx,
        h.req(Command::argv(["mv", "-f", "--", &candidate, &h.cfg]), None),
        Effect::Mutation,
    )?;
    h.checked(ctx, h.req(h.reload_cmd(), None), Effect::Mutation)?;
    Ok(report)
}

fn reload(ctx: &Ctx, host: &Dynamic) -> RhaiResult<()> {
    let h = Haproxy::of(ctx, host)?;
    h.checked(ctx, h.req(h.reload_cmd(), None), Effect::Mutation)
        .map(|_| ())
}

fn validate(ctx: &Ctx, host: &Dynamic) -> RhaiResult<()> {
    let h = Haproxy::of(ctx, host)?;
    h.checked(
        ctx,
        h.req(
            Command::argv([h.bin.as_str(), "-c", "-f", h.cfg.as_str()]),
            None,
        ),
        Effect::Probe,
    )
    .map(|_| ())
}

/// Whether the host has an HAProxy config at its `haproxy_cfg` (a probe; offline: assumed).
fn present(ctx: &Ctx, host: &Dynamic) -> RhaiResult<bool> {
    let h = Haproxy::of(ctx, host)?;
    Ok(h.read(ctx)?.is_some())
}

pub fn module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    let c = ctx.clone();
    add!(&mut m, "present", &["host: Host", "bool"],
        "Whether the host has an HAProxy config at its `haproxy_cfg` (default /etc/haproxy/haproxy.cfg):
a probe. Cloudify managers from 5.1.1 on have none: they connect to the Patroni leader themselves.",
        move |nc: NativeCallContext, host: Dynamic| at(&nc, present(&c, &host)));
    let c = ctx.clone();
    add!(&mut m, "timeouts", &["host: Host", "Map"],
        "The `timeout client`/`server`/`tunnel` values per section where they take effect, e.g.\n#{ \"defaults\": #{ client: \"30m\", server: \"30m\" } }: a probe.",
        move |nc: NativeCallContext, host: Dynamic| at(&nc, timeouts(&c, &host)));
    let c = ctx.clone();
    add!(&mut m, "set_timeouts", &["host: Host", "values: Map", "Map"],
        "Temporarily set `timeout client` and/or `timeout server` (#{ client: \"1440m\", server: \"1440m\" })\nin every section that sets them, and a `timeout tunnel` in effect to the longer value (it supersedes\nboth on an established TCP connection): validate with `haproxy -c` first, keep <cfg>.bak, push the undo\n(original bytes back, reload), put the file in place, reload. A config haproxy rejects is never\ninstalled or reloaded. Where no section sets a timeout, nothing changes (HAProxy's is unbounded).\nReturns #{ changed, changes }.",
        move |nc: NativeCallContext, host: Dynamic, values: Map| at(&nc, set_timeouts(&c, &host, &values)));
    let c = ctx.clone();
    add!(&mut m, "reload", &["host: Host", "()"],
        "Reload HAProxy with the host's `haproxy_reload` command (default `service haproxy reload`):\na shell command line from the inventory, run through `sh -c` (as root unless `sudo = false`).",
        move |nc: NativeCallContext, host: Dynamic| at(&nc, reload(&c, &host)));
    let c = ctx.clone();
    add!(
        &mut m,
        "validate",
        &["host: Host", "()"],
        "Check the live config with `haproxy -c -f`: a probe; fails with haproxy's own message.",
        move |nc: NativeCallContext, host: Dynamic| at(&nc, validate(&c, &host))
    );
    m
}

#[cfg(test)]
mod tests;
