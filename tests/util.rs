//! The harness: a temporary work folder, the real binary, and readers for what a run left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// An isolated folder with its own state dir, running the real `runbook` binary.
pub struct Rb {
    pub dir: tempfile::TempDir,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Assert the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub const LOCAL_INVENTORY: &str = r#"
[hosts.alpha]
transport = "local"
groups = ["web"]
[hosts.beta]
transport = "local"
groups = ["web", "db"]
"#;

impl Rb {
    pub fn new() -> Self {
        let rb = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        rb.write("local.toml", LOCAL_INVENTORY);
        rb
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_runbook"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("RUNBOOK_STATE_DIR", self.path("state"))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "120")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::from(self.command(args).output().expect("run runbook"))
    }

    fn spawn_piped(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    }

    /// Run with `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Ran {
        use std::io::Write;
        let mut child = self.spawn_piped(args);
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        Ran::from(child.wait_with_output().expect("wait"))
    }

    /// Run with stdin a pipe nobody writes to and that stays open: a run that read it (waited
    /// for an answer) would never end, instead of passing.
    pub fn run_with_stdin_open(&self, args: &[&str]) -> Ran {
        let mut child = self.spawn_piped(args);
        let _open = child.stdin.take();
        Ran::from(child.wait_with_output().expect("wait"))
    }

    /// The newest run's folder.
    pub fn last_run(&self) -> PathBuf {
        let mut runs: Vec<PathBuf> = std::fs::read_dir(self.path("state"))
            .expect("state dir")
            .map(|e| e.expect("entry").path())
            .collect();
        runs.sort();
        runs.pop().expect("a run")
    }

    /// The newest run's journal records.
    pub fn journal(&self) -> Vec<serde_json::Value> {
        journal_of(&self.last_run())
    }
}

pub fn journal_of(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("journal.jsonl"))
        .expect("journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The journal's events of one kind.
pub fn events<'a>(journal: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    journal.iter().filter(|r| r["event"] == kind).collect()
}
