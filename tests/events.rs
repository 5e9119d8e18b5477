//! `--events FILE|-`: the JSON event stream a scheduler reads, checked against the journal.

use crate::util::{journal_of, Rb};
use serde_json::Value;

const RUNBOOK: &str = r#"//! Events.
let pw = secret("token");
step("first", "A command and a note", || {
    ssh::run("alpha", ["sh", "-c", "echo \"token is $1\"", "x", pw]);
    log("the token: " + pw);
});
step("undo", "A temporary change", || {
    temporarily(|| {
        undo::shell("alpha", "true");
    });
});
step("fails", "A command that fails", || {
    ssh::run("beta", ["sh", "-c", "echo \"$1\" >&2; exit 7", "x", pw]);
});
"#;

pub(crate) fn parse(stream: &str) -> Vec<Value> {
    stream
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The stream equals the journal record for record (undo actions left out), then `exit`; a
/// copy's progress events (not journaled) are left out of the comparison.
#[track_caller]
pub(crate) fn assert_stream_is_the_journal(
    events: &[Value],
    journal: &[Value],
    run: &str,
    code: i32,
) {
    let journaled: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] != "copy_progress")
        .collect();
    let (last, records) = journaled.split_last().expect("events");
    assert_eq!(last["event"], "exit");
    assert_eq!(last["code"], code);
    assert_eq!(records.len(), journal.len(), "one event per journal record");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["schema"], "runbook.events/1");
        assert_eq!(e["seq"], i as u64 + 1);
    }
    for (i, (e, j)) in records.iter().zip(journal).enumerate() {
        assert_eq!(e["run"], run);
        let mut e = e.as_object().expect("object").clone();
        let mut j = j.as_object().expect("object").clone();
        for k in ["schema", "seq", "run"] {
            e.remove(k);
        }
        if j["event"] == "undo_push" {
            assert!(j.remove("action").is_some(), "the journal keeps the action");
        }
        assert_eq!(e, j, "event {}", i + 1);
    }
}

#[test]
fn events_on_stdout_are_the_journal_masked_and_end_with_the_exit_code() {
    let rb = Rb::new();
    rb.write("events.rhai", RUNBOOK);
    let r = rb
        .command(&[
            "run",
            "events.rhai",
            "-i",
            "local.toml",
            "--set-secret",
            "token=env:TOKEN",
            "--events",
            "-",
        ])
        .env("TOKEN", "s3cr3t-Qx")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&r.stdout);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    // Only events on stdout; what is meant for people went to stderr.
    let events = parse(&stdout);
    assert!(stderr.contains("run "), "{stderr}");
    let run = rb.last_run();
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    assert_stream_is_the_journal(&events, &journal_of(&run), &id, 1);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for kind in [
        "run_start",
        "step_start",
        "command",
        "note",
        "undo_push",
        "undo_pop",
        "step_end",
        "run_end",
        "exit",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "command" && e["code"] == 7)
        .collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert_eq!(failed[0]["host"], "beta");
    assert!(
        !stdout.contains("s3cr3t-Qx"),
        "secret in the events:\n{stdout}"
    );
    assert!(stdout.contains("token is "), "{stdout}");
}

#[test]
fn events_to_a_file_for_a_run_that_succeeds_and_for_a_usage_error() {
    let rb = Rb::new();
    rb.write(
        "ok.rhai",
        "//! Ok.\nstep(\"one\", \"One\", || { ssh::run(\"alpha\", [\"true\"]); });\n",
    );
    let r = rb.run(&["run", "ok.rhai", "-i", "local.toml", "--events", "ev.jsonl"]);
    r.code(0);
    assert!(
        r.stdout.contains("finished"),
        "stdout stays for people: {}",
        r.stdout
    );
    let run = rb.last_run();
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    assert_stream_is_the_journal(&parse(&rb.read("ev.jsonl")), &journal_of(&run), &id, 0);
    // No run at all: the stream still says how it ended.
    let r = rb.run(&[
        "run",
        "missing.rhai",
        "-i",
        "local.toml",
        "--events",
        "bad.jsonl",
    ]);
    r.code(2);
    let events = parse(&rb.read("bad.jsonl"));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "exit");
    assert_eq!(events[0]["code"], 2);
}

/// The position of the first event of `kind` for which `matching` holds.
#[track_caller]
fn position(events: &[Value], kind: &str, matching: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .position(|e| e["event"] == kind && matching(e))
        .unwrap_or_else(|| panic!("no {kind} event: {events:#?}"))
}

const ASKS: &str = r#"//! Questions, a window and a copy.
step("install", "Install by hand", || {
    pause("Install the new cluster.\nContinue when done.");
});
step("check", "Two questions", || {
    for host in ["mgr-1", "mgr-2"] {
        let yes = confirm(`${host}: copy the old value in?`);
        log(`${host}: ${yes}`);
    }
});
temporarily(|| {
    step("raise", "A temporary change", || {
        undo::shell("alpha", "true");
    });
    step("copy", "A copy inside the window", || {
        copy::upload("alpha", "big.bin", "copied.bin");
    });
});
step("delete-old", "Delete by hand", || {
    pause("Delete the old hosts.");
});
"#;

