//! Integration tests: the real binary, real files, real servers (the lab).
//! One test binary (see Cargo.toml), modules by concern:

/// CLI: list, show, fork, check, doc; usage errors and diagnostics.
mod cli;
/// Running runbooks on the Local transport: steps, selection, journal, resume, plan, secrets.
mod run;
/// Undo: temporarily, on success, error, SIGINT, and SIGKILL + revert.
mod undo;
/// The harness: temp folder, binary, journal readers.
mod util;
