//! `copy::*`: move files between this machine and hosts, and from host to host.
//!
//! Streamed (never held in memory; host to host goes through this machine), sha256-verified end
//! to end (the source's own checksum, the bytes that passed, and the checksum of what landed on the
//! destination must agree), atomic (written under a temporary name, renamed into place only once
//! verified), and no-clobber unless `#{ overwrite: true }`. A failure — full disk, dropped
//! connection, checksum mismatch — removes the temporary file and leaves nothing under the final name.

use super::{add, at, host_of, usage, Failure, RhaiResult};
use crate::context::{Ctx, Effect, Mode};
use crate::error::{CopyError, Interrupted, Kind};
use crate::inventory::HostInfo;
use crate::journal::Event;
use crate::transport::{self, Command, ExecRequest, Spawned};
use indicatif::{ProgressBar, ProgressStyle};
use rhai::{Dynamic, Map, Module, NativeCallContext};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
    /// CopyError when no byte moves for this long.
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

fn temp_name(path: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{path}.runbook-tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Run a short helper command on a host (journaled like any other); its output or a message.
async fn remote(
    ctx: &Ctx,
    host: &Arc<HostInfo>,
    argv: &[&str],
    sudo: bool,
    effect: Effect,
) -> Result<transport::ExecOutput, CopyError> {
    let req = ExecRequest {
        command: Command::argv(argv.iter().copied()),
        sudo,
        stdin: None,
        timeout: ctx.settings.default_timeout,
        sensitive: false,
    };
    // A copy runs only in a real run (a dry run shows it whole, before any of this).
    ctx.exec_async(host, &req, effect, &ctx.cancel)
        .await?
        .ran()
        .ok_or_else(|| CopyError::Failed(format!("{}: not run (a dry run)", host.name)))
}

async fn remote_ok(
    ctx: &Ctx,
    host: &Arc<HostInfo>,
    argv: &[&str],
    sudo: bool,
    effect: Effect,
) -> Result<String, CopyError> {
    let out = remote(ctx, host, argv, sudo, effect).await?;
    if out.code != 0 {
        return Err(CopyError::Failed(format!(
            "{}: `{}` exited with {}: {}",
            host.name,
            argv.join(" "),
            out.code,
            out.stderr.trim()
        )));
    }
    Ok(out.stdout)
}

/// SHA-256 of a file on a host: OpenSSL's where the host has it (its SHA-256 uses the CPU's SHA
/// instructions: 0.75 s per GiB here, where coreutils' `sha256sum` takes 2.1 s), else `sha256sum`.
/// The file is read through a redirection, so no path can be taken for an option.
const REMOTE_SHA256: &str = "if command -v openssl >/dev/null 2>&1; \
then openssl dgst -sha256 -r < \"$1\"; else sha256sum < \"$1\"; fi";

async fn remote_sha256(
    ctx: &Ctx,
    host: &Arc<HostInfo>,
    path: &str,
    sudo: bool,
    effect: Effect,
) -> Result<String, CopyError> {
    let argv = ["sh", "-c", REMOTE_SHA256, "runbook-sha256", path];
    first_hash(&remote_ok(ctx, host, &argv, sudo, effect).await?)
}

fn first_hash(text: &str) -> Result<String, CopyError> {
    text.split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string)
        .ok_or_else(|| CopyError::Failed(format!("unexpected sha256 output: {}", text.trim())))
}

async fn exists(ctx: &Ctx, side: &Side, sudo: bool) -> Result<bool, CopyError> {
    match side {
        Side::Local(p) => Ok(p.exists()),
        Side::Remote(h, p) => Ok(remote(ctx, h, &["test", "-e", p], sudo, Effect::Probe)
            .await?
            .code
            == 0),
    }
}

async fn size_of(ctx: &Ctx, side: &Side, sudo: bool) -> Result<u64, CopyError> {
    let text = match side {
        Side::Local(p) => {
            return std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| CopyError::Failed(format!("{}: {e}", p.display())))
        }
        Side::Remote(h, p) => {
            remote_ok(
                ctx,
                h,
                &["stat", "-L", "-c", "%s", "--", p],
                sudo,
                Effect::Probe,
            )
            .await?
        }
    };
    text.trim()
        .parse()
        .map_err(|_| CopyError::Failed(format!("cannot read the size of {}", side.describe())))
}

