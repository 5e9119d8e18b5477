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

fn parse(stream: &str) -> Vec<Value> {
    stream
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The stream equals the journal record for record (undo actions left out), then `exit`.
#[track_caller]
fn assert_stream_is_the_journal(events: &[Value], journal: &[Value], run: &str, code: i32) {
    let (last, records) = events.split_last().expect("events");
    assert_eq!(last["event"], "exit");
    assert_eq!(last["code"], code);
    assert_eq!(records.len(), journal.len(), "one event per journal record");
    for (i, (e, j)) in records.iter().zip(journal).enumerate() {
        assert_eq!(e["schema"], "runbook.events/1");
        assert_eq!(e["seq"], i as u64 + 1);
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
