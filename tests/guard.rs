//! The host-side dead man's switch (issue 14, item 2; src/context/guard.rs): a guard on the host
//! that reverts the window by itself once the run's lease goes stale — after the in-flight
//! restore ended — and that never acts when the controller disarmed it or came back in time.
use crate::lab_env::{exclusive, lab, Lab};
use crate::orphan::{
    ensure_window_sampling, restore_running, resume_with, until_the_restore_runs,
    wait_restore_ended,
};
use crate::upgrade::{assert_upgraded, originals, sim_fault, upgrade};
use crate::util::{events, Rb};
use std::time::{Duration, Instant};

const GUARDS: &str = "/var/lib/runbook/guard";
const MANAGERS: [&str; 3] = ["mgr-1", "mgr-2", "mgr-3"];

/// Kills and removes every guard on the managers and their leases when dropped: no guard
/// outlives its test (the lab is shared; one firing later would revert another test's window),
/// and no run a test killed keeps the next test's run off the hosts.
pub(crate) struct NoGuardsLeft<'a>(pub(crate) &'a Lab);

impl Drop for NoGuardsLeft<'_> {
    fn drop(&mut self) {
        for host in MANAGERS {
            self.0.exec_status(
                host,
                &[
                    "sh",
                    "-c",
                    "for p in /var/lib/runbook/guard/*/pid; do [ -e \"$p\" ] && kill \"$(cat \"$p\")\" 2>/dev/null; done; rm -rf /var/lib/runbook/guard /var/lib/runbook/lease",
                ],
            );
        }
    }
}

/// The journal's `guard` records as `"HOST" "WHAT"`.
fn guard_lines(j: &[serde_json::Value]) -> Vec<String> {
    events(j, "guard")
        .iter()
        .map(|g| format!("{} {}", g["host"], g["what"]))
        .collect()
}

fn run_id(rb: &Rb) -> String {
    rb.last_run()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("run id")
}

/// A child process killed (SIGKILL) when dropped, also when a test fails while it runs.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the newest run (if it started yet) journaled a `log` line `message`.
fn run_logged(rb: &Rb, message: &str) -> bool {
    let Ok(runs) = std::fs::read_dir(rb.path("state")) else {
        return false;
    };
    let Some(run) = runs.filter_map(|e| e.ok()).map(|e| e.path()).max() else {
        return false;
    };
    std::fs::read_to_string(run.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|r| r["message"] == message)
}

/// Whether a guard process of run `run` lives on `host` (its pid file names a live process).
pub(crate) fn guard_alive(lab: &Lab, host: &str, run: &str) -> bool {
    lab.exec_status(
        host,
        &[
            "sh",
            "-c",
            "kill -0 \"$(cat \"$1\" 2>/dev/null)\" 2>/dev/null",
            "sh",
            &format!("{GUARDS}/{run}/pid"),
        ],
    ) == 0
}