async fn spawn(
    ctx: &Ctx,
    host: &Arc<HostInfo>,
    argv: &[&str],
    sudo: bool,
) -> Result<Spawned, CopyError> {
    let line = Command::argv(argv.iter().copied()).render(sudo);
    ctx.transport(host)
        .spawn(&line, true)
        .await
        .map_err(|e| CopyError::Failed(e.to_string()))
}

/// Read everything from a stream (a child's stderr) in the background.
fn drain(mut r: transport::BoxRead) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut s = Vec::new();
        let _ = r.read_to_end(&mut s).await;
        String::from_utf8_lossy(&s).trim().to_string()
    })
}

fn progress(ctx: &Ctx, size: u64, label: &str) -> ProgressBar {
    if !ctx.settings.interactive {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "  {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    bar
}

/// Bytes per read and per write: as large as the widened pipes ([`transport::widen_pipe`]).
const CHUNK: usize = 1 << 20;

/// Move bytes from `r` to `w`, hashing them; fails when nothing moves for `idle`.
///
/// Reading and hashing run in their own task, a few buffers ahead of the writer, so the hash and
/// the source's reads overlap with the destination's writes instead of taking turns with them.
async fn pump(
    r: transport::BoxRead,
    mut w: impl AsyncWrite + Unpin,
    idle: Duration,
    bar: &ProgressBar,
) -> Result<(u64, String), CopyError> {
    let stalled = move |what: &str| {
        format!(
            "no data {what} for {} s (connection lost or host frozen?)",
            idle.as_secs()
        )
    };
    // Full buffers go to the writer; the writer hands them back to be filled again.
    let (full_tx, mut full_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(3);
    let (free_tx, mut free_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    for _ in 0..4 {
        let _ = free_tx.try_send(vec![0u8; CHUNK]);
    }
    // Aborted when the copy is dropped (Ctrl-C, deadline) rather than left reading.
    let reader = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        let mut r = r;
        let mut hasher = Sha256::new();
        // No free buffer means the writer is gone (it failed): stop reading.
        while let Some(mut buf) = free_rx.recv().await {
            buf.resize(CHUNK, 0);
            let n = tokio::time::timeout(idle, r.read(&mut buf))
                .await
                .map_err(|_| stalled("from the source"))?
                .map_err(|e| CopyError::Failed(format!("reading the source: {e}")))?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            hasher.update(&buf);
            if full_tx.send(buf).await.is_err() {
                break;
            }
        }
        Ok::<_, CopyError>(hex::encode(hasher.finalize()))
    }));
    let mut total = 0u64;
    let written = async {
        while let Some(buf) = full_rx.recv().await {
            tokio::time::timeout(idle, w.write_all(&buf))
                .await
                .map_err(|_| stalled("accepted by the destination"))?
                .map_err(|e| CopyError::Failed(format!("writing the destination: {e}")))?;
            total += buf.len() as u64;
            bar.set_position(total);
            let _ = free_tx.send(buf).await;
        }
        tokio::time::timeout(idle, w.shutdown())
            .await
            .map_err(|_| stalled("accepted by the destination"))?
            .map_err(|e| CopyError::Failed(format!("closing the destination: {e}")))
    }
    .await;
    // The writer failed: stop the reader now (it may be waiting on a stalled source).
    if let Err(e) = written {
        reader.abort();
        return Err(e);
    }
    // Otherwise the writer saw the reader's end: a clean end of the source, or its failure.
    let sha = reader
        .await
        .map_err(|e| CopyError::Failed(format!("reading the source: {e}")))??;
    Ok((total, sha))
}

struct Transfer<'a> {
    ctx: &'a Ctx,
    src: Side,
    dst: Side,
    opts: CopyOpts,
}

