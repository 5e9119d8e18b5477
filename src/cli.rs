//! The command line (clap). Parsing only: every command is a call into the library.

pub mod completion;

use crate::context::{Recovery, Selection, Settings};
use crate::error::Result;
use crate::runner::{self, Invocation};
use crate::transport::ssh::SshOptions;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run, fork and debug operational runbooks over SSH.
///
/// A runbook is a Rhai script of named steps. runbook runs it against the hosts of an inventory,
/// journals every step and command, undoes temporary changes on failure or Ctrl-C, and resumes a
/// failed run where it stopped.
#[derive(Parser, Debug)]
#[command(name = "runbook", version, about, long_about = None, after_help = "Start with `runbook list`, then `runbook show NAME` and `runbook plan NAME -i INVENTORY`.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Where runs (journals) are kept [default: $XDG_STATE_HOME/runbook/runs]
    #[arg(long, global = true, env = "RUNBOOK_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Default deadline of each remote command, in seconds
    #[arg(long, global = true, default_value_t = 120, value_name = "SECS", value_parser = at_least_one::<u64>)]
    pub timeout: u64,
    /// How many hosts the `*_all` primitives work on at once
    #[arg(long, global = true, default_value_t = 16, value_name = "N", value_parser = at_least_one::<usize>)]
    pub parallel: usize,
    /// Accept and remember the keys of hosts not yet in known_hosts (default: refuse them)
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,
    /// Seconds to wait for an SSH connection
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS", value_parser = at_least_one::<u64>)]
    pub connect_timeout: u64,
    /// Write a JSON event stream (one object a line) to FILE, or to stdout with `-`
    #[arg(long, global = true, value_name = "FILE|-")]
    pub events: Option<PathBuf>,
    /// Show remote output live, prefixed by host (default: on a terminal)
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Seconds a host lease lives without a heartbeat from its run before it counts as stale
    #[arg(long, global = true, default_value_t = 300, value_name = "SECONDS", value_parser = at_least_one::<u64>)]
    pub lease: u64,
    /// Take over the host leases another run holds (journaled): for a run that is gone for good
    #[arg(long, global = true)]
    pub break_lease: bool,
}

/// `runbook help inventory`: the formats `-i` reads (the book's inventory page has the details).
pub(crate) const INVENTORY_HELP: &str = "\
Show the hosts, groups and variables runbook reads from an inventory, as JSON.

