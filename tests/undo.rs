use crate::util::{events, journal_of, Rb};
use std::time::{Duration, Instant};

/// A runbook that changes `state.txt` temporarily, then does `body`.
fn temp_runbook(rb: &Rb, body: &str) {
    let state = rb.path("state.txt").display().to_string();
    rb.write("state.txt", "original\n");
    rb.write(
        "temp.rhai",
        &format!(
            r#"//! Temporary change.
step("change", "Change state.txt temporarily", || {{
    temporarily(|| {{
        undo::shell("alpha", "echo original > {state}");
        ssh::shell("alpha", "echo changed > {state}");
        {body}
    }});
    ssh::shell("alpha", "echo after-scope >> {state}");
}});
"#
        ),
    );
}

fn assert_pushed_and_popped(j: &[serde_json::Value]) {
    let push = events(j, "undo_push");
    let pop = events(j, "undo_pop");
    assert_eq!(push.len(), 1, "{j:?}");
    assert_eq!(pop.len(), 1, "{j:?}");
    assert_eq!(push[0]["id"], pop[0]["id"]);
    assert_eq!(pop[0]["ok"], true);
    let pos = |e: &serde_json::Value| j.iter().position(|r| r == e);
    assert!(pos(push[0]) < pos(pop[0]));
}

#[test]
fn undo_runs_when_the_scope_succeeds() {
    let rb = Rb::new();
    temp_runbook(&rb, "");
    rb.run(&["run", "temp.rhai", "-i", "local.toml"]).code(0);
    assert_eq!(rb.read("state.txt"), "original\nafter-scope\n");
    assert_pushed_and_popped(&rb.journal());
}

#[test]
fn undo_runs_when_the_scope_fails() {
    let rb = Rb::new();
    temp_runbook(&rb, r#"throw "restore failed";"#);
    let r = rb.run(&["run", "temp.rhai", "-i", "local.toml"]);
    r.code(3);
    assert!(r.stderr.contains("restore failed"), "{}", r.stderr);
    assert_eq!(rb.read("state.txt"), "original\n");
    assert_pushed_and_popped(&rb.journal());
}

fn wait_for(rb: &Rb, name: &str, text: &str) {
    let start = Instant::now();
    while !rb.read(name).contains(text) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {name} to contain {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start the temporary-change runbook with `body` inside its scope; return once the change is
/// made, with the run still going (its body is about to block).
pub fn start_mid_change(rb: &Rb, body: &str) -> std::process::Child {
    temp_runbook(rb, body);
    let child = rb
        .command(&["run", "temp.rhai", "-i", "local.toml"])
        .spawn()
        .expect("spawn");
    wait_for(rb, "state.txt", "changed");
    child
}

#[test]
fn undo_runs_on_sigint_mid_step() {
    let rb = Rb::new();
    let mut child = start_mid_change(&rb, r#"ssh::run("alpha", ["sleep", "60"]);"#);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "Ctrl-C stopped the sleeping command promptly"
    );
    assert_eq!(status.code(), Some(130));
    assert_eq!(rb.read("state.txt"), "original\n");
    let j = rb.journal();
    assert_pushed_and_popped(&j);
    assert_eq!(events(&j, "run_end")[0]["ok"], false);
}

#[test]
fn after_sigkill_revert_runs_the_pending_undo() {
    let rb = Rb::new();
    let mut child = start_mid_change(&rb, r#"ssh::run("alpha", ["sleep", "60"]);"#);
    child.kill().expect("SIGKILL");
    child.wait().ok();
    assert_eq!(rb.read("state.txt"), "changed\n", "nothing undid it yet");
    let run = rb.last_run();
    assert_eq!(events(&journal_of(&run), "undo_pop").len(), 0);

    let r = rb.run(&["revert"]);
    r.code(0);
    assert!(
        r.stdout.contains("reverted 1 temporary change"),
        "{}",
        r.stdout
    );
    assert_eq!(rb.read("state.txt"), "original\n");
    assert_pushed_and_popped(&journal_of(&run));
    let again = rb.run(&["revert"]);
    again.code(0);
    assert!(
        again.stdout.contains("nothing to revert"),
        "{}",
        again.stdout
    );
}

#[test]
fn resume_after_sigkill_reverts_first_then_reruns_the_step() {
    let rb = Rb::new();
    let flag = rb.path("slow").display().to_string();
    rb.write("slow", "");
    let mut child = start_mid_change(
        &rb,
        &format!(r#"ssh::shell("alpha", "if [ -e {flag} ]; then sleep 60; fi");"#),
    );
    child.kill().expect("SIGKILL");
    child.wait().ok();
    std::fs::remove_file(rb.path("slow")).ok();
    let r = rb.run(&["resume"]);
    r.code(0);
    assert!(
        r.stderr
            .contains("running 1 undo record(s) left by the earlier attempt"),
        "{}",
        r.stderr
    );
    assert_eq!(rb.read("state.txt"), "original\nafter-scope\n");
    let j = rb.journal();
    assert_eq!(events(&j, "undo_push").len(), 2);
    assert_eq!(events(&j, "undo_pop").len(), 2);
}

#[test]
fn a_step_whose_changes_a_failure_undid_runs_again_on_resume() {
    let rb = Rb::new();
    let (log, flag) = (
        rb.path("log.txt").display().to_string(),
        rb.path("fail").display().to_string(),
    );
    rb.write("fail", "");
    rb.write(
        "window.rhai",
        &format!(
            r#"//! A temporary window across steps.
temporarily(|| {{
    step("raise", "Raise", || {{
        ssh::shell("alpha", "echo raise >> {log}");
        undo::shell("alpha", "echo revert >> {log}");
    }});
    step("work", "Work that needs the raise", || {{
        ssh::shell("alpha", "echo work >> {log}; test ! -e {flag}");
    }});
    step("lower", "Revert now that the work is done", || {{ undo::now(); }});
}});
step("after", "After the window", || {{ ssh::shell("alpha", "echo after >> {log}"); }});
"#
        ),
    );
    rb.run(&["run", "window.rhai", "-i", "local.toml"]).code(1);
    assert_eq!(
        rb.read("log.txt"),
        "raise\nwork\nrevert\n",
        "the failure reverted the raise"
    );
    std::fs::remove_file(rb.path("fail")).ok();
    rb.run(&["resume"]).code(0);
    assert_eq!(
        rb.read("log.txt"),
        "raise\nwork\nrevert\nraise\nwork\nrevert\nafter\n",
        "resume raised again before retrying the work, then reverted once"
    );
    rb.run(&["resume"]).code(0);
    assert!(
        rb.read("log.txt").ends_with("after\n") && rb.read("log.txt").matches("raise").count() == 2,
        "a finished run changes nothing"
    );
}
