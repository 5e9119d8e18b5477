use crate::lab_env::{lab, shared};
use crate::util::{events, journal_of, Rb};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Wait until `path` holds `text` (a run got as far as its change).
fn wait_for(path: &Path, text: &str) {
    let start = Instant::now();
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {} to contain {text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A local host whose HAProxy config is `haproxy.cfg` in the test folder (validated by `true`,
/// reloaded by `true`), so `haproxy::set_timeouts` and its undo run for real on a local file.
fn haproxy_inventory(rb: &Rb) {
    rb.write(
        "haproxy.toml",
        &format!(
            r#"[hosts.alpha]
transport = "local"
[hosts.alpha.vars]
haproxy_cfg = "{}"
haproxy_bin = "true"
haproxy_reload = "true"
sudo = "false"
"#,
            rb.path("haproxy.cfg").display()
        ),
    );
    rb.write(
        "raise.rhai",
        r#"//! Raise the timeouts, show the file, then hang inside the scope.
step("raise", "Raise the timeouts", || {
    temporarily(|| {
        haproxy::set_timeouts("alpha", #{ client: "99m" });
        ssh::run("alpha", ["cat", inventory.host("alpha").vars.haproxy_cfg]);
        ssh::run("alpha", ["sleep", "30"]);
    });
});
"#,
    );
}

/// Start the raise runbook with `secret` as secret `p`, SIGKILL it once the file is changed.
fn raise_and_kill(rb: &Rb, secret: &str) {
    let mut child = rb
        .command(&[
            "run",
            "raise.rhai",
            "-i",
            "haproxy.toml",
            "--set-secret",
            &format!("p={secret}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(&rb.path("haproxy.cfg"), "client 99m");
    // The cat's record is journaled right after the change; give it a moment.
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("SIGKILL");
    child.wait().ok();
}

/// A small deterministic generator (xorshift), seeded per test run and printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const FILE_HEAD: &str = "global\n    log stdout format raw local0\ndefaults\n    mode tcp\n    timeout client 30s\n    timeout server 30s\n";

/// Secret values that broke a journal line or a restored file, and random mixes of JSON tokens,
/// quotes, backslashes, newlines and pieces of the file being restored.
fn secret_values(rng: &mut Rng) -> Vec<String> {
    let mut values: Vec<String> = [
        "true",
        "0",
        "step",
        "\"",
        "\\",
        "statsPass123",
        "timeout",
        "    timeout client 30s\n    timeout server",
        "line one\nline two-and-more\n",
        "{\"a\":[1,null]}",
        "\\n\\\"",
        "ts",
    ]
    .map(String::from)
    .to_vec();
    let pieces = [
        "true",
        "false",
        "null",
        "0",
        "1",
        "\"",
        "\\",
        "\\\"",
        "\n",
        ":",
        ",",
        "{",
        "}",
        "[",
        "]",
        "event",
        "undo_push",
        "stdin",
        "é",
        "\t",
        "timeout",
        "30s",
        "defaults",
        " ",
    ];
    for _ in 0..10 {
        let n = 1 + rng.next() % 5;
        let v: String = (0..n).map(|_| rng.pick(&pieces)).collect();
        if !v.trim().is_empty() && !v.starts_with("env:") && !v.starts_with("file:") {
            values.push(v);
        }
    }
    values
}

#[test]
fn revert_restores_a_file_holding_secret_values_byte_for_byte() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(88172645463325252);
    let mut rng = Rng(seed);
    for secret in secret_values(&mut rng) {
        let rb = Rb::new();
        haproxy_inventory(&rb);
        let original = format!(
            "{FILE_HEAD}listen stats\n    stats auth admin:{secret}\n    # {secret} again\n"
        );
        rb.write("haproxy.cfg", &original);
        raise_and_kill(&rb, &secret);
        let why = format!("seed {seed}, secret {secret:?}");
        let r = rb.run(&["revert"]);
        assert_eq!(r.code, 0, "{why}\n{}", r.stderr);
        assert_eq!(rb.read("haproxy.cfg"), original, "{why}");
        // Every journal line still parses, and what people read is masked.
        let j = journal_of(&rb.last_run());
        assert_eq!(events(&j, "undo_pop").len(), 1, "{why}");
        rb.run(&["log"]).code(0);
        if secret.trim().len() >= 4 {
            let cat = events(&j, "command")
                .into_iter()
                .find(|c| c["command"].as_str().unwrap_or("").starts_with("cat "))
                .expect("the cat is journaled");
            let tail = cat["stdout_tail"].as_str().unwrap_or("");
            assert!(!tail.contains(&secret), "{why}: {tail}");
            assert!(tail.contains("<secret p>"), "{why}: {tail}");
        }
    }
}

/// A run killed mid-scope: state.txt changed, its undo pending in the journal.
fn killed_mid_change(rb: &Rb) {
    let mut child = crate::undo::start_mid_change(rb, r#"ssh::run("alpha", ["sleep", "30"]);"#);
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("SIGKILL");
    child.wait().ok();
}

#[test]
fn a_torn_last_line_is_cut_off_and_kept_before_anything_is_appended() {
    let rb = Rb::new();
    killed_mid_change(&rb);
    let journal = rb.last_run().join("journal.jsonl");
    let torn = r#"{"ts":"2026-12-05T00:00:00Z","event":"comm"#;
    let mut text = std::fs::read_to_string(&journal).expect("journal");
    text.push_str(torn);
    std::fs::write(&journal, text).expect("tear");

    rb.run(&["revert"]).code(0);
    assert_eq!(rb.read("state.txt"), "original\n");
    let j = journal_of(&rb.last_run());
    let cut = events(&j, "torn");
    assert_eq!(cut.len(), 1, "{j:?}");
    assert_eq!(cut[0]["bytes"], torn.len());
    let kept = std::fs::read_to_string(rb.last_run().join("journal.jsonl.torn")).expect("kept");
    assert_eq!(kept, format!("{torn}\n"));
    let log = rb.run(&["log"]);
    log.code(0);
    assert!(log.stdout.contains("was torn by a crash"), "{}", log.stdout);
}

#[test]
fn a_corrupt_middle_line_stops_resume_but_revert_salvage_runs_the_undo() {
    let rb = Rb::new();
    killed_mid_change(&rb);
    let journal = rb.last_run().join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).expect("journal");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, "\u{0}\u{0}garbage");
    std::fs::write(&journal, lines.join("\n") + "\n").expect("corrupt");

    let r = rb.run(&["resume"]);
    r.code(5);
    assert!(r.stderr.contains("line 2 is corrupt"), "{}", r.stderr);
    assert!(r.stderr.contains("revert --salvage"), "{}", r.stderr);
    rb.run(&["revert"]).code(5);
    assert_eq!(rb.read("state.txt"), "changed\n", "nothing ran yet");
    let log = rb.run(&["log"]);
    log.code(5);
    assert!(
        log.stdout.contains("+ undo #0"),
        "shown as far as it reads: {}",
        log.stdout
    );

    let r = rb.run(&["revert", "--salvage"]);
    r.code(0);
    assert!(r.stderr.contains("line(s) 2 corrupt"), "{}", r.stderr);
    assert_eq!(rb.read("state.txt"), "original\n");
    let text = std::fs::read_to_string(&journal).expect("journal");
    let tail: Vec<serde_json::Value> = text
        .lines()
        .skip(2)
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(events(&tail, "note").len(), 1, "the salvage is journaled");
    assert_eq!(events(&tail, "undo_pop")[0]["ok"], true);
}

#[test]
fn a_closed_stdout_and_stderr_do_not_stop_the_undo() {
    let rb = Rb::new();
    let state = rb.path("state.txt").display().to_string();
    rb.write("state.txt", "original\n");
    rb.write(
        "loud.rhai",
        &format!(
            r#"//! Prints a lot inside a temporary change.
step("change", "Change state.txt temporarily, print", || {{
    temporarily(|| {{
        undo::shell("alpha", "echo original > {state}");
        ssh::shell("alpha", "echo changed > {state}");
        for i in 0..2000 {{ print("line " + i); log("note " + i); }}
    }});
}});
"#
        ),
    );
    // `runbook run … 2>&1 | head -2`: the reader goes away.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = rb
        .command(&["run", "loud.rhai", "-i", "local.toml"])
        .stdout(writer.try_clone().expect("clone"))
        .stderr(writer)
        .status()
        .expect("run");
    assert_ne!(status.code(), Some(101), "no panic");
    assert_eq!(status.code(), Some(0));
    assert_eq!(rb.read("state.txt"), "original\n");
    let j = rb.journal();
    assert_eq!(events(&j, "undo_pop")[0]["ok"], true);
    assert_eq!(events(&j, "run_end")[0]["ok"], true);
}

#[test]
fn a_secret_given_as_stdin_reaches_the_command_as_its_value_over_ssh() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    rb.write(
        "stdin.rhai",
        r#"//! Secret on stdin.
step("feed", "Feed a secret to a command's stdin", || {
    let r = ssh::run("mgr-1", ["cat"], #{ stdin: secret("p") });
    log(if r.stdout == "hunter2-stdin" { "stdin-ok" } else { "stdin-wrong" });
});
"#,
    );
    let r = rb.run(&[
        "run",
        "stdin.rhai",
        "-i",
        lab.inventory(),
        "--set-secret",
        "p=hunter2-stdin",
    ]);
    r.code(0);
    let notes: Vec<_> = events(&rb.journal(), "note")
        .iter()
        .map(|n| n["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(notes, ["stdin-ok"]);
}

#[test]
fn undo_runs_every_record_when_the_journal_cannot_be_written() {
    let rb = Rb::new();
    let (a, b) = (rb.path("a.txt"), rb.path("b.txt"));
    rb.write("a.txt", "a-original\n");
    rb.write("b.txt", "b-original\n");
    let disk = rb.path("disk");
    std::fs::create_dir_all(&disk).expect("mkdir");
    rb.write(
        "full.rhai",
        &format!(
            r#"//! Two temporary changes, then the state dir's disk fills up.
step("change", "Change two files, fill the disk", || {{
    temporarily(|| {{
        undo::shell("alpha", "echo a-original > {a}; {long}");
        ssh::shell("alpha", "echo a-changed > {a}");
        undo::shell("alpha", "echo b-original > {b}; {long}");
        ssh::shell("alpha", "echo b-changed > {b}");
        ssh::shell("alpha", "dd if=/dev/zero of={disk}/fill bs=4k 2>/dev/null; true");
    }});
}});
"#,
            a = a.display(),
            b = b.display(),
            disk = disk.display(),
            long = "head -c 6000 /dev/zero | tr '\\\\0' x",
        ),
    );
    // A 1 MiB file system for the state dir, in a mount namespace of its own. Each undo prints
    // a line longer than a page, so its record cannot fit in the journal's last page either.
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o size=1m tmpfs \"$1\" && shift && RUNBOOK_STATE_DIR=\"$0\"/runs exec \"$@\"",
        )
        .arg(&disk)
        .arg(&disk)
        .arg(env!("CARGO_BIN_EXE_runbook"))
        .args(["run", "full.rhai", "-i", "local.toml"])
        .current_dir(rb.dir.path())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "200")
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(rb.read("a.txt"), "a-original\n", "{stderr}");
    assert_eq!(rb.read("b.txt"), "b-original\n", "{stderr}");
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("cannot write journal"), "{stderr}");
    assert!(stderr.contains("/journal.jsonl"), "{stderr}");
    assert!(stderr.contains("the undo ran to the end"), "{stderr}");
}

#[test]
fn sensitive_output_reaches_no_journal_terminal_or_error() {
    let rb = Rb::new();
    rb.write(
        "sens.rhai",
        r#"//! Sensitive output, failing and unparsable.
step("read", "Read a sensitive file", || {
    try {
        ssh::run("alpha", ["sh", "-c", "printf '%s%s\\n' TOP SECRET-out; printf '%s%s\\n' TOP SECRET-err >&2; exit 3"], #{ sensitive: true });
    } catch (e) { print(e.message); log(e.message); }
    let conf = ssh::run("alpha", ["printf", "%s%s", "{not json TOP", "SECRET-json"], #{ sensitive: true });
    from_json(conf.stdout);
});
"#,
    );
    let r = rb.run(&["run", "sens.rhai", "-i", "local.toml", "-v"]);
    r.code(2);
    let journal = std::fs::read_to_string(rb.last_run().join("journal.jsonl")).expect("journal");
    for (what, text) in [
        ("stdout", &r.stdout),
        ("stderr", &r.stderr),
        ("journal", &journal),
    ] {
        assert!(!text.contains("TOPSECRET"), "{what}:\n{text}");
    }
    assert!(r.stderr.contains("invalid JSON"), "{}", r.stderr);
}

#[test]
fn a_multi_line_secret_is_masked_in_tails_and_live_output() {
    let rb = Rb::new();
    let key: String = (0..26)
        .map(|i| format!("KEYLINE{i:02}-abcdefghijklmnopqrstuvwxyz0123456789\n"))
        .collect();
    rb.write("key.pem", &key);
    rb.write(
        "key.rhai",
        &format!(
            r#"//! Show a key file (a mistake the masking must catch).
step("show", "Cat the key", || {{
    ssh::run("alpha", ["cat", "{}"]);
}});
"#,
            rb.path("key.pem").display()
        ),
    );
    let r = rb.run(&[
        "run",
        "key.rhai",
        "-i",
        "local.toml",
        "-v",
        "--set-secret",
        "key=file:key.pem",
    ]);
    r.code(0);
    let journal = std::fs::read_to_string(rb.last_run().join("journal.jsonl")).expect("journal");
    for (what, text) in [("stderr", &r.stderr), ("journal", &journal)] {
        assert!(!text.contains("KEYLINE"), "{what}:\n{text}");
        assert!(text.contains("<secret key>"), "{what}:\n{text}");
    }
}

/// Run `sleep 4; touch MARK` with a 1 s deadline on `host`; the mark must never appear (checked
/// with `exists` after 4.5 s): the command was stopped, not just abandoned.
fn deadline_stops(
    rb: &Rb,
    (inventory, host, mark): (&str, &str, &str),
    sudo: bool,
    exists: impl Fn() -> bool,
) {
    let form = if sudo { "sudo_shell" } else { "shell" };
    rb.write(
        "slow.rhai",
        &format!(
            r#"//! A command past its deadline.
step("slow", "Sleep, then leave a mark", || {{
    ssh::{form}("{host}", "sleep 4; touch {mark}", #{{ timeout: 1 }});
}});
"#
        ),
    );
    let started = Instant::now();
    rb.run(&["run", "slow.rhai", "-i", inventory]).code(1);
    assert!(started.elapsed() < Duration::from_secs(4));
    std::thread::sleep(Duration::from_millis(4500) - started.elapsed().min(Duration::from_secs(4)));
    assert!(
        !exists(),
        "the command went on after its deadline ({host}, sudo {sudo})"
    );
    let j = rb.journal();
    let cmd = events(&j, "command");
    assert_eq!(cmd[0]["stopped"], true, "{j:?}");
}

#[test]
fn a_deadline_or_ctrl_c_stops_the_command_locally() {
    let rb = Rb::new();
    let mark = rb.path("deadline-mark");
    let target = ("local.toml", "alpha", mark.to_str().unwrap_or_default());
    deadline_stops(&rb, target, false, || mark.exists());

    let flag = rb.path("ctrl-c-mark");
    rb.write(
        "ctrlc.rhai",
        &format!(
            r#"//! Interrupted.
step("slow", "Sleep, then leave a mark", || {{
    ssh::shell("alpha", "echo started > {0}.started; sleep 4; touch {0}");
}});
"#,
            flag.display()
        ),
    );
    let mut child: Child = rb
        .command(&["run", "ctrlc.rhai", "-i", "local.toml"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for(&rb.path("ctrl-c-mark.started"), "started");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().expect("wait").code(), Some(130));
    std::thread::sleep(Duration::from_millis(4500));
    assert!(!flag.exists(), "Ctrl-C left the command running");
    let j = rb.journal();
    assert_eq!(events(&j, "command")[0]["stopped"], true, "{j:?}");
}

#[test]
fn a_deadline_stops_the_command_over_ssh_with_and_without_sudo() {
    let lab = lab();
    let _lab = shared();
    for sudo in [false, true] {
        let rb = Rb::new();
        let mark = "/tmp/runbook-deadline-mark";
        let _ = lab.exec("old-1", &["rm", "-f", mark]);
        deadline_stops(&rb, (lab.inventory(), "old-1", mark), sudo, || {
            lab.exec_status("old-1", &["test", "-e", mark]) == 0
        });
    }
}

#[test]
fn a_runaway_script_hits_an_engine_limit_and_the_undo_runs() {
    let rb = Rb::new();
    let state = rb.path("state.txt").display().to_string();
    rb.write("state.txt", "original\n");
    rb.write(
        "big.rhai",
        &format!(
            r#"//! Builds a huge string inside a temporary change.
step("grow", "Grow a string without end", || {{
    temporarily(|| {{
        undo::shell("alpha", "echo original > {state}");
        ssh::shell("alpha", "echo changed > {state}");
        let s = "x";
        loop {{ s += s; }}
    }});
}});
"#
        ),
    );
    let r = rb.run(&["run", "big.rhai", "-i", "local.toml"]);
    r.code(3);
    assert!(r.stderr.contains("too large"), "{}", r.stderr);
    assert_eq!(rb.read("state.txt"), "original\n");
}

#[test]
fn zero_timeout_zero_parallel_an_empty_inventory_and_a_dash_address_are_refused() {
    let rb = Rb::new();
    rb.write("one.rhai", "//! One.\nstep(\"a\", \"A\", || {});\n");
    for flag in ["--timeout", "--parallel"] {
        let r = rb.run(&["run", "one.rhai", "-i", "local.toml", flag, "0"]);
        r.code(2);
        assert!(
            r.stderr.contains(&format!("invalid value '0' for '{flag}")),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("must be at least 1"), "{}", r.stderr);
    }
    rb.write("empty.toml", "[defaults]\nuser = \"ops\"\n");
    let r = rb.run(&["run", "one.rhai", "-i", "empty.toml"]);
    r.code(2);
    assert!(r.stderr.contains("has no host"), "{}", r.stderr);
    rb.write(
        "dash.toml",
        "[hosts.evil]\naddress = \"-oProxyCommand=touch /tmp/runbook-pwned\"\n",
    );
    let r = rb.run(&["run", "one.rhai", "-i", "dash.toml"]);
    r.code(2);
    assert!(r.stderr.contains("starts with `-`"), "{}", r.stderr);

    rb.run(&["run", "one.rhai", "-i", "local.toml"]).code(0);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(rb.last_run().join("run.json")).expect("run.json"),
    )
    .expect("json");
    assert!(
        meta["created"].as_str().unwrap_or("").starts_with("20"),
        "{meta}"
    );
}
