//! `runbook log --format text|json|markdown` and `runbook report`, from a run's real journal; the
//! report rendered in headless Chromium (Debian's `chromium`).

use crate::util::{journal_of, Rb};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A page rendered by headless Chromium: its screenshot (PNG bytes) and its DOM after scripts ran.
pub struct Rendered {
    pub png: Vec<u8>,
    pub dom: String,
}

/// Whether Chromium is here; without it a test skips loudly, but not under CI (`CI` set), which
/// installs it (.ci/run).
pub fn chromium_present() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{CHROMIUM} is missing under CI: .ci/run installs Debian's chromium"
    );
    eprintln!(
        "\n!!!!!!!! SKIPPED: {CHROMIUM} is missing (apt-get install chromium); the report is not rendered !!!!!!!!\n"
    );
    false
}

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

/// Render `page` (a file): a screenshot and the DOM, each with a fresh profile.
pub fn render(page: &Path) -> Rendered {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", page.display());
    let shot = dir.path().join("shot.png");
    let out = chromium(
        &dir.path().join("p1"),
        &[&format!("--screenshot={}", shot.display()), &url],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let out = chromium(&dir.path().join("p2"), &["--dump-dom", &url]);
    Rendered {
        png,
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// A PNG's width and height, from its header.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// The size of the screenshot of an empty page, the baseline a drawn report must exceed.
fn blank_png_len() -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("blank.html");
    std::fs::write(&page, "<!DOCTYPE html><html><body></body></html>").expect("write");
    render(&page).png.len()
}

/// The report is one file that fetches nothing: no src, href, url() or @import.
pub fn assert_self_contained(html: &str) {
    for external in ["src=", "href=", "url(", "@import", "<link"] {
        assert!(
            !html.contains(external),
            "the report refers out: {external}"
        );
    }
}

/// What the DOM of a report must show of the journal: a row per step, a lane per host that ran
/// a command, a mark per command, copy and undo run, and the windows.
pub fn assert_dom_shows_the_journal(dom: &str, journal: &[Value]) {
    let of = |kind: &'static str| journal.iter().filter(move |r| r["event"] == kind);
    for s in of("step_end") {
        let step = s["step"].as_str().expect("step");
        assert!(
            dom.contains(&format!("class=\"step-row\" data-step=\"{step}\"")),
            "no row for step {step}"
        );
    }
    for c in of("command") {
        let host = c["host"].as_str().expect("host");
        assert!(
            dom.contains(&format!("class=\"lane\" data-lane=\"{host}\"")),
            "no lane for {host}"
        );
    }
    let marks = dom.matches("data-record=").count();
    let expected = of("command").count() + of("transfer").count() + of("undo_pop").count();
    assert_eq!(marks, expected, "a mark per command, copy and undo run");
    let windows = of("window_open").count();
    assert_eq!(dom.matches("<rect class=\"window\"").count(), windows);
}

const RUNBOOK: &str = r#"//! Report.
step("first", "Two hosts", || {
    ssh::run("alpha", ["true"]);
    ssh::run("beta", ["sh", "-c", "exit 0"]);
});
temporarily(|| {
    step("raise", "A temporary change and a copy", || {
        undo::shell("alpha", "true");
        copy::upload("beta", "src.txt", "copied.txt");
    });
});
step("fails", "A command that fails", || {
    ssh::run("beta", ["sh", "-c", "exit 3"]);
});
"#;

fn a_run() -> (Rb, PathBuf) {
    let rb = Rb::new();
    rb.write("report.rhai", RUNBOOK);
    rb.write("src.txt", "payload");
    rb.run(&["run", "report.rhai", "-i", "local.toml"]).code(1);
    let run = rb.last_run();
    (rb, run)
}

#[test]
fn log_as_json_is_the_journal_and_as_markdown_sums_it_up() {
    let (rb, run) = a_run();
    let journal = journal_of(&run);
    let id = run.file_name().expect("id").to_string_lossy().into_owned();

    let r = rb.run(&["log", "--format", "json"]);
    r.code(0);
    let doc: Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    assert_eq!(doc["schema"], "runbook.log/1");
    assert_eq!(doc["run"]["id"], id.as_str());
    assert_eq!(doc["run"]["runbook"], "report.rhai");
    let records = doc["records"].as_array().expect("records");
    assert_eq!(records.len(), journal.len());
    for (r, j) in records.iter().zip(&journal) {
        let mut j = j.clone();
        if j["event"] == "undo_push" {
            j.as_object_mut().expect("object").remove("action");
        }
        assert_eq!(r, &j);
    }

    let r = rb.run(&["log", &id, "--format", "markdown"]);
    r.code(0);
    let md = &r.stdout;
    for line in [
        format!("# Run {id} — report.rhai"),
        "| outcome | failed: beta (local): `sh -c 'exit 3'` exited with 3 |".into(),
        "| hosts | alpha, beta |".into(),
        "| # | step | result | duration | hosts |".into(),
        "| 1 | first | ✓ |".into(),
        "| 3 | fails | ✗ beta (local): `sh -c 'exit 3'` exited with 3 |".into(),
        "- beta `sh -c 'exit 3'` → 3 (".into(),
        "### raise".into(),
    ] {
        assert!(md.contains(&line), "markdown misses `{line}`:\n{md}");
    }
    let window = journal
        .iter()
        .find(|r| r["event"] == "window_close")
        .expect("window_close");
    assert!(
        md.contains("| temporary window | ") && window["undone"] == 1,
        "{md}"
    );

    // Text stays one line a record, between the run's header and the risk window's length.
    let r = rb.run(&["log", "--format", "text"]);
    r.code(0);
    assert_eq!(r.stdout.lines().count(), journal.len() + 2, "{}", r.stdout);
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("window of temporary changes: ") && last.ends_with(" s"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("┌ temporary window 1 opened"),
        "{}",
        r.stdout
    );
}

#[test]
fn report_is_one_file_that_renders_in_chromium_with_the_runs_steps_and_lanes() {
    let (rb, run) = a_run();
    let r = rb.run(&["report"]);
    r.code(0);
    let path = run.join("report.html");
    assert_eq!(r.stdout.trim(), path.display().to_string());
    let html = std::fs::read_to_string(&path).expect("report.html");
    assert_self_contained(&html);
    let journal = journal_of(&run);
    // -o writes elsewhere, the same report.
    let r = rb.run(&["report", "-o", "elsewhere.html"]);
    r.code(0);
    assert!(rb.read("elsewhere.html").contains("<svg id=\"timeline\""));

    if !chromium_present() {
        return;
    }
    let page = render(&path);
    assert_eq!(png_size(&page.png), (1280, 900), "the screenshot");
    assert!(
        page.png.len() > 2 * blank_png_len(),
        "the screenshot is not a near-empty page ({} bytes)",
        page.png.len()
    );
    assert_dom_shows_the_journal(&page.dom, &journal);
    // The page's script ran and parsed the journal it embeds.
    assert!(
        page.dom
            .contains(&format!("data-records=\"{}\"", journal.len())),
        "{}",
        page.dom
    );
    assert!(page.dom.contains("(click a mark)"));
}
