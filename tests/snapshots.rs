//! What users read, held exactly (insta snapshots in tests/snapshots/): a diagnostic of each kind
//! and the bundled upgrade's offline plan. A change that garbles a message fails here; a change
//! meant to alter one is reviewed with `cargo insta review` (or INSTA_UPDATE=always, then read the
//! diff of the .snap files).

use crate::util::Rb;

/// stderr (or stdout) with what differs per run made stable: the temp folder and run ids.
fn stable(rb: &Rb, text: &str) -> String {
    let dir = rb.dir.path().display().to_string();
    let text = text.replace(&dir, "[DIR]");
    // Run ids start with a UTC stamp: 20261205-053412-…
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let stamp = chars.len() - i >= 15
            && chars[i..i + 8].iter().all(char::is_ascii_digit)
            && chars[i + 8] == '-'
            && chars[i + 9..i + 15].iter().all(char::is_ascii_digit);
        if stamp {
            out.push_str("[STAMP]");
            i += 15;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Run `args` in a fresh folder holding `text` as rb.rhai (and local.toml: hosts alpha and beta),
/// check the exit code, and return stderr made stable.
fn stderr_of(text: &str, args: &[&str], code: i32) -> String {
    let rb = Rb::new();
    rb.write("rb.rhai", text);
    let r = rb.run(args);
    r.code(code);
    stable(&rb, &r.stderr)
}

const RUN: &[&str] = &["run", "rb.rhai", "-i", "local.toml"];

#[test]
fn usage_error_unknown_step() {
    let args = [RUN, &["--only", "nope"]].concat();
    let one_step = "//! One step.\nstep(\"s\", \"d\", || {});\n";
    insta::assert_snapshot!(stderr_of(one_step, &args, 2));
}

#[test]
fn script_error_syntax() {
    let broken = "//! Broken.\nstep(\"s\", \"d\", || {\n    let x = ;\n});\n";
    insta::assert_snapshot!(stderr_of(broken, &["check", "rb.rhai"], 3));
}

#[test]
fn script_error_at_run_time() {
    let throws = "//! Throws.\nstep(\"s\", \"d\", || {\n    throw \"the script gave up\";\n});\n";
    insta::assert_snapshot!(stderr_of(throws, RUN, 3));
}

#[test]
fn remote_error_names_host_command_code_and_stderr() {
    let fails = "//! Fails remotely.\nstep(\"s\", \"d\", || {\n    ssh::shell(\"alpha\", \"echo boom >&2; exit 3\");\n});\n";
    insta::assert_snapshot!(stderr_of(fails, RUN, 1));
}

#[test]
fn the_upgrade_plan_offline() {
    let rb = Rb::new();
    let r = rb.run(&["plan", "cloudify-ha-upgrade", "--offline"]);
    r.code(0);
    insta::assert_snapshot!(stable(&rb, &r.stdout));
}
