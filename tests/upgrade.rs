//! The bundled cloudify-ha-upgrade runbook, end to end on the lab (real sshd, etcd, Patroni,
//! PostgreSQL, HAProxy, and Cloudify's real CLI; the manager behind its REST API is the one
//! stand-in, tests/lab/sim/).
use crate::lab_env::{exclusive, lab, Lab, Restore};
use crate::util::{events, Rb};
use std::collections::BTreeMap;
use std::time::Duration;

const MANAGERS: [&str; 3] = ["mgr-1", "mgr-2", "mgr-3"];

/// The manager components the runbook stops and starts on the standbys (stdlib/cloudify.rhai,
/// `manager_components`).
const MANAGER_COMPONENTS: &str =
    "restservice nginx amqp_postgres mgmtworker stage composer execution_scheduler usage_collector";

/// What must be byte-identical after the upgrade: Patroni's dynamic config and every haproxy.cfg.
pub(crate) fn originals(lab: &Lab) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(
        "patroni".into(),
        lab.exec(
            "mgr-1",
            &[
                "/opt/patroni/bin/patronictl",
                "-c",
                "/etc/patroni.conf",
                "show-config",
            ],
        ),
    );
    for h in MANAGERS {
        m.insert(
            format!("{h}:haproxy.cfg"),
            lab.exec(h, &["cat", "/etc/haproxy/haproxy.cfg"]),
        );
    }
    m
}

pub(crate) fn upgrade(rb: &Rb, lab: &Lab, extra: &[&str]) -> std::process::Command {
    upgrade_answering(rb, lab, true, extra)
}

/// The upgrade command; `yes`: with `--yes` (unattended), else every question needs a terminal.
fn upgrade_answering(rb: &Rb, lab: &Lab, yes: bool, extra: &[&str]) -> std::process::Command {
    upgrade_run(rb, "cloudify-ha-upgrade", lab.inventory(), yes, extra)
}

/// `runbook run RUNBOOK -i INVENTORY` with the old admin password as the secret; `yes`: with
/// `--yes`.
fn upgrade_run(
    rb: &Rb,
    runbook: &str,
    inventory: &str,
    yes: bool,
    extra: &[&str],
) -> std::process::Command {
    let mut args = vec![
        "run",
        runbook,
        "-i",
        inventory,
        "--set-secret",
        "old_admin_password=env:OLD_ADMIN_PW",
    ];
    if yes {
        args.push("--yes");
    }
    args.extend_from_slice(extra);
    let mut c = rb.command(&args);
    c.env("OLD_ADMIN_PW", "old-admin-pw");
    c
}

/// The upgrade, unattended, through the inventory `text` written as `file` into `rb`'s folder
/// (any format `-i` reads); it must succeed. Its stderr.
fn upgrade_through(rb: &Rb, file: &str, text: &str) -> String {
    let site = rb.write(file, text);
    let out = upgrade_run(
        rb,
        "cloudify-ha-upgrade",
        site.to_str().expect("path"),
        true,
        &[],
    )
    .output()
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    stderr
}

/// Flip one of the simulator's fault switches (tests/lab/sim/fault HOST OPERATION MODE, or
/// HOST rest-outage SECONDS).
pub(crate) fn sim_fault(args: &[&str]) {
    let ok = std::process::Command::new(crate::lab_env::script("sim/fault"))
        .args(args)
        .status()
        .expect("sim fault")
        .success();
    assert!(ok, "sim fault {args:?}");
}

