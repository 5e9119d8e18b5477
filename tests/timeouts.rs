//! The Patroni and HAProxy primitives against the lab's real etcd, Patroni and HAProxy.
use crate::lab_env::{exclusive, lab, shared, Lab, Restore};
use crate::util::{events, Rb};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const PATRONICTL: [&str; 3] = ["/opt/patroni/bin/patronictl", "-c", "/etc/patroni.conf"];

fn patronictl(lab: &Lab, args: &[&str]) -> String {
    let argv: Vec<&str> = PATRONICTL.iter().chain(args).copied().collect();
    lab.exec("mgr-1", &argv)
}

/// The dynamic config straight from etcd's v2 API (what Patroni reads), as JSON: asked of mgr-1's
/// member, the one mgr-1's Patroni talks to.
fn etcd_config() -> serde_json::Value {
    let mut s = TcpStream::connect("127.0.0.12:2379").expect("etcd");
    s.write_all(b"GET /v2/keys/db/postgres/config?quorum=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).expect("response");
    let json = body.split("\r\n\r\n").nth(1).unwrap_or("");
    let node: serde_json::Value = serde_json::from_str(json).expect("etcd json");
    serde_json::from_str(node["node"]["value"].as_str().expect("config value"))
        .expect("config json")
}

/// A runbook step that signals `ready` on HOST, then blocks until the test creates `go`.
fn handshake(host: &str) -> String {
    format!(
        r#"ssh::run("{host}", ["sh", "-c", "touch /tmp/rb-ready; i=0; while [ ! -e /tmp/rb-go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"], #{{ timeout: 90 }});"#
    )
}

fn wait_ready(lab: &Lab, host: &str, child: &mut std::process::Child) {
    let start = Instant::now();
    while lab.exec_status(host, &["test", "-e", "/tmp/rb-ready"]) != 0 {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("the runbook ended before the handshake ({status}):\n{err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the runbook never reached the handshake"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn release(lab: &Lab, host: &str) {
    lab.exec(host, &["touch", "/tmp/rb-go"]);
}

/// Remove the handshake files (root made rb-go; the sticky /tmp keeps rbops from removing it).
fn handshake_done(lab: &Lab, host: &str) {
    lab.exec(host, &["rm", "-f", "/tmp/rb-go", "/tmp/rb-ready"]);
}

#[test]
fn patroni_raise_then_undo_restores_the_original_config_exactly() {
    let lab = lab();
    let _serial = exclusive();
    // A site's own ttl, not the defaults, so the revert must really restore what was there; the
    // other keys as the lab bootstraps them, whatever an interrupted run left.
    patronictl(
        lab,
        &[
            "edit-config",
            "-s",
            "ttl=45",
            "-s",
            "retry_timeout=10",
            "-s",
            "master_start_timeout=null",
            "--force",
        ],
    );
    let _reset = ResetTtl(lab);
    let original = patronictl(lab, &["show-config"]);
    assert!(original.contains("ttl: 45"));
    let rb = Rb::new();
    rb.write(
        "raise.rhai",
        &format!(
            r#"//! Raise.
step("raise", "Raise and wait", || {{
    temporarily(|| {{
        let r = patroni::raise("mgr-1", #{{ ttl: 86400, retry_timeout: 86400, master_start_timeout: 301 }});
        log("report " + r.ttl);
        {}
    }});
}});
"#,
            handshake("mgr-1")
        ),
    );
    let mut child = rb
        .command(&["run", "raise.rhai", "-i", lab.inventory()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_ready(lab, "mgr-1", &mut child);
    let during = patronictl(lab, &["show-config"]);
    let dcs = etcd_config();
    release(lab, "mgr-1");
    let out = child.wait_with_output().expect("wait");
    handshake_done(lab, "mgr-1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        during.contains("ttl: 86400") && during.contains("retry_timeout: 86400"),
        "{during}"
    );
    assert_eq!(dcs["ttl"], 86400, "{dcs}");
    assert_eq!(dcs["retry_timeout"], 86400, "{dcs}");
    assert_eq!(dcs["master_start_timeout"], 301, "{dcs}");
    assert!(stderr.contains("report 45 → 86400"), "{stderr}");

    assert_eq!(
        patronictl(lab, &["show-config"]),
        original,
        "the original config, added key removed"
    );
    let dcs = etcd_config();
    assert_eq!(dcs["ttl"], 45);
    assert!(dcs.get("master_start_timeout").is_none(), "{dcs}");
    assert_eq!(
        lab.exec("mgr-1", &["cat", "/etc/patroni.conf.bak"]),
        original,
        "the guide's backup file"
    );
    let j = rb.journal();
    let push = events(&j, "undo_push");
    assert!(
        push[0]["action"]["commands"][0]["stdin"]
            .as_str()
            .unwrap_or("")
            .contains("ttl: 45"),
        "the journal holds the backup"
    );
}

/// Put the lab's ttl back even when the test fails.
struct ResetTtl(&'static Lab);

impl Drop for ResetTtl {
    fn drop(&mut self) {
        patronictl(self.0, &["edit-config", "-s", "ttl=30", "--force"]);
    }
}

#[test]
fn patroni_failures_are_clear_and_leave_the_config_in_place() {
    let lab = lab();
    let _serial = exclusive();
    let before = patronictl(lab, &["show-config"]);
    let rb = Rb::new();
    let inv = std::fs::read_to_string(&lab.inventory).expect("inventory");

    // patronictl missing
    rb.write(
        "missing.toml",
        &inv.replace(
            "/opt/patroni/bin/patronictl",
            "/opt/patroni/bin/no-patronictl",
        ),
    );
    rb.write(
        "raise.rhai",
        "//! Raise.\nstep(\"raise\", \"d\", || { patroni::raise(\"mgr-1\", #{ ttl: 86400 }); });\n",
    );
    let r = rb.run(&["run", "raise.rhai", "-i", "missing.toml"]);
    r.code(1);
    assert!(
        r.stderr.contains("no-patronictl") && r.stderr.contains("exited with"),
        "{}",
        r.stderr
    );

    // An edit that would change a key's type (Patroni 3.0 would store it) is refused before it is made.
    rb.write("bad.rhai", "//! Bad.\nstep(\"bad\", \"d\", || { patroni::edit_config(\"mgr-1\", #{ loop_wait: \"soon\" }); });\n");
    let r = rb.run(&["run", "bad.rhai", "-i", lab.inventory()]);
    r.code(2);
    assert!(
        r.stderr.contains("`loop_wait` is an integer"),
        "{}",
        r.stderr
    );
    rb.write(
        "section.rhai",
        "//! Bad.\nstep(\"bad\", \"d\", || { patroni::raise(\"mgr-1\", #{ postgresql: 5 }); });\n",
    );
    let r = rb.run(&["run", "section.rhai", "-i", lab.inventory()]);
    r.code(2);
    assert!(
        r.stderr.contains("`postgresql` is a mapping"),
        "{}",
        r.stderr
    );
    assert_eq!(patronictl(lab, &["show-config"]), before);

    // A file patronictl itself rejects.
    lab.exec(
        "mgr-1",
        &["sh", "-c", "printf 'ttl: [1\\n' > /tmp/bad-patroni.yaml"],
    );
    rb.write("apply.rhai", "//! Apply.\nstep(\"apply\", \"d\", || { patroni::apply_config(\"mgr-1\", \"/tmp/bad-patroni.yaml\"); });\n");
    let r = rb.run(&["run", "apply.rhai", "-i", lab.inventory()]);
    r.code(1);
    assert!(
        r.stderr
            .contains("edit-config --apply /tmp/bad-patroni.yaml --force` exited with 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("while parsing a flow sequence"),
        "patronictl's own message: {}",
        r.stderr
    );
    assert_eq!(patronictl(lab, &["show-config"]), before);

    // etcd unreachable: patronictl would retry forever; the deadline ends it.
    rb.write(
        "fast.toml",
        &inv.replace(
            "[defaults.vars]",
            "[defaults.vars]\npatroni_timeout = \"4\"",
        ),
    );
    lab.fault("etcd", "freeze");
    let restore = Restore {
        host: "etcd",
        action: "thaw",
    };
    let started = Instant::now();
    let r = rb.run(&["run", "raise.rhai", "-i", "fast.toml"]);
    drop(restore);
    r.code(1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        r.stderr.contains("no answer from mgr-1") && r.stderr.contains("is etcd up?"),
        "{}",
        r.stderr
    );
    assert_eq!(
        patronictl(lab, &["show-config"]),
        before,
        "nothing was changed"
    );
}

/// Open a connection through mgr-1's HAProxy, stay idle for `idle`, then ask PostgreSQL for SSL:
/// true when PostgreSQL answered (the connection survived the idle time).
fn survives_idle(idle: Duration) -> bool {
    let mut s = TcpStream::connect("127.0.0.12:5432").expect("haproxy");
    std::thread::sleep(idle);
    if s.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).is_err() {
        return false;
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(1) if b[0] == b'N' || b[0] == b'S')
}

/// Run `haproxy::set_timeouts(mgr-1, 1440m, 1440m)` inside `temporarily`, wait with the
/// runbook's own readiness check (`cfy::wait_db_leader`: new connections through HAProxy all reach
/// the Patroni leader — a reloaded HAProxy deems every server up until its checks fail, and a
/// connection on a replica is cut when it is marked down), then hold an idle connection for 6 s.
/// The config during the window, whether the connection survived, and the run's stderr.
fn raised_with_an_idle_connection(lab: &Lab) -> (String, bool, String) {
    let rb = Rb::new();
    rb.write(
        "ha.rhai",
        &format!(
            r#"//! HAProxy.
import "cloudify" as cfy;
step("raise", "Raise and wait", || {{
    temporarily(|| {{
        let r = haproxy::set_timeouts("mgr-1", #{{ client: "1440m", server: "1440m" }});
        log("changes " + r.changes.len());
        cfy::wait_db_leader(inventory.host("mgr-1"), "/etc/cloudify/config.yaml", 5432, 3, 60);
        {}
    }});
}});
"#,
            handshake("mgr-1")
        ),
    );
    let mut child = rb
        .command(&["run", "ha.rhai", "-i", lab.inventory()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_ready(lab, "mgr-1", &mut child);
    let during = lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"]);
    let survived = survives_idle(Duration::from_secs(6));
    release(lab, "mgr-1");
    let out = child.wait_with_output().expect("wait");
    handshake_done(lab, "mgr-1");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    (during, survived, stderr)
}

#[test]
fn haproxy_timeouts_are_raised_for_new_connections_and_reverted_byte_for_byte() {
    let lab = lab();
    let _serial = exclusive();
    let original = lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"]);
    assert!(
        original.contains("timeout client 4s"),
        "the lab's short timeout: {original}"
    );
    assert!(
        !survives_idle(Duration::from_secs(6)),
        "baseline: an idle connection is cut after 4 s"
    );

    let (during, survived, stderr) = raised_with_an_idle_connection(lab);
    assert!(survived, "with 1440m an idle connection survives 6 s");
    assert!(
        during.contains("timeout client 1440m") && during.contains("timeout server 1440m"),
        "{during}"
    );
    assert!(
        during.contains("timeout client-fin 2s") && during.contains("# timeout client 30m"),
        "other lines untouched: {during}"
    );
    assert!(stderr.contains("changes 2"), "{stderr}");

    assert_eq!(
        lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"]),
        original,
        "byte for byte"
    );
    assert_eq!(
        lab.exec(
            "mgr-1",
            &["stat", "-c", "%a %U", "/etc/haproxy/haproxy.cfg"]
        )
        .trim(),
        "644 root"
    );
    assert!(
        !survives_idle(Duration::from_secs(6)),
        "after the undo and reload the short timeout applies again"
    );
}

#[test]
fn a_config_haproxy_rejects_is_never_installed_or_reloaded() {
    let lab = lab();
    let _serial = exclusive();
    let live = lab.exec("mgr-2", &["cat", "/etc/haproxy/haproxy.cfg"]);
    let pid = lab.exec("mgr-2", &["cat", "/run/haproxy.pid"]);
    // A site config with a directive haproxy does not know: valid for our parser, not for haproxy.
    let broken = live.replace(
        "    retries 2\n",
        "    retries 2\n    no-such-directive on\n",
    );
    assert_ne!(broken, live);
    lab.exec(
        "mgr-2",
        &[
            "sh",
            "-c",
            &format!("cat > /etc/haproxy/broken.cfg <<'EOF'\n{broken}EOF"),
        ],
    );
    let rb = Rb::new();
    let inv = std::fs::read_to_string(&lab.inventory).expect("inventory");
    rb.write(
        "inv.toml",
        &inv.replace(
            "haproxy_cfg = \"/etc/haproxy/haproxy.cfg\"",
            "haproxy_cfg = \"/etc/haproxy/broken.cfg\"",
        ),
    );
    rb.write("ha.rhai", "//! HA.\nstep(\"raise\", \"d\", || { haproxy::set_timeouts(\"mgr-2\", #{ client: \"1440m\" }); });\n");
    let r = rb.run(&["run", "ha.rhai", "-i", "inv.toml"]);
    r.code(1);
    assert!(
        r.stderr.contains("haproxy rejects the edited config"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("no-such-directive"),
        "haproxy's own message: {}",
        r.stderr
    );
    assert_eq!(
        lab.exec("mgr-2", &["cat", "/etc/haproxy/broken.cfg"]),
        broken,
        "left unchanged"
    );
    assert_eq!(
        lab.exec("mgr-2", &["cat", "/run/haproxy.pid"]),
        pid,
        "not reloaded"
    );
    assert_eq!(
        lab.exec("mgr-2", &["cat", "/etc/haproxy/haproxy.cfg"]),
        live
    );
    lab.exec("mgr-2", &["rm", "-f", "/etc/haproxy/broken.cfg"]);
}

#[test]
fn plan_shows_the_haproxy_diff_and_the_patroni_keys_without_changing_them() {
    let lab = lab();
    let _serial = exclusive();
    let before = lab.exec("mgr-3", &["cat", "/etc/haproxy/haproxy.cfg"]);
    let config = patronictl(lab, &["show-config"]);
    let rb = Rb::new();
    rb.write(
        "both.rhai",
        "//! Both.\nstep(\"raise\", \"d\", || { temporarily(|| { patroni::raise(\"mgr-3\", #{ ttl: 86400 }); haproxy::set_timeouts(\"mgr-3\", #{ client: \"1440m\", server: \"1440m\" }); }); });\n",
    );
    let r = rb.run(&["plan", "both.rhai", "-i", lab.inventory()]);
    r.code(0);
    assert!(
        r.stdout.contains("mgr-3: patroni ttl: 30 → 86400"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("-    timeout client 4s")
            && r.stdout.contains("+    timeout client 1440m"),
        "{}",
        r.stdout
    );
    assert_eq!(
        lab.exec("mgr-3", &["cat", "/etc/haproxy/haproxy.cfg"]),
        before
    );
    assert_eq!(patronictl(lab, &["show-config"]), config);
}

/// Patroni 3.2+ lowers loop_wait/retry_timeout when `loop_wait + 2*retry_timeout > ttl`: the
/// guide's 86400/86400 trips it, and `patroni::raise` says so with the values Patroni will use;
/// consistent values raise no warning.
#[test]
fn raise_warns_when_patroni_would_lower_retry_timeout() {
    let lab = lab();
    let _lab = shared();
    let config = patronictl(lab, &["show-config"]);
    let rb = Rb::new();
    for (retry, warned) in [(86400, true), (43195, false)] {
        rb.write(
            "raise.rhai",
            &format!("//! Raise.\nstep(\"raise\", \"d\", || {{ temporarily(|| {{ patroni::raise(\"mgr-3\", #{{ ttl: 86400, retry_timeout: {retry} }}); }}); }});\n"),
        );
        let r = rb.run(&["plan", "raise.rhai", "-i", lab.inventory()]);
        r.code(0);
        let said = r.stderr.contains(
            "Patroni 3.2 and later will run with ttl 86400, loop_wait 1, retry_timeout 43199",
        );
        assert_eq!(said, warned, "retry_timeout {retry}: {}", r.stderr);
    }
    assert_eq!(
        patronictl(lab, &["show-config"]),
        config,
        "a plan changes nothing"
    );
}

/// Put the lab's HAProxy config back and reload, even when the test panics.
struct PutBack(String);

impl Drop for PutBack {
    fn drop(&mut self) {
        let lab = lab();
        lab.exec(
            "mgr-1",
            &[
                "sh",
                "-c",
                "printf %s \"$1\" > /etc/haproxy/haproxy.cfg && service haproxy reload",
                "put-back",
                &self.0,
            ],
        );
    }
}

/// In TCP mode `timeout tunnel` supersedes client/server once a connection is established: with
/// a 4 s tunnel timeout in defaults, raising client/server alone would still cut the restore's
/// idle connection. set_timeouts raises the tunnel too, says so, and reverts it byte for byte.
#[test]
fn a_tunnel_timeout_is_raised_too_and_the_idle_connection_survives() {
    let lab = lab();
    let _serial = exclusive();
    let original = lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"]);
    let _put_back = PutBack(original.clone());
    assert!(original.contains("    timeout server 4s\n"), "{original}");
    let tunnel = original.replace(
        "    timeout server 4s\n",
        "    timeout server 4s\n    timeout tunnel 4s\n",
    );
    lab.exec(
        "mgr-1",
        &[
            "sh",
            "-c",
            "printf %s \"$1\" > /etc/haproxy/haproxy.cfg && service haproxy reload",
            "tunnel",
            &tunnel,
        ],
    );

    let (during, survived, stderr) = raised_with_an_idle_connection(lab);
    assert!(
        during.contains("    timeout tunnel 1440m\n") && during.contains("timeout client 1440m"),
        "{during}"
    );
    assert!(
        stderr.contains("`timeout tunnel 4s` in defaults supersedes client/server"),
        "the run says so: {stderr}"
    );
    assert!(stderr.contains("changes 3"), "{stderr}");
    assert!(
        survived,
        "with the tunnel raised too, an idle connection survives 6 s"
    );
    assert_eq!(
        lab.exec("mgr-1", &["cat", "/etc/haproxy/haproxy.cfg"]),
        tunnel,
        "reverted byte for byte"
    );
}
