//! The functions runbooks call. One file per family; each registers its functions with their
//! documentation, so `runbook doc`, the REPL's `:help` and the book read one source.
//!
//! Shared here: how a host, an argv and an options map are read from Rhai values, how a command's
//! result becomes a map, and the helpers that throw a [`Failure`] (defined in `error.rs`).

pub mod copy;
pub mod haproxy;
pub mod haproxy_cfg;
pub mod inflight;
pub mod interact;
pub mod inventory;
pub mod model;
pub mod patroni;
pub mod ssh;
#[cfg(test)]
pub mod testing;
pub mod text;

use crate::context::Ctx;
pub use crate::error::Failure;
use crate::error::{Interrupted, Kind};
use crate::inventory::HostInfo;
use crate::secret::Secret;
use crate::transport::{Arg, ExecOutput, TransportError};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};
use std::sync::Arc;
use std::time::Duration;

pub type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

pub fn fail<T>(kind: Kind, host: &str, message: impl Into<String>) -> RhaiResult<T> {
    Err(Failure::new(kind, host, message).into_err())
}

pub fn usage<T>(message: impl Into<String>) -> RhaiResult<T> {
    fail(Kind::Usage, "", message)
}

/// A transport error as a script failure.
pub fn transport_failure(host: &HostInfo, e: TransportError) -> Box<EvalAltResult> {
    let kind = match e {
        TransportError::Cancelled { .. } => return Interrupted.into_rhai(),
        TransportError::Journal { .. } => Kind::Journal,
        _ => Kind::Remote,
    };
    let message = match &e {
        TransportError::Journal { message } => message.clone(),
        TransportError::Connect { .. } => e.to_string(),
        _ => format!("{}: {e}", host.describe()),
    };
    Failure::new(kind, &host.name, message).into_err()
}

/// Register a closure as `name` in a module, with parameter names/types and documentation lines.
/// Every primitive is volatile: the optimizer must never run it ahead of time.
/// (A macro: the generic bounds `set_into_module` needs are not all public in rhai.)
macro_rules! add {
    ($module:expr, $name:expr, $params:expr, $doc:expr, $f:expr) => {
        rhai::FuncRegistration::new($name)
            .with_volatility(true)
            .with_params_info($params)
            .with_comments($doc.lines().map(|l: &str| format!("/// {l}")))
            .set_into_module($module, $f)
    };
}
pub(crate) use add;

/// Give an error from a primitive the position of the call in the script (Rhai leaves it unset),
/// so diagnostics point at the line that failed.
pub fn at<T>(call: &rhai::NativeCallContext, r: RhaiResult<T>) -> RhaiResult<T> {
    r.map_err(|mut e| {
        if e.position().is_none() {
            e.set_position(call.call_position());
        }
        e
    })
}

/// Resolve a host given as a Host value or a host name.
pub fn host_of(ctx: &Ctx, value: &Dynamic) -> RhaiResult<Arc<HostInfo>> {
    if let Some(h) = value.clone().try_cast::<inventory::Host>() {
        return Ok(h.0);
    }
    if value.is_string() {
        let name = value.clone().into_string().unwrap_or_default();
        return ctx.inventory.host(&name).map_err(|e| {
            Failure::new(
                Kind::Usage,
                &name,
                format!("{} ({})", e.message(), e.help_text().unwrap_or_default()),
            )
            .into_err()
        });
    }
    usage(format!(
        "expected a host (from the inventory) or a host name, got {}",
        value.type_name()
    ))
}

/// Resolve an array of hosts (or host names).
pub fn hosts_of(ctx: &Ctx, values: &Array) -> RhaiResult<Vec<Arc<HostInfo>>> {
    values.iter().map(|v| host_of(ctx, v)).collect()
}

