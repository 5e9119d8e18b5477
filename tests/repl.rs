//! The REPL and the recovery prompt, driven through a pseudo-terminal against the lab: what an
//! operator types, what they see, and what the journal and the hosts show afterwards.

use crate::lab_env::{exclusive, lab, shared};
use crate::util::{events, journal_of, Rb};
use rexpect::process::WaitStatus;
use rexpect::session::{spawn_with_options, Options, PtySession};
use std::process::Stdio;

const PROMPT: &str = "repl> ";

/// The real binary on a terminal: rustyline edits, completes and keeps history as for a person.
fn terminal(rb: &Rb, args: &[&str]) -> PtySession {
    let mut command = rb.command(args);
    command
        .stdin(Stdio::inherit()) // the pty
        .env("TERM", "xterm")
        .env("XDG_STATE_HOME", rb.path("xdg")); // history file
    spawn_with_options(
        command,
        Options::new()
            .timeout_ms(Some(60_000))
            .strip_ansi_escape_codes(true),
    )
    .expect("spawn runbook on a pty")
}

/// A REPL session: each line is typed once the prompt is there, as a person would.
struct Repl {
    pty: PtySession,
    prompt: String,
}

impl Repl {
    fn start(rb: &Rb, args: &[&str]) -> Self {
        let mut pty = terminal(rb, args);
        pty.exp_string(PROMPT).expect("the first prompt");
        Self {
            pty,
            prompt: PROMPT.into(),
        }
    }

    /// Type `keys` (no Enter): completion and control keys.
    fn keys(&mut self, keys: &str) {
        self.pty.send(keys).expect("send");
        self.pty.flush().expect("flush");
    }

    /// Type a line and Enter; what was printed until the next prompt (the echo included).
    #[track_caller]
    fn line(&mut self, line: &str) -> String {
        self.keys(&format!("{line}\r"));
        let prompt = self.prompt.clone();
        self.expect(&prompt)
    }

    #[track_caller]
    fn expect(&mut self, text: &str) -> String {
        match self.pty.exp_string(text) {
            Ok(before) => printed(before),
            Err(e) => panic!("expected {text:?}: {e}"),
        }
    }

    /// After a line was dropped with Ctrl-C: wait for the new prompt, then a line whose answer is
    /// known, so nothing printed before is taken for what comes next.
    fn sync(&mut self) -> String {
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.keys("40 + 2\r");
        let before = self.expect("\n42");
        self.expect(PROMPT);
        before
    }

    /// Ctrl-D; the exit code.
    fn quit(mut self) -> i32 {
        self.keys("\x04");
        finish(&mut self.pty).1
    }
}

/// What the terminal showed, as text: rexpect reads one byte per char (so UTF-8 is put back
/// together here) and the terminal's line ends are \r\n.
fn printed(raw: String) -> String {
    let bytes: Vec<u8> = raw.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).replace('\r', "")
}

/// Type an answer at a prompt.
fn answer(pty: &mut PtySession, text: &str) {
    pty.send(&format!("{text}\r")).expect("send");
    pty.flush().expect("flush");
}

/// Everything printed until the program ended, and its exit code.
fn finish(pty: &mut PtySession) -> (String, i32) {
    let out = printed(pty.exp_eof().expect("the program ends"));
    match pty.process().wait().expect("wait") {
        WaitStatus::Exited(_, code) => (out, code),
        other => panic!("ended by {other:?}\n{out}"),
    }
}

/// The commands a journal records: (host, command, step).
fn commands(journal: &[serde_json::Value]) -> Vec<(String, String, Option<String>)> {
    events(journal, "command")
        .iter()
        .map(|c| {
            (
                c["host"].as_str().unwrap_or("").to_string(),
                c["command"].as_str().unwrap_or("").to_string(),
                c["step"].as_str().map(String::from),
            )
        })
        .collect()
}

