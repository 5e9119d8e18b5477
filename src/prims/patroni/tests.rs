//! `patroni::raise` and `edit_config` through a recording transport: the backup and the undo come
//! before the edit, the undo restores the exact original, and the refusals change nothing
//! (tests/timeouts.rs runs them against the lab's real Patroni and etcd).

use super::patroni_adjusts;
use crate::context::Mode;
use crate::journal::Event;
use crate::prims::testing::Harness;
use crate::transport::recorded::{Call, Reply};

const SHOWN: &str = "loop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 100\nretry_timeout: 10\nttl: 30\n";
const CTL: &str = "sudo -n -- /opt/patroni/bin/patronictl -c /etc/patroni.conf";

/// A Patroni host whose `show-config` prints `shown`; `edit-config -s …` answers `edit`.
fn host(shown: &'static str, edit: Reply) -> impl Fn(&Call) -> Reply + Send + Sync + 'static {
    move |call: &Call| {
        if call.line.ends_with("show-config") {
            Reply::ok(shown)
        } else if call.line.contains("edit-config -s") {
            edit.clone()
        } else {
            Reply::ok("")
        }
    }
}

fn commands(h: &Harness) -> Vec<String> {
    h.trail()
        .into_iter()
        .map(|l| l.replace(CTL, "patronictl"))
        .collect()
}

const RAISE: &str = "patroni::raise(\"mgr\", #{ ttl: 86400, retry_timeout: 86400 })";

#[test]
fn the_backup_and_the_exact_undo_come_before_the_edit() {
    let h = Harness::new(
        Mode::Run,
        "",
        host(SHOWN, Reply::ok("Configuration changed")),
    );
    h.run(RAISE);
    assert_eq!(
        commands(&h),
        [
            "$ patronictl show-config",
            "$ sudo -n -- sh -c 'umask 077 && cat > \"$1\"' runbook-backup /etc/patroni.conf.bak",
            "undo+ mgr: restore the Patroni config (retry_timeout, ttl back to the original)",
            "$ patronictl edit-config -s retry_timeout=86400 -s ttl=86400 --force",
        ]
    );
    let backup = h
        .host
        .calls()
        .into_iter()
        .find(|c| c.line.contains("runbook-backup"))
        .unwrap();
    assert_eq!(
        backup.stdin, SHOWN,
        "the host's backup is show-config as printed"
    );
    let undo = h
        .journal()
        .into_iter()
        .find_map(|e| match e {
            Event::UndoPush { action, .. } => Some(action),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        undo.commands[0].argv.join(" "),
        "/opt/patroni/bin/patronictl -c /etc/patroni.conf edit-config --replace - --force",
        "--replace: keys the edit added go away on undo"
    );
    assert_eq!(undo.commands[0].stdin.as_deref(), Some(SHOWN));
}

#[test]
fn an_edit_that_fails_is_put_back_by_its_scope() {
    let h = Harness::new(
        Mode::Run,
        "",
        host(SHOWN, Reply::exit(1, "Error: etcd is not reachable")),
    );
    let err = h
        .eval(&format!("temporarily(|| {{ {RAISE}; }})"))
        .unwrap_err();
    assert!(err.contains("etcd is not reachable"), "{err}");
    let calls = h.host.calls();
    let last = calls.last().unwrap();
    assert_eq!(last.line, format!("{CTL} edit-config --replace - --force"));
    assert_eq!(last.stdin, SHOWN);
    assert_eq!(
        commands(&h).last().map(String::as_str),
        Some("undo- ok=true")
    );
}

#[test]
fn an_empty_configuration_is_refused_before_anything_changes() {
    let h = Harness::new(Mode::Run, "", host("\n", Reply::ok("")));
    let err = h.eval(RAISE).unwrap_err();
    assert!(
        err.contains("`patronictl show-config` printed nothing"),
        "{err}"
    );
    assert_eq!(commands(&h), ["$ patronictl show-config"]);
}

#[test]
fn a_value_of_the_wrong_type_is_refused_before_anything_changes() {
    for (script, says) in [
        (
            "patroni::raise(\"mgr\", #{ ttl: \"1d\" })",
            "Patroni's `ttl` is an integer",
        ),
        (
            "patroni::raise(\"mgr\", #{ postgresql: 5 })",
            "`postgresql` is a mapping in the Patroni config",
        ),
    ] {
        let h = Harness::new(Mode::Run, "", host(SHOWN, Reply::ok("")));
        let err = h.eval(script).unwrap_err();
        assert!(err.contains(says), "{script}: {err}");
        assert_eq!(commands(&h), ["$ patronictl show-config"], "{script}");
    }
}

#[test]
fn hostile_values_reach_patronictl_as_one_word() {
    let h = Harness::new(Mode::Run, "", host(SHOWN, Reply::ok("")));
    h.run("patroni::edit_config(\"mgr\", #{ postgresql: #{ parameters: #{ application_name: \"x'; touch /tmp/pwned; '\" } } })");
    let edit = h.host.lines().pop().unwrap();
    assert_eq!(
        edit,
        format!("{CTL} edit-config -s 'postgresql.parameters.application_name=x'\\''; touch /tmp/pwned; '\\''' --force")
    );
}

/// Patroni's own rule (config.py `_validate_and_adjust_timeouts`), case by case.
#[test]
fn patroni_adjusts_as_patroni_3_2_does() {
    // The guide's 86400/86400: even loop_wait 1 does not fit, so retry_timeout drops too.
    assert_eq!(patroni_adjusts(86400, 10, 86400), Some((86400, 1, 43199)));
    // Consistent values are kept.
    assert_eq!(patroni_adjusts(86400, 10, 43195), None);
    assert_eq!(patroni_adjusts(30, 10, 10), None);
    // loop_wait absorbs a small excess first.
    assert_eq!(patroni_adjusts(30, 10, 12), Some((30, 6, 12)));
    // Minimums: ttl 20, loop_wait 1, retry_timeout 3.
    assert_eq!(patroni_adjusts(10, 0, 1), Some((20, 1, 3)));
}
