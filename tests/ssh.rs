use crate::lab_env::{exclusive, lab, shared, Restore};
use crate::util::{events, Rb};
use std::time::{Duration, Instant};

const HOSTS: [&str; 4] = ["old-1", "mgr-1", "mgr-2", "mgr-3"];

#[test]
fn a_command_runs_on_all_four_hosts_in_parallel_and_is_journaled_per_host() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    rb.write(
        "all.rhai",
        r#"//! All hosts.
step("names", "Ask every host its name", || {
    let r = ssh::run_all(inventory.group("old_manager") + inventory.group("new_managers"), ["sh", "-c", "sleep 1; uname -n"]);
    for name in r.keys() { log(name + "=" + r[name].stdout.trimmed()); }
});
"#,
    );
    let started = Instant::now();
    rb.run(&["run", "all.rhai", "-i", lab.inventory()]).code(0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let j = rb.journal();
    let cmds = events(&j, "command");
    let mut hosts: Vec<_> = cmds
        .iter()
        .map(|c| c["host"].as_str().unwrap_or("").to_string())
        .collect();
    hosts.sort();
    let mut expected = HOSTS.map(String::from).to_vec();
    expected.sort();
    assert_eq!(hosts, expected);
    for c in &cmds {
        assert_eq!(c["code"], 0);
        assert_eq!(
            c["stdout_tail"], c["host"],
            "each host answered with its own name"
        );
    }
}

#[test]
fn sudo_reaches_root_only_files_and_plain_run_does_not() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    rb.write(
        "sudo.rhai",
        r#"//! Sudo.
step("read", "Read patroni.conf", || {
    let plain = ssh::run("mgr-1", ["cat", "/etc/patroni.conf"], #{ check: false });
    log("plain=" + plain.code);
    let root = ssh::sudo("mgr-1", ["cat", "/etc/patroni.conf"]);
    log("scope=" + root.stdout.contains("scope: postgres"));
    log("whoami=" + ssh::run("mgr-1", ["whoami"]).stdout.trimmed());
});
"#,
    );
    let r = rb.run(&["run", "sudo.rhai", "-i", lab.inventory()]);
    r.code(0);
    assert!(r.stderr.contains("plain=1"), "{}", r.stderr);
    assert!(r.stderr.contains("scope=true"), "{}", r.stderr);
    assert!(r.stderr.contains("whoami=rbops"), "{}", r.stderr);
}

#[test]
fn hostile_arguments_arrive_literally_over_ssh() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    rb.write(
        "hostile.rhai",
        r#"//! Hostile.
step("args", "Hostile argv", || {
    ssh::sudo("mgr-2", ["sh", "-c", "for a in \"$@\"; do printf '<%s>\\n' \"$a\"; done > /tmp/args.txt", "x",
        "; touch /tmp/pwned", "$(touch /tmp/pwned)", "`touch /tmp/pwned`", "it's \"q\" \\", "a\nb", "", "*"]);
});
"#,
    );
    rb.run(&["run", "hostile.rhai", "-i", lab.inventory()])
        .code(0);
    assert_eq!(
        lab.exec("mgr-2", &["cat", "/tmp/args.txt"]),
        "<; touch /tmp/pwned>\n<$(touch /tmp/pwned)>\n<`touch /tmp/pwned`>\n<it's \"q\" \\>\n<a\nb>\n<>\n<*>\n"
    );
    assert_ne!(
        lab.exec_status("mgr-2", &["test", "-e", "/tmp/pwned"]),
        0,
        "no injected command ran"
    );
}

fn sha_of(lab: &crate::lab_env::Lab, host: &str, path: &str) -> String {
    lab.exec(host, &["sha256sum", path])
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn upload_download_and_host_to_host_copy_of_256_mib_verify_sha256() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    let big = rb.path("big.bin");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(0).ok();
    let status = std::process::Command::new("head")
        .args(["-c", "268435456", "/dev/urandom"])
        .stdout(f)
        .status()
        .expect("head");
    assert!(status.success());
    let local_sum = String::from_utf8_lossy(
        &std::process::Command::new("sha256sum")
            .arg(&big)
            .output()
            .expect("sha")
            .stdout,
    )
    .split_whitespace()
    .next()
    .unwrap_or("")
    .to_string();
    rb.write(
        "copy.rhai",
        &format!(
            r#"//! Copies.
step("copy", "Up, down, between", || {{
    ssh::run("mgr-1", ["rm", "-f", "/tmp/big.bin"]);
    ssh::run("mgr-3", ["rm", "-f", "/tmp/big-copy.bin"]);
    let up = copy::upload("mgr-1", "{big}", "/tmp/big.bin");
    log("up=" + up.sha256);
    copy::download("mgr-1", "/tmp/big.bin", "{down}");
    copy::between("mgr-1", "/tmp/big.bin", "mgr-3", "/tmp/big-copy.bin");
}});
"#,
            big = big.display(),
            down = rb.path("down.bin").display()
        ),
    );
    let r = rb.run(&["run", "copy.rhai", "-i", lab.inventory()]);
    r.code(0);
    assert!(
        r.stderr.contains(&format!("up={local_sum}")),
        "{}",
        r.stderr
    );
    assert_eq!(sha_of(lab, "mgr-1", "/tmp/big.bin"), local_sum);
    assert_eq!(sha_of(lab, "mgr-3", "/tmp/big-copy.bin"), local_sum);
    let down = std::process::Command::new("sha256sum")
        .arg(rb.path("down.bin"))
        .output()
        .expect("sha");
    assert!(String::from_utf8_lossy(&down.stdout).starts_with(&local_sum));
    assert_eq!(
        lab.exec("mgr-1", &["stat", "-c", "%a %U", "/tmp/big.bin"])
            .trim(),
        "600 rbops"
    );
    let transfers = events(&rb.journal(), "transfer").len();
    assert_eq!(transfers, 3);
    for (h, p) in [("mgr-1", "/tmp/big.bin"), ("mgr-3", "/tmp/big-copy.bin")] {
        lab.exec(h, &["rm", "-f", p]);
    }
}

