//! The transfer itself: the helper commands on each side, the pump that streams and hashes the
//! bytes, and [`Transfer`], which verifies them end to end and puts the file in place atomically.

use super::{CopyOpts, Side};
use crate::context::{Ctx, Effect};
use crate::error::CopyError;
use crate::inventory::HostInfo;
use crate::journal::events;
use crate::transport::{self, Command, ExecRequest, Spawned};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub(super) fn temp_name(path: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{path}.runbook-tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Run a short helper command on a host (journaled like any other); its output or a message.
pub(super) async fn remote(
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

pub(super) async fn remote_ok(
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
pub(super) const REMOTE_SHA256: &str = "if command -v openssl >/dev/null 2>&1; \
then openssl dgst -sha256 -r < \"$1\"; else sha256sum < \"$1\"; fi";

pub(super) async fn remote_sha256(
    ctx: &Ctx,
    host: &Arc<HostInfo>,
    path: &str,
    sudo: bool,
    effect: Effect,
) -> Result<String, CopyError> {
    let argv = ["sh", "-c", REMOTE_SHA256, "runbook-sha256", path];
    first_hash(&remote_ok(ctx, host, &argv, sudo, effect).await?)
}

pub(super) fn first_hash(text: &str) -> Result<String, CopyError> {
    text.split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string)
        .ok_or_else(|| CopyError::Failed(format!("unexpected sha256 output: {}", text.trim())))
}

pub(super) async fn exists(ctx: &Ctx, side: &Side, sudo: bool) -> Result<bool, CopyError> {
    match side {
        Side::Local(p) => Ok(p.exists()),
        Side::Remote(h, p) => Ok(remote(ctx, h, &["test", "-e", p], sudo, Effect::Probe)
            .await?
            .code
            == 0),
    }
}

pub(super) async fn size_of(ctx: &Ctx, side: &Side, sudo: bool) -> Result<u64, CopyError> {
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

pub(super) async fn spawn(
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
pub(super) fn drain(mut r: transport::BoxRead) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut s = Vec::new();
        let _ = r.read_to_end(&mut s).await;
        String::from_utf8_lossy(&s).trim().to_string()
    })
}

/// A copy's progress: the terminal's bar, and the `--events` stream's `copy_progress`.
pub(super) struct Progress {
    bar: ProgressBar,
    events: Option<events::CopyProgress>,
}

impl Progress {
    fn set(&self, bytes: u64) {
        self.bar.set_position(bytes);
        if let Some(e) = &self.events {
            e.at(bytes);
        }
    }
}

pub(super) fn progress(ctx: &Ctx, size: u64, src: &Side, dst: &Side) -> Progress {
    let label = format!("{} → {}", src.describe(), dst.describe());
    let events = events::CopyProgress::new(
        ctx.current_step(),
        ctx.redactor.redact(&src.describe()),
        ctx.redactor.redact(&dst.describe()),
        size,
    );
    if !ctx.settings.interactive {
        return Progress {
            bar: ProgressBar::hidden(),
            events,
        };
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "  {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(label);
    Progress { bar, events }
}

/// Bytes per read and per write: as large as the widened pipes ([`transport::widen_pipe`]).
pub(super) const CHUNK: usize = 1 << 20;

/// Move bytes from `r` to `w`, hashing them; fails when nothing moves for `idle`.
///
/// Reading and hashing run in their own task, a few buffers ahead of the writer, so the hash and
/// the source's reads overlap with the destination's writes instead of taking turns with them.
pub(super) async fn pump(
    r: transport::BoxRead,
    mut w: impl AsyncWrite + Unpin,
    idle: Duration,
    bar: &Progress,
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
            bar.set(total);
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

pub(super) struct Transfer<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) src: Side,
    pub(super) dst: Side,
    pub(super) opts: CopyOpts,
}

impl Transfer<'_> {
    pub(super) async fn run(&self, tmp: &str) -> Result<(u64, String), CopyError> {
        let (ctx, opts) = (self.ctx, &self.opts);
        if exists(ctx, &self.dst, opts.sudo).await? && !opts.overwrite {
            return Err(CopyError::Failed(format!(
                "{} exists; pass #{{ overwrite: true }} to replace it",
                self.dst.describe()
            )));
        }
        let size = size_of(ctx, &self.src, opts.sudo).await?;
        let bar = progress(ctx, size, &self.src, &self.dst);

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
        bar.bar.finish_and_clear();
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

    pub(super) async fn cleanup(&self, tmp: &str) {
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
