//! The lab itself: it runs from a checkout the hosts cannot reach, and its manager simulator
//! answers Cloudify's real CLI as Cloudify does (tests/lab/sim/selftest-rest, selftest-db).

use crate::lab_env::{exclusive, lab, script};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run_ok(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} exited with {:?}:\n{}\n{}",
        program.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A copy of tests/lab under `base` in a folder only root may enter (as a clone in root's home
/// is), removed when dropped.
struct Checkout(PathBuf);

impl Checkout {
    fn under(base: &str) -> Self {
        let dir = PathBuf::from(base).join(format!("runbook-lab-checkout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tests")).expect("checkout dir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
        run_ok(
            Path::new("/bin/cp"),
            &[
                "-a",
                script("").to_str().expect("path"),
                dir.join("tests/lab").to_str().expect("path"),
            ],
        );
        Checkout(dir)
    }

    fn script(&self, name: &str) -> PathBuf {
        self.0.join("tests/lab").join(name)
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_lab_runs_from_a_checkout_the_hosts_cannot_reach() {
    let lab = lab();
    let _serial = exclusive();
    // /root is mode 0700 (the hosts' user cannot enter it); /tmp is private to each host.
    for base in ["/root", "/tmp"] {
        let checkout = Checkout::under(base);
        run_ok(&checkout.script("up"), &[]);
        run_ok(&checkout.script("cloudify-reset"), &["mgr-1", "old-1"]);
        let status = lab.ssh("mgr-1", "cfy status --json");
        assert!(status.contains("\"status\": \"OK\""), "{base}: {status}");
        let deployments = lab.ssh("old-1", "cfy deployments list --all-tenants --json");
        assert!(deployments.contains("web-prod"), "{base}: {deployments}");
        run_ok(&checkout.script("sim/fault"), &["mgr-1", "restore", "fail"]);
        let shown = run_ok(&checkout.script("sim/fault"), &["mgr-1", "show"]);
        assert!(shown.contains("fail"), "{base}: {shown}");
        run_ok(&checkout.script("sim/fault"), &["mgr-1", "clear"]);
    }
}

#[test]
fn the_manager_simulator_answers_the_real_cli_as_cloudify_does() {
    lab(); // installs the real CLI
    let out = run_ok(&script("sim/selftest-rest"), &[]);
    assert!(out.contains("PASS"), "{out}");
}

#[test]
fn the_simulated_restore_fails_for_real_without_raised_timeouts() {
    lab();
    let _serial = exclusive();
    let out = run_ok(&script("sim/selftest-db"), &[]);
    assert!(out.contains("PASS"), "{out}");
}

/// `bash demo` starts with `tests/lab/up` and `tests/lab/cloudify-reset`: on a lab that is up,
/// neither prints an error or warning line (issue 16: a reset right after `up` printed "could not
/// drop the simulator's tables … server closed the connection unexpectedly" before a run that
/// then succeeded). The run's own output is the upgrade tests'.
#[test]
fn the_demos_lab_steps_print_no_error_lines() {
    lab();
    let _serial = exclusive();
    for name in ["up", "cloudify-reset"] {
        let out = Command::new(script(name))
            .output()
            .unwrap_or_else(|e| panic!("tests/lab/{name}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "tests/lab/{name}:\n{text}");
        let bad: Vec<&str> = text
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                ["error", "warning", "could not", "traceback"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "tests/lab/{name} printed:\n{}",
            bad.join("\n")
        );
    }
}