pub(crate) fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn ids(list: &serde_json::Value, key: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d[key].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

/// `psql -Atc QUERY` as Cloudify's database user, at `host:port`.
fn psql(host: &str, port: &str, query: &str) -> std::process::Command {
    let mut c = std::process::Command::new("psql");
    c.args([
        "-h",
        host,
        "-p",
        port,
        "-U",
        "cloudify",
        "-d",
        "cloudify_db",
        "-Atc",
        query,
    ])
    .env("PGPASSWORD", "cloudify");
    c
}

fn sql(query: &str) -> String {
    let out = psql("127.0.0.12", "5432", query).output().expect("psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The address of the Patroni leader's PostgreSQL (port 15432 behind the lab's HAProxy).
fn leader_address() -> String {
    for host in MANAGERS {
        let out = psql(address(host), "15432", "select pg_is_in_recovery()")
            .env("PGCONNECT_TIMEOUT", "3")
            .output()
            .expect("psql");
        if String::from_utf8_lossy(&out.stdout).trim() == "f" {
            return address(host).to_string();
        }
    }
    panic!("no Patroni leader answers on port 15432");
}

/// The address of a lab host's manager.
fn address(host: &str) -> &'static str {
    match host {
        "old-1" => "127.0.0.11",
        "mgr-1" => "127.0.0.12",
        "mgr-2" => "127.0.0.13",
        "mgr-3" => "127.0.0.14",
        _ => "127.0.0.15",
    }
}

/// `cfy status --json` as the operator on `host`, asked of that manager only (a cluster profile
/// would ask the next manager when this one is down): the status document, or Null when the
/// manager does not answer with one (`cfy status` exits 0 on a 401 or a server error).
fn manager_status(lab: &Lab, host: &str) -> serde_json::Value {
    lab.ssh_try(
        host,
        &format!("cfy status --json --manager {}", address(host)),
    )
    .and_then(|out| serde_json::from_str(&out).ok())
    .unwrap_or(serde_json::Value::Null)
}

/// Whether Patroni runs on `host` (its REST API answers, whatever the member's role).
fn patroni_answers(host: &str) -> bool {
    answers(host, 8008)
}

/// Whether something accepts connections on `host`'s address at `port`.
fn answers(host: &str, port: u16) -> bool {
    let addr = format!("{}:{port}", address(host));
    std::net::TcpStream::connect_timeout(&addr.parse().expect("address"), Duration::from_secs(2))
        .is_ok()
}

/// The outcome the guide promises, checked on the hosts themselves; `old` is the old manager
/// that was snapshotted.
fn assert_upgraded_from(lab: &Lab, old: &str, before: &BTreeMap<String, String>) {
    let old_deployments = ids(
        &json(&lab.ssh(old, "cfy deployments list --all-tenants --json")),
        "id",
    );
    assert!(
        !old_deployments.is_empty(),
        "the old manager has deployments"
    );
    let new_deployments = ids(
        &json(&lab.ssh("mgr-1", "cfy deployments list --all-tenants --json")),
        "id",
    );
    assert_eq!(
        new_deployments, old_deployments,
        "the active manager holds the old manager's deployments"
    );
    assert_eq!(
        sql("select count(*) from deployments"),
        old_deployments.len().to_string(),
        "and PostgreSQL holds them"
    );
    // Each standby answers the snapshot's admin with its REST API up: started again, and its
    // rest-security.conf is the restored one (else the restored users' passwords fail there).
    let security = lab.exec("mgr-1", &["cat", "/opt/manager/rest-security.conf"]);
    for h in ["mgr-2", "mgr-3"] {
        let status = manager_status(lab, h);
        assert_eq!(status["status"], "OK", "{h} is started again: {status}");
        assert_eq!(
            lab.exec(h, &["cat", "/opt/manager/rest-security.conf"]),
            security,
            "{h} has the restored manager's rest-security.conf"
        );
        assert_eq!(
            ids(
                &json(&lab.ssh(h, "cfy deployments list --all-tenants --json")),
                "id"
            ),
            old_deployments,
            "{h} serves the restored data with the snapshot's credentials"
        );
    }
    for h in MANAGERS {
        assert!(patroni_answers(h), "Patroni runs on {h}");
    }
    let agents = json(&lab.ssh("mgr-1", "cfy agents list -a --json"));
    let agent_deployments: std::collections::BTreeSet<String> = agents
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["deployment"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        agent_deployments.into_iter().collect::<Vec<_>>(),
        old_deployments,
        "agents of every deployment"
    );
    for a in agents.as_array().into_iter().flatten() {
        assert_eq!(
            a["version"], "7.0.5",
            "agent {} reinstalled by the new manager",
            a["id"]
        );
    }
    assert_eq!(
        &originals(lab),
        before,
        "Patroni's config and haproxy.cfg are back, byte for byte"
    );
}

pub(crate) fn assert_upgraded(lab: &Lab, before: &BTreeMap<String, String>) {
    assert_upgraded_from(lab, "old-1", before);
}

#[test]
fn the_upgrade_completes_and_the_restore_ran_inside_the_raised_window() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    let rb = Rb::new();
    let out = upgrade(&rb, lab, &[]).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_upgraded(lab, &before);
    let seen = json(&lab.exec(
        "mgr-1",
        &["cat", "/var/lib/cloudify-sim/restore-observed.json"],
    ));
    assert_eq!(seen["patroni"]["ttl"], 86400, "{seen}");
    assert_eq!(seen["patroni"]["retry_timeout"], 86400, "{seen}");
    assert_eq!(seen["haproxy"]["timeout_client"], "1440m", "{seen}");
    assert_eq!(seen["haproxy"]["timeout_server"], "1440m", "{seen}");
    assert_eq!(seen["haproxy"]["reloaded_after_cfg_change"], true, "{seen}");
    let j = rb.journal();
    let steps: Vec<_> = events(&j, "step_end")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(steps.len(), 12, "{steps:?}");
    assert_eq!(steps[0], "preflight", "{steps:?}");
    // Cloudify 7.0.5 no longer reads encoding_alphabet: the step says so and changes nothing.
    assert!(
        stderr.contains("mgr-1: Cloudify 7.0.5 no longer reads encoding_alphabet"),
        "{stderr}"
    );
    assert!(
        rb.path("snapshots/cluster-upgrade.zip").exists(),
        "the snapshot is kept locally"
    );
    // No fixed settle sleep: the step waits until new connections through HAProxy all reach
    // the Patroni leader; the guide's 86400/86400 draws Patroni 3.2's warning.
    assert!(
        stderr.contains(
            "mgr-1: HAProxy 127.0.0.12:5432 sends connections to the Patroni leader (3 in a row"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "Patroni 3.2 and later will run with ttl 86400, loop_wait 1, retry_timeout 43199"
        ),
        "{stderr}"
    );
    // `runbook log` shows the window of raised timeouts and the restore inside it.
    let log = rb.run(&["log"]);
    let line = log
        .stdout
        .lines()
        .find(|l| l.starts_with("window of temporary changes: "))
        .unwrap_or_else(|| panic!("no window line: {}", log.stdout));
    assert!(line.contains("; inside it: restore "), "{line}");

    // Re-running after success changes nothing harmful: the snapshot is reused, the restore is
    // recognised as done, and the configs end as they were.
    let again = upgrade(&rb, lab, &[]).output().expect("run again");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let text = String::from_utf8_lossy(&again.stderr);
    assert!(
        text.contains("snapshot cluster-upgrade exists (created, made ")
            && text
                .contains("reuse it? It holds nothing done on old-1 since it was made yes (--yes)")
            && text.contains("); reusing it"),
        "{text}"
    );
    assert!(text.contains("was restored already"), "{text}");
    assert_upgraded(lab, &before);
}

#[test]
fn an_existing_snapshot_is_reused_only_when_the_operator_agrees() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let rb = Rb::new();
    let first = upgrade(&rb, lab, &["--only", "snapshot"])
        .output()
        .expect("runbook");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // A new run without --yes and without a terminal cannot be answered: it stops before the
    // download, naming the snapshot and when it was made.
    let again = upgrade_answering(&rb, lab, false, &["--only", "snapshot"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runbook");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("old-1: snapshot cluster-upgrade exists (created, made 20")
            && stderr.contains("reuse it?")
            && stderr.contains("needs an answer"),
        "{stderr}"
    );
    let j = rb.journal();
    assert!(
        !events(&j, "command")
            .iter()
            .any(|c| c["command"].as_str().unwrap_or("").contains("download")),
        "nothing downloaded"
    );
}

#[test]
fn an_unreachable_manager_stops_the_upgrade_at_preflight_before_any_snapshot() {
    let lab = lab();
    let _serial = exclusive();
    lab.fault("mgr-3", "stop");
    let _restore = Restore {
        host: "mgr-3",
        action: "start",
    };
    let rb = Rb::new();
    let out = upgrade(&rb, lab, &["--connect-timeout", "3"])
        .output()
        .expect("runbook");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mgr-3 (rbops@127.0.0.14)"), "{stderr}");
    let j = rb.journal();
    let started: Vec<_> = events(&j, "step_start")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(started, ["preflight"], "nothing after the preflight ran");
    // The reachable hosts were all asked at once, as root, and nothing else ran on them.
    let commands = events(&j, "command");
    assert!(
        commands.iter().all(|c| c["command"] == "sudo -n -- true"),
        "{commands:?}"
    );
    for host in ["old-1", "mgr-1", "mgr-2"] {
        assert!(
            commands.iter().any(|c| c["host"] == host && c["code"] == 0),
            "{host}: {commands:?}"
        );
    }
}

#[test]
fn a_failed_restore_reverts_the_timeouts_and_resume_completes_without_repeating_steps() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    sim_fault(&["mgr-1", "restore", "fail"]);
    let rb = Rb::new();
    let out = upgrade(&rb, lab, &[]).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    sim_fault(&["mgr-1", "restore", "clear"]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("restore of cluster-upgrade") && stderr.contains("failed on mgr-1"),
        "{stderr}"
    );
    assert_eq!(originals(lab), before, "the failure reverted the timeouts");

    let mut resume = rb.command(&["resume", "--yes"]);
    resume.env("OLD_ADMIN_PW", "old-admin-pw");
    let out = resume.output().expect("resume");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_upgraded(lab, &before);
    let j = rb.journal();
    let starts = |step: &str| {
        events(&j, "step_start")
            .iter()
            .filter(|e| e["step"] == step)
            .count()
    };
    for step in [
        "preflight",
        "snapshot",
        "encoding-alphabet",
        "install",
        "stop-standbys",
        "copy-snapshot",
    ] {
        assert_eq!(starts(step), 1, "{step} ran once");
    }
    assert_eq!(
        starts("raise-timeouts"),
        2,
        "the timeouts were raised again before the retry"
    );
    assert_eq!(starts("restore"), 2);
}

#[test]
fn after_sigkill_during_the_restore_resume_reverts_first_then_completes() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    sim_fault(&["mgr-1", "restore", "hang"]);
    let rb = Rb::new();
    crate::orphan::kill_once_the_restore_runs(&rb, lab);
    sim_fault(&["mgr-1", "restore", "clear"]);
    // Resumed once the restore ended, the pending undo runs first as before issue 14 (the probe
    // says the restore ended); tests/orphan.rs resumes while it still runs.
    crate::orphan::wait_restore_ended(lab);

    let mut resume = rb.command(&["resume", "--yes"]);
    resume.env("OLD_ADMIN_PW", "old-admin-pw");
    let out = resume.output().expect("resume");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("running 2 undo record(s) left by the earlier attempt"),
        "{stderr}"
    );
    assert_upgraded(lab, &before);
    let j = rb.journal();
    let resume_at = j
        .iter()
        .position(|r| r["event"] == "resume")
        .expect("resume record");
    let first_pop = j
        .iter()
        .position(|r| r["event"] == "undo_pop")
        .expect("undo ran");
    let second_raise = j
        .iter()
        .enumerate()
        .filter(|(_, r)| r["event"] == "step_start" && r["step"] == "raise-timeouts")
        .nth(1)
        .map(|(i, _)| i)
        .expect("raised again");
    assert!(
        resume_at < first_pop && first_pop < second_raise,
        "reverted first, then raised again"
    );
}