/// Read an argv array: strings, numbers, and secrets (kept opaque).
pub fn argv_of(values: &Array) -> RhaiResult<Vec<Arg>> {
    if values.is_empty() {
        return usage("the command (argv) is empty");
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if let Some(s) = v.clone().try_cast::<Secret>() {
                Ok(Arg::Secret(s))
            } else if v.is_string() || v.is_int() || v.is_float() || v.is_bool() {
                Ok(Arg::Plain(v.to_string()))
            } else {
                usage(format!(
                    "argv element {i} is a {}; expected a string, number or secret",
                    v.type_name()
                ))
            }
        })
        .collect()
}

/// Options every exec-like primitive takes:
/// `#{ timeout: secs, check: bool, stdin: text, probe: bool, sensitive: bool }`.
#[derive(Debug, Clone)]
pub struct ExecOpts {
    pub timeout: Duration,
    pub check: bool,
    pub stdin: Option<String>,
    pub probe: bool,
    pub sensitive: bool,
}

impl ExecOpts {
    pub fn parse(ctx: &Ctx, map: &Map) -> RhaiResult<Self> {
        let mut o = ExecOpts {
            timeout: ctx.settings.default_timeout,
            check: true,
            stdin: None,
            probe: false,
            sensitive: false,
        };
        for (k, v) in map {
            match k.as_str() {
                "timeout" => match v.as_int().ok().filter(|n| *n > 0) {
                    Some(n) => o.timeout = Duration::from_secs(n as u64),
                    None => {
                        return usage(format!(
                            "option `timeout` must be a positive number of seconds, got {v}"
                        ))
                    }
                },
                "check" => {
                    o.check = v.as_bool().map_err(|_| {
                        Failure::new(Kind::Usage, "", "option `check` must be true or false")
                            .into_err()
                    })?
                }
                "probe" => {
                    o.probe = v.as_bool().map_err(|_| {
                        Failure::new(Kind::Usage, "", "option `probe` must be true or false")
                            .into_err()
                    })?
                }
                "sensitive" => {
                    o.sensitive = v.as_bool().map_err(|_| {
                        Failure::new(Kind::Usage, "", "option `sensitive` must be true or false")
                            .into_err()
                    })?
                }
                // A secret is fed as its value (its string form is only its mask).
                "stdin" => {
                    o.stdin = Some(match v.clone().try_cast::<Secret>() {
                        Some(secret) => secret.expose().to_string(),
                        None => v.to_string(),
                    })
                }
                other => {
                    return usage(format!(
                        "unknown option `{other}` (known: timeout, check, stdin, probe, sensitive)"
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// What a script receives for a command a dry run only showed: success without output, so the
/// plan follows the path a run in which it succeeded takes.
pub fn planned_map() -> Map {
    output_map(&ExecOutput::default())
}

/// A command's outcome as the map scripts receive: `#{ code, stdout, stderr, ok }`.
pub fn output_map(out: &ExecOutput) -> Map {
    let mut m = Map::new();
    m.insert("code".into(), (out.code as i64).into());
    // Not redacted: the script reads the value itself (to compare it, say); every output path
    // (print, journal, errors) redacts on its own.
    m.insert("stdout".into(), out.stdout.clone().into());
    m.insert("stderr".into(), out.stderr.clone().into());
    m.insert("ok".into(), (out.code == 0).into());
    m
}

/// Build the engine every command (run, plan, check, repl) uses: same primitives everywhere.
pub fn register_all(engine: &mut Engine, ctx: &Arc<Ctx>) {
    model::register(engine, ctx);
    inventory::register(engine);
    interact::register(engine, ctx);
    text::register(engine);
    engine.register_static_module("ssh", ssh::module(ctx).into());
    engine.register_static_module("copy", copy::module(ctx).into());
    engine.register_static_module("patroni", patroni::module(ctx).into());
    engine.register_static_module("haproxy", haproxy::module(ctx).into());
    engine.register_static_module("undo", model::undo_module(ctx).into());
    engine.register_static_module("inflight", inflight::module(ctx).into());
}
