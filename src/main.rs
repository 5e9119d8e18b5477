//! The `runbook` command: everything is in the library ([`runbook::run_cli`]).

fn main() {
    std::process::exit(runbook::run_cli());
}
