use crate::util::{events, Rb};

/// A runbook whose steps append their names to `log.txt` on a host, so order is observable.
fn order_runbook(rb: &Rb) -> std::path::PathBuf {
    let log = rb.path("log.txt").display().to_string();
    let fail_flag = rb.path("fail-two").display().to_string();
    rb.write(
        "order.rhai",
        &format!(
            r#"//! Steps that record themselves.
let log = "{log}";
step("one", "First", || {{ ssh::shell("alpha", "echo one >> " + log); }});
step("two", "Second", || {{
    ssh::run("alpha", ["sh", "-c", "echo two >> \"$1\"; if [ -e {fail_flag} ]; then echo 'two failed on purpose' >&2; exit 7; fi", "x", log]);
}});
step("three", "Third", || {{ ssh::run("beta", ["sh", "-c", "echo three >> \"$1\"", "x", log]); }});
"#
        ),
    )
}

#[test]
fn run_executes_steps_in_order_and_journals_them() {
    let rb = Rb::new();
    order_runbook(&rb);
    rb.run(&["run", "order.rhai", "-i", "local.toml"]).code(0);
    assert_eq!(rb.read("log.txt"), "one\ntwo\nthree\n");
    let j = rb.journal();
    let ends: Vec<_> = events(&j, "step_end")
        .iter()
        .map(|e| (e["step"].as_str().unwrap_or(""), e["ok"].as_bool()))
        .collect();
    assert_eq!(
        ends,
        [
            ("one", Some(true)),
            ("two", Some(true)),
            ("three", Some(true))
        ]
    );
    let cmds = events(&j, "command");
    assert_eq!(cmds.len(), 3);
    assert_eq!(cmds[2]["host"], "beta");
    assert_eq!(cmds[2]["step"], "three");
    assert_eq!(cmds[2]["code"], 0);
    assert_eq!(events(&j, "run_end")[0]["ok"], true);
    let mode = std::fs::metadata(rb.last_run().join("journal.jsonl"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.ok(), Some(0o600));
}

#[test]
fn only_and_from_select_steps() {
    let rb = Rb::new();
    order_runbook(&rb);
    rb.run(&["run", "order.rhai", "-i", "local.toml", "--only", "two"])
        .code(0);
    assert_eq!(rb.read("log.txt"), "two\n");
    std::fs::remove_file(rb.path("log.txt")).ok();
    rb.run(&["run", "order.rhai", "-i", "local.toml", "--from", "two"])
        .code(0);
    assert_eq!(rb.read("log.txt"), "two\nthree\n");
}

#[test]
fn step_mode_asks_before_each_step() {
    let rb = Rb::new();
    order_runbook(&rb);
    let r = rb.run_with_input(
        &["run", "order.rhai", "-i", "local.toml", "--step"],
        "y\nn\ny\n",
    );
    r.code(0);
    assert_eq!(rb.read("log.txt"), "one\nthree\n");
    assert!(
        r.stderr.contains("two: skipped by the operator"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_failing_step_stops_the_run_naming_host_command_code_and_stderr() {
    let rb = Rb::new();
    order_runbook(&rb);
    rb.write("fail-two", "");
    let r = rb.run(&["run", "order.rhai", "-i", "local.toml"]);
    r.code(1);
    assert_eq!(rb.read("log.txt"), "one\ntwo\n", "step three did not run");
    assert!(r.stderr.contains("alpha (local): `sh -c"), "{}", r.stderr);
    assert!(r.stderr.contains("exited with 7"), "{}", r.stderr);
    assert!(r.stderr.contains("two failed on purpose"), "{}", r.stderr);
    assert!(r.stderr.contains("runbook resume"), "{}", r.stderr);
    let j = rb.journal();
    let failed = events(&j, "step_end")
        .into_iter()
        .find(|e| e["step"] == "two")
        .cloned()
        .unwrap_or_default();
    assert_eq!(failed["ok"], false);
    assert!(failed["error"]
        .as_str()
        .unwrap_or("")
        .contains("exited with 7"));
}

#[test]
fn resume_runs_only_the_steps_that_did_not_finish() {
    let rb = Rb::new();
    order_runbook(&rb);
    rb.write("fail-two", "");
    rb.run(&["run", "order.rhai", "-i", "local.toml"]).code(1);
    std::fs::remove_file(rb.path("fail-two")).ok();
    let r = rb.run(&["resume"]);
    r.code(0);
    assert_eq!(
        rb.read("log.txt"),
        "one\ntwo\ntwo\nthree\n",
        "one is not repeated, two is retried, three runs"
    );
    let j = rb.journal();
    assert_eq!(
        events(&j, "resume")[0]["skipping"],
        serde_json::json!(["one"])
    );
    assert_eq!(events(&j, "step_skipped")[0]["step"], "one");
    // Resuming a finished run runs nothing again.
    rb.run(&["resume"]).code(0);
    assert_eq!(rb.read("log.txt"), "one\ntwo\ntwo\nthree\n");
}

#[test]
fn plan_runs_probes_shows_mutations_and_changes_nothing() {
    let rb = Rb::new();
    rb.write("mode.txt", "blue\n");
    let (mode, a, b) = (
        rb.path("mode.txt").display().to_string(),
        rb.path("a").display().to_string(),
        rb.path("b").display().to_string(),
    );
    rb.write(
        "branch.rhai",
        &format!(
            r#"//! Branches on a probe.
step("decide", "Touch a or b depending on mode.txt", || {{
    let mode = ssh::probe("alpha", ["cat", "{mode}"]).stdout;
    if mode.contains("blue") {{
        ssh::run("alpha", ["touch", "{a}"]);
    }} else {{
        ssh::run("alpha", ["touch", "{b}"]);
    }}
    ssh::sudo_all(inventory.group("web"), ["rm", "-f", "{mode}"]);
}});
"#
        ),
    );
    let r = rb.run(&["plan", "branch.rhai", "-i", "local.toml"]);
    r.code(0);
    assert!(
        r.stdout.contains(&format!("alpha: touch {a}")),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&format!("touch {b}")), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("alpha: sudo -n -- rm -f {mode}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("beta: sudo -n -- rm -f {mode}")),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("cat "),
        "probes are run, not listed as changes: {}",
        r.stdout
    );
    assert!(!rb.path("a").exists() && !rb.path("b").exists());
    assert_eq!(rb.read("mode.txt"), "blue\n", "nothing changed");
    assert!(!rb.path("state").exists(), "a plan records no run");

    let offline = rb.run(&["plan", "branch.rhai", "-i", "local.toml", "--offline"]);
    offline.code(0);
    assert!(
        offline
            .stdout
            .contains(&format!("alpha: cat {mode} (probe, offline)")),
        "{}",
        offline.stdout
    );
}

#[test]
fn secrets_reach_the_command_but_never_the_journal_or_output() {
    let rb = Rb::new();
    let out = rb.path("out.txt").display().to_string();
    rb.write(
        "secret.rhai",
        &format!(
            r#"//! Uses a secret.
let pw = secret("db_password");
step("use", "Use the secret", || {{
    print("printing it: " + pw);
    let r = ssh::run("alpha", ["sh", "-c", "echo \"$1\" > {out}; echo got \"$1\"; echo \"$1\" >&2; exit 3", "x", pw], #{{ check: false }});
    print(r.stdout);
    ssh::run("alpha", ["sh", "-c", "echo \"$1\" >&2; exit 4", "x", pw]);
}});
"#
        ),
    );
    let r = rb
        .command(&[
            "run",
            "secret.rhai",
            "-i",
            "local.toml",
            "--set-secret",
            "db_password=env:TEST_PW",
        ])
        .env("TEST_PW", "hunter2-Zq")
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr),
    );
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert_eq!(
        rb.read("out.txt"),
        "hunter2-Zq\n",
        "the command received the real value"
    );
    let journal = std::fs::read_to_string(rb.last_run().join("journal.jsonl")).unwrap_or_default();
    for (what, text) in [
        ("stdout", stdout.as_ref()),
        ("stderr", stderr.as_ref()),
        ("journal", journal.as_str()),
    ] {
        assert!(
            !text.contains("hunter2-Zq"),
            "secret leaked into {what}:\n{text}"
        );
    }
    assert!(
        stdout.contains("printing it: <secret db_password>"),
        "{stdout}"
    );
    assert!(stdout.contains("got <secret db_password>"), "{stdout}");
    assert!(journal.contains("<secret db_password>"), "{journal}");
}

#[test]
fn hostile_arguments_arrive_as_literal_arguments() {
    let rb = Rb::new();
    let out = rb.path("args.txt").display().to_string();
    rb.write(
        "hostile.rhai",
        &format!(
            r#"//! Hostile argv.
step("args", "Pass hostile arguments", || {{
    ssh::run("alpha", ["sh", "-c", "for a in \"$@\"; do printf '<%s>\\n' \"$a\"; done > {out}", "x",
        "; touch {out}.pwned", "$(touch {out}.pwned)", "`touch {out}.pwned`", "it's \"quoted\"", "a\nb", "", "*"]);
}});
"#
        ),
    );
    rb.run(&["run", "hostile.rhai", "-i", "local.toml"]).code(0);
    assert_eq!(
        rb.read("args.txt"),
        format!("<; touch {out}.pwned>\n<$(touch {out}.pwned)>\n<`touch {out}.pwned`>\n<it's \"quoted\">\n<a\nb>\n<>\n<*>\n")
    );
    assert!(
        !std::path::Path::new(&format!("{out}.pwned")).exists(),
        "no injected command ran"
    );
}

#[test]
fn a_runtime_error_points_at_the_failing_call() {
    let rb = Rb::new();
    rb.write("rt.rhai", "//! Runtime error.\nstep(\"s\", \"d\", || {\n    let hosts = inventory.group(\"nope\");\n});\n");
    let r = rb.run(&["run", "rt.rhai", "-i", "local.toml"]);
    r.code(2);
    assert!(
        r.stderr.contains("the inventory has no group `nope`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("groups: web, db"), "{}", r.stderr);
    assert!(r.stderr.contains("[rt.rhai:3:27]"), "{}", r.stderr);
}

#[test]
fn a_failing_command_that_explains_itself_on_stdout_is_explained_by_it() {
    // Cloudify's cfy logs its errors to stdout and leaves stderr empty.
    let rb = Rb::new();
    rb.write(
        "stdout.rhai",
        r#"step("one", "First", || {
    ssh::run("alpha", ["sh", "-c", "echo 'An error occurred on the server: 401: User unauthorized'; exit 1"]);
});
step("two", "Second", || {
    ssh::run("alpha", ["sh", "-c", "echo the secret is hunter$((1+1)); exit 1"], #{ sensitive: true });
});
"#,
    );
    let r = rb.run(&["run", "stdout.rhai", "-i", "local.toml", "--only", "one"]);
    r.code(1);
    assert!(
        r.stderr.contains(
            "exited with 1\nstdout:\nAn error occurred on the server: 401: User unauthorized"
        ),
        "{}",
        r.stderr
    );
    let r = rb.run(&["run", "stdout.rhai", "-i", "local.toml", "--only", "two"]);
    r.code(1);
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
}

#[test]
fn a_run_folder_is_worked_on_by_one_process_at_a_time() {
    let rb = Rb::new();
    let go = rb.path("GO").display().to_string();
    rb.write(
        "wait.rhai",
        &format!(
            "//! Waits for GO (20 s at most).\nstep(\"wait\", \"Wait\", || {{ ssh::shell(\"alpha\", \"for i in $(seq 200); do [ -e {go} ] && exit 0; sleep 0.1; done; exit 1\"); }});\n"
        ),
    );
    let mut first = rb
        .command(&["run", "wait.rhai", "-i", "local.toml"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run");
    let started = std::time::Instant::now();
    while !std::fs::read_dir(rb.path("state"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
        || events(&rb.journal(), "step_start").is_empty()
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A second process on the same run (a resume in another terminal) stops at once.
    let second = rb.run(&["resume"]);
    rb.write("GO", "");
    assert!(first.wait().expect("first run").success());
    second.code(2);
    assert!(
        second.stderr.contains(&format!(
            "is being worked on by another runbook process (pid {})",
            first.id()
        )),
        "{}",
        second.stderr
    );
    assert!(
        events(&rb.journal(), "resume").is_empty(),
        "the journal holds one process's records"
    );
}