#[test]
fn plan_lists_every_command_per_host_and_changes_nothing() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    let rb = Rb::new();
    let r = rb.run(&["plan", "cloudify-ha-upgrade", "-i", lab.inventory()]);
    r.code(0);
    for line in [
        "old-1: cfy snapshots create cluster-upgrade",
        "old-1: cfy snapshots download cluster-upgrade -o /tmp/cluster-upgrade.zip",
        &format!("mgr-2: sudo -n -- cfy_manager stop {MANAGER_COMPONENTS}"),
        &format!("mgr-3: sudo -n -- cfy_manager stop {MANAGER_COMPONENTS}"),
        "mgr-1: copy local:snapshots/cluster-upgrade.zip → mgr-1:/tmp/cluster-upgrade.zip",
        "mgr-1: patroni ttl: 30 → 86400",
        "mgr-1: sudo -n -- /opt/patroni/bin/patronictl -c /etc/patroni.conf edit-config -s retry_timeout=86400 -s ttl=86400 --force",
        "+    timeout client 1440m",
        "mgr-1: sudo -n -- sh -c 'service haproxy reload'",
        "mgr-1: cfy snapshots upload /tmp/cluster-upgrade.zip -s cluster-upgrade",
        "mgr-1: cfy snapshots restore cluster-upgrade",
        "mgr-1: sudo -n -- /opt/patroni/bin/patronictl -c /etc/patroni.conf edit-config --replace - --force",
        &format!("mgr-2: sudo -n -- cfy_manager start {MANAGER_COMPONENTS}"),
        "mgr-1: cfy agents install --all-tenants",
        "pause: Delete the old host(s)",
    ] {
        assert!(r.stdout.contains(line), "plan misses `{line}`:\n{}", r.stdout);
    }
    assert_eq!(originals(lab), before);
    assert_eq!(
        json(&lab.ssh("old-1", "cfy snapshots list --json")),
        serde_json::json!([]),
        "no snapshot was made"
    );
    assert_eq!(
        manager_status(lab, "mgr-2")["status"],
        "OK",
        "no manager was stopped"
    );
}