const ANSWERS: &str = r#"# every question ASKS asks
[[answer]]
step = "install"
answer = "yes"

[[answer]]
step = "check"
question = "mgr-2:"
answer = "no"

[[answer]]
step = "check"
answer = "yes"

[[answer]]
step = "delete-old"
question = "Delete the old hosts"
answer = "yes"
"#;

/// `asks.rhai` run with `--answers FILE` and `--events -`, stdin held open (a run that waited for
/// an answer would hang here instead of passing): its exit code, events and stderr.
fn run_unattended(rb: &Rb, answers: &str) -> (i32, Vec<Value>, String) {
    let r = rb.run_with_stdin_open(&[
        "run",
        "asks.rhai",
        "-i",
        "local.toml",
        "--answers",
        answers,
        "--events",
        "-",
    ]);
    (r.code, parse(&r.stdout), r.stderr)
}

/// Pauses and confirmations answered from `--answers`, the temporary window and a copy's
/// progress: in the stream as in the journal, in the order they happened.
#[test]
fn answers_windows_and_copy_progress_are_events_in_the_journals_order() {
    let rb = Rb::new();
    rb.write("asks.rhai", ASKS);
    rb.write("answers.toml", ANSWERS);
    // Three chunks of the copy's pump (1 MiB each) and a bit.
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    std::fs::write(rb.path("big.bin"), &big).expect("write");
    let (code, events, stderr) = run_unattended(&rb, "answers.toml");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read(rb.path("copied.bin")).expect("copied"),
        big,
        "the copy landed"
    );
    let run = rb.last_run();
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    let journal = journal_of(&run);
    assert_stream_is_the_journal(&events, &journal, &id, 0);

    // Each question, then its answer, from the file; confirm's answers reach the runbook.
    let by = "answers answers.toml";
    let asked: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e["event"] == "question" || e["event"] == "answer")
        .map(|e| {
            let what = if e["event"] == "question" {
                e["text"].as_str().unwrap_or("").to_string()
            } else {
                format!("{} by {}", e["answer"], e["by"].as_str().unwrap_or(""))
            };
            (
                e["step"].as_str().unwrap_or("").to_string(),
                e["kind"].as_str().unwrap_or("").to_string(),
                what,
            )
        })
        .collect();
    let q = |step: &str, kind: &str, what: &str| (step.into(), kind.into(), what.into());
    assert_eq!(
        asked,
        vec![
            q(
                "install",
                "pause",
                "Install the new cluster.\nContinue when done."
            ),
            q("install", "pause", &format!("true by {by}")),
            q("check", "confirm", "mgr-1: copy the old value in?"),
            q("check", "confirm", &format!("true by {by}")),
            q("check", "confirm", "mgr-2: copy the old value in?"),
            q("check", "confirm", &format!("false by {by}")),
            q("delete-old", "pause", "Delete the old hosts."),
            q("delete-old", "pause", &format!("true by {by}")),
        ]
    );
    let notes: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "note")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        notes.contains(&"mgr-1: true") && notes.contains(&"mgr-2: false"),
        "{notes:?}"
    );

    // The window opens before the undo is pushed and closes after it ran, around both steps.
    let open = position(&events, "window_open", |e| e["depth"] == 1);
    let raise = position(&events, "step_start", |e| e["step"] == "raise");
    let pushed = position(&events, "undo_push", |_| true);
    let copy_end = position(&events, "step_end", |e| e["step"] == "copy");
    let popped = position(&events, "undo_pop", |e| e["ok"] == true);
    let close = position(&events, "window_close", |e| e["depth"] == 1);
    assert!(
        open < raise && raise < pushed && pushed < copy_end && copy_end < popped && popped < close,
        "{events:#?}"
    );
    assert_eq!(events[close]["undone"], 1);
    assert_eq!(events[close]["ok"], true);

    // Progress between the copy's start and its transfer record, growing to the bytes it moved.
    let copy_start = position(&events, "step_start", |e| e["step"] == "copy");
    let transfer = position(&events, "transfer", |_| true);
    let progress: Vec<(usize, &Value)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "copy_progress")
        .collect();
    assert!(!progress.is_empty(), "no copy_progress: {events:#?}");
    let mut seen = 0;
    for (i, p) in &progress {
        assert!(copy_start < *i && *i < transfer, "progress at {i}");
        assert_eq!(p["run"], id.as_str());
        assert_eq!(p["step"], "copy");
        assert_eq!(p["total"], big.len() as u64);
        assert_eq!(p["to"], events[transfer]["to"]);
        let bytes = p["bytes"].as_u64().expect("bytes");
        assert!(bytes >= seen, "progress goes forward");
        seen = bytes;
    }
    assert_eq!(
        seen,
        big.len() as u64,
        "the last progress is the whole file"
    );
    assert_eq!(events[transfer]["bytes"], big.len() as u64);
}

