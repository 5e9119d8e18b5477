//! Never orphan the restore (issue 14): the runbook killed while the restore runs on the manager.
//! The lab's simulator keeps the restore running (`fault mgr-1 restore slow 40`), samples the
//! window (Patroni's ttl/retry_timeout in etcd, mgr-1's HAProxy timeouts) while it runs, and fails
//! the restore when the window closes before it ends (tests/lab/sim/cfysim/observe.py `Window`).
use crate::lab_env::{exclusive, lab, Lab, Restore};
use crate::upgrade::{assert_upgraded, json, originals, sim_fault, upgrade};
use crate::util::{events, journal_of, Rb};
use std::time::{Duration, Instant};

/// The lease a run takes on each host it changes (src/context/lease.rs).
const LEASE: &str = "/var/lib/runbook/lease";

/// The lab runs the simulator of whichever checkout ran `tests/lab/up` last: make sure it is one
/// that samples the restore's window (this checkout's), installing it when not.
pub(crate) fn ensure_window_sampling() {
    let installed = "/opt/runbook-lab/sim/cfysim/observe.py";
    if std::fs::read_to_string(installed).is_ok_and(|t| t.contains("class Window")) {
        return;
    }
    let out = std::process::Command::new(crate::lab_env::script("up"))
        .output()
        .expect("tests/lab/up");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start the upgrade with mgr-1's restore slowed by 40 s, and SIGKILL it once the restore runs
/// there.
fn kill_during_slow_restore(rb: &Rb, lab: &Lab) {
    ensure_window_sampling();
    lab.reset_cloudify();
    sim_fault(&["mgr-1", "restore", "slow", "40"]);
    kill_once_the_restore_runs(rb, lab);
    sim_fault(&["mgr-1", "restore", "clear"]);
    assert!(restore_running(lab), "the restore still runs on mgr-1");
}

/// Start the upgrade and SIGKILL it once mgr-1's restore execution started; the killed run left
/// the timeouts raised.
pub(crate) fn kill_once_the_restore_runs(rb: &Rb, lab: &Lab) {
    let mut child = until_the_restore_runs(rb, lab, &[]);
    child.kill().expect("SIGKILL");
    child.wait().ok();
    let during = lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"]);
    assert!(
        during.contains("timeout client 1440m"),
        "the killed run left the timeouts raised: {during}"
    );
}

/// Start the upgrade; return it once mgr-1's restore execution started.
pub(crate) fn until_the_restore_runs(rb: &Rb, lab: &Lab, extra: &[&str]) -> std::process::Child {
    let mut child = upgrade(rb, lab, extra)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    wait_restore_observed(rb, lab, || child.try_wait().ok().flatten().is_some());
    child
}

/// Wait until mgr-1's restore has started (the simulator's record of it appears), at most 2 min;
/// `ended` says whether the run that should start it has ended (then it never will).
fn wait_restore_observed(rb: &Rb, lab: &Lab, mut ended: impl FnMut() -> bool) {
    let started = Instant::now();
    while lab.exec_status(
        "mgr-1",
        &["test", "-e", "/var/lib/cloudify-sim/restore-observed.json"],
    ) != 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the restore never started"
        );
        if ended() {
            let j = rb.journal();
            panic!(
                "the run ended before the restore: {:#?}",
                &j[j.len().saturating_sub(6)..]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether mgr-1 says a restore runs (`cfy snapshots status`, unauthenticated on the manager).
pub(crate) fn restore_running(lab: &Lab) -> bool {
    lab.ssh_try("mgr-1", "cfy snapshots status")
        .is_some_and(|s| s.contains("Snapshot restore in progress"))
}

/// Wait until mgr-1 says no restore runs.
pub(crate) fn wait_restore_ended(lab: &Lab) {
    let waited = Instant::now();
    while !lab
        .ssh_try("mgr-1", "cfy snapshots status")
        .is_some_and(|s| s.contains("No snapshot is currently being restored"))
    {
        assert!(
            waited.elapsed() < Duration::from_secs(180),
            "the restore did not end"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The simulator's record of the last restore's window: start, changes during, end, closed.
fn window(lab: &Lab) -> serde_json::Value {
    json(&lab.exec(
        "mgr-1",
        &["cat", "/var/lib/cloudify-sim/restore-window.json"],
    ))
}

/// The restore's execution id, from the journal's in-flight record.
fn restore_execution(journal: &[serde_json::Value]) -> String {
    let what = events(journal, "in_flight")
        .first()
        .map(|e| e["work"]["what"].as_str().unwrap_or("").to_string())
        .expect("an in_flight record for the restore");
    what.split("(execution ")
        .nth(1)
        .and_then(|s| s.strip_suffix(')'))
        .expect("execution id in the record")
        .to_string()
}

fn resume(rb: &Rb) -> std::process::Output {
    resume_with(rb, &[])
}

/// `runbook resume --yes EXTRA…` with the old admin password's source in the environment.
pub(crate) fn resume_with(rb: &Rb, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["resume", "--yes"];
    args.extend_from_slice(extra);
    let mut resume = rb.command(&args);
    resume.env("OLD_ADMIN_PW", "old-admin-pw");
    resume.output().expect("resume")
}

#[test]
fn after_sigkill_during_a_running_restore_resume_waits_inside_the_window_then_reverts() {
    let lab = lab();
    let _serial = exclusive();
    let before = originals(lab);
    let rb = Rb::new();
    kill_during_slow_restore(&rb, lab);

    // No wait for the restore to end: resume while it runs.
    let out = resume(&rb);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("still runs on mgr-1") && stderr.contains("stay in force"),
        "{stderr}"
    );
    assert_upgraded(lab, &before);

    // The simulator's record: the window was open at the start, throughout, and at the end.
    let w = window(lab);
    assert_eq!(w["closed"], serde_json::json!([]), "{w}");
    for sample in std::iter::once(&w["start"])
        .chain(w["during"].as_array().expect("during").iter())
        .chain(std::iter::once(&w["end"]))
    {
        assert_eq!(sample["ttl"], 86400, "{w}");
        assert_eq!(sample["retry_timeout"], 86400, "{w}");
        assert_eq!(sample["timeout_client"], "1440m", "{w}");
        assert_eq!(sample["timeout_server"], "1440m", "{w}");
    }

    // The journal: after the resume, no undo ran before the restore's in-flight record ended;
    // the timeouts were raised once, and reverted once.
    let j = rb.journal();
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| j.iter().position(pred);
    let resumed = at(&|r| r["event"] == "resume").expect("resume record");
    let ended = at(&|r| r["event"] == "in_flight_end").expect("the restore's end journaled");
    let first_pop = at(&|r| r["event"] == "undo_pop").expect("the undo ran");
    assert!(resumed < ended && ended < first_pop, "{j:#?}");
    let raises = events(&j, "step_start")
        .iter()
        .filter(|e| e["step"] == "raise-timeouts")
        .count();
    assert_eq!(raises, 1, "no second raise");
    assert_eq!(events(&j, "undo_pop").len(), events(&j, "undo_push").len());
    // One run per cluster: the resumed run took the killed run's lease on mgr-1 back, and gave
    // it up at its end.
    let leases: Vec<String> = events(&j, "lease")
        .iter()
        .map(|n| format!("{} {}", n["host"], n["what"]))
        .collect();
    assert!(
        leases.contains(&r#""mgr-1" "taken back""#.to_string()),
        "{leases:#?}"
    );
    assert_ne!(lab.exec_status("mgr-1", &["test", "-e", LEASE]), 0);
    assert!(events(&j, "undo_pop").iter().all(|p| p["ok"] == true));
}

#[test]
fn after_sigkill_during_a_running_restore_revert_refuses_and_force_overrules() {
    let lab = lab();
    let _serial = exclusive();
    let before = originals(lab);
    let rb = Rb::new();
    kill_during_slow_restore(&rb, lab);
    let execution = restore_execution(&rb.journal());

    let out = rb.command(&["revert"]).output().expect("revert");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains(&format!("execution {execution}"))
            && said.contains("still runs on mgr-1")
            && said.contains("runbook resume")
            && said.contains("--force")
            && said.contains("the guard on mgr-1 stays armed"),
        "{stderr}"
    );
    assert!(
        lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"])
            .contains("timeout client 1440m"),
        "nothing reverted"
    );
    assert!(events(&rb.journal(), "undo_pop").is_empty());
    assert!(restore_running(lab), "the restore still runs");

    // The operator reads the refusal before overruling it: meanwhile the guard the refusal left
    // armed must not take the window over (its lease is still the run's, not given back).
    std::thread::sleep(Duration::from_secs(3));
    let out = rb.command(&["revert", "--force"]).output().expect("revert");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let originals_now = originals(lab);
    assert_eq!(originals_now, before, "reverted to the exact originals");
    let j = rb.journal();
    let overrule = events(&j, "in_flight_end");
    assert_eq!(overrule.len(), 1, "{j:#?}");
    let how = overrule[0]["how"].as_str().unwrap_or("");
    assert!(
        how.contains("overruled by `runbook revert --force`")
            && how.contains(&format!("execution {execution}"))
            && how.contains("mgr-1"),
        "{how}"
    );
    let pos = |kind: &str| j.iter().position(|r| r["event"] == kind).expect(kind);
    assert!(
        pos("in_flight_end") < pos("undo_pop"),
        "the override is journaled first"
    );
    // What the operator was warned of: the simulator fails the restore whose window closed.
    wait_restore_ended(lab);
    let w = window(lab);
    let log = rb.run(&["log"]);
    assert_ne!(w["closed"], serde_json::json!([]), "{w}\n{}", log.stdout);
}

#[test]
fn the_host_unreachable_at_resume_reverts_nothing_and_says_why() {
    let lab = lab();
    let _serial = exclusive();
    let before = originals(lab);
    let rb = Rb::new();
    kill_during_slow_restore(&rb, lab);
    let run = rb.last_run();

    lab.fault("mgr-1", "stop");
    let sshd = Restore {
        host: "mgr-1",
        action: "start",
    };
    let out = resume(&rb);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("nothing reverted")
            && stderr.contains("restore of cluster-upgrade")
            && stderr.contains("cannot tell whether it still runs, counted as running")
            && stderr.contains("mgr-1 unreachable"),
        "{stderr}"
    );
    let j = journal_of(&run);
    assert!(events(&j, "undo_pop").is_empty(), "{j:#?}");
    assert!(
        lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"])
            .contains("timeout client 1440m"),
        "the window stays open"
    );
    drop(sshd);

    // Once mgr-1 answers again, resume finishes the run.
    let out = resume(&rb);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_upgraded(lab, &before);
    assert_eq!(window(lab)["closed"], serde_json::json!([]));
}

#[test]
fn two_runs_at_once_one_proceeds_the_other_stops_before_any_change_naming_the_holder() {
    let lab = lab();
    let _serial = exclusive();
    ensure_window_sampling();
    lab.reset_cloudify();
    let before = originals(lab);
    sim_fault(&["mgr-1", "restore", "hang"]);
    let first = Rb::new();
    let mut running = until_the_restore_runs(&first, lab, &[]);
    let holder = first
        .last_run()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("run id");
    let lease = lab.exec("mgr-1", &["cat", LEASE]);
    assert!(
        lease.starts_with(&format!("run={holder} controller="))
            && lease.contains(" user=")
            && lease.contains(&format!(" pid={} ", running.id()))
            && lease.contains(" started="),
        "{lease}"
    );

    let second = Rb::new();
    let out = upgrade(&second, lab, &[]).output().expect("second run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    sim_fault(&["mgr-1", "restore", "clear"]);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is leased by another run: run=") && stderr.contains(&holder),
        "{stderr}"
    );
    let j = second.journal();
    assert!(events(&j, "undo_push").is_empty(), "{j:#?}");
    assert!(
        events(&j, "lease").is_empty(),
        "the second run took no lease: {j:#?}"
    );

    let status = running.wait().expect("first run");
    assert!(status.success(), "the first run finished");
    assert_upgraded(lab, &before);
    for host in ["old-1", "mgr-1", "mgr-2", "mgr-3"] {
        assert_ne!(lab.exec_status(host, &["test", "-e", LEASE]), 0, "{host}");
    }
}

/// A fresh lab whose next restore on mgr-1 runs `secs` s longer; the files a revert must put back.
fn slow_restore_ahead(lab: &Lab, secs: &str) -> std::collections::BTreeMap<String, String> {
    ensure_window_sampling();
    lab.reset_cloudify();
    let before = originals(lab);
    sim_fault(&["mgr-1", "restore", "slow", secs]);
    before
}

/// [`wait_restore_observed`], then clear the slow-down for later restores (this one keeps it).
fn until_restore_observed(rb: &Rb, lab: &Lab, ended: impl FnMut() -> bool) {
    wait_restore_observed(rb, lab, ended);
    sim_fault(&["mgr-1", "restore", "clear"]);
}

/// Ctrl-C at a terminal while the restore runs: the operator is asked, and `wait` keeps the window
/// open until the restore has ended, then reverts it.
#[test]
fn ctrl_c_at_a_terminal_during_the_restore_asks_and_wait_reverts_only_after_it_ended() {
    use rexpect::session::{spawn_with_options, Options};
    let lab = lab();
    let _serial = exclusive();
    let _clean = crate::guard::NoGuardsLeft(lab);
    let before = slow_restore_ahead(lab, "15");
    let rb = Rb::new();
    let mut command = upgrade(&rb, lab, &[]);
    command
        .stdin(std::process::Stdio::inherit())
        .env("TERM", "xterm");
    let mut pty = spawn_with_options(
        command,
        Options::new()
            .timeout_ms(Some(120_000))
            .strip_ansi_escape_codes(true),
    )
    .expect("the upgrade on a pty");
    until_restore_observed(&rb, lab, || {
        pty.process()
            .status()
            .is_some_and(|s| !matches!(s, rexpect::process::WaitStatus::StillAlive))
    });
    // Ctrl-C (the pty's line discipline does not turn the byte into SIGINT for this session).
    pty.process_mut()
        .signal(rexpect::process::Signal::SIGINT)
        .expect("SIGINT");
    pty.exp_string("[w]ait for it here").expect("the question");
    pty.exp_string("[w/L/f]").expect("the prompt");
    assert!(restore_running(lab), "asked while the restore runs");
    pty.send_line("w").expect("answer");
    let rest = pty.exp_eof().expect("the run ends");
    let status = pty.process().wait().expect("exit status");
    assert!(
        !matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "an interrupted run fails: {status:?}\n{rest}"
    );
    assert!(rest.contains("waiting inside the window"), "{rest}");

    let j = rb.journal();
    let pos = |kind: &str| j.iter().position(|r| r["event"] == kind);
    let chose = j
        .iter()
        .position(|r| {
            r["message"] == "interrupted while work still ran: the operator chose to wait"
        })
        .unwrap_or_else(|| panic!("the answer is journaled: {j:#?}"));
    let ended = pos("in_flight_end").expect("the restore's end is journaled");
    let undone = pos("undo_pop").expect("the window is reverted");
    assert!(chose < ended && ended < undone, "{j:#?}");
    assert_eq!(events(&j, "window_close")[0]["ok"], true);
    // The simulator saw the window open from the restore's start to its end.
    let w = window(lab);
    assert_eq!(w["closed"], serde_json::json!([]), "{w}");
    assert_eq!(originals(lab), before, "reverted to the exact originals");
}

/// SIGINT without a terminal while the restore runs: nothing is reverted under it, the message
/// says how to go on, and the host's guard stays armed: once the restore has ended it reverts.
#[test]
fn sigint_without_a_terminal_during_the_restore_leaves_the_window_guarded() {
    let lab = lab();
    let _serial = exclusive();
    let _clean = crate::guard::NoGuardsLeft(lab);
    let before = slow_restore_ahead(lab, "20");
    let rb = Rb::new();
    let mut child = upgrade(&rb, lab, &[])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    until_restore_observed(&rb, lab, || child.try_wait().ok().flatten().is_some());
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("the run ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    let run = rb
        .last_run()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("run id");
    assert!(
        said.contains("runbook resume")
            && said.contains("the guard on mgr-1 stays armed")
            && !said.contains("[w/L/f]"),
        "{stderr}"
    );
    assert!(restore_running(lab), "the run ended before the restore");
    assert!(
        lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"])
            .contains("timeout client 1440m"),
        "nothing reverted under the restore"
    );
    assert!(events(&rb.journal(), "undo_pop").is_empty());
    assert!(crate::guard::guard_alive(lab, "mgr-1", &run), "{stderr}");

    wait_restore_ended(lab);
    let result = crate::guard::guard_result(lab, "mgr-1", &run, Duration::from_secs(120));
    assert!(result.contains("\nended "), "{result}");
    assert_eq!(
        originals(lab),
        before,
        "the host reverted by itself: {result}"
    );
    let w = window(lab);
    assert_eq!(w["closed"], serde_json::json!([]), "{w}");
}
