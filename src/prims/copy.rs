//! `copy::*`: move files between this machine and hosts, and from host to host.
//!
//! Streamed (never held in memory; host to host goes through this machine), sha256-verified end
//! to end (the source's own checksum, the bytes that passed, and the checksum of what landed on the
//! destination must agree), atomic (written under a temporary name, renamed into place only once
//! verified), and no-clobber unless `#{ overwrite: true }`. A failure — full disk, dropped
//! connection, checksum mismatch — leaves nothing under the final name. A dropped or interrupted
//! copy keeps its bytes at the temporary name and the next attempt resumes from them, once their
//! prefix hashes the same at both ends (`resume`); a mismatch or a full disk removes them.

mod resume;
mod transfer;

use resume::temp_name;
use transfer::Transfer;

use super::{add, at, host_of, usage, Failure, RhaiResult};
use crate::context::{Ctx, Mode};
use crate::error::{CopyError, Interrupted, Kind};
use crate::inventory::HostInfo;
use crate::journal::Event;
use crate::transport;
use rhai::{Dynamic, Map, Module, NativeCallContext};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One end of a copy.
#[derive(Clone, Debug)]
enum Side {
    Local(PathBuf),
    Remote(Arc<HostInfo>, String),
}

impl Side {
    fn describe(&self) -> String {
        match self {
            Side::Local(p) => format!("local:{}", p.display()),
            Side::Remote(h, p) => format!("{}:{p}", h.name),
        }
    }
}

#[derive(Clone, Debug)]
struct CopyOpts {
    overwrite: bool,
    sudo: bool,
    /// chmod mode for the destination (default 0600: snapshots hold secrets).
    mode: String,
    /// Fail when no byte moves for this long.
    idle: Duration,
}

impl CopyOpts {
    fn parse(ctx: &Ctx, map: &Map) -> RhaiResult<Self> {
        let mut o = CopyOpts {
            overwrite: false,
            sudo: false,
            mode: "0600".into(),
            idle: ctx.settings.default_timeout,
        };
        for (k, v) in map {
            let flag = || {
                v.as_bool().map_err(|_| {
                    Failure::new(
                        Kind::Usage,
                        "",
                        format!("option `{k}` must be true or false"),
                    )
                    .into_err()
                })
            };
            match k.as_str() {
                "overwrite" => o.overwrite = flag()?,
                "sudo" => o.sudo = flag()?,
                "mode" => {
                    let m = v.to_string();
                    if m.is_empty() || m.len() > 4 || !m.chars().all(|c| ('0'..='7').contains(&c)) {
                        return usage(format!(
                            "option `mode` must be octal like \"0644\", got `{m}`"
                        ));
                    }
                    o.mode = m;
                }
                "timeout" => match v.as_int().ok().filter(|n| *n > 0) {
                    Some(n) => o.idle = Duration::from_secs(n as u64),
                    None => return usage("option `timeout` must be a positive number of seconds"),
                },
                other => {
                    return usage(format!(
                        "unknown option `{other}` (known: overwrite, sudo, mode, timeout)"
                    ))
                }
            }
        }
        Ok(o)
    }
}

fn copy(ctx: &Ctx, src: Side, dst: Side, opts: Map) -> RhaiResult<Map> {
    let opts = CopyOpts::parse(ctx, &opts)?;
    let (from, to) = (src.describe(), dst.describe());
    let host = match (&dst, &src) {
        (Side::Remote(h, _), _) | (_, Side::Remote(h, _)) => h.name.clone(),
        _ => String::new(),
    };
    if ctx.declaring() {
        return usage(transport::TransportError::OutsideStep.to_string());
    }
    if ctx.mode != Mode::Run {
        ctx.show_planned(
            &host,
            &format!(
                "copy {from} → {to} (sha256 verified{})",
                if opts.overwrite { ", overwrite" } else { "" }
            ),
        );
        let mut m = Map::new();
        m.insert("bytes".into(), Dynamic::from(0_i64));
        m.insert("sha256".into(), Dynamic::from(String::new()));
        return Ok(m);
    }
    let tmp = match &dst {
        Side::Local(p) => temp_name(&src, &p.display().to_string()),
        Side::Remote(_, p) => temp_name(&src, p),
    };
    let t = Transfer {
        ctx,
        src,
        dst,
        opts,
    };
    let started = Instant::now();
    let outcome = ctx.wait(async {
        let r = transport::with_deadline(&host, Duration::MAX / 4, ctx.cancel(), async {
            Ok(t.run(&tmp).await)
        })
        .await;
        let r = match r {
            Ok(inner) => inner,
            Err(transport::TransportError::Cancelled { .. }) => Err(CopyError::Interrupted),
            Err(e) => Err(CopyError::Failed(e.to_string())),
        };
        if let Err(CopyError::Rejected(_)) = r {
            t.cleanup(&tmp).await;
        }
        r
    });
    let (bytes, sha, resumed_from) = match &outcome {
        Ok(c) => (c.bytes, Some(c.sha256.clone()), c.resumed_from),
        Err(_) => (0, None, 0),
    };
    ctx.record(Event::Transfer {
        step: ctx.current_step(),
        from: from.clone(),
        to: to.clone(),
        bytes,
        sha256: sha.clone(),
        error: outcome.as_ref().err().map(CopyError::to_string),
        duration_ms: started.elapsed().as_millis() as u64,
        resumed_from,
    })
    .map_err(|e| e.into_rhai(&host))?;
    match outcome {
        Ok(c) => {
            let mut m = Map::new();
            m.insert("bytes".into(), Dynamic::from(c.bytes as i64));
            m.insert("sha256".into(), Dynamic::from(c.sha256));
            m.insert("resumed_from".into(), Dynamic::from(c.resumed_from as i64));
            Ok(m)
        }
        Err(CopyError::Interrupted) => Err(Interrupted.into_rhai()),
        Err(e) => Err(Failure::new(
            Kind::Remote,
            &host,
            format!("copy {from} → {to} failed: {e}"),
        )
        .into_err()),
    }
}