/// A question the answers file does not answer fails the run at once (stdin stays open, so a
/// run that waited would hang here), naming the entry to add; the steps before it ran.
#[test]
fn a_question_the_answers_file_does_not_answer_fails_at_once() {
    let rb = Rb::new();
    rb.write("asks.rhai", ASKS);
    rb.write("big.bin", "small");
    let without_delete = &ANSWERS[..ANSWERS
        .find("[[answer]]\nstep = \"delete-old\"")
        .expect("entry")];
    rb.write("answers.toml", without_delete);
    let (code, events, stderr) = run_unattended(&rb, "answers.toml");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the pause `Delete the old hosts.` (step delete-old) is not answered in answers.toml; to answer it, add:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("step = \"delete-old\"") && stderr.contains("answer = \"yes\""),
        "{stderr}"
    );
    assert_eq!(rb.read("copied.bin"), "small", "the steps before it ran");
    let last_question = position(&events, "question", |e| e["step"] == "delete-old");
    assert!(
        !events[last_question..]
            .iter()
            .any(|e| e["event"] == "answer"),
        "not answered: {events:#?}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "step_end" && e["step"] == "delete-old" && e["ok"] == false));

    // With the entry added, resume answers it from the file and runs only that step again.
    rb.write("answers.toml", ANSWERS);
    let r = rb.run_with_stdin_open(&["resume", "--answers", "answers.toml"]);
    r.code(0);
    let journal = journal_of(&rb.last_run());
    let resumed = journal
        .iter()
        .rposition(|e| e["event"] == "resume")
        .expect("resume record");
    let after: Vec<(&str, &str)> = journal[resumed..]
        .iter()
        .filter(|e| e["event"] == "answer")
        .map(|e| {
            (
                e["step"].as_str().unwrap_or(""),
                e["by"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(after, [("delete-old", "answers answers.toml")]);
}

/// An answers file that names a step the runbook lacks, or is not one, stops before any step.
#[test]
fn a_wrong_answers_file_stops_the_run_before_its_first_step() {
    let rb = Rb::new();
    rb.write("asks.rhai", ASKS);
    rb.write(
        "typo.toml",
        "[[answer]]\nstep = \"instal\"\nanswer = \"yes\"\n",
    );
    rb.write(
        "maybe.toml",
        "[[answer]]\nstep = \"install\"\nanswer = \"maybe\"\n",
    );
    for (file, says) in [
        (
            "typo.toml",
            "unknown step `instal` in answers file typo.toml",
        ),
        (
            "maybe.toml",
            "unknown variant `maybe`, expected `yes` or `no`",
        ),
    ] {
        let r = rb.run(&["run", "asks.rhai", "-i", "local.toml", "--answers", file]);
        r.code(2);
        assert!(r.stderr.contains(says), "{}", r.stderr);
        assert!(!rb.path("state").exists(), "no run started: {}", r.stderr);
    }
}

/// `plan --answers FILE` checks the file before any run: each question shows its answer (a
/// confirmation takes the file's), and one the file does not answer fails the plan as it would
/// fail the run. Nothing is answered, so nothing waits and no run starts.
#[test]
fn plan_with_answers_shows_each_answer_and_fails_on_a_missing_one() {
    let rb = Rb::new();
    rb.write("asks.rhai", ASKS);
    rb.write("big.bin", "small");
    rb.write("answers.toml", ANSWERS);
    let plan = || {
        rb.run_with_stdin_open(&[
            "plan",
            "asks.rhai",
            "-i",
            "local.toml",
            "--answers",
            "answers.toml",
        ])
    };
    let r = plan();
    r.code(0);
    for line in [
        "  pause: Install the new cluster. (answered yes by answers.toml)",
        "  confirm: mgr-1: copy the old value in? (answered yes by answers.toml)",
        "  confirm: mgr-2: copy the old value in? (answered no by answers.toml)",
        "  pause: Delete the old hosts. (answered yes by answers.toml)",
    ] {
        assert!(
            r.stdout.contains(line),
            "plan misses `{line}`:\n{}",
            r.stdout
        );
    }
    assert!(!rb.path("state").exists(), "a plan starts no run");

    let without_delete = &ANSWERS[..ANSWERS
        .find("[[answer]]\nstep = \"delete-old\"")
        .expect("entry")];
    rb.write("answers.toml", without_delete);
    let r = plan();
    r.code(2);
    assert!(
        r.stderr.contains(
            "the pause `Delete the old hosts.` (step delete-old) is not answered in answers.toml"
        ),
        "{}",
        r.stderr
    );
    assert!(!rb.path("copied.bin").exists(), "the plan changed nothing");
}
