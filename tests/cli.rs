use crate::util::Rb;

#[test]
fn list_shows_bundled_runbooks_with_descriptions() {
    let r = Rb::new().run(&["list"]);
    r.code(0);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("hosts-check") && l.contains("Check that hosts are reachable")),
        "{}",
        r.stdout
    );
}

#[test]
fn show_lists_params_and_steps() {
    let r = Rb::new().run(&["show", "hosts-check"]);
    r.code(0);
    assert!(r.stdout.contains("min_free_mb"), "{}", r.stdout);
    assert!(r.stdout.contains(" 1. reach"), "{}", r.stdout);
}

#[test]
fn fork_writes_editable_copies_refuses_to_overwrite_and_the_fork_runs() {
    let rb = Rb::new();
    rb.run(&["fork", "hosts-check", "site"]).code(0);
    let forked = rb.read("site/hosts-check.rhai");
    assert!(forked.contains("step(\"reach\""));
    assert!(
        rb.read("site/checks.rhai").contains("fn free_mb"),
        "the imported stdlib module is forked too"
    );

    let again = rb.run(&["fork", "hosts-check", "site"]);
    again.code(2);
    assert!(
        again.stderr.contains("refusing to overwrite"),
        "{}",
        again.stderr
    );

    // A site edit: the forked module overrides the embedded stdlib, and a new step runs.
    rb.write(
        "site/checks.rhai",
        &rb.read("site/checks.rhai").replace(
            "fn first_line(text) {",
            "fn first_line(text) {\n    return \"site:\" + text.split(\"\\n\")[0];",
        ),
    );
    rb.write("site/hosts-check.rhai", &format!("{forked}\nstep(\"site-extra\", \"A site's own check\", || {{ log(\"site step ran\"); }});\n"));
    let run = rb.run(&[
        "run",
        "site/hosts-check.rhai",
        "-i",
        "local.toml",
        "--set",
        "min_free_mb=1",
    ]);
    run.code(0);
    assert!(
        run.stderr.contains("alpha: site:"),
        "forked module used: {}",
        run.stderr
    );
    assert!(run.stderr.contains("site step ran"), "{}", run.stderr);
}

#[test]
fn check_points_at_the_syntax_error_line_and_column() {
    let rb = Rb::new();
    rb.write(
        "bad.rhai",
        "//! Bad.\nstep(\"a\", \"first\", || {\n    let x = ;\n});\n",
    );
    let r = rb.run(&["check", "bad.rhai"]);
    r.code(3);
    assert!(r.stderr.contains("syntax error"), "{}", r.stderr);
    assert!(r.stderr.contains("[bad.rhai:3:13]"), "{}", r.stderr);
    // The caret sits under the `;` (column 13 of line 3).
    let lines: Vec<&str> = r.stderr.lines().collect();
    let code_line = lines
        .iter()
        .position(|l| l.contains("let x = ;"))
        .expect("source line shown");
    let caret = lines[code_line + 1];
    let src = lines[code_line];
    assert_eq!(
        caret.find('┬').map(|i| caret[..i].chars().count()),
        src.find(';').map(|i| src[..i].chars().count()),
        "\n{src}\n{caret}"
    );
}