#[test]
fn a_fork_with_a_site_step_runs_end_to_end() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    let rb = Rb::new();
    rb.run(&["fork", "cloudify-ha-upgrade", "site"]).code(0);
    let text = rb.read("site/cloudify-ha-upgrade.rhai");
    let anchor = "step(\"snapshot\",";
    assert!(text.contains(anchor));
    let site_step = "step(\"site-precheck\", \"Site: the managers have room for the snapshot\", || {\n    for host in managers { ssh::probe(host, [\"test\", \"-w\", remote_dir]); }\n    log(\"site pre-check passed\");\n});\n\n";
    rb.write(
        "site/cloudify-ha-upgrade.rhai",
        &text.replacen(anchor, &format!("{site_step}{anchor}"), 1),
    );
    let out = upgrade_run(
        &rb,
        "site/cloudify-ha-upgrade.rhai",
        lab.inventory(),
        true,
        &[],
    )
    .output()
    .expect("run fork");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("▶ [2/13] site-precheck") && stderr.contains("site pre-check passed"),
        "{stderr}"
    );
    assert_upgraded(lab, &before);
}

/// Starts the managers over when dropped, even when the test panics (it changed their config).
struct ResetCloudify;

impl Drop for ResetCloudify {
    fn drop(&mut self) {
        let _ = std::process::Command::new(crate::lab_env::script("cloudify-reset")).output();
    }
}

