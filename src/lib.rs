//! runbook: a host for operational runbooks written in Rhai, run over SSH.
//!
//! `main.rs` only calls [`run_cli`], the crate's one public item: the modules are crate-internal
//! (`pub(crate)`), so the compiler reports code nothing uses, and `missing_docs` holds the public
//! API documented.
//!
//! The top-level modules form layers that only point down — cli → repl → runner → engine → prims
//! → context → transport → error — checked by `tests/layers.rs`: a lower layer that needs a higher
//! one is handed a hook (see `context::StepRecovery`).

#![warn(missing_docs)]

/// `println!` that ignores a closed stdout (`runbook run … | head`): output is for display, and a
/// reader that went away must not stop a run mid-scope (`println!` panics on EPIPE).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        // `--events -` owns stdout: what is meant for people goes to stderr then.
        let _ = if $crate::journal::events::on_stdout() {
            writeln!(std::io::stderr(), $($arg)*)
        } else {
            writeln!(std::io::stdout(), $($arg)*)
        };
    }};
}

/// `eprintln!` that ignores a closed stderr, like [`outln!`].
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that ignores a closed stderr.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub(crate) mod answers;
pub(crate) mod cli;
pub(crate) mod context;
pub(crate) mod diag;
pub(crate) mod engine;
pub(crate) mod error;
pub(crate) mod inventory;
pub(crate) mod inventory_list;
pub(crate) mod journal;
pub(crate) mod prims;
pub(crate) mod reference;
pub(crate) mod repl;
pub(crate) mod report;
pub(crate) mod runbook;
pub(crate) mod runner;
pub(crate) mod secret;
pub(crate) mod transport;
pub(crate) mod undo;

use clap::Parser;

/// Parse the command line, run the command, print any error as a diagnostic; the exit code.
pub fn run_cli() -> i32 {
    let cli = cli::Cli::parse();
    // Debug logs only when asked for (`RUST_LOG=runbook=debug`), on stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    // Diagnostics wrap at the terminal's width, or 120 columns when stderr is not a terminal
    // (miette's 80 would fold long host and command names in logs).
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let _ = miette::set_hook(Box::new(|_| {
            Box::new(miette::MietteHandlerOpts::new().width(120).build())
        }));
    }
    let code = match cli::dispatch(cli) {
        Ok(()) => error::exit::OK,
        Err(e) => {
            let code = e.exit_code();
            errln!("{:?}", miette::Report::new(e));
            code
        }
    };
    journal::events::exit(code);
    code
}