fn local(path: &str) -> RhaiResult<PathBuf> {
    if path.is_empty() {
        return usage("empty local path");
    }
    Ok(Path::new(path).to_path_buf())
}

const OPTIONS_DOC: &str = "Options: #{ overwrite: true (replace an existing file), sudo: true (remote side as root),\nmode: \"0644\" (default 0600), timeout: seconds without progress before failing }.\nA failed copy started again resumes from the bytes it left, once they match the source.\nReturns #{ bytes, sha256, resumed_from }.";

pub fn module(ctx: &Arc<Ctx>) -> Module {
    let mut m = Module::new();
    let up = format!("Upload the local file `local` to `remote` on `host`, verified by sha256, atomically.\n{OPTIONS_DOC}");
    let down = format!("Download `remote` from `host` to the local file `local`, verified by sha256, atomically.\n{OPTIONS_DOC}");
    let between = format!("Copy `src_path` on `src` to `dst_path` on `dst`, streamed through this machine, verified\nby sha256 at both ends, atomically.\n{OPTIONS_DOC}");
    let c = ctx.clone();
    let upload = move |h: Dynamic, l: &str, r: &str, o: Map| {
        copy(
            &c,
            Side::Local(local(l)?),
            Side::Remote(host_of(&c, &h)?, r.into()),
            o,
        )
    };
    let c = ctx.clone();
    let download = move |h: Dynamic, r: &str, l: &str, o: Map| {
        copy(
            &c,
            Side::Remote(host_of(&c, &h)?, r.into()),
            Side::Local(local(l)?),
            o,
        )
    };
    let c = ctx.clone();
    let host_to_host = move |s: Dynamic, sp: &str, d: Dynamic, dp: &str, o: Map| {
        copy(
            &c,
            Side::Remote(host_of(&c, &s)?, sp.into()),
            Side::Remote(host_of(&c, &d)?, dp.into()),
            o,
        )
    };
    // Each with and without the options map (Rhai has no default arguments).
    macro_rules! with_and_without_options {
        ($name:expr, $doc:expr, $f:ident, [$($arg:ident: $ty:ty = $info:expr),*]) => {{
            let f = $f.clone();
            add!(&mut m, $name, [$($info,)* "options: Map", "Map"], &$doc,
                move |nc: NativeCallContext, $($arg: $ty,)* o: Map| at(&nc, f($($arg,)* o)));
            add!(&mut m, $name, [$($info,)* "Map"], &$doc,
                move |nc: NativeCallContext, $($arg: $ty),*| at(&nc, $f($($arg,)* Map::new())));
        }};
    }
    with_and_without_options!("upload", up, upload,
        [h: Dynamic = "host: Host", l: &str = "local: String", r: &str = "remote: String"]);
    with_and_without_options!("download", down, download,
        [h: Dynamic = "host: Host", r: &str = "remote: String", l: &str = "local: String"]);
    with_and_without_options!("between", between, host_to_host,
        [s: Dynamic = "src: Host", sp: &str = "src_path: String", d: Dynamic = "dst: Host", dp: &str = "dst_path: String"]);
    m
}

#[cfg(test)]
mod tests {
    use super::transfer::{first_hash, REMOTE_SHA256};
    use sha2::{Digest, Sha256};

    /// The remote hash command gives the same SHA-256 with OpenSSL and, on a host without it,
    /// with coreutils; a path that looks like an option is still read as a file.
    #[test]
    fn remote_sha256_agrees_with_and_without_openssl() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("-n");
        std::fs::write(&file, b"runbook\n").expect("write");
        let want = hex::encode(Sha256::digest(b"runbook\n"));
        let only_coreutils = dir.path().join("bin");
        std::fs::create_dir(&only_coreutils).expect("mkdir");
        std::os::unix::fs::symlink("/usr/bin/sha256sum", only_coreutils.join("sha256sum"))
            .expect("symlink");
        for path in [
            std::env::var("PATH").unwrap_or_default(),
            only_coreutils.display().to_string(),
        ] {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", REMOTE_SHA256, "runbook-sha256"])
                .arg(&file)
                .env("PATH", &path)
                .output()
                .expect("sh runs");
            assert!(out.status.success(), "PATH={path}: {out:?}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                first_hash(&text).map_err(|e| e.to_string()).as_deref(),
                Ok(want.as_str()),
                "PATH={path}"
            );
        }
    }
}