#[test]
fn the_restore_rides_out_the_rest_outage_inside_the_raised_window() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    // The next restore stops the REST API for 8 s mid-way, as the real one stops
    // cloudify-restservice for the whole database restore: every poll then fails.
    sim_fault(&["mgr-1", "rest-outage", "8"]);
    let rb = Rb::new();
    let out = upgrade(&rb, lab, &[]).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the manager's REST API does not answer")
            && stderr.contains("the REST API answers again after"),
        "{stderr}"
    );
    assert_upgraded(lab, &before);
    let seen = json(&lab.exec(
        "mgr-1",
        &["cat", "/var/lib/cloudify-sim/restore-observed.json"],
    ));
    assert_eq!(seen["patroni"]["ttl"], 86400, "{seen}");
    assert_eq!(seen["haproxy"]["timeout_client"], "1440m", "{seen}");
    // No revert before the restore's execution ended: the first undo runs in revert-timeouts,
    // after the restore step ended well.
    let j = rb.journal();
    let restore_end = j
        .iter()
        .position(|r| r["event"] == "step_end" && r["step"] == "restore")
        .expect("restore ended");
    assert_eq!(j[restore_end]["ok"], true, "{}", j[restore_end]);
    let first_pop = j
        .iter()
        .position(|r| r["event"] == "undo_pop")
        .expect("the timeouts were reverted");
    assert!(restore_end < first_pop, "reverted only after the restore");
    let failed_polls = events(&j, "command")
        .iter()
        .filter(|c| {
            c["command"]
                .as_str()
                .unwrap_or("")
                .starts_with("cfy executions get")
                && c["code"] != 0
        })
        .count();
    assert!(failed_polls > 0, "the outage was polled through");
}