impl Transfer<'_> {
    async fn run(&self, tmp: &str) -> Result<(u64, String), CopyError> {
        let (ctx, opts) = (self.ctx, &self.opts);
        if exists(ctx, &self.dst, opts.sudo).await? && !opts.overwrite {
            return Err(CopyError::Failed(format!(
                "{} exists; pass #{{ overwrite: true }} to replace it",
                self.dst.describe()
            )));
        }
        let size = size_of(ctx, &self.src, opts.sudo).await?;
        let bar = progress(
            ctx,
            size,
            &format!("{} → {}", self.src.describe(), self.dst.describe()),
        );

        // The source: a reader, and (remote) its own checksum computed alongside.
        let mut src_wait = None;
        let mut src_err = None;
        let mut src_hash = None;
        let reader: transport::BoxRead = match &self.src {
            Side::Local(p) => Box::new(
                tokio::fs::File::open(p)
                    .await
                    .map_err(|e| CopyError::Failed(format!("{}: {e}", p.display())))?,
            ),
            Side::Remote(h, p) => {
                let s = spawn(ctx, h, &["cat", "--", p], opts.sudo).await?;
                src_wait = Some(s.wait);
                src_err = Some(drain(s.stderr));
                let (h, p, sudo) = (h.clone(), p.clone(), opts.sudo);
                src_hash =
                    Some(async move { remote_sha256(ctx, &h, &p, sudo, Effect::Probe).await });
                s.stdout
            }
        };

        // The destination: a writer into the temporary name.
        let mut dst_wait = None;
        let mut dst_err = None;
        let writer: transport::BoxWrite = match &self.dst {
            Side::Local(dest) => {
                use std::os::unix::fs::OpenOptionsExt;
                // A download into a folder that does not exist yet creates it, as `mkdir -p` would.
                if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| CopyError::Failed(format!("{}: {e}", dir.display())))?;
                }
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(tmp)
                    .map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))?;
                Box::new(tokio::fs::File::from_std(f))
            }
            Side::Remote(h, _) => {
                let s = spawn(
                    ctx,
                    h,
                    &["sh", "-c", "umask 077 && cat > \"$1\"", "runbook-copy", tmp],
                    opts.sudo,
                )
                .await?;
                dst_wait = Some(s.wait);
                dst_err = Some(drain(s.stderr));
                s.stdin
            }
        };

        let (pumped, src_sum) = tokio::join!(pump(reader, writer, opts.idle, &bar), async {
            match src_hash {
                Some(f) => f.await.map(Some),
                None => Ok(None),
            }
        });
        bar.finish_and_clear();
        // Exit codes first: they explain a pump failure better than a broken pipe does.
        if let (Some(w), Some(e)) = (dst_wait, dst_err) {
            let code = w.await.map_err(|e| CopyError::Failed(e.to_string()))?;
            if code != 0 {
                return Err(CopyError::Failed(format!(
                    "writing {} failed: {}",
                    self.dst.describe(),
                    e.await.unwrap_or_default()
                )));
            }
        }
        if let (Some(w), Some(e)) = (src_wait, src_err) {
            let code = w.await.map_err(|e| CopyError::Failed(e.to_string()))?;
            if code != 0 {
                return Err(CopyError::Failed(format!(
                    "reading {} failed: {}",
                    self.src.describe(),
                    e.await.unwrap_or_default()
                )));
            }
        }
        let (bytes, streamed) = pumped?;
        if let Some(src_sum) = src_sum? {
            if src_sum != streamed {
                return Err(CopyError::Failed(format!(
                    "checksum mismatch: {} has sha256 {src_sum}, {streamed} arrived",
                    self.src.describe()
                )));
            }
        }
        let landed = match &self.dst {
            Side::Local(_) => {
                let f = std::fs::File::open(tmp)
                    .map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))?;
                f.sync_all()
                    .map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))?;
                streamed.clone()
            }
            Side::Remote(h, _) => remote_sha256(ctx, h, tmp, opts.sudo, Effect::Mutation).await?,
        };
        if landed != streamed {
            return Err(CopyError::Failed(format!(
                "checksum mismatch: sent sha256 {streamed}, {} holds {landed}",
                self.dst.describe()
            )));
        }
        self.finalize(tmp).await?;
        Ok((bytes, streamed))
    }

    /// Give the verified temporary file its mode and its final name (no clobber unless asked).
    async fn finalize(&self, tmp: &str) -> Result<(), CopyError> {
        let (ctx, opts) = (self.ctx, &self.opts);
        match &self.dst {
            Side::Local(dest) => {
                let mode = u32::from_str_radix(&opts.mode, 8).unwrap_or(0o600);
                std::fs::set_permissions(tmp, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))?;
                if opts.overwrite {
                    std::fs::rename(tmp, dest)
                        .map_err(|e| CopyError::Failed(format!("{}: {e}", dest.display())))
                } else {
                    std::fs::hard_link(tmp, dest)
                        .map_err(|e| CopyError::Failed(format!("{}: {e}", dest.display())))?;
                    std::fs::remove_file(tmp).map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))
                }
            }
            Side::Remote(h, dest) => {
                remote_ok(
                    ctx,
                    h,
                    &["chmod", &opts.mode, "--", tmp],
                    opts.sudo,
                    Effect::Mutation,
                )
                .await?;
                let place = if opts.overwrite {
                    "mv -fT -- \"$1\" \"$2\""
                } else {
                    "ln -T -- \"$1\" \"$2\" && rm -f -- \"$1\""
                };
                remote_ok(
                    ctx,
                    h,
                    &["sh", "-c", place, "runbook-copy", tmp, dest],
                    opts.sudo,
                    Effect::Mutation,
                )
                .await
                .map(|_| ())
            }
        }
    }

    async fn cleanup(&self, tmp: &str) {
        match &self.dst {
            Side::Local(_) => {
                let _ = std::fs::remove_file(tmp);
            }
            Side::Remote(h, _) => {
                let req = ExecRequest {
                    command: Command::argv(["rm", "-f", "--", tmp]),
                    sudo: self.opts.sudo,
                    stdin: None,
                    timeout: Duration::from_secs(15),
                    sensitive: false,
                };
                let never = tokio_util::sync::CancellationToken::new();
                let _ = self.ctx.exec_async(h, &req, Effect::Mutation, &never).await;
            }
        }
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
        Side::Local(p) => temp_name(&p.display().to_string()),
        Side::Remote(_, p) => temp_name(p),
    };
    let t = Transfer {
        ctx,
        src,
        dst,
        opts,
    };
    let started = Instant::now();
    let outcome = ctx.wait(async {
        let r = transport::with_deadline(&host, Duration::MAX / 4, &ctx.cancel, async {
            Ok(t.run(&tmp).await)
        })
        .await;
        let r = match r {
            Ok(inner) => inner,
            Err(transport::TransportError::Cancelled { .. }) => Err(CopyError::Interrupted),
            Err(e) => Err(CopyError::Failed(e.to_string())),
        };
        if r.is_err() {
            t.cleanup(&tmp).await;
        }
        r
    });
    let (bytes, sha) = match &outcome {
        Ok((b, s)) => (*b, Some(s.clone())),
        Err(_) => (0, None),
    };
    ctx.record(Event::Transfer {
        step: ctx.current_step(),
        from: from.clone(),
        to: to.clone(),
        bytes,
        sha256: sha.clone(),
        error: outcome.as_ref().err().map(CopyError::to_string),
        duration_ms: started.elapsed().as_millis() as u64,
    })
    .map_err(|e| e.into_rhai(&host))?;
    match outcome {
        Ok((bytes, sha)) => {
            let mut m = Map::new();
            m.insert("bytes".into(), Dynamic::from(bytes as i64));
            m.insert("sha256".into(), Dynamic::from(sha));
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

const OPTIONS_DOC: &str = "Options: #{ overwrite: true (replace an existing file), sudo: true (remote side as root),\nmode: \"0644\" (default 0600), timeout: seconds without progress before failing }.\nReturns #{ bytes, sha256 }.";

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
    use super::*;

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
