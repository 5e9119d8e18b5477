//! `haproxy::set_timeouts` through a recording transport: the order of its commands, the undo it
//! journals before the live file changes, and its failure paths (tests/timeouts.rs runs it against
//! the lab's real HAProxy).

use crate::context::Mode;
use crate::prims::testing::Harness;
use crate::transport::recorded::{Call, Reply};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const CFG: &str = "defaults\n    mode tcp\n    timeout client 30m\n    timeout server 30m\n\nlisten postgres\n    bind *:5000\n    server a 127.0.0.1:5432 check\n";

/// A host with HAProxy: its config is `CFG`; `check` answers `haproxy -c`, `reload` the reloads
/// (by number, from 0).
fn host(
    check: Reply,
    reload: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Call) -> Reply + Send + Sync + 'static {
    let reloads = Arc::new(AtomicUsize::new(0));
    move |call: &Call| {
        let line = call.line.as_str();
        if line.contains("then cat --") {
            Reply::ok(CFG)
        } else if line.contains("haproxy -c -f") {
            check.clone()
        } else if line.contains("service haproxy reload") {
            reload(reloads.fetch_add(1, Ordering::SeqCst))
        } else {
            Reply::ok("")
        }
    }
}

fn ok(_: usize) -> Reply {
    Reply::ok("")
}

const RAISE: &str = r#"haproxy::set_timeouts("mgr", #{ client: "1440m", server: "1440m" })"#;

/// The journal's trail with the two long snippets named: `read` and `write PATH`.
fn trail(h: &Harness) -> Vec<String> {
    const WRITE: &str = "sudo -n -- sh -c 't=\"$1.runbook-tmp\" && cat > \"$t\" && { [ '\\!' -e \"$2\" ] || { chown --reference=\"$2\" \"$t\" && chmod --reference=\"$2\" \"$t\"; }; } && mv -f \"$t\" \"$1\"' runbook-write ";
    const READ: &str = "sudo -n -- sh -c 'if [ -e \"$1\" ]; then cat -- \"$1\"; else exit 3; fi' x /etc/haproxy/haproxy.cfg";
    h.trail()
        .into_iter()
        .map(|l| {
            let l = l.replace(READ, "read");
            match l.find(WRITE) {
                Some(at) => {
                    let rest = &l[at + WRITE.len()..];
                    let path = rest.split(' ').next().unwrap_or_default();
                    format!("{}write {path}", &l[..at])
                }
                None => l,
            }
        })
        .collect()
}

/// What was fed to the command whose line contains `needle` (the first such).
fn fed(h: &Harness, needle: &str) -> String {
    h.host
        .calls()
        .into_iter()
        .find(|c| c.line.contains(needle))
        .map(|c| c.stdin)
        .unwrap_or_else(|| panic!("no command with {needle:?}: {:#?}", h.host.lines()))
}

#[test]
fn the_undo_is_journaled_with_the_original_bytes_before_the_live_file_changes() {
    let h = Harness::new(Mode::Run, "", host(Reply::ok(""), ok));
    h.run(RAISE);
    assert_eq!(
        trail(&h),
        [
            "$ read",
            "$ write /etc/haproxy/haproxy.cfg.runbook-new",
            "$ sudo -n -- haproxy -c -f /etc/haproxy/haproxy.cfg.runbook-new",
            "$ write /etc/haproxy/haproxy.cfg.bak",
            "undo+ mgr: restore /etc/haproxy/haproxy.cfg and reload haproxy",
            "$ sudo -n -- mv -f -- /etc/haproxy/haproxy.cfg.runbook-new /etc/haproxy/haproxy.cfg",
            "$ sudo -n -- sh -c 'service haproxy reload'",
        ]
    );
    let candidate = fed(&h, ".runbook-new /etc/haproxy/haproxy.cfg");
    assert_eq!(
        candidate,
        CFG.replace("client 30m", "client 1440m")
            .replace("server 30m", "server 1440m")
    );
    assert_eq!(
        fed(&h, "haproxy.cfg.bak"),
        CFG,
        "the guide's .bak holds the original"
    );
    let undo = h
        .journal()
        .into_iter()
        .find_map(|e| match e {
            crate::journal::Event::UndoPush { action, .. } => Some(action),
            _ => None,
        })
        .expect("an undo push");
    assert_eq!(
        undo.commands[0].stdin.as_deref(),
        Some(CFG),
        "the undo puts the original bytes back"
    );
    assert_eq!(
        undo.commands[1].shell.as_deref(),
        Some("service haproxy reload")
    );
}