#[test]
fn stop_standbys_leaves_every_patroni_member_of_a_compact_cluster_running() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let _reset = ResetCloudify;
    let rb = Rb::new();
    let out = upgrade(&rb, lab, &["--only", "stop-standbys"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("mgr-2: database_service and queue_service run on this node too"),
        "{stderr}"
    );
    for h in ["mgr-2", "mgr-3"] {
        assert!(!answers(h, 80), "{h}'s manager is stopped");
        assert_eq!(
            manager_status(lab, h),
            serde_json::Value::Null,
            "{h}'s manager does not answer"
        );
    }
    // Every Patroni member and etcd member runs: the leader still takes writes.
    for h in MANAGERS {
        assert!(patroni_answers(h), "Patroni runs on {h}");
    }
    assert_eq!(sql("select pg_is_in_recovery()"), "f");
    for h in ["mgr-2", "mgr-3"] {
        lab.exec(h, &["cfy_manager", "start"]);
    }
}

#[test]
fn an_old_active_passive_cluster_is_snapshotted_on_its_active_node() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let _reset = ResetCloudify;
    // old-1 becomes the passive node of old-2's cluster: its manager services do not run.
    lab.exec(
        "old-1",
        &[
            "sed",
            "-i",
            "-e",
            r#"s/"active": true/"active": false/"#,
            "-e",
            r#"s/"cluster": \["old-1"\]/"cluster": ["old-1", "old-2"]/"#,
            "/etc/cloudify-sim/config.json",
        ],
    );
    lab.exec(
        "old-1",
        &["/opt/runbook-lab/sim/setup", "old-1", "old", "--reset"],
    );
    let before = originals(lab);
    let rb = Rb::new();
    let inventory = std::fs::read_to_string(lab.inventory()).expect("inventory");
    let both = inventory.replace(
        "groups = [\"old_cluster\"]",
        "groups = [\"old_manager\", \"old_cluster\"]",
    );
    assert_ne!(both, inventory, "old-2 joins old_manager");
    let stderr = upgrade_through(&rb, "site.toml", &both);
    assert!(
        stderr.contains("old-2 is the active node of the old cluster"),
        "{stderr}"
    );
    let j = rb.journal();
    let creates: Vec<_> = events(&j, "command")
        .iter()
        .filter(|c| c["command"] == "cfy snapshots create cluster-upgrade")
        .map(|c| c["host"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        creates,
        ["old-2"],
        "the snapshot was taken on the active node"
    );
    let pause = events(&j, "question")
        .iter()
        .filter(|p| p["kind"] == "pause")
        .map(|p| p["text"].as_str().unwrap_or("").to_string())
        .find(|m| m.starts_with("Delete the old host(s)"))
        .expect("the delete-old pause");
    assert!(
        pause.contains("old-1 (127.0.0.11)") && pause.contains("old-2 (127.0.0.15)"),
        "{pause}"
    );
    assert_upgraded_from(lab, "old-2", &before);
}