#[test]
fn check_accepts_a_good_runbook_and_touches_no_host() {
    let r = Rb::new().run(&["check", "hosts-check"]);
    r.code(0);
    assert!(
        r.stdout.contains("ok (3 parameters, 3 steps)"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_offline_plan_of_the_upgrade_lists_every_step_and_notes_where_answers_are_needed() {
    // No inventory, no host: the probes answer nothing, so the steps that parse their answers
    // stop early, say so, and the plan goes on to the end.
    let r = Rb::new().run(&["plan", "cloudify-ha-upgrade", "--offline"]);
    r.code(0);
    assert!(r.stdout.contains("[12/12] delete-old"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("old_manager-1: cfy snapshots list --json (probe, offline)\n  … the rest of this step depends on what the hosts answer"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("new_managers-1: sudo -n -- /opt/patroni/bin/patronictl -c /etc/patroni.conf edit-config -s retry_timeout=86400 -s ttl=86400 --force"),
        "{}",
        r.stdout
    );
}

#[test]
fn unknown_runbook_step_and_parameter_are_usage_errors() {
    let rb = Rb::new();
    let r = rb.run(&["run", "nope", "-i", "local.toml"]);
    r.code(2);
    assert!(
        r.stderr.contains("no runbook `nope`") && r.stderr.contains("hosts-check"),
        "{}",
        r.stderr
    );
    let r = rb.run(&["run", "hosts-check", "-i", "local.toml", "--only", "reech"]);
    r.code(2);
    assert!(
        r.stderr.contains("unknown step `reech`")
            && r.stderr.contains("steps: reach, sudo, free-space"),
        "{}",
        r.stderr
    );
    let r = rb.run(&[
        "run",
        "hosts-check",
        "-i",
        "local.toml",
        "--set",
        "colour=red",
    ]);
    r.code(2);
    assert!(
        r.stderr.contains("unknown parameter `colour`"),
        "{}",
        r.stderr
    );
    let r = rb.run(&[
        "run",
        "hosts-check",
        "-i",
        "local.toml",
        "--set",
        "min_free_mb=lots",
    ]);
    r.code(2);
    assert!(
        r.stderr
            .contains("parameter `min_free_mb` expects an integer, got `lots`"),
        "{}",
        r.stderr
    );
    assert!(
        !rb.path("state").exists(),
        "nothing was run, so no run was recorded"
    );
}

#[test]
fn bad_inventory_names_file_line_and_key() {
    let rb = Rb::new();
    rb.write(
        "inv.toml",
        "[hosts.a]\naddress = \"10.0.0.1\"\n\n[hosts.b]\nadress = \"10.0.0.2\"\n",
    );
    let r = rb.run(&["run", "hosts-check", "-i", "inv.toml"]);
    r.code(2);
    assert!(r.stderr.contains("unknown field `adress`"), "{}", r.stderr);
    assert!(r.stderr.contains("[inv.toml:5:1]"), "{}", r.stderr);
}

#[test]
fn doc_prints_every_primitive_with_its_documentation() {
    let r = Rb::new().run(&["doc", "ssh::"]);
    r.code(0);
    for f in [
        "ssh::run(host: Host, argv: Array) -> Map",
        "ssh::sudo_all(",
        "ssh::shell(",
        "ssh::probe(",
    ] {
        assert!(r.stdout.contains(f), "missing {f}:\n{}", r.stdout);
    }
    assert!(
        r.stdout.contains("quoted for the remote shell")
            || r.stdout.contains("Run `argv` on `host`"),
        "{}",
        r.stdout
    );
}

/// The book's reference page is `runbook doc --markdown`, generated from the doc strings the
/// primitives register: a primitive added or reworded without regenerating it fails here.
#[test]
fn the_books_reference_page_is_what_doc_markdown_generates() {
    let rb = Rb::new();
    let r = rb.run(&["doc", "--markdown"]);
    r.code(0);
    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/reference.md");
    let checked_in = std::fs::read_to_string(&page).expect("book/src/reference.md");
    assert!(
        r.stdout == checked_in,
        "book/src/reference.md is stale: regenerate it with\n  cargo run -q -- doc --markdown > book/src/reference.md\n{}",
        similar::TextDiff::from_lines(checked_in.as_str(), r.stdout.as_str())
            .unified_diff()
            .header("book/src/reference.md", "runbook doc --markdown")
    );
    // Every documented function has its heading.
    for line in rb.run(&["doc"]).stdout.lines() {
        if let Some((name, _)) = line.split_once('(').filter(|_| !line.starts_with(' ')) {
            assert!(
                checked_in.contains(&format!("### `{name}`")),
                "{name} missing"
            );
        }
    }
}
