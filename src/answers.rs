//! `--answers FILE`: the answers to a run's pauses and confirmations, given up front, so a
//! scheduler (a CI runner, AWX, Rundeck, a Kubernetes Job) runs a runbook unattended without a
//! blanket `--yes`.
//!
//! The file is TOML, one `[[answer]]` per question:
//!
//! ```toml
//! [[answer]]
//! step = "install"                 # the step that asks (left out: any step)
//! question = "Install the new"     # a piece of the question's text (left out: any question)
//! answer = "yes"                   # "yes" or "no" (a pause answered "no" stops the run there)
//! ```
//!
//! The first entry that matches answers. With `--answers`, the file is the only source of answers:
//! a question it does not answer fails the run at once (nothing waits on a terminal), naming the
//! entry to add. The file is read, and its steps checked against the runbook's, before any step runs.

use crate::error::{Error, Result};
use crate::journal::QuestionKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The answers read from a file.
#[derive(Debug, Clone)]
pub struct Answers {
    /// The file they were read from (named in the journal and in errors).
    pub path: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    step: Option<String>,
    question: Option<String>,
    answer: Reply,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Reply {
    Yes,
    No,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    answer: Vec<Entry>,
}

impl Answers {
    /// Read and check an answers file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::input("answers file", path, e))?;
        let file: File = toml::from_str(&text).map_err(|e| {
            Error::usage(format!("answers file {}: {e}", path.display())).with_help(EXAMPLE)
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            entries: file.answer,
        })
    }

    /// The steps the entries name, for checking against the runbook's before the run starts.
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| e.step.as_deref())
    }

    /// The answer to `text` asked in `step`, if an entry gives one.
    pub fn answer(&self, step: Option<&str>, text: &str) -> Option<bool> {
        self.entries
            .iter()
            .find(|e| {
                e.step.as_deref().is_none_or(|s| Some(s) == step)
                    && e.question.as_deref().is_none_or(|q| text.contains(q))
            })
            .map(|e| e.answer == Reply::Yes)
    }

    /// The failure of a question the file does not answer: what to add to it.
    pub fn unanswered(&self, step: Option<&str>, kind: QuestionKind, text: &str) -> Error {
        let first = text.lines().next().unwrap_or("");
        let piece: String = first.chars().take(60).collect();
        let step_line = step.map_or(String::new(), |s| format!("step = {}\n", quoted(s)));
        // All in the message: it reaches the operator through the script's error, which keeps
        // no help.
        Error::usage(format!(
            "the {} `{first}`{} is not answered in {}; to answer it, add:\n[[answer]]\n{step_line}question = {}\nanswer = \"yes\"",
            kind.name(),
            step.map_or(String::new(), |s| format!(" (step {s})")),
            self.path.display(),
            quoted(&piece)
        ))
    }
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

const EXAMPLE: &str = "an answers file holds [[answer]] entries:\n[[answer]]\nstep = \"install\"\nquestion = \"Install the new\"\nanswer = \"yes\"";

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(text: &str) -> Answers {
        let file: File = toml::from_str(text).expect("parses");
        Answers {
            path: "a.toml".into(),
            entries: file.answer,
        }
    }

    #[test]
    fn the_first_entry_that_matches_answers() {
        let a = answers(
            "[[answer]]\nstep = \"s\"\nquestion = \"mgr-1\"\nanswer = \"no\"\n[[answer]]\nstep = \"s\"\nanswer = \"yes\"\n",
        );
        assert_eq!(a.answer(Some("s"), "mgr-1: copy?"), Some(false));
        assert_eq!(a.answer(Some("s"), "mgr-2: copy?"), Some(true));
        assert_eq!(a.answer(Some("t"), "mgr-2: copy?"), None);
        assert_eq!(a.answer(None, "mgr-2: copy?"), None);
    }

    #[test]
    fn an_answer_other_than_yes_or_no_and_unknown_keys_are_refused() {
        assert!(toml::from_str::<File>("[[answer]]\nanswer = \"maybe\"\n").is_err());
        assert!(toml::from_str::<File>("[[answer]]\nanswer = \"yes\"\nstpe = \"x\"\n").is_err());
        assert!(toml::from_str::<File>("[[answer]]\nstep = \"x\"\n").is_err());
    }
}
