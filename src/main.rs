fn main() {
    std::process::exit(runbook::run_cli());
}