#[test]
fn a_session_runs_primitives_and_one_step_and_journals_exactly_those() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    let marker = "/tmp/rb-repl-session";
    lab.exec("mgr-2", &["rm", "-f", marker]);
    // (the lab may have extra fan-out hosts: the step works on one group)
    let args = [
        "repl",
        "-i",
        lab.inventory(),
        "--runbook",
        "hosts-check",
        "--set",
        "group=new_managers",
    ];
    let mut repl = Repl::start(&rb, &args);

    let out = repl.line(&format!(r#"ssh::run("mgr-2", ["touch", "{marker}"])"#));
    assert!(out.contains("code: 0") && out.contains("ok: true"), "{out}");
    assert_eq!(
        lab.exec_status("mgr-2", &["test", "-e", marker]),
        0,
        "the file is on mgr-2"
    );

    let out = repl.line(r#"patroni::show_config("mgr-1")"#);
    assert!(
        out.contains("ttl: ") && out.contains("postgresql:\n"),
        "a readable map: {out}"
    );
    assert!(out.contains("  parameters:"), "nested maps indented: {out}");

    let out = repl.line(":run reach");
    assert!(
        out.contains("▶ [1/3] reach") && out.contains("✓ reach"),
        "{out}"
    );
    assert!(
        out.contains("mgr-3: mgr-3") && !out.contains("old-1"),
        "the step's own log: {out}"
    );
    let out = repl.line(":steps");
    assert!(
        out.contains("✓  1. reach") && out.contains("   2. sudo"),
        "{out}"
    );
    let out = repl.line(":journal");
    assert!(
        out.contains(&format!("mgr-2 $ touch {marker} → 0")),
        "{out}"
    );
    assert_eq!(repl.quit(), 0);

    let journal = rb.journal();
    let cmds = commands(&journal);
    assert_eq!(cmds.len(), 5, "{cmds:?}");
    assert_eq!(
        cmds[0],
        ("mgr-2".into(), format!("touch {marker}"), None),
        "typed by hand: no step"
    );
    assert_eq!(cmds[1].0, "mgr-1");
    assert!(
        cmds[1].1.contains("show-config") && cmds[1].2.is_none(),
        "{cmds:?}"
    );
    let mut step_hosts: Vec<&str> = cmds[2..]
        .iter()
        .inspect(|c| assert_eq!((c.1.as_str(), c.2.as_deref()), ("uname -n", Some("reach"))))
        .map(|c| c.0.as_str())
        .collect();
    step_hosts.sort();
    assert_eq!(step_hosts, ["mgr-1", "mgr-2", "mgr-3"]);
    assert_eq!(events(&journal, "run_start")[0]["mode"], "repl");
    let ends = events(&journal, "step_end");
    assert_eq!(
        (ends.len(), &ends[0]["step"], &ends[0]["ok"]),
        (1, &"reach".into(), &true.into())
    );
    assert_eq!(events(&journal, "run_end")[0]["ok"], true);
    let history = std::fs::read_to_string(rb.path("xdg/runbook/repl_history")).expect("history");
    assert!(history.contains(":run reach"), "{history}");
    lab.exec("mgr-2", &["rm", "-f", marker]);
}

#[test]
fn tab_completes_functions_and_hosts_and_help_prints_the_doc() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    let mut repl = Repl::start(&rb, &["repl", "-i", lab.inventory()]);

    repl.keys("ssh::\t\t");
    std::thread::sleep(std::time::Duration::from_millis(300));
    repl.keys("\x03"); // drop the line
    let listed = repl.sync();
    for f in [
        "ssh::run",
        "ssh::run_all",
        "ssh::sudo_all",
        "ssh::probe",
        "ssh::shell",
    ] {
        assert!(listed.contains(f), "{f} in {listed}");
    }

    repl.keys("ssh::run(\"mg\t\t");
    std::thread::sleep(std::time::Duration::from_millis(300));
    repl.keys("\x03");
    let listed = repl.sync();
    assert!(listed.contains("mgr-1  mgr-2  mgr-3"), "{listed}");

    // One candidate: Tab completes it (the editor redraws the line, prompt included).
    repl.keys("inventory.group(\"new_m\t");
    std::thread::sleep(std::time::Duration::from_millis(300));
    repl.keys("\").len()\r");
    let out = repl.expect("\n3\r\n");
    assert!(out.contains("inventory.group(\"new_managers"), "{out}");
    repl.expect(PROMPT);

    let out = repl.line(":help ssh::run");
    assert!(
        out.contains("ssh::run(host: Host, argv: Array) -> Map"),
        "{out}"
    );
    assert!(out.contains("Run `argv` on `host`"), "{out}");
    let out = repl.line(":help");
    assert!(
        out.contains(":undo") && out.contains("ssh::") && out.contains("patroni::"),
        "{out}"
    );
    let out = repl.line(":hosts");
    assert!(
        out.contains("mgr-1")
            && out.contains("rbops@127.0.0.12")
            && out.contains("new_managers (3)"),
        "{out}"
    );
    assert_eq!(repl.quit(), 0);
}

#[test]
fn errors_print_as_diagnostics_and_the_session_goes_on() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    let mut repl = Repl::start(&rb, &["repl", "-i", lab.inventory()]);

    let out = repl.line("let x = 1 +* 2;");
    assert!(
        out.contains("runbook::script") && out.contains("syntax error"),
        "{out}"
    );
    assert!(out.contains("[repl:1:"), "points into the line: {out}");

    let out = repl.line(r#"ssh::run("mgr-1", ["cat", "/no/such/file"])"#);
    assert!(out.contains("runbook::remote"), "{out}");
    assert!(
        out.contains("exited with 1") && out.contains("No such file or directory"),
        "{out}"
    );
    assert!(out.contains("this call failed"), "{out}");

    // Variables, functions (typed over several lines) and sessions carry on.
    repl.line("let h = inventory.host(\"mgr-1\");");
    // (the editor redraws the prompt while a statement goes on, and keys it read together with
    // an accepted line are dropped, not kept for the next prompt: give it a moment)
    repl.keys("fn name_of(host) {\r  ssh::run(host, [\"uname\", \"-n\"]).stdout.trimmed()\r}\r");
    std::thread::sleep(std::time::Duration::from_millis(500));
    repl.keys("name_of(h) + \"!\"\r");
    repl.expect("\nmgr-1!");
    repl.expect(PROMPT);

    // Ctrl-C stops a running call; the next line runs with the same SSH session.
    repl.keys("ssh::run(h, [\"sleep\", \"30\"])\r");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let started = std::time::Instant::now();
    repl.keys("\x03");
    let out = repl.expect(PROMPT);
    assert!(out.contains("runbook::interrupted"), "{out}");
    assert!(started.elapsed().as_secs() < 10);
    let out = repl.line("name_of(h) + \" again\"");
    assert!(out.contains("mgr-1 again"), "{out}");
    assert_eq!(repl.quit(), 0);

    let j = rb.journal();
    let sleep = commands(&j)
        .into_iter()
        .find(|c| c.1 == "sleep 30")
        .expect("journaled");
    assert_eq!(sleep.0, "mgr-1");
}

const HAPROXY_CFG: &str = "/etc/haproxy/haproxy.cfg";

#[test]
fn raised_timeouts_are_reverted_by_undo_when_leaving_the_session() {
    let lab = lab();
    let _serial = exclusive();
    let original = lab.exec("mgr-3", &["cat", HAPROXY_CFG]);
    let rb = Rb::new();
    let mut repl = Repl::start(&rb, &["repl", "-i", lab.inventory()]);
    let out = repl.line(r#"haproxy::set_timeouts("mgr-3", #{ client: "1440m" })"#);
    assert!(out.contains("changed: true"), "{out}");
    assert!(lab
        .exec("mgr-3", &["cat", HAPROXY_CFG])
        .contains("timeout client 1440m"));
    repl.keys("\x04");
    repl.expect("1 temporary change(s) still in place: undo them now?");
    repl.keys("y\r");
    repl.expect("undone: 1 temporary change(s)");
    assert_eq!(finish(&mut repl.pty).1, 0);
    assert_eq!(
        lab.exec("mgr-3", &["cat", HAPROXY_CFG]),
        original,
        "byte for byte"
    );
    let j = rb.journal();
    assert_eq!(events(&j, "undo_pop")[0]["ok"], true);
    assert_eq!(events(&j, "run_end")[0]["ok"], true);
}

/// A run that raises mgr-3's HAProxy timeouts (run-level undo), then fails: at its recovery prompt.
fn raise_then_fail(rb: &Rb) -> PtySession {
    rb.write(
        "raise.rhai",
        r#"//! Raise the timeouts, then fail.
step("raise", "Raise the HAProxy timeouts for the restore", || {
    haproxy::set_timeouts("mgr-3", #{ client: "1440m", server: "1440m" });
});
step("restore", "A restore that fails", || { ssh::run("mgr-3", ["false"]); });
"#,
    );
    let mut run = terminal(rb, &["run", "raise.rhai", "-i", lab().inventory()]);
    run.exp_string("retry, skip, repl or abort? ")
        .expect("the recovery prompt");
    run
}

/// Close the SSH connections a killed runbook left open (their sockets are in the test's
/// XDG_STATE_HOME), as the runbook would have on exit.
fn close_ssh_masters(rb: &Rb) {
    let Ok(entries) = std::fs::read_dir(rb.path("xdg")) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".ssh-connection")
        {
            let socket = entry.path().join("master");
            let _ = std::process::Command::new("ssh")
                .args(["-S", socket.to_str().unwrap_or(""), "-O", "exit", "lab"])
                .output();
        }
    }
}

#[test]
fn a_repl_attached_to_a_killed_run_reverts_what_it_left_pending() {
    let lab = lab();
    let _serial = exclusive();
    let original = lab.exec("mgr-3", &["cat", HAPROXY_CFG]);
    let rb = Rb::new();
    // The run stops at the recovery prompt with the timeouts raised, and is killed there.
    let mut run = raise_then_fail(&rb);
    run.process_mut()
        .kill(rexpect::process::Signal::SIGKILL)
        .expect("kill -9");
    close_ssh_masters(&rb);
    assert!(lab
        .exec("mgr-3", &["cat", HAPROXY_CFG])
        .contains("timeout client 1440m"));
    let id = rb
        .last_run()
        .file_name()
        .expect("run id")
        .to_string_lossy()
        .into_owned();

    let mut pty = terminal(&rb, &["repl", "--run", &id]);
    let banner = printed(pty.exp_string(PROMPT).expect("the prompt"));
    assert!(
        banner.contains(&format!("attached to run {id}")),
        "{banner}"
    );
    assert!(
        banner.contains("left 1 temporary change(s) pending"),
        "{banner}"
    );
    let mut repl = Repl {
        pty,
        prompt: PROMPT.into(),
    };
    let out = repl.line(":steps");
    assert!(
        out.contains("✓  1. raise") && out.contains("   2. restore"),
        "{out}"
    );
    let out = repl.line(":undo");
    assert!(
        out.contains("↺ undo: mgr-3") && out.contains("undone: 1"),
        "{out}"
    );
    assert_eq!(
        lab.exec("mgr-3", &["cat", HAPROXY_CFG]),
        original,
        "byte for byte"
    );
    assert_eq!(repl.quit(), 0, "nothing left to offer");

    let j = rb.journal();
    let pushed = &events(&j, "undo_push")[0]["id"];
    let popped = events(&j, "undo_pop");
    assert_eq!(
        (&popped[0]["id"], &popped[0]["ok"]),
        (pushed, &true.into()),
        "the run's own undo record"
    );
    let notes: Vec<&str> = events(&j, "note")
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert!(
        notes.contains(&"repl: attached (runbook repl --run)") && notes.contains(&"repl: detached"),
        "{notes:?}"
    );
    let r = rb.run(&["revert", &id]);
    r.code(0);
    assert!(r.stdout.contains("nothing to revert"), "{}", r.stdout);
}

const NEEDS_FILE: &str = r#"//! A step that needs a file someone forgot.
step("first", "A step that works", || { log("first done"); });
step("needs-file", "Read the file", || {
    ssh::run("mgr-2", ["cat", "/tmp/rb-repl-needed"]);
});
step("last", "The step after", || { log("last done"); });
"#;

#[test]
fn a_failed_step_offers_a_repl_on_the_live_run_and_retry_completes_it() {
    let lab = lab();
    let _lab = shared();
    let needed = "/tmp/rb-repl-needed";
    lab.exec("mgr-2", &["rm", "-f", needed]);
    let rb = Rb::new();
    rb.write("needs.rhai", NEEDS_FILE);
    let mut run = terminal(&rb, &["run", "needs.rhai", "-i", lab.inventory()]);
    let before = printed(
        run.exp_string("retry, skip, repl or abort? ")
            .expect("the recovery prompt"),
    );
    assert!(
        before.contains("✗ needs-file") && before.contains("step `needs-file` failed"),
        "{before}"
    );

    answer(&mut run, "repl");
    let mut repl = Repl {
        pty: run,
        prompt: "repl(needs-file)> ".into(),
    };
    repl.expect(&repl.prompt.clone());
    let out = repl.line(":steps");
    assert!(
        out.contains("✓  1. first") && out.contains("✗  2. needs-file"),
        "{out}"
    );
    let out = repl.line(&format!(r#"ssh::run("mgr-2", ["touch", "{needed}"]).ok"#));
    assert!(out.contains("true"), "{out}");
    repl.keys(":retry\r");
    let out = repl.expect("\njournal: ");
    assert!(
        out.contains("↻ needs-file: again") && out.contains("✓ needs-file"),
        "{out}"
    );
    assert!(out.contains("last done"), "the run went on: {out}");
    assert_eq!(finish(&mut repl.pty).1, 0);

    let j = rb.journal();
    let notes: Vec<&str> = events(&j, "note")
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert!(
        notes.contains(&"recovery: the operator opened a REPL"),
        "{notes:?}"
    );
    assert!(
        notes.contains(&"recovery: the operator chose retry after `needs-file` failed"),
        "{notes:?}"
    );
    let fix = commands(&j)
        .into_iter()
        .find(|c| c.1.starts_with("touch"))
        .expect("the fix");
    assert_eq!(
        fix,
        ("mgr-2".into(), format!("touch {needed}"), None),
        "journaled, outside the step"
    );
    let ends: Vec<(String, bool)> = events(&j, "step_end")
        .iter()
        .map(|e| (e["step"].as_str().unwrap_or("").into(), e["ok"] == true))
        .collect();
    let expected: Vec<(String, bool)> = [
        ("first", true),
        ("needs-file", false),
        ("needs-file", true),
        ("last", true),
    ]
    .iter()
    .map(|(s, ok)| (s.to_string(), *ok))
    .collect();
    assert_eq!(ends, expected);
    lab.exec("mgr-2", &["rm", "-f", needed]);
}

#[test]
fn aborting_at_the_recovery_prompt_reverts_the_timeouts() {
    let lab = lab();
    let _serial = exclusive();
    let original = lab.exec("mgr-3", &["cat", HAPROXY_CFG]);
    let rb = Rb::new();
    let mut run = raise_then_fail(&rb);
    let during = lab.exec("mgr-3", &["cat", HAPROXY_CFG]);
    assert!(
        during.contains("timeout client 1440m"),
        "still raised while the operator decides"
    );
    answer(&mut run, "abort");
    let (out, code) = finish(&mut run);
    assert!(
        out.contains("↺ undo: mgr-3") && out.contains("failed; journal:"),
        "{out}"
    );
    assert_eq!(code, 1, "the step's remote failure: {out}");
    assert_eq!(
        lab.exec("mgr-3", &["cat", HAPROXY_CFG]),
        original,
        "byte for byte"
    );

    let j = journal_of(&rb.last_run());
    let notes: Vec<&str> = events(&j, "note")
        .iter()
        .filter_map(|n| n["message"].as_str())
        .collect();
    assert!(
        notes.contains(&"recovery: the operator chose abort after `restore` failed"),
        "{notes:?}"
    );
    assert_eq!(events(&j, "undo_pop")[0]["ok"], true);
    assert_eq!(events(&j, "run_end")[0]["ok"], false);
}

#[test]
fn without_a_terminal_a_failed_step_aborts_as_before() {
    let rb = Rb::new();
    rb.write(
        "fail.rhai",
        "//! Fail.\nstep(\"fail\", \"Fails\", || { ssh::run(\"alpha\", [\"false\"]); });\n",
    );
    let r = rb.run(&["run", "fail.rhai", "-i", "local.toml"]);
    r.code(1);
    assert!(!r.stderr.contains("retry, skip"), "{}", r.stderr);
}
