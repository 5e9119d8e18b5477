//! Resuming a copy: the bytes a failed attempt left at the destination's temporary name are kept
//! when their prefix hashes the same at both ends, and the copy continues after them.
//!
//! The temporary name is a function of the source and the destination (not of the process), so
//! a second attempt — the same runbook run again, or `runbook resume` — finds what the first one
//! left. A partial file that does not match (a changed source, a corrupted disk) is started over.

use super::transfer::{remote_ok, size_of, REMOTE_HASHER};
use super::Side;
use crate::context::{Ctx, Effect};
use crate::error::CopyError;
use sha2::{Digest, Sha256};
use std::io::Read;

/// The destination's temporary name for a copy from `src` to `dst_path`: the same for every
/// attempt of this copy (a short hash of the source names it), different for another source.
pub(super) fn temp_name(src: &Side, dst_path: &str) -> String {
    let tag = hex::encode(&Sha256::digest(src.describe().as_bytes())[..6]);
    format!("{dst_path}.runbook-tmp-{tag}")
}

/// Where a copy starts.
pub(super) struct Resume {
    /// Bytes already at the destination's temporary name, verified against the source.
    pub(super) offset: u64,
    /// SHA-256 state over those bytes, when a local side read them (so the streamed hash still
    /// covers the whole file); `None` when both sides are hosts.
    pub(super) seed: Option<Sha256>,
    /// Why a partial file was not used (said to the operator and journaled).
    pub(super) restarted: Option<String>,
}

impl Resume {
    fn fresh() -> Self {
        Resume {
            offset: 0,
            seed: None,
            restarted: None,
        }
    }
}

/// How much of the copy is already at `tmp` on the destination, checked against the source.
pub(super) async fn check(
    ctx: &Ctx,
    src: &Side,
    dst: &Side,
    tmp: &str,
    size: u64,
    sudo: bool,
) -> Result<Resume, CopyError> {
    let at_dst = match dst {
        Side::Local(_) => Side::Local(tmp.into()),
        Side::Remote(h, _) => Side::Remote(h.clone(), tmp.to_string()),
    };
    let partial = size_of(ctx, &at_dst, sudo, true).await?;
    if partial == 0 {
        return Ok(Resume::fresh());
    }
    let what = format!(
        "the partial copy at {} ({partial} bytes)",
        at_dst.describe()
    );
    if partial > size {
        return Ok(Resume {
            restarted: Some(format!(
                "{what} is longer than {} ({size} bytes): starting over",
                src.describe()
            )),
            ..Resume::fresh()
        });
    }
    let (s, d) = tokio::join!(
        prefix_hash(ctx, src, partial, sudo),
        prefix_hash(ctx, &at_dst, partial, sudo)
    );
    let ((s_hex, s_state), (d_hex, d_state)) = (s?, d?);
    if s_hex != d_hex {
        return Ok(Resume {
            restarted: Some(format!(
                "{what} does not match the first {partial} bytes of {} (sha256 {d_hex}, source {s_hex}): starting over",
                src.describe()
            )),
            ..Resume::fresh()
        });
    }
    Ok(Resume {
        offset: partial,
        seed: s_state.or(d_state),
        restarted: None,
    })
}

/// SHA-256 of the first `len` bytes at `side` (hex), with the hash state when read here.
async fn prefix_hash(
    ctx: &Ctx,
    side: &Side,
    len: u64,
    sudo: bool,
) -> Result<(String, Option<Sha256>), CopyError> {
    match side {
        Side::Local(p) => {
            let p = p.clone();
            tokio::task::spawn_blocking(move || {
                let fail = |e: std::io::Error| CopyError::Failed(format!("{}: {e}", p.display()));
                let mut f = std::fs::File::open(&p).map_err(fail)?.take(len);
                let mut hasher = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut seen = 0u64;
                loop {
                    let n = f.read(&mut buf).map_err(fail)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    seen += n as u64;
                }
                if seen != len {
                    return Err(CopyError::Failed(format!(
                        "{}: shorter than {len} bytes while reading it",
                        p.display()
                    )));
                }
                Ok((hex::encode(hasher.clone().finalize()), Some(hasher)))
            })
            .await
            .map_err(|e| CopyError::Failed(e.to_string()))?
        }
        Side::Remote(h, p) => {
            let script = format!("head -c \"$2\" < \"$1\" | {REMOTE_HASHER}");
            let len = len.to_string();
            let out = remote_ok(
                ctx,
                h,
                &["sh", "-c", &script, "runbook-sha256", p, &len],
                sudo,
                Effect::Probe,
            )
            .await?;
            Ok((super::transfer::first_hash(&out)?, None))
        }
    }
}