#[test]
fn a_copy_to_a_full_disk_fails_clearly_and_leaves_no_file() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    let src = rb.path("32m.bin");
    std::fs::write(&src, vec![7u8; 32 << 20]).expect("write");
    rb.write(
        "full.rhai",
        &format!(
            r#"//! Full disk.
step("copy", "Copy into a 16 MiB tmpfs", || {{
    copy::upload("mgr-2", "{}", "/mnt/small/snap.bin", #{{ sudo: true }});
}});
"#,
            src.display()
        ),
    );
    let r = rb.run(&["run", "full.rhai", "-i", lab.inventory()]);
    r.code(1);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
    assert!(
        r.stderr.contains("mgr-2:/mnt/small/snap.bin"),
        "{}",
        r.stderr
    );
    assert_eq!(
        lab.exec("mgr-2", &["ls", "-A", "/mnt/small"]),
        "",
        "neither the file nor its temporary is left"
    );
}

#[test]
fn a_copy_whose_connection_dies_fails_and_leaves_nothing_under_the_final_name() {
    let lab = lab();
    let _serial = exclusive();
    let rb = Rb::new();
    let src = rb.path("big.bin");
    std::fs::write(&src, vec![1u8; 512 << 20]).expect("write");
    rb.write(
        "drop.rhai",
        &format!(
            r#"//! Dropped connection.
step("copy", "Copy while the connection dies", || {{
    copy::upload("mgr-3", "{}", "/tmp/dropped.bin", #{{ timeout: 20 }});
}});
"#,
            src.display()
        ),
    );
    let child = rb
        .command(&["run", "drop.rhai", "-i", lab.inventory()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while lab.exec_status(
        "mgr-3",
        &[
            "sh",
            "-c",
            "ls /tmp/dropped.bin.runbook-tmp-* >/dev/null 2>&1",
        ],
    ) != 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the copy never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    lab.fault("mgr-3", "drop");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("copy local:") && stderr.contains("failed"),
        "{stderr}"
    );
    assert_ne!(
        lab.exec_status("mgr-3", &["test", "-e", "/tmp/dropped.bin"]),
        0,
        "nothing under the final name"
    );
    lab.exec("mgr-3", &["sh", "-c", "rm -f /tmp/dropped.bin*"]);
}

/// Flip `fault` on `host` (undone by `restore` when the test ends), run one command there with
/// `flags`; what it printed and how long it took.
fn one_command_under_fault(
    host: &'static str,
    fault: &str,
    restore: &'static str,
    flags: &[&str],
) -> (crate::util::Ran, Duration) {
    let lab = lab();
    lab.fault(host, fault);
    let _restore = Restore {
        host,
        action: restore,
    };
    let rb = Rb::new();
    rb.write(
        "one.rhai",
        &format!("//! One.\nstep(\"s\", \"d\", || {{ ssh::run(\"{host}\", [\"true\"]); }});\n"),
    );
    let started = Instant::now();
    let mut args = vec!["run", "one.rhai", "-i", lab.inventory()];
    args.extend_from_slice(flags);
    let r = rb.run(&args);
    (r, started.elapsed())
}

#[test]
fn an_unreachable_host_fails_within_its_deadline_naming_host_and_address() {
    let _serial = exclusive();
    let (r, took) = one_command_under_fault("mgr-2", "stop", "start", &["--connect-timeout", "3"]);
    r.code(1);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        r.stderr.contains("mgr-2 (rbops@127.0.0.13)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Connection refused"), "{}", r.stderr);
}

#[test]
fn a_frozen_host_fails_at_the_deadline_instead_of_hanging() {
    let _serial = exclusive();
    let (r, took) = one_command_under_fault(
        "mgr-3",
        "freeze",
        "thaw",
        &["--connect-timeout", "2", "--timeout", "4"],
    );
    r.code(1);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        r.stderr.contains("mgr-3 (rbops@127.0.0.14)"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unknown_host_key_is_refused_unless_accepted() {
    let lab = lab();
    let _lab = shared();
    let rb = Rb::new();
    let inv = std::fs::read_to_string(&lab.inventory).expect("inventory");
    let empty_known = rb.write("known_hosts", "");
    rb.write(
        "inv.toml",
        &inv.replace(
            &lab.dir.join("known_hosts").display().to_string(),
            &empty_known.display().to_string(),
        ),
    );
    rb.write(
        "one.rhai",
        "//! One.\nstep(\"s\", \"d\", || { ssh::run(\"old-1\", [\"true\"]); });\n",
    );
    let r = rb.run(&["run", "one.rhai", "-i", "inv.toml"]);
    r.code(1);
    assert!(
        r.stderr.contains("old-1 (rbops@127.0.0.11)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.to_lowercase().contains("host key"), "{}", r.stderr);
    rb.run(&[
        "run",
        "one.rhai",
        "-i",
        "inv.toml",
        "--accept-new-host-keys",
    ])
    .code(0);
    // ssh may hash the names it writes (Debian: HashKnownHosts yes): ask ssh-keygen.
    let found = std::process::Command::new("ssh-keygen")
        .args(["-F", "127.0.0.11", "-f"])
        .arg(&empty_known)
        .output()
        .expect("ssh-keygen");
    assert!(found.status.success(), "the accepted key was remembered");
}