#[test]
fn encoding_alphabet_is_written_into_the_shipped_empty_flask_security() {
    let lab = lab();
    let _serial = exclusive();
    let config = "/etc/cloudify/config.yaml";
    let original = lab.exec("mgr-1", &["cat", config]);
    assert!(original.contains("flask_security: {}"), "{original}");
    lab.exec(
        "mgr-1",
        &["cp", "-p", config, "/etc/cloudify/config.yaml.test-orig"],
    );
    let rb = Rb::new();
    let script = rb.write(
        "edit.rhai",
        "import \"cloudify\" as cfy;\n\
         step(\"edit\", \"set the encoding alphabet\", || {\n\
         \x20   cfy::set_encoding_alphabet(inventory.host(\"mgr-1\"), \"/etc/cloudify/config.yaml\", \"Xq3vTz8KpL2mWn9RbY5sHc7JdF4gAe6U\");\n\
         });\n",
    );
    let r = rb.run(&[
        "run",
        script.to_str().expect("path"),
        "-i",
        lab.inventory(),
        "--yes",
    ]);
    let edited = lab.exec("mgr-1", &["cat", config]);
    let mode = lab.exec("mgr-1", &["stat", "-c", "%a %U", config]);
    lab.exec(
        "mgr-1",
        &["mv", "-f", "/etc/cloudify/config.yaml.test-orig", config],
    );
    r.code(0);
    let was: serde_yaml_ng::Value = serde_yaml_ng::from_str(&original).expect("yaml");
    let now: serde_yaml_ng::Value = serde_yaml_ng::from_str(&edited).expect("yaml");
    assert_eq!(
        now["flask_security"]["encoding_alphabet"].as_str(),
        Some("Xq3vTz8KpL2mWn9RbY5sHc7JdF4gAe6U"),
        "{edited}"
    );
    for key in ["manager", "postgresql_server", "services_to_install"] {
        assert_eq!(now[key], was[key], "{key} unchanged");
    }
    assert_eq!(
        edited.replace(
            "flask_security:\n  encoding_alphabet: Xq3vTz8KpL2mWn9RbY5sHc7JdF4gAe6U",
            "flask_security: {}"
        ),
        original,
        "only that line changed"
    );
    assert_eq!(mode.trim(), "644 root", "owner and mode kept");
}