`-i FILE` everywhere reads any of these, told apart by content:

  runbook TOML     [defaults] (user, port, identity_file, known_hosts_file, ssh_config, vars)
                   and one [hosts.NAME] table per host (address, groups = [...], vars = {...}):
                     [defaults]
                     user = \"ops\"
                     [hosts.mgr-1]
                     address = \"10.0.0.12\"
                     groups = [\"new_managers\"]
  Ansible YAML     all: {hosts: ..., children: ..., vars: ...}
  Ansible INI      [group], [group:vars], [group:children]; host lines `name key=value ...`
  Ansible JSON     `ansible-inventory -i X --list` output (a file starting with `{`)
  a script         an executable file is run with `--list` (an Ansible dynamic inventory)

Ansible inventories are read as Ansible reads them: groups and children, variables by Ansible's
precedence (all < parent group < child group < host). ansible_host, ansible_port, ansible_user,
ansible_ssh_private_key_file and ansible_ssh_common_args (-o UserKnownHostsFile=, IdentityFile=,
-F FILE, ...) say how to connect; other variables reach `host.vars`. A connection setting
runbook cannot honour (ansible_password, StrictHostKeyChecking=no, ProxyJump, ...) is an error.
In a runbook: inventory.group(\"new_managers\"), host.address, host.vars.NAME.
The man page (`runbook man`) and the book's \"Inventories\" page have the details.";

/// A whole number of at least 1: a deadline or a parallelism of 0 would mean "never" or "no
/// host", which no one asks for on purpose.
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String> {
    match s.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// A bundled runbook's name (see `runbook list`) or the path of a .rhai file
    #[arg(value_name = "NAME|FILE")]
    pub runbook: String,
    /// The inventory: runbook TOML, or Ansible YAML, INI, JSON or script (`runbook help inventory`)
    #[arg(short, long, value_name = "INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Set a parameter (repeatable); see `runbook show NAME` for the parameters
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Give a secret (repeatable): NAME=env:VAR, NAME=file:PATH or NAME=VALUE
    #[arg(long = "set-secret", value_name = "NAME=SOURCE")]
    pub secrets: Vec<String>,
    /// Run only this step (repeatable)
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Start at this step, skipping the ones before it
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List the bundled runbooks
    List,
    /// Show a runbook's description, parameters and steps
    Show {
        #[arg(value_name = "NAME|FILE")]
        runbook: String,
        /// Inventory, for runbooks that read it when they load
        #[arg(short, long)]
        inventory: Option<PathBuf>,
    },
    /// Write an editable copy of a bundled runbook and the stdlib modules it imports
    Fork {
        name: String,
        /// Folder to write into [default: ./NAME]
        dir: Option<PathBuf>,
        /// Overwrite files that exist
        #[arg(long)]
        force: bool,
    },
    /// Parse and validate a runbook's parameters and steps; touches no host
    Check {
        #[arg(value_name = "NAME|FILE")]
        runbook: String,
        #[arg(short, long)]
        inventory: Option<PathBuf>,
    },
    /// Dry run: run read-only probes and print every change each step would make, per host
    Plan {
        #[command(flatten)]
        target: Target,
        /// Contact no host at all (probes are shown, not run)
        #[arg(long)]
        offline: bool,
        /// Check an answers file (as `run --answers`): each question shows its answer, and one
        /// the file does not answer fails the plan
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
    },
    /// Run a runbook against an inventory
    Run {
        #[command(flatten)]
        target: Target,
        /// Ask before each step
        #[arg(long)]
        step: bool,
        /// Answer every pause and confirmation with yes (unattended runs)
        #[arg(long, short)]
        yes: bool,
        /// Answer pauses and confirmations from a TOML file of [[answer]] entries (step, question,
        /// answer = "yes"|"no"); a question it does not answer fails the run
        #[arg(long, value_name = "FILE", conflicts_with = "yes")]
        answers: Option<PathBuf>,
    },
    /// Continue a failed or interrupted run: pending undo first, then the unfinished steps
    Resume {
        /// Run id (default: the newest run)
        run: Option<String>,
        #[arg(long, short)]
        yes: bool,
        /// Answer pauses and confirmations from a file (as `run --answers`)
        #[arg(long, value_name = "FILE", conflicts_with = "yes")]
        answers: Option<PathBuf>,
        /// Give a secret again (one that was passed literally is not stored)
        #[arg(long = "set-secret", value_name = "NAME=SOURCE")]
        secrets: Vec<String>,
    },
    /// Undo the temporary changes a crashed or killed run left behind
    Revert {
        /// Run id (default: the newest run)
        run: Option<String>,
        /// Read a damaged journal around its corrupt lines and run the undo records it can read
        #[arg(long)]
        salvage: bool,
        /// Revert even while work the changes are for still runs on a host (e.g. a restore);
        /// journaled as an override
        #[arg(long)]
        force: bool,
    },
    /// Show a run's journal: as text, JSON (runbook.log/1) or markdown for a ticket
    Log {
        /// Run id (default: the newest run)
        run: Option<String>,
        /// text (one line a record), json (the run and its records), markdown (a ticket summary)
        #[arg(long, value_enum, default_value_t = crate::report::Format::Text)]
        format: crate::report::Format,
    },
    /// Write a run's report: one self-contained HTML file (timeline per host, steps, window)
    Report {
        /// Run id (default: the newest run)
        run: Option<String>,
        /// Where to write it [default: report.html in the run's folder]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Work on the hosts by hand: the runbook functions at a prompt, journaled like a run
    Repl {
        /// The inventory: runbook TOML, or Ansible YAML, INI, JSON or script (`runbook help inventory`)
        #[arg(short, long, value_name = "INVENTORY")]
        inventory: Option<PathBuf>,
        /// Load a runbook: its steps for `:run`, its parameters and variables in scope
        #[arg(long, value_name = "NAME|FILE", conflicts_with = "run")]
        runbook: Option<String>,
        /// Attach to a run (id or folder): its journal, runbook, and the undo it left pending
        #[arg(long, value_name = "RUN")]
        run: Option<String>,
        /// Set a parameter of the loaded runbook (repeatable)
        #[arg(long = "set", value_name = "NAME=VALUE")]
        sets: Vec<String>,
        /// Give a secret (repeatable): NAME=env:VAR, NAME=file:PATH or NAME=VALUE
        #[arg(long = "set-secret", value_name = "NAME=SOURCE")]
        secrets: Vec<String>,
    },
    /// Show the hosts, groups and variables runbook reads from an inventory (JSON)
    #[command(long_about = INVENTORY_HELP)]
    Inventory {
        /// The inventory: runbook TOML, Ansible YAML, INI or JSON, or an executable script
        #[arg(short, long, value_name = "INVENTORY")]
        inventory: PathBuf,
    },
    /// Print a shell completion script (completes runbook and step names too)
    #[command(
        after_help = "bash: source <(runbook completions bash)  (or save it as /usr/share/bash-completion/completions/runbook)\nzsh:  runbook completions zsh > \"${fpath[1]}/_runbook\"\nfish: runbook completions fish > ~/.config/fish/completions/runbook.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `runbook man > runbook.1`, or `runbook man | man -l -`
    Man,
    /// Candidates for shell completion (used by the completion scripts)
    #[command(name = "__complete", hide = true)]
    Complete {
        /// Index of the word being completed
        cword: usize,
        /// The command line's words, the command's name first
        #[arg(last = true)]
        words: Vec<String>,
    },
    /// Print the reference of every function runbooks can call
    Doc {
        /// Only functions whose name contains this (e.g. `ssh::`)
        filter: Option<String>,
        /// The whole reference as a markdown page (the book's reference.md is this output)
        #[arg(long)]
        markdown: bool,
    },
}

impl Global {
    fn settings(&self, yes: bool) -> Settings {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Settings {
            yes,
            answers: None,
            interactive,
            default_timeout: Duration::from_secs(self.timeout),
            ssh: SshOptions {
                accept_new_host_keys: self.accept_new_host_keys,
                connect_timeout: Duration::from_secs(self.connect_timeout),
            },
            parallel: self.parallel,
            live_output: self.verbose || interactive,
            // A failed step of an interactive run asks the operator (retry, skip, a REPL, abort).
            recovery: Some(Recovery(Arc::new(crate::repl::Prompt))),
            lease_secs: self.lease,
            break_lease: self.break_lease,
        }
    }
}

/// The settings of a command that may ask questions: `--yes`, or the answers of `--answers FILE`.
fn answering(global: &Global, yes: bool, answers: Option<&std::path::Path>) -> Result<Settings> {
    let answers = answers
        .map(crate::answers::Answers::load)
        .transpose()?
        .map(Arc::new);
    Ok(Settings {
        answers,
        ..global.settings(yes)
    })
}

fn invocation(
    target: Target,
    global: &Global,
    settings: Settings,
    confirm_each: bool,
) -> Invocation {
    Invocation {
        runbook: target.runbook,
        inventory: target.inventory,
        sets: target.sets,
        secrets: target.secrets,
        selection: Selection {
            only: target.only,
            from: target.from,
            finished: Vec::new(),
            confirm_each,
        },
        settings,
        state_dir: global.state_dir.clone(),
    }
}

/// Execute a parsed command line.
pub fn dispatch(cli: Cli) -> Result<()> {
    let g = &cli.global;
    if let Some(target) = &g.events {
        crate::journal::events::open(target)?;
    }
    match cli.command {
        Cmd::List => {
            for (name, text) in crate::runbook::BUNDLED {
                outln!("{name:<24} {}", crate::runbook::summary(text));
            }
            Ok(())
        }
        Cmd::Show { runbook, inventory } => runner::show(&runbook, inventory),
        Cmd::Fork { name, dir, force } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = crate::runbook::fork(&name, &dir, force)?;
            for f in &files {
                outln!("wrote {}", f.display());
            }
            if let Some(main) = files.first() {
                outln!("edit it, then: runbook run {} -i INVENTORY", main.display());
            }
            Ok(())
        }
        Cmd::Check { runbook, inventory } => runner::check(&runbook, inventory),
        Cmd::Plan {
            target,
            offline,
            answers,
        } => {
            let settings = answering(g, false, answers.as_deref())?;
            runner::plan(&invocation(target, g, settings, false), offline)
        }
        Cmd::Run {
            target,
            step,
            yes,
            answers,
        } => {
            let settings = answering(g, yes, answers.as_deref())?;
            runner::run(&invocation(target, g, settings, step))
        }
        Cmd::Resume {
            run,
            yes,
            answers,
            secrets,
        } => runner::resume(
            run.as_deref(),
            g.state_dir.as_deref(),
            &answering(g, yes, answers.as_deref())?,
            &secrets,
        ),
        Cmd::Revert {
            run,
            salvage,
            force,
        } => runner::revert(
            run.as_deref(),
            g.state_dir.as_deref(),
            &g.settings(false),
            salvage,
            force,
        ),
        Cmd::Log { run, format } => {
            crate::report::log(run.as_deref(), g.state_dir.as_deref(), format)?;
            if format == crate::report::Format::Text {
                let now =
                    runner::guards_now(run.as_deref(), g.state_dir.as_deref(), &g.settings(false))
                        .unwrap_or_else(|e| vec![format!("guards: cannot tell ({})", e.message())]);
                for line in now {
                    outln!("{line}");
                }
            }
            Ok(())
        }
        Cmd::Report { run, output } => {
            crate::report::report(run.as_deref(), g.state_dir.as_deref(), output)
        }
        Cmd::Repl {
            inventory,
            runbook,
            run,
            sets,
            secrets,
        } => {
            // Results are printed after each line; live output only when asked for.
            let settings = Settings {
                live_output: g.verbose,
                ..g.settings(false)
            };
            crate::repl::repl(&crate::repl::Options {
                inventory,
                runbook,
                run,
                sets,
                secrets,
                settings,
                state_dir: g.state_dir.clone(),
            })
        }
        Cmd::Completions { shell } => completion::print_completions(shell),
        Cmd::Man => completion::print_man(),
        Cmd::Complete { cword, words } => {
            completion::complete(cword, &words);
            Ok(())
        }
        Cmd::Inventory { inventory } => crate::inventory_list::print(&inventory),
        Cmd::Doc { filter, markdown } => crate::reference::print(filter.as_deref(), markdown),
    }
}
