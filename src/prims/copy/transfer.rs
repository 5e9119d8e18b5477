//! The transfer itself: the helper commands on each side, the pump that streams and hashes the
//! bytes, and [`Transfer`], which verifies them end to end and puts the file in place atomically.

use super::{resume, CopyOpts, Side};
use crate::context::{Ctx, Effect};
use crate::error::CopyError;
use crate::inventory::HostInfo;
use crate::journal::{events, Event};
use crate::transport::{self, Command, ExecRequest, Spawned};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

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
    ctx.exec_async(host, &req, effect, ctx.cancel())
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

macro_rules! remote_hasher {
    () => {
        "if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi"
    };
}

/// SHA-256 of a file on a host: OpenSSL's where the host has it (its SHA-256 uses the CPU's SHA
/// instructions: 0.75 s per GiB here, where coreutils' `sha256sum` takes 2.1 s), else `sha256sum`.
/// The file is read through a redirection, so no path can be taken for an option.
pub(super) const REMOTE_SHA256: &str = concat!("{ ", remote_hasher!(), "; } < \"$1\"");

/// The same hash of its standard input (a brace group: redirect or pipe into it).
pub(super) const REMOTE_HASHER: &str = concat!("{ ", remote_hasher!(), "; }");

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

/// Size of the file at `side`; with `absent_is_empty`, 0 when there is none.
pub(super) async fn size_of(
    ctx: &Ctx,
    side: &Side,
    sudo: bool,
    absent_is_empty: bool,
) -> Result<u64, CopyError> {
    let text = match side {
        Side::Local(p) => {
            return match std::fs::metadata(p) {
                Ok(m) => Ok(m.len()),
                Err(e) if absent_is_empty && e.kind() == std::io::ErrorKind::NotFound => Ok(0),
                Err(e) => Err(CopyError::Failed(format!("{}: {e}", p.display()))),
            }
        }
        Side::Remote(h, p) => {
            let stat = ["stat", "-L", "-c", "%s", "--", p];
            let script = "if [ -e \"$1\" ]; then stat -L -c %s -- \"$1\"; else echo 0; fi";
            let or_zero = ["sh", "-c", script, "runbook-size", p];
            let argv: &[&str] = if absent_is_empty { &or_zero } else { &stat };
            remote_ok(ctx, h, argv, sudo, Effect::Probe).await?
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
    label: String,
    /// Bytes a resumed copy did not send again.
    resumed: u64,
}

impl Progress {
    /// `bytes` moved by this attempt (a resumed copy's kept part comes on top).
    fn set(&self, bytes: u64) {
        let at = self.resumed + bytes;
        self.bar.set_position(at);
        if let Some(e) = &self.events {
            e.at(at);
        }
    }

    /// A resumed copy: the bar starts at the part the destination kept, and says so.
    fn resumed_at(&mut self, offset: u64) {
        if offset == 0 {
            return;
        }
        self.resumed = offset;
        let label = format!(
            "{} (resumed at {})",
            self.label,
            indicatif::HumanBytes(offset)
        );
        self.bar.set_message(label);
        self.bar.set_position(offset);
        self.bar.reset_eta();
    }
}

pub(super) fn progress(ctx: &Ctx, size: u64, src: &Side, dst: &Side) -> Progress {
    let label = format!("{} → {}", src.describe(), dst.describe());
    let events = events::CopyProgress::new(
        ctx.current_step(),
        ctx.redactor().redact(&src.describe()),
        ctx.redactor().redact(&dst.describe()),
        size,
    );
    if !ctx.settings.interactive {
        return Progress {
            bar: ProgressBar::hidden(),
            events,
            label,
            resumed: 0,
        };
    }
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(
        "  {msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(label.clone());
    Progress {
        bar,
        events,
        label,
        resumed: 0,
    }
}

/// Bytes per read and per write: as large as the widened pipes ([`transport::widen_pipe`]).
pub(super) const CHUNK: usize = 1 << 20;

/// Move bytes from `r` to `w`, hashing them after what `seed` already hashed (a resumed copy's
/// prefix); fails when nothing moves for `idle`.
///
/// Reading and hashing run in their own task, a few buffers ahead of the writer, so the hash and
/// the source's reads overlap with the destination's writes instead of taking turns with them.
pub(super) async fn pump(
    r: transport::BoxRead,
    mut w: impl AsyncWrite + Unpin,
    idle: Duration,
    bar: &Progress,
    seed: Sha256,
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
        let mut hasher = seed;
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

/// A finished copy: the file's size and sha256, and where this attempt started.
pub(super) struct Copied {
    pub(super) bytes: u64,
    pub(super) sha256: String,
    pub(super) resumed_from: u64,
}

pub(super) struct Transfer<'a> {
    pub(super) ctx: &'a Ctx,
    pub(super) src: Side,
    pub(super) dst: Side,
    pub(super) opts: CopyOpts,
}

impl Transfer<'_> {
    pub(super) async fn run(&self, tmp: &str) -> Result<Copied, CopyError> {
        let (ctx, opts) = (self.ctx, &self.opts);
        if exists(ctx, &self.dst, opts.sudo).await? && !opts.overwrite {
            return Err(CopyError::Failed(format!(
                "{} exists; pass #{{ overwrite: true }} to replace it",
                self.dst.describe()
            )));
        }
        let size = size_of(ctx, &self.src, opts.sudo, false).await?;
        let resume = resume::check(ctx, &self.src, &self.dst, tmp, size, opts.sudo).await?;
        if let Some(why) = &resume.restarted {
            ctx.say(&format!("  {why}"));
            ctx.record(Event::Note {
                step: ctx.current_step(),
                message: why.clone(),
            })
            .map_err(|e| CopyError::Failed(e.to_string()))?;
        }
        let offset = resume.offset;
        let mut bar = progress(ctx, size, &self.src, &self.dst);
        bar.resumed_at(offset);

        // The source from `offset` on: a reader, and (remote) its own checksum of the whole
        // file computed alongside.
        let mut src_wait = None;
        let mut src_err = None;
        let mut src_hash = None;
        let reader: transport::BoxRead = match &self.src {
            Side::Local(p) => {
                let mut f = std::fs::File::open(p)
                    .map_err(|e| CopyError::Failed(format!("{}: {e}", p.display())))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| CopyError::Failed(format!("{}: {e}", p.display())))?;
                Box::new(tokio::fs::File::from_std(f))
            }
            Side::Remote(h, p) => {
                // `tail -c +N` seeks on a regular file: the skipped part is not read.
                let from = format!("+{}", offset + 1);
                let argv: &[&str] = if offset == 0 {
                    &["cat", "--", p]
                } else {
                    &["tail", "-c", &from, "--", p]
                };
                let s = spawn(ctx, h, argv, opts.sudo).await?;
                src_wait = Some(s.wait);
                src_err = Some(drain(s.stderr));
                let (h, p, sudo) = (h.clone(), p.clone(), opts.sudo);
                src_hash =
                    Some(async move { remote_sha256(ctx, &h, &p, sudo, Effect::Probe).await });
                s.stdout
            }
        };

        // The destination: a writer appending to the temporary name, cut to `offset` first.
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
                let fail = |e: std::io::Error| CopyError::Failed(format!("{tmp}: {e}"));
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(tmp)
                    .map_err(fail)?;
                f.set_len(offset).map_err(fail)?;
                f.seek(SeekFrom::Start(offset)).map_err(fail)?;
                Box::new(tokio::fs::File::from_std(f))
            }
            Side::Remote(h, _) => {
                let keep = offset.to_string();
                let script = "umask 077 && truncate -s \"$2\" -- \"$1\" && exec cat >> \"$1\"";
                let s = spawn(
                    ctx,
                    h,
                    &["sh", "-c", script, "runbook-copy", tmp, &keep],
                    opts.sudo,
                )
                .await?;
                dst_wait = Some(s.wait);
                dst_err = Some(drain(s.stderr));
                s.stdin
            }
        };

        // The streamed hash covers the whole file when a local side hashed the prefix.
        let whole = offset == 0 || resume.seed.is_some();
        let seed = resume.seed.unwrap_or_default();
        let (pumped, src_sum) = tokio::join!(pump(reader, writer, opts.idle, &bar, seed), async {
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
                let message = format!(
                    "writing {} failed: {}",
                    self.dst.describe(),
                    e.await.unwrap_or_default()
                );
                // 255 or a signal: ssh itself (a lost connection) — the bytes so far are kept
                // for the next attempt. Else the destination refused them (a full disk).
                return Err(if code == 255 || code < 0 {
                    CopyError::Failed(message)
                } else {
                    CopyError::Rejected(message)
                });
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
        let (moved, streamed) = pumped?;
        let src_sum = src_sum?;
        if let (Some(src_sum), true) = (&src_sum, whole) {
            if *src_sum != streamed {
                return Err(CopyError::Rejected(format!(
                    "checksum mismatch: {} has sha256 {src_sum}, {streamed} arrived",
                    self.src.describe()
                )));
            }
        }
        // What the whole file must hash to: the source's own sum, else the stream's.
        let expected = src_sum.unwrap_or(streamed);
        let landed = match &self.dst {
            Side::Local(_) => {
                let f = std::fs::File::open(tmp)
                    .map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))?;
                f.sync_all()
                    .map_err(|e| CopyError::Failed(format!("{tmp}: {e}")))?;
                // Download: the source's sum was compared with the stream, seeded with the
                // local prefix, so with every byte this file holds.
                expected.clone()
            }
            Side::Remote(h, _) => remote_sha256(ctx, h, tmp, opts.sudo, Effect::Mutation).await?,
        };
        if landed != expected {
            return Err(CopyError::Rejected(format!(
                "checksum mismatch: sent sha256 {expected}, {} holds {landed}",
                self.dst.describe()
            )));
        }
        self.finalize(tmp).await?;
        Ok(Copied {
            bytes: offset + moved,
            sha256: expected,
            resumed_from: offset,
        })
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
