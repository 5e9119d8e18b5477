//! Shell completions and the man page: the bash script is sourced in a real bash and its
//! completion function called as bash-completion calls it (COMP_WORDS, COMP_CWORD).

use crate::util::Rb;
use std::process::Command;

/// What bash completes for `words` (the last one being completed), through the function
/// `complete -p runbook` names, with the built binary first on PATH.
fn bash_complete(rb: &Rb, words: &[&str]) -> Vec<String> {
    let script = rb.path("runbook.bash");
    let gen = rb.run(&["completions", "bash"]);
    gen.code(0);
    std::fs::write(&script, &gen.stdout).expect("write completion script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let bash = format!(
        r#"set -u
source '{script}'
spec=$(complete -p runbook)
[[ $spec =~ -F\ ([^ ]+) ]] || {{ echo "no -F in: $spec" >&2; exit 9; }}
fn=${{BASH_REMATCH[1]}}
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
COMPREPLY=()
"$fn" runbook "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        script = script.display(),
        words = quoted.join(" ")
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_runbook"))
        .parent()
        .expect("bin dir");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &bash])
        .current_dir(rb.dir.path())
        .env("PATH", path)
        .env("RUNBOOK_STATE_DIR", rb.path("state"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    found.sort();
    found
}

/// The steps `runbook show NAME` lists, sorted.
fn steps_of(rb: &Rb, name: &str) -> Vec<String> {
    let show = rb.run(&["show", name]);
    show.code(0);
    let steps = show.stdout.split("\nSteps:\n").nth(1).expect("Steps:");
    let mut names: Vec<String> = steps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn bash_completes_subcommands_runbook_names_and_step_names() {
    let rb = Rb::new();
    let steps = steps_of(&rb, "cloudify-ha-upgrade");
    assert!(steps.len() > 5, "{steps:?}");
    assert_eq!(
        bash_complete(
            &rb,
            &["runbook", "run", "cloudify-ha-upgrade", "--only", ""]
        ),
        steps
    );
    let re: Vec<String> = steps
        .iter()
        .filter(|s| s.starts_with("re"))
        .cloned()
        .collect();
    assert_eq!(
        bash_complete(
            &rb,
            &[
                "runbook",
                "plan",
                "-i",
                "inv.yml",
                "cloudify-ha-upgrade",
                "--from",
                "re"
            ]
        ),
        re
    );
    assert_eq!(
        bash_complete(&rb, &["runbook", "run", "cloudify"]),
        ["cloudify-ha-upgrade"]
    );
    assert!(bash_complete(&rb, &["runbook", "ru"]).contains(&"run".to_string()));
    assert!(bash_complete(&rb, &["runbook", "run", "x", "--o"]).contains(&"--only".to_string()));
    // A forked runbook's steps come from its file.
    rb.write(
        "mine.rhai",
        "//! Mine.\nstep(\"first\", \"One\", || {});\nstep(\"second\", \"Two\", || {});\n",
    );
    assert_eq!(
        bash_complete(&rb, &["runbook", "run", "mine.rhai", "--only", ""]),
        ["first", "second"]
    );
}

#[test]
fn zsh_and_fish_scripts_are_generated_and_the_man_page_has_every_command() {
    let rb = Rb::new();
    for (shell, marker) in [("zsh", "#compdef runbook"), ("fish", "complete -c runbook")] {
        let r = rb.run(&["completions", shell]);
        r.code(0);
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        assert!(r.stdout.contains("__complete"), "{shell}: no dynamic hook");
    }
    let man = rb.run(&["man"]);
    man.code(0);
    assert!(
        man.stdout.starts_with(".ie \\n(.g"),
        "{}",
        &man.stdout[..80]
    );
    assert!(man.stdout.contains(".TH runbook 1"), "{}", man.stdout);
    for cmd in [
        "run",
        "plan",
        "resume",
        "revert",
        "inventory",
        "completions",
        "man",
    ] {
        assert!(
            man.stdout.contains(&format!("runbook\\-{cmd}(1)")),
            "man page lacks {cmd}"
        );
    }
    assert!(
        !man.stdout.contains("__complete"),
        "the hidden command stays hidden"
    );
    assert!(man.stdout.contains(".SH INVENTORY"), "{}", man.stdout);
    assert!(man.stdout.contains("Ansible YAML"), "{}", man.stdout);
}
