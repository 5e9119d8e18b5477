//! Integration tests: the real binary, real files, real servers (the lab).
//! One test binary (see Cargo.toml), modules by concern:

/// CLI: list, show, fork, check, doc; usage errors and diagnostics.
mod cli;
/// Shell completions (in a real bash) and the man page.
mod completion;
/// Resumable copies: dropped at half and resumed, a corrupted partial file started over.
mod copy_resume;
/// The JSON event stream (`--events`), checked against the journal.
mod events;
/// The host-side dead man's switch (issue 14, item 2), on the lab.
mod guard;
/// Inventories: Ansible YAML, INI, JSON and scripts against real `ansible-inventory`, and a run
/// through them on the lab.
mod inventory;
/// The lab: started once per test run, shared, serialised where tests change it.
mod lab_env;
/// The lab itself: from any checkout; the manager simulator against Cloudify's real CLI.
mod lab_itself;
/// The top-level modules of src/ depend one way only (no import cycle).
mod layers;
/// Never orphan the restore (issue 14): in-flight work checked before any undo, on the lab.
mod orphan;
/// The REPL and the recovery prompt on a failed step, through a pseudo-terminal against the lab.
mod repl;
/// `runbook log --format` and `runbook report` (rendered in headless Chromium).
mod report;
/// Running runbooks on the Local transport: steps, selection, journal, resume, plan, secrets.
mod run;
/// The safety core under faults: secrets vs. restored files, torn and corrupt journals, closed
/// output, full disks, deadlines that stop commands, engine limits (issue 12).
mod safety;
/// What users read, held exactly: diagnostics of each kind and the upgrade's plan (insta).
mod snapshots;
/// SSH transport and copy against the lab's real sshd hosts.
mod ssh;
/// Patroni and HAProxy primitives against the lab's real etcd, Patroni and HAProxy.
mod timeouts;
/// Undo: temporarily, on success, error, SIGINT, and SIGKILL + revert.
mod undo;
/// The bundled Cloudify HA upgrade runbook, end to end on the lab.
mod upgrade;
/// The harness: temp folder, binary, journal readers.
mod util;