/// Wait until `host`'s guard of run `run` has written its result (at most `within`); the result.
pub(crate) fn guard_result(lab: &Lab, host: &str, run: &str, within: Duration) -> String {
    let result = format!("{GUARDS}/{run}/result");
    let waited = Instant::now();
    while lab.exec_status(host, &["test", "-e", &result]) != 0 {
        assert!(
            waited.elapsed() < within,
            "the guard on {host} did not revert: {}",
            lab.exec(
                host,
                &["sh", "-c", &format!("ls -R {GUARDS}; cat {GUARDS}/*/log")]
            )
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    lab.exec(host, &["cat", &result])
}

/// The journal says the host ran some undo (`guard` records), and the controller ran none of it.
fn assert_host_undo_not_run_again(j: &[serde_json::Value]) {
    let by_host: Vec<u64> = events(j, "guard")
        .iter()
        .flat_map(|g| g["undone"].as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_u64())
        .collect();
    assert!(!by_host.is_empty(), "{j:#?}");
    for id in &by_host {
        assert!(
            events(j, "undo_pop").iter().all(|p| p["id"] != *id),
            "undo #{id} reverted twice: {j:#?}"
        );
    }
}

/// Start the upgrade with `--lease SECS`, mgr-1's restore slowed by `slow` s, and SIGKILL it once
/// the restore runs; the guard is armed on mgr-1 by then.
fn kill_during_slow_restore(rb: &Rb, lab: &Lab, lease: &str, slow: &str) -> String {
    ensure_window_sampling();
    lab.reset_cloudify();
    sim_fault(&["mgr-1", "restore", "slow", slow]);
    let mut child = until_the_restore_runs(rb, lab, &["--lease", lease]);
    child.kill().expect("SIGKILL");
    child.wait().ok();
    sim_fault(&["mgr-1", "restore", "clear"]);
    assert!(restore_running(lab), "the restore still runs on mgr-1");
    let run = run_id(rb);
    assert!(guard_alive(lab, "mgr-1", &run), "a guard is armed on mgr-1");
    run
}

#[test]
fn nobody_comes_back_the_host_reverts_by_itself_after_the_restore_and_resume_reverts_nothing_twice()
{
    let lab = lab();
    let _serial = exclusive();
    let _clean = NoGuardsLeft(lab);
    let before = originals(lab);
    let rb = Rb::new();
    let run = kill_during_slow_restore(&rb, lab, "6", "20");

    // Nobody comes back: the restore ends, the lease goes stale, the guard reverts.
    wait_restore_ended(lab);
    let said = guard_result(lab, "mgr-1", &run, Duration::from_secs(120));
    assert_eq!(
        originals(lab),
        before,
        "the host reverted to the exact originals: {said}"
    );
    assert!(
        said.contains("\nended ") && said.contains("restore of"),
        "it waited for the restore: {said}"
    );
    // It exits right after writing its result.
    let exiting = Instant::now();
    while guard_alive(lab, "mgr-1", &run) {
        assert!(
            exiting.elapsed() < Duration::from_secs(10),
            "the guard ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // `runbook log` shows the host did it.
    let log = rb.run(&["log"]);
    assert!(
        log.stdout
            .contains("guard on mgr-1: run by the host: fired at"),
        "{}",
        log.stdout
    );

    // resume journals what the host did and reverts none of it again.
    let out = resume_with(&rb, &["--lease", "6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j = rb.journal();
    assert_host_undo_not_run_again(&j);
    let log = rb.run(&["log"]);
    assert!(
        log.stdout.contains("guard on mgr-1: run by the host"),
        "{}",
        log.stdout
    );
    assert_upgraded(lab, &before);
    assert_ne!(
        lab.exec_status("mgr-1", &["test", "-e", &format!("{GUARDS}/{run}")]),
        0
    );
}

#[test]
fn a_disarmed_guard_never_acts() {
    let lab = lab();
    let _serial = exclusive();
    let _clean = NoGuardsLeft(lab);
    lab.reset_cloudify();
    let before = originals(lab);
    let rb = Rb::new();
    let out = upgrade(&rb, lab, &["--lease", "3"]).output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = run_id(&rb);
    let j = rb.journal();
    let guards = guard_lines(&j);
    assert!(
        guards.iter().any(|g| g.starts_with("\"mgr-1\" \"armed"))
            && guards
                .iter()
                .any(|g| g == "\"mgr-1\" \"disarmed by the controller\""),
        "{guards:#?}"
    );
    let after = originals(lab);
    for host in MANAGERS {
        assert!(
            !guard_alive(lab, host, &run),
            "no guard process left on {host}"
        );
        assert_ne!(
            lab.exec_status(host, &["test", "-e", &format!("{GUARDS}/{run}")]),
            0
        );
    }
    // Past the lease: nothing on the hosts changes.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(originals(lab), after);
    assert_upgraded(lab, &before);
}

#[test]
fn a_controller_back_before_the_lease_expires_keeps_control() {
    let lab = lab();
    let _serial = exclusive();
    let _clean = NoGuardsLeft(lab);
    let before = originals(lab);
    let rb = Rb::new();
    let run = kill_during_slow_restore(&rb, lab, "120", "20");

    let out = resume_with(&rb, &["--lease", "120"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j = rb.journal();
    let guards = guard_lines(&j);
    assert!(
        guards.contains(&"\"mgr-1\" \"taken back by the controller\"".to_string()),
        "{guards:#?}"
    );
    assert!(
        events(&j, "guard").iter().all(|g| g["undone"].is_null()),
        "the host ran no undo: {j:#?}"
    );
    // Only the controller reverted: every push popped by it, once.
    assert_eq!(events(&j, "undo_pop").len(), events(&j, "undo_push").len());
    assert_upgraded(lab, &before);
    for host in MANAGERS {
        assert!(
            !guard_alive(lab, host, &run),
            "no guard process left on {host}"
        );
    }
}

/// A resume that finds the restore still running takes the guard back to read what it did; it
/// must arm it again before it waits inside the window: if that resume dies too, the host still
/// reverts by itself once the restore has ended.
#[test]
fn a_resume_killed_while_the_restore_still_runs_leaves_the_host_guarded() {
    let lab = lab();
    let _serial = exclusive();
    let _clean = NoGuardsLeft(lab);
    let before = originals(lab);
    let rb = Rb::new();
    let run = kill_during_slow_restore(&rb, lab, "6", "30");

    // The resume waits inside the window; kill it once it has said so.
    let mut resume = rb.command(&["resume", "--yes", "--lease", "6"]);
    resume
        .env("OLD_ADMIN_PW", "old-admin-pw")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let mut child = resume.spawn().expect("resume");
    let started = Instant::now();
    while events(&rb.journal(), "resume").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the resume never started"
        );
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "the resume ended early: {:#?}",
            rb.journal()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("SIGKILL");
    child.wait().ok();
    assert!(restore_running(lab), "the restore still runs on mgr-1");
    let guards = guard_lines(&rb.journal());
    assert_eq!(
        guards
            .iter()
            .filter(|g| g.starts_with("\"mgr-1\""))
            .map(|g| g.split(':').next().unwrap_or(""))
            .collect::<Vec<_>>(),
        [
            "\"mgr-1\" \"armed",
            "\"mgr-1\" \"taken back by the controller\"",
            "\"mgr-1\" \"armed"
        ],
        "armed again by the resume: {guards:#?}"
    );
    assert!(guard_alive(lab, "mgr-1", &run), "a guard is armed on mgr-1");

    // Nobody comes back again: once the restore has ended, the host reverts by itself.
    wait_restore_ended(lab);
    let said = guard_result(lab, "mgr-1", &run, Duration::from_secs(120));
    assert_eq!(originals(lab), before, "exact originals: {said}");
    assert!(
        said.contains("\nended "),
        "it waited for the restore: {said}"
    );

    // The third attempt journals what the host did and finishes without reverting it again.
    let out = resume_with(&rb, &["--lease", "6"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let j = rb.journal();
    assert_host_undo_not_run_again(&j);
    assert_upgraded(lab, &before);
}

/// A fired guard waits for each piece of the run's work in flight, but not forever: until the
/// work's own deadline (`inflight::begin`'s cap, e.g. the restore's timeout). Work on another
/// host cannot be asked from this one: the guard waits for its deadline instead of reverting
/// under it.
#[test]
fn a_fired_guard_waits_until_the_deadline_of_work_it_cannot_see_or_that_never_ends() {
    let lab = lab();
    let _serial = exclusive();
    let _clean = NoGuardsLeft(lab);
    let file = "/tmp/rb-guard-deadline";
    let rb = Rb::new();
    rb.write(
        "window.rhai",
        &format!(
            r#"step("window", "a change on mgr-2 while work runs on mgr-1 and on mgr-2", || {{
    temporarily(|| {{
        undo::shell("mgr-2", "echo original > {file}");
        ssh::shell("mgr-2", "echo raised > {file}");
        inflight::begin("mgr-1", "work on mgr-1", "echo running", 20);
        inflight::begin("mgr-2", "work on mgr-2", "echo running", 10);
        log("in flight");
        sleep(600);
    }});
}});
"#
        ),
    );
    let mut child = KillOnDrop(
        rb.command(&["run", "window.rhai", "-i", lab.inventory(), "--lease", "3"])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run"),
    );
    let started = Instant::now();
    // Both pieces of work began and the guard was armed again with both probes (after the
    // second begin the script logs).
    while !run_logged(&rb, "in flight") {
        assert!(started.elapsed() < Duration::from_secs(60), "no work began");
        assert!(
            child.0.try_wait().ok().flatten().is_none(),
            "the run ended: {:#?}",
            rb.journal()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(child);
    let run = run_id(&rb);
    let j = rb.journal();
    let until = |what: &str| {
        events(&j, "in_flight")
            .iter()
            .find(|w| w["work"]["what"] == what)
            .and_then(|w| w["work"]["until"].as_u64())
            .unwrap_or_else(|| panic!("{what} has a deadline: {j:#?}"))
    };
    let (there, here) = (until("work on mgr-1"), until("work on mgr-2"));

    let said = guard_result(lab, "mgr-2", &run, Duration::from_secs(90));
    assert_eq!(
        lab.exec("mgr-2", &["cat", file]).trim(),
        "original",
        "{said}"
    );
    let waited: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("cap ") || l.starts_with("ended "))
        .collect();
    assert_eq!(waited.len(), 2, "{said}");
    assert!(
        waited.iter().all(|l| l.starts_with("cap ")),
        "neither work was seen to end: {said}"
    );
    assert!(
        said.contains("work on mgr-1 on mgr-1 (not visible from mgr-2)"),
        "{said}"
    );
    // It reverted only once both deadlines had passed.
    let ran = said
        .lines()
        .find_map(|l| l.strip_prefix("ran "))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("an undo ran: {said}"));
    let ran = lab.exec("mgr-2", &["date", "-u", "-d", ran, "+%s"]);
    let ran: u64 = ran.trim().parse().expect("seconds");
    assert!(
        ran >= there.max(here),
        "reverted at {ran}, before the deadlines {here} and {there}: {said}"
    );
    lab.exec("mgr-2", &["rm", "-f", file]);
}
