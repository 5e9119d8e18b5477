//! Resumable copies (issue 15): a copy whose connection drops half-way continues, on `runbook
//! resume`, from the bytes already at the destination's temporary name once their prefix matches
//! the source's; a corrupted partial file is noticed and the copy starts over. Real sshd (the
//! lab's `fault HOST drop` kills the open sessions), real files, sha256 checked on the host.
use crate::lab_env::{exclusive, lab, Lab};
use crate::util::{events, Rb};
use std::time::{Duration, Instant};

const SIZE: u64 = 256 << 20;
const DEST: &str = "/tmp/resumed.bin";

/// A 256 MiB random file in the run's folder and its sha256.
fn random_source(rb: &Rb) -> (std::path::PathBuf, String) {
    let src = rb.path("snap.bin");
    let f = std::fs::File::create(&src).expect("create");
    let status = std::process::Command::new("head")
        .args(["-c", &SIZE.to_string(), "/dev/urandom"])
        .stdout(f)
        .status()
        .expect("head");
    assert!(status.success());
    let out = std::process::Command::new("sha256sum")
        .arg(&src)
        .output()
        .expect("sha256sum");
    let sum = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    (src, sum)
}

/// Bytes at the destination's temporary name(s) on mgr-3 (0 when there is none).
fn partial_bytes(lab: &Lab) -> u64 {
    lab.exec(
        "mgr-3",
        &[
            "sh",
            "-c",
            &format!("cat {DEST}.runbook-tmp-* 2>/dev/null | wc -c"),
        ],
    )
    .trim()
    .parse()
    .unwrap_or(0)
}

