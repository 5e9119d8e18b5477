//! Shell completions and the man page, generated from the clap definitions (clap_complete,
//! clap_mangen), so they never drift from the flags.
//!
//! Runbook names and step names depend on what is bundled and on the runbook's file, so the
//! scripts ask the binary: `runbook __complete CWORD -- WORDS…` prints the candidates for word
//! `CWORD` of the command line `WORDS` (one a line), or nothing, and then the shell falls back to
//! the static completion (subcommands, flags, files).

use crate::cli::Cli;
use crate::error::{Error, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

/// Subcommands whose first positional argument is a runbook (bundled name or .rhai file).
const TAKES_RUNBOOK: &[&str] = &["run", "plan", "show", "check", "fork"];

/// Options that take a value: the word after them is that value, not a positional.
const WITH_VALUE: &[&str] = &[
    "-i",
    "--inventory",
    "--set",
    "--set-secret",
    "--only",
    "--from",
    "--state-dir",
    "--timeout",
    "--parallel",
    "--connect-timeout",
    "--runbook",
    "--run",
];

/// `runbook completions SHELL`: the static script from clap, plus the hook that asks
/// `runbook __complete` for runbook and step names (bash, zsh, fish).
pub fn print_completions(shell: Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "runbook", &mut out);
    out.extend_from_slice(dynamic_hook(shell).as_bytes());
    write_stdout(&out)
}

fn dynamic_hook(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => {
            r#"
# runbook: runbook and step names come from the binary; the rest from the script above.
_runbook_dynamic() {
    local out
    out=$("${COMP_WORDS[0]}" __complete "$COMP_CWORD" -- "${COMP_WORDS[@]}" 2>/dev/null)
    if [[ -n $out ]]; then
        local IFS=$'\n'
        COMPREPLY=($out)
        return 0
    fi
    _runbook "$@"
}
complete -F _runbook_dynamic -o nosort -o bashdefault -o default runbook
"#
        }
        Shell::Zsh => {
            r#"
# runbook: runbook and step names come from the binary; the rest from the function above.
_runbook_dynamic() {
    local out
    out=$("${words[1]}" __complete $((CURRENT - 1)) -- "${words[@]}" 2>/dev/null)
    if [[ -n $out ]]; then
        compadd -- ${(f)out}
        return 0
    fi
    _runbook "$@"
}
compdef _runbook_dynamic runbook
"#
        }
        Shell::Fish => {
            r#"
# runbook: runbook and step names come from the binary.
function __runbook_dynamic
    set -l words (commandline -opc) (commandline -ct)
    runbook __complete (math (count $words) - 1) -- $words 2>/dev/null
end
complete -c runbook -f -n 'test -n "$(__runbook_dynamic)"' -a '(__runbook_dynamic)'
"#
        }
        _ => "",
    }
}

/// `runbook man`: the man page (roff), with the inventory formats as a section of their own.
pub fn print_man() -> Result<()> {
    let man = clap_mangen::Man::new(Cli::command());
    let mut out = Vec::new();
    man.render(&mut out)
        .map_err(|e| Error::io("cannot render the man page", e))?;
    out.extend_from_slice(b".SH INVENTORY\n.nf\n");
    for line in crate::cli::INVENTORY_HELP.lines() {
        out.extend_from_slice(roff_line(line).as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b".fi\n.SH SEE ALSO\n");
    out.extend_from_slice(
        roff_line("runbook help COMMAND, runbook doc (the functions runbooks call), runbook completions bash|zsh|fish").as_bytes(),
    );
    out.push(b'\n');
    write_stdout(&out)
}

/// One line of text for roff: backslashes escaped, a leading `.` or `'` not read as a request.
fn roff_line(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
    Ok(())
}

/// `runbook __complete CWORD -- WORDS…`: candidates for `words[cword]`, or `None` when the static
/// completion should answer.
pub fn candidates(cword: usize, words: &[String]) -> Option<Vec<String>> {
    let current = words.get(cword).map(String::as_str).unwrap_or("");
    let prev = cword
        .checked_sub(1)
        .and_then(|i| words.get(i))
        .map(String::as_str);
    // The positionals before the current word, options and their values left out.
    let mut positionals = Vec::new();
    let mut i = 1;
    while i < cword.min(words.len()) {
        let w = words[i].as_str();
        if WITH_VALUE.contains(&w) {
            i += 2;
            continue;
        }
        if !w.starts_with('-') {
            positionals.push((i, w));
        }
        i += 1;
    }
    let sub = positionals.first().map(|(_, s)| *s)?;
    let runbook = positionals.get(1).map(|(_, r)| *r);
    let names = |prefix: &str| -> Vec<String> {
        crate::runbook::BUNDLED
            .iter()
            .map(|(name, _)| name.to_string())
            .filter(|n| n.starts_with(prefix))
            .collect()
    };
    match prev {
        Some("--only" | "--from") => {
            let spec = if sub == "repl" {
                words
                    .iter()
                    .position(|w| w == "--runbook")
                    .and_then(|i| words.get(i + 1))?
            } else {
                runbook?
            };
            let steps = crate::runner::step_names(spec).ok()?;
            return Some(
                steps
                    .into_iter()
                    .filter(|s| s.starts_with(current))
                    .collect(),
            );
        }
        Some("--runbook") if sub == "repl" => return Some(names(current)),
        Some(p) if WITH_VALUE.contains(&p) => return None,
        _ => {}
    }
    let is_runbook_word = TAKES_RUNBOOK.contains(&sub) && runbook.is_none();
    // A path is completed by the shell's file completion.
    if is_runbook_word && !current.starts_with('-') && !current.contains(['/', '.']) {
        let found = names(current);
        return (!found.is_empty()).then_some(found);
    }
    None
}

/// `runbook __complete`: the candidates one a line; nothing when the static completion answers.
pub fn complete(cword: usize, words: &[String]) {
    for c in candidates(cword, words).into_iter().flatten() {
        outln!("{c}");
    }
}
