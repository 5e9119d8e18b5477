//! `ssh::*`: run commands on hosts.
//!
//! argv arrays are quoted for the remote shell, so every element arrives as one literal argument;
//! only `shell`/`sudo_shell` take a snippet for the shell to interpret. A non-zero exit fails the
//! call (naming host, command, exit code and stderr) unless `#{ check: false }` is passed; the result
//! is `#{ code, stdout, stderr, ok }`. The `_all` forms run on many hosts at once and return a map
//! of host name to result; if any host fails, the failure lists every host's outcome.

use super::{
    add, argv_of, at, host_of, hosts_of, output_map, transport_failure, ExecOpts, Failure,
    RhaiResult,
};
use crate::context::{Ctx, Effect};
use crate::error::Kind;
use crate::inventory::HostInfo;
use crate::transport::{self, Command, ExecOutput, ExecRequest, Outcome};
use futures::stream::{self, StreamExt};
use rhai::{Array, Dynamic, Map, Module, NativeCallContext};
use std::sync::Arc;

#[derive(Clone, Copy)]
struct Form {
    name: &'static str,
    sudo: bool,
    shell: bool,
    probe: bool,
    all: bool,
    doc: &'static str,
}

const FORMS: &[Form] = &[
    Form { name: "run", sudo: false, shell: false, probe: false, all: false,
        doc: "Run `argv` on `host` (a mutation: `plan` shows it without running it)." },
    Form { name: "sudo", sudo: true, shell: false, probe: false, all: false,
        doc: "Run `argv` on `host` as root (`sudo -n`: sudo must not ask for a password)." },
    Form { name: "shell", sudo: false, shell: true, probe: false, all: false,
        doc: "Run a shell snippet on `host` (`sh -c`). The only form a string is interpreted in:\nquote anything you interpolate, or use an argv form." },
    Form { name: "sudo_shell", sudo: true, shell: true, probe: false, all: false,
        doc: "Run a shell snippet on `host` as root." },
    Form { name: "probe", sudo: false, shell: false, probe: true, all: false,
        doc: "Run a read-only `argv` on `host`: a probe, which `plan` runs for real so the script\ntakes the branch a real run would." },
    Form { name: "sudo_probe", sudo: true, shell: false, probe: true, all: false,
        doc: "A probe run as root." },
    Form { name: "run_all", sudo: false, shell: false, probe: false, all: true,
        doc: "Run `argv` on every host in `hosts` in parallel; returns #{ host_name: result }." },
    Form { name: "sudo_all", sudo: true, shell: false, probe: false, all: true,
        doc: "Run `argv` as root on every host in `hosts` in parallel." },
    Form { name: "shell_all", sudo: false, shell: true, probe: false, all: true,
        doc: "Run a shell snippet on every host in `hosts` in parallel." },
];

/// A failure for a command that ran and exited non-zero. Its stderr tail explains it; a command
/// that reports errors on stdout (Cloudify's `cfy` logs everything there) and left stderr empty
/// is explained by its stdout tail instead. A `sensitive` command's output is left out of it:
/// it may hold what the output held.
pub fn exited(ctx: &Ctx, host: &HostInfo, req: &ExecRequest, out: &ExecOutput) -> Failure {
    let stderr = if req.sensitive {
        String::new()
    } else {
        transport::tail(&out.stderr, 10, ctx.redactor())
    };
    let mut message = format!(
        "{}: `{}` exited with {}",
        host.describe(),
        req.command.display(req.sudo),
        out.code
    );
    if !stderr.is_empty() {
        message.push_str(&format!("\nstderr:\n{stderr}"));
    } else if !req.sensitive {
        let stdout = transport::tail(&out.stdout, 10, ctx.redactor());
        if !stdout.is_empty() {
            message.push_str(&format!("\nstdout:\n{stdout}"));
        }
    }
    Failure {
        code: Some(out.code),
        stderr,
        ..Failure::new(Kind::Remote, &host.name, message)
    }
}

fn request(form: Form, cmd: &Dynamic, opts: &ExecOpts) -> RhaiResult<ExecRequest> {
    let command = if form.shell {
        match cmd.clone().into_string() {
            Ok(s) => Command::Shell(s),
            Err(t) => {
                return super::usage(format!(
                    "ssh::{} expects a shell snippet (string), got {t}",
                    form.name
                ))
            }
        }
    } else {
        match cmd.clone().try_cast::<Array>() {
            Some(a) => Command::Argv(argv_of(&a)?),
            None => {
                return super::usage(format!(
                    "ssh::{} expects argv as an array, e.g. [\"ls\", \"-l\"], got {} (use ssh::shell for a snippet)",
                    form.name,
                    cmd.type_name()
                ))
            }
        }
    };
    Ok(ExecRequest {
        command,
        sudo: form.sudo,
        stdin: opts.stdin.clone().map(String::into_bytes),
        timeout: opts.timeout,
        sensitive: opts.sensitive,
    })
}