#[test]
fn a_config_haproxy_rejects_is_removed_and_neither_installed_nor_undone() {
    let h = Harness::new(
        Mode::Run,
        "",
        host(
            Reply::exit(1, "[ALERT] parsing [haproxy.cfg:3]: unknown keyword"),
            ok,
        ),
    );
    let err = h.eval(RAISE).unwrap_err();
    assert!(err.contains("haproxy rejects the edited config; /etc/haproxy/haproxy.cfg was left unchanged and nothing was reloaded"), "{err}");
    assert!(
        err.contains("unknown keyword"),
        "haproxy's own words are shown: {err}"
    );
    assert_eq!(
        trail(&h),
        [
            "$ read",
            "$ write /etc/haproxy/haproxy.cfg.runbook-new",
            "$ sudo -n -- haproxy -c -f /etc/haproxy/haproxy.cfg.runbook-new  → 1",
            "$ sudo -n -- rm -f -- /etc/haproxy/haproxy.cfg.runbook-new",
        ]
    );
}

#[test]
fn a_reload_that_fails_after_the_change_is_put_back_by_its_scope() {
    let first_fails = |n: usize| {
        if n == 0 {
            Reply::exit(1, "reload failed")
        } else {
            Reply::ok("")
        }
    };
    let h = Harness::new(Mode::Run, "", host(Reply::ok(""), first_fails));
    let err = h
        .eval(&format!("temporarily(|| {{ {RAISE}; }})"))
        .unwrap_err();
    assert!(err.contains("reload failed"), "{err}");
    let trail = trail(&h);
    assert_eq!(
        trail[trail.len() - 4..],
        [
            "$ sudo -n -- sh -c 'service haproxy reload'  → 1",
            "$ write /etc/haproxy/haproxy.cfg",
            "$ sudo -n -- sh -c 'service haproxy reload'",
            "undo- ok=true",
        ]
    );
    let calls = h.host.calls();
    let restore = calls
        .iter()
        .rev()
        .find(|c| {
            c.line
                .ends_with("runbook-write /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg")
        })
        .expect("the live file written back");
    assert_eq!(restore.stdin, CFG);
}

#[test]
fn a_dry_run_only_reads() {
    let h = Harness::new(Mode::Plan, "", host(Reply::ok(""), ok));
    h.run(RAISE);
    assert_eq!(
        h.host.lines(),
        ["sudo -n -- sh -c 'if [ -e \"$1\" ]; then cat -- \"$1\"; else exit 3; fi' x /etc/haproxy/haproxy.cfg"],
        "the read is the only command that reaches the host"
    );
}

#[test]
fn site_paths_and_commands_come_from_host_vars_and_stay_quoted() {
    let vars = "haproxy_cfg = \"/srv/ha proxy/cfg; rm -rf /\"\nhaproxy_reload = \"systemctl reload haproxy\"\nsudo = \"false\"";
    let h = Harness::new(Mode::Run, vars, move |call: &Call| {
        if call.line.contains("then cat --") {
            Reply::ok(CFG)
        } else {
            Reply::ok("")
        }
    });
    h.run(RAISE);
    let lines = h.host.lines();
    assert_eq!(
        lines[0],
        "sh -c 'if [ -e \"$1\" ]; then cat -- \"$1\"; else exit 3; fi' x '/srv/ha proxy/cfg; rm -rf /'"
    );
    assert!(
        lines.iter().all(|l| !l.starts_with("sudo")),
        "sudo = false: {lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("sh -c 'systemctl reload haproxy'")
    );
}