/// `runbook run SCRIPT`; once `landed()` (the bytes at the destination's temporary name) reaches
/// half of `SIZE`, drop `host`'s SSH sessions: the run must fail and keep 40–100 % of the file.
/// The bytes kept.
fn run_and_drop_at_half(
    lab: &Lab,
    rb: &Rb,
    script: &str,
    host: &str,
    landed: &dyn Fn() -> u64,
) -> u64 {
    let child = rb
        .command(&["run", script, "-i", lab.inventory()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while landed() < SIZE / 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the copy never got half-way"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    lab.fault(host, "drop");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the drop came too late or did not fail the copy: {stderr}"
    );
    let kept = landed();
    assert!(
        (SIZE * 2 / 5..SIZE).contains(&kept),
        "the dropped copy keeps its partial file: {kept} of {SIZE} bytes"
    );
    kept
}

/// Start the upload of `src` to mgr-3 and drop its connection once about half has landed; the
/// run fails. Returns the partial file's size after the drop.
fn upload_and_drop_at_half(lab: &Lab, rb: &Rb, src: &std::path::Path) -> u64 {
    lab.exec("mgr-3", &["sh", "-c", &format!("rm -f {DEST} {DEST}.*")]);
    rb.write(
        "resume.rhai",
        &format!(
            r#"//! A copy that is dropped and resumed.
step("copy", "Upload the snapshot", || {{
    let r = copy::upload("mgr-3", "{}", "{DEST}", #{{ timeout: 20, overwrite: true }});
    log("sha=" + r.sha256);
}});
"#,
            src.display()
        ),
    );
    let kept = run_and_drop_at_half(lab, rb, "resume.rhai", "mgr-3", &|| partial_bytes(lab));
    assert_ne!(
        lab.exec_status("mgr-3", &["test", "-e", DEST]),
        0,
        "nothing under the final name"
    );
    kept
}

fn sha_on_mgr3(lab: &Lab) -> String {
    lab.exec("mgr-3", &["sha256sum", DEST])
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The last transfer record of the journal.
fn last_transfer(rb: &Rb) -> serde_json::Value {
    events(&rb.journal(), "transfer")
        .last()
        .map(|e| (*e).clone())
        .expect("a transfer record")
}

#[test]
fn a_copy_dropped_at_half_resumes_from_the_partial_file_and_verifies() {
    let lab = lab();
    let _serial = exclusive();
    let rb = Rb::new();
    let (src, sum) = random_source(&rb);
    let kept = upload_and_drop_at_half(lab, &rb, &src);

    let r = rb.run(&["resume"]);
    r.code(0);
    assert!(r.stderr.contains(&format!("sha={sum}")), "{}", r.stderr);
    let t = last_transfer(&rb);
    assert_eq!(t["error"], serde_json::Value::Null, "{t}");
    let offset = t["resumed_from"].as_u64().unwrap_or(0);
    assert!(
        offset >= SIZE * 2 / 5,
        "the second attempt resumes from at least 40 % of the file: {t}"
    );
    assert_eq!(offset, kept, "it resumes from the bytes the drop left: {t}");
    assert_eq!(t["bytes"].as_u64(), Some(SIZE), "{t}");
    assert_eq!(t["sha256"].as_str(), Some(sum.as_str()), "{t}");
    assert_eq!(sha_on_mgr3(lab), sum, "the file on the host is the source");
    assert_eq!(partial_bytes(lab), 0, "no temporary file is left");
    // `runbook log` says where it resumed from.
    let log = rb.run(&["log"]);
    assert!(
        log.stdout.contains(&format!("resumed from {offset}")),
        "{}",
        log.stdout
    );
    lab.exec("mgr-3", &["sh", "-c", &format!("rm -f {DEST} {DEST}.*")]);
}

#[test]
fn a_corrupted_partial_file_is_noticed_and_the_copy_starts_over() {
    let lab = lab();
    let _serial = exclusive();
    let rb = Rb::new();
    let (src, sum) = random_source(&rb);
    upload_and_drop_at_half(lab, &rb, &src);
    // 16 bytes of the kept prefix overwritten, at 1 MiB: the partial file no longer matches.
    lab.exec(
        "mgr-3",
        &[
            "sh",
            "-c",
            &format!(
                "for f in {DEST}.runbook-tmp-*; do \
                 dd if=/dev/zero of=\"$f\" bs=1 seek=1048576 count=16 conv=notrunc status=none; done"
            ),
        ],
    );

    let r = rb.run(&["resume"]);
    r.code(0);
    assert!(
        r.stderr.contains("does not match") && r.stderr.contains("starting over"),
        "the operator is told: {}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("sha={sum}")), "{}", r.stderr);
    let t = last_transfer(&rb);
    assert_eq!(t["error"], serde_json::Value::Null, "{t}");
    assert_eq!(t["resumed_from"].as_u64().unwrap_or(0), 0, "{t}");
    assert_eq!(t["sha256"].as_str(), Some(sum.as_str()), "{t}");
    let journal = rb.journal();
    let notes = events(&journal, "note");
    assert!(
        notes.iter().any(|n| n["message"]
            .as_str()
            .unwrap_or("")
            .contains("starting over")),
        "the journal says so too: {notes:?}"
    );
    assert_eq!(sha_on_mgr3(lab), sum, "the file on the host is the source");
    assert_eq!(partial_bytes(lab), 0, "no temporary file is left");
    lab.exec("mgr-3", &["sh", "-c", &format!("rm -f {DEST} {DEST}.*")]);
}

/// `run_and_drop_at_half` on `script`, then `runbook resume` finishes the copy from exactly the
/// kept bytes. The resumed transfer record.
fn dropped_then_resumed(
    lab: &Lab,
    rb: &Rb,
    script: &str,
    host: &str,
    landed: &dyn Fn() -> u64,
) -> serde_json::Value {
    rb.write("copy.rhai", script);
    let kept = run_and_drop_at_half(lab, rb, "copy.rhai", host, landed);
    let r = rb.run(&["resume"]);
    r.code(0);
    let t = last_transfer(rb);
    assert_eq!(t["resumed_from"].as_u64(), Some(kept), "{t}");
    assert_eq!(t["bytes"].as_u64(), Some(SIZE), "{t}");
    t
}

#[test]
fn a_download_and_a_host_to_host_copy_resume_too() {
    let lab = lab();
    let _serial = exclusive();
    let rb = Rb::new();
    let src = "/tmp/resume-src.bin";
    lab.exec(
        "mgr-3",
        &[
            "sh",
            "-c",
            &format!("head -c {SIZE} /dev/urandom > {src} && chmod 644 {src}"),
        ],
    );
    let sum = lab
        .exec("mgr-3", &["sha256sum", src])
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();

    // Download from mgr-3: its session drops, the partial file is here.
    let local = rb.path("down.bin");
    let dir = rb.path("");
    let local_partial = || -> u64 {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with("down.bin.runbook-tmp-")
                    })
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    let t = dropped_then_resumed(
        lab,
        &rb,
        &format!(
            "//! Down.\nstep(\"copy\", \"d\", || {{ copy::download(\"mgr-3\", \"{src}\", \"{}\", #{{ timeout: 20 }}); }});\n",
            local.display()
        ),
        "mgr-3",
        &local_partial,
    );
    assert_eq!(t["sha256"].as_str(), Some(sum.as_str()), "{t}");
    let got = std::process::Command::new("sha256sum")
        .arg(&local)
        .output()
        .expect("sha256sum");
    assert!(String::from_utf8_lossy(&got.stdout).starts_with(&sum));

    // mgr-3 → mgr-1: the destination's sessions drop, the partial file is on mgr-1.
    let dst = "/tmp/resume-between.bin";
    lab.exec("mgr-1", &["sh", "-c", &format!("rm -f {dst} {dst}.*")]);
    let remote_partial = || -> u64 {
        lab.exec(
            "mgr-1",
            &[
                "sh",
                "-c",
                &format!("cat {dst}.runbook-tmp-* 2>/dev/null | wc -c"),
            ],
        )
        .trim()
        .parse()
        .unwrap_or(0)
    };
    let t = dropped_then_resumed(
        lab,
        &rb,
        &format!("//! Between.\nstep(\"copy\", \"d\", || {{ copy::between(\"mgr-3\", \"{src}\", \"mgr-1\", \"{dst}\", #{{ timeout: 20 }}); }});\n"),
        "mgr-1",
        &remote_partial,
    );
    assert_eq!(t["sha256"].as_str(), Some(sum.as_str()), "{t}");
    assert_eq!(
        lab.exec("mgr-1", &["sha256sum", dst])
            .split_whitespace()
            .next(),
        Some(sum.as_str())
    );
    lab.exec("mgr-1", &["sh", "-c", &format!("rm -f {dst} {dst}.*")]);
    lab.exec("mgr-3", &["rm", "-f", src]);
}