/// One host: the result map, or the failure.
async fn one(
    ctx: &Ctx,
    host: &Arc<HostInfo>,
    req: &ExecRequest,
    opts: &ExecOpts,
    effect: Effect,
) -> Result<Map, Box<rhai::EvalAltResult>> {
    let out = match ctx
        .exec_async(host, req, effect, ctx.cancel())
        .await
        .map_err(|e| transport_failure(host, e))?
    {
        Outcome::Ran(out) => out,
        Outcome::Planned => return Ok(super::planned_map()),
    };
    if opts.check && out.code != 0 {
        return Err(exited(ctx, host, req, &out).into_err());
    }
    Ok(output_map(&out))
}

fn call(ctx: &Ctx, form: Form, target: Dynamic, cmd: Dynamic, opts: Map) -> RhaiResult<Dynamic> {
    let mut opts = ExecOpts::parse(ctx, &opts)?;
    opts.probe |= form.probe;
    let effect = if opts.probe {
        Effect::Probe
    } else {
        Effect::Mutation
    };
    let req = request(form, &cmd, &opts)?;
    if !form.all {
        let host = host_of(ctx, &target)?;
        return ctx
            .wait(one(ctx, &host, &req, &opts, effect))
            .map(Dynamic::from_map);
    }
    let Some(list) = target.clone().try_cast::<Array>() else {
        return super::usage(format!(
            "ssh::{} expects an array of hosts, got {}",
            form.name,
            target.type_name()
        ));
    };
    let hosts = hosts_of(ctx, &list)?;
    let outcomes: Vec<(Arc<HostInfo>, RhaiResult<Map>)> = ctx.wait(
        stream::iter(hosts.iter().cloned())
            .map(|h| {
                let (req, opts) = (&req, &opts);
                async move {
                    let r = one(ctx, &h, req, opts, effect).await;
                    (h, r)
                }
            })
            .buffered(ctx.settings.parallel.max(1))
            .collect(),
    );
    let mut results = Map::new();
    let mut failed = Vec::new();
    let mut ok = Vec::new();
    for (host, outcome) in outcomes {
        match outcome {
            Ok(m) => {
                ok.push(host.name.clone());
                results.insert(host.name.as_str().into(), m.into());
            }
            Err(e) => {
                if matches!(*e, rhai::EvalAltResult::ErrorTerminated(..)) {
                    return Err(e);
                }
                let message = crate::diag::message_of(&e);
                let mut m = Map::new();
                m.insert("ok".into(), false.into());
                m.insert("error".into(), message.clone().into());
                results.insert(host.name.as_str().into(), m.into());
                // Each host's message indented as one block (its stderr lines included).
                failed.push(format!("  {}", message.replace('\n', "\n    ")));
            }
        }
    }
    if failed.is_empty() {
        return Ok(results.into());
    }
    let message = format!(
        "{} of {} hosts failed:\n{}\nsucceeded: {}",
        failed.len(),
        hosts.len(),
        failed.join("\n"),
        if ok.is_empty() {
            "none".to_string()
        } else {
            ok.join(", ")
        }
    );
    Err(Failure {
        results,
        ..Failure::new(Kind::Remote, "", message)
    }
    .into_err())
}

pub fn module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    for &form in FORMS {
        let target = if form.all {
            "hosts: Array"
        } else {
            "host: Host"
        };
        let cmd = if form.shell {
            "snippet: String"
        } else {
            "argv: Array"
        };
        let ret = "Map";
        let doc = format!("{}\nOptions: #{{ timeout: seconds, check: false (return non-zero exits instead of failing), stdin: text,\nprobe: true, sensitive: true (output holds secrets: not shown live, not journaled) }}.", form.doc);
        let c = ctx.clone();
        add!(
            &mut m,
            form.name,
            &[target, cmd, "options: Map", ret],
            &doc,
            move |nc: NativeCallContext, t: Dynamic, cmd: Dynamic, opts: Map| at(
                &nc,
                call(&c, form, t, cmd, opts)
            )
        );
        let c = ctx.clone();
        add!(
            &mut m,
            form.name,
            &[target, cmd, ret],
            &doc,
            move |nc: NativeCallContext, t: Dynamic, cmd: Dynamic| at(
                &nc,
                call(&c, form, t, cmd, Map::new())
            )
        );
    }
    m
}