/// Issue 16's "done when": the upgrade through the lab written as an Ansible YAML inventory, its
/// pauses answered from a file (`--answers`, no terminal, no `--yes`), the event stream equal to
/// the journal, and `runbook report` of the run rendered in headless Chromium.
#[test]
fn the_upgrade_runs_through_an_ansible_yaml_inventory_answered_from_a_file_and_reports() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    let rb = Rb::new();
    // Read under the exclusive lock already held (lab_snapshot would wait for a shared one).
    let lab_toml = std::fs::read_to_string(lab.inventory()).expect("lab inventory.toml");
    rb.write("lab.yml", &crate::inventory::lab_yaml(&lab_toml));
    rb.write(
        "answers.toml",
        "[[answer]]\nstep = \"install\"\nquestion = \"Install the new Cloudify cluster\"\nanswer = \"yes\"\n\n\
         [[answer]]\nstep = \"delete-old\"\nanswer = \"yes\"\n",
    );
    let out = upgrade_run(
        &rb,
        "cloudify-ha-upgrade",
        "lab.yml",
        false,
        &["--answers", "answers.toml", "--events", "events.jsonl"],
    )
    .output()
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_upgraded(lab, &before);

    let run = rb.last_run();
    let id = run.file_name().expect("id").to_string_lossy().into_owned();
    let j = rb.journal();
    crate::events::assert_stream_is_the_journal(
        &crate::events::parse(&rb.read("events.jsonl")),
        &j,
        &id,
        0,
    );
    let answered: Vec<(&str, &str)> = events(&j, "answer")
        .iter()
        .map(|a| {
            assert_eq!(a["answer"], true);
            (
                a["step"].as_str().unwrap_or(""),
                a["by"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        answered,
        [
            ("install", "answers answers.toml"),
            ("delete-old", "answers answers.toml")
        ]
    );
    // The window: opened before the raise, closed after its undo put the timeouts back.
    let at = |kind: &str, step: Option<&str>| {
        j.iter()
            .position(|r| r["event"] == kind && step.is_none_or(|s| r["step"] == s))
            .unwrap_or_else(|| panic!("no {kind} {step:?}"))
    };
    let (open, raise, restore_end, close) = (
        at("window_open", None),
        at("step_start", Some("raise-timeouts")),
        at("step_end", Some("restore")),
        at("window_close", None),
    );
    assert!(open < raise && raise < restore_end && restore_end < close);
    assert_eq!(j[close]["ok"], true);

    let r = rb.run(&["report", &id]);
    r.code(0);
    let page = run.join("report.html");
    crate::report::assert_self_contained(&std::fs::read_to_string(&page).expect("report"));
    if !crate::report::chromium_present() {
        return;
    }
    let rendered = crate::report::render(&page);
    assert_eq!(crate::report::png_size(&rendered.png), (1280, 900));
    crate::report::assert_dom_shows_the_journal(&rendered.dom, &j);
    for host in ["old-1", "mgr-1", "mgr-2", "mgr-3"] {
        assert!(
            rendered.dom.contains(&format!("data-lane=\"{host}\"")),
            "a lane for {host}"
        );
    }
}

/// The same upgrade through the lab written as an Ansible INI inventory (groups, `:children`,
/// `:vars`, connection keys in `[all:vars]`): it runs end to end, against the hosts the INI
/// names. (That the INI's vars reach the hosts as Ansible reads them is
/// `inventory::the_lab_in_ansible_yaml_and_ini_reads_as_ansible_inventory_list_says`.)
#[test]
fn the_upgrade_runs_through_an_ansible_ini_inventory() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let before = originals(lab);
    let rb = Rb::new();
    let lab_toml = std::fs::read_to_string(lab.inventory()).expect("lab inventory.toml");
    upgrade_through(&rb, "lab.ini", &crate::inventory::lab_ini(&lab_toml));
    assert_upgraded(lab, &before);
    // Every host of the INI was reached by name, and the one window closed with its undo run.
    let j = rb.journal();
    for host in ["old-1", "mgr-1", "mgr-2", "mgr-3"] {
        assert!(
            events(&j, "command").iter().any(|c| c["host"] == host),
            "a command on {host}"
        );
    }
    let close = events(&j, "window_close");
    assert_eq!(close.len(), 1, "one window, closed once");
    assert_eq!(close[0]["ok"], true);
}

/// Cloudify managers from 5.1.1 on have no HAProxy (cloudify-manager-install 7ff52832 removed
/// restservice's haproxy.cfg; the manager connects to the Patroni leader itself): the upgrade
/// raises Patroni's timeouts only, and neither the restore's window check nor the revert step
/// asks for an HAProxy config. (mgr-1's `haproxy_cfg` points at a file that is not there.)
#[test]
fn a_manager_without_haproxy_is_upgraded_with_only_patroni_raised() {
    let lab = lab();
    let _serial = exclusive();
    lab.reset_cloudify();
    let _reset = ResetCloudify;
    // The simulated manager as 5.1.1+ is: its restore connects to the Patroni leader's
    // PostgreSQL, not through the lab's HAProxy, and it has no haproxy.cfg of its own.
    let leader = leader_address();
    lab.exec(
        "mgr-1",
        &[
            "sed",
            "-i",
            "-e",
            &format!(r#"s/"db": {{"host": "127.0.0.12", "port": 5432/"db": {{"host": "{leader}", "port": 15432/"#),
            "-e",
            r##"s#"haproxy_cfg": "/etc/haproxy/haproxy.cfg"#"haproxy_cfg": "/etc/haproxy/absent.cfg"#"##,
            "/etc/cloudify-sim/config.json",
        ],
    );
    let config = lab.exec("mgr-1", &["cat", "/etc/cloudify-sim/config.json"]);
    assert!(
        config.contains("15432") && config.contains("absent.cfg"),
        "{config}"
    );
    lab.exec(
        "mgr-1",
        &["/opt/runbook-lab/sim/setup", "mgr-1", "new", "--reset"],
    );
    let before = originals(lab);
    let rb = Rb::new();
    let inventory = std::fs::read_to_string(lab.inventory()).expect("inventory");
    let stderr = upgrade_through(
        &rb,
        "site.toml",
        &format!("{inventory}\n[hosts.mgr-1.vars]\nhaproxy_cfg = \"/etc/haproxy/absent.cfg\"\n"),
    );
    assert!(
        stderr.contains("mgr-1: no HAProxy config (Cloudify 5.1.1 and later"),
        "{stderr}"
    );
    let j = rb.journal();
    let commands: Vec<String> = events(&j, "command")
        .iter()
        .filter(|c| c["host"] == "mgr-1")
        .map(|c| c["command"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        !commands
            .iter()
            .any(|c| c.contains("haproxy reload") || c.contains("haproxy -c")),
        "nothing of HAProxy's is changed: {commands:#?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.contains("edit-config -s retry_timeout=")),
        "Patroni's timeouts are raised: {commands:#?}"
    );
    assert_upgraded(lab, &before);
}
