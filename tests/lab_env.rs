//! The lab, as tests use it: started once per test run (`tests/lab/up` is idempotent), never
//! skipped — a test that needs the lab fails when it cannot start. Tests that change shared lab
//! state (faults, configs, services) hold [`exclusive`] and put back what they changed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub struct Lab {
    pub dir: PathBuf,
    pub inventory: PathBuf,
}

/// The path of a lab script, e.g. `sim/fault`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lab")
        .join(name)
}

/// The running lab; starts it on first use.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let out = Command::new(script("up"))
            .output()
            .expect("run tests/lab/up");
        assert!(
            out.status.success(),
            "the lab did not start (tests need it; run as root):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = PathBuf::from(
            std::env::var("RUNBOOK_LAB_DIR").unwrap_or_else(|_| "/tmp/runbook-lab".into()),
        );
        Lab {
            inventory: dir.join("inventory.toml"),
            dir,
        }
    })
}

fn lock(kind: i32) -> Exclusive {
    use std::os::fd::AsRawFd;
    let path = std::env::temp_dir().join("runbook-lab.tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .expect("lab test lock");
    // SAFETY: flock on a descriptor this function owns; blocks until the lock is granted.
    let rc = unsafe { libc::flock(file.as_raw_fd(), kind) };
    assert_eq!(rc, 0, "flock {}", path.display());
    Exclusive(file)
}

/// Serialise tests that change lab state (faults, configs, services) — across threads and across
/// test processes (two checkouts testing against the one lab): an exclusive flock, held until the
/// guard drops.
pub fn exclusive() -> Exclusive {
    lock(libc::LOCK_EX)
}

/// For tests that use the lab without changing what other tests rely on: they run together, but
/// never while a test holds `exclusive()` (a frozen or stopped host would break them).
pub fn shared() -> Exclusive {
    lock(libc::LOCK_SH)
}

/// Holds the lab lock for one test; released when dropped (the descriptor closes).
pub struct Exclusive(#[allow(dead_code)] std::fs::File);

impl Lab {
    pub fn inventory(&self) -> &str {
        self.inventory.to_str().expect("utf-8 path")
    }

    /// Run a command as root inside a host (tests/lab/exec): stdout, or a panic with stderr.
    pub fn exec(&self, host: &str, argv: &[&str]) -> String {
        let out = Command::new(script("exec"))
            .arg(host)
            .args(argv)
            .output()
            .expect("tests/lab/exec");
        assert!(
            out.status.success(),
            "lab exec {host} {argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Exit code of a command inside a host.
    pub fn exec_status(&self, host: &str, argv: &[&str]) -> i32 {
        Command::new(script("exec"))
            .arg(host)
            .args(argv)
            .output()
            .expect("tests/lab/exec")
            .status
            .code()
            .unwrap_or(-1)
    }

    /// Run a command over ssh as the operator user (rbops), as an operator would: stdout, or a
    /// panic with stderr.
    pub fn ssh(&self, host: &str, command: &str) -> String {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(self.dir.join("ssh_config"))
            .args([host, command])
            .output()
            .expect("ssh");
        assert!(
            out.status.success(),
            "ssh {host} {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command run over ssh as the operator user, which may fail: its stdout, or `None` when
    /// it exits non-zero.
    pub fn ssh_try(&self, host: &str, command: &str) -> Option<String> {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(self.dir.join("ssh_config"))
            .args([host, command])
            .output()
            .expect("ssh");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Start the Cloudify managers over (tests/lab/cloudify-reset): the old managers seeded,
    /// the new ones empty, no faults, every CLI profile made anew by the real `cfy`.
    pub fn reset_cloudify(&self) {
        let out = Command::new(script("cloudify-reset"))
            .output()
            .expect("tests/lab/cloudify-reset");
        assert!(
            out.status.success(),
            "tests/lab/cloudify-reset: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Flip a fault switch (tests/lab/fault HOST ACTION).
    pub fn fault(&self, host: &str, action: &str) {
        let out = Command::new(script("fault"))
            .args([host, action])
            .output()
            .expect("tests/lab/fault");
        assert!(
            out.status.success(),
            "lab fault {host} {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Undo a fault when the test ends, even when it panics.
pub struct Restore {
    pub host: &'static str,
    pub action: &'static str,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = Command::new(script("fault"))
            .args([self.host, self.action])
            .output();
    }
}
