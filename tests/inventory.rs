//! Inventories: the lab's hosts written as Ansible YAML, INI, `--list` JSON and a dynamic
//! inventory script must give what real Ansible (`ansible-inventory --list`, ansible-core from
//! PyPI) says, and the same connection as the lab's TOML; a run through one reaches the lab.

use crate::lab_env::{lab, shared};
use crate::util::{Ran, Rb};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `ansible-inventory`: on PATH, or in the venv bench/run and .ci/run use (`target/bench/venv`),
/// installed there from PyPI on first use. Never skipped: a test fails when it cannot install.
fn ansible_inventory() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let on_path = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("ansible-inventory"))
                .find(|f| f.is_file())
        });
        if let Some(bin) = on_path {
            return bin;
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/venv");
        let bin = venv.join("bin/ansible-inventory");
        let script = format!(
            "set -e; [ -x {bin} ] && exit 0; /usr/bin/python3 -m venv {venv}; {venv}/bin/pip install --quiet ansible-core",
            bin = bin.display(),
            venv = venv.display()
        );
        std::fs::create_dir_all(venv.parent().expect("target/bench")).expect("mkdir target/bench");
        let lock = venv.with_extension("lock");
        let out = Command::new("flock")
            .arg(&lock)
            .args(["sh", "-c", &script])
            .output()
            .expect("flock sh");
        assert!(
            out.status.success() && bin.is_file(),
            "cannot install ansible-core into {} (PyPI unreachable?): {}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// `ansible-inventory -i FILE --list`, failing (not warning) on a file it cannot parse.
fn ansible_list(dir: &Path, file: &str) -> Value {
    let out = Command::new(ansible_inventory())
        .args(["-i", file, "--list"])
        .current_dir(dir)
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true")
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible-tmp"))
        .env("ANSIBLE_HOME", dir.join(".ansible"))
        .output()
        .expect("ansible-inventory");
    assert!(
        out.status.success(),
        "ansible-inventory -i {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ansible-inventory JSON")
}

fn runbook_list(rb: &Rb, file: &str) -> Value {
    let r = rb.run(&["inventory", "-i", file]);
    r.code(0);
    serde_json::from_str(&r.stdout).expect("runbook inventory JSON")
}

/// The lab's inventory.toml, copied into the test's folder as `lab.toml` and read once (`up` in
/// another checkout may rewrite the original), with the lab lock held shared.
fn lab_snapshot(rb: &Rb) -> String {
    let _lab = shared();
    let text = std::fs::read_to_string(&lab().inventory).expect("lab inventory.toml");
    rb.write("lab.toml", &text);
    text
}

/// The lab's hosts as `(name, address, groups)`, and its TOML defaults.
fn lab_hosts(text: &str) -> (Vec<(String, String, Vec<String>)>, toml::Table) {
    let t: toml::Table = toml::from_str(text).expect("lab toml");
    let hosts = t["hosts"]
        .as_table()
        .expect("hosts")
        .iter()
        .filter(|(_, h)| h.get("port").is_none()) // the fan-out hosts are for benchmarks
        .map(|(n, h)| {
            let groups = h["groups"].as_array().expect("groups");
            (
                n.clone(),
                h["address"].as_str().expect("address").to_string(),
                groups
                    .iter()
                    .map(|g| g.as_str().expect("group").to_string())
                    .collect(),
            )
        })
        .collect();
    let defaults = t["defaults"].as_table().expect("defaults").clone();
    (hosts, defaults)
}

fn groups_in_order(hosts: &[(String, String, Vec<String>)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in hosts.iter().flat_map(|h| &h.2) {
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    out
}

/// Ansible's connection variables for the lab, and the precedence probes every format carries:
/// `tier` (all < parent `site` < child `new_managers` < host mgr-2), `side` (old_manager at
/// depth 1 < old_cluster at depth 2), `zone` (same depth: `aaa` < `old_manager` by name).
fn common_args(d: &toml::Table) -> String {
    format!(
        "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
        d["known_hosts_file"].as_str().expect("known_hosts_file")
    )
}

pub(crate) fn lab_yaml(lab_toml: &str) -> String {
    let (hosts, d) = lab_hosts(lab_toml);
    let mut y = String::from("all:\n  vars:\n");
    y += &format!(
        "    ansible_user: {}\n    ansible_port: 22\n",
        d["user"].as_str().expect("user")
    );
    y += &format!(
        "    ansible_ssh_private_key_file: {}\n",
        d["identity_file"].as_str().expect("key")
    );
    y += &format!("    ansible_ssh_common_args: \"{}\"\n", common_args(&d));
    for (k, v) in d["vars"].as_table().expect("vars") {
        y += &format!("    {k}: \"{}\"\n", v.as_str().expect("str var"));
    }
    y += "    tier: all\n    nested: {a: [1, 2], b: {c: true}}\n    count: 3\n";
    y += "  children:\n";
    let mut seen = BTreeSet::new();
    for g in groups_in_order(&hosts) {
        y += &format!("    {g}:\n      hosts:\n");
        for (n, addr, _) in hosts.iter().filter(|h| h.2.contains(&g)) {
            if seen.insert(n.clone()) {
                let extra = if n == "mgr-2" { ", tier: host" } else { "" };
                y += &format!("        {n}: {{ansible_host: {addr}{extra}}}\n");
            } else {
                y += &format!("        {n}:\n");
            }
        }
        y += match g.as_str() {
            "new_managers" => "      vars: {tier: child}\n",
            "old_manager" => "      vars: {side: manager, zone: manager}\n",
            "old_cluster" => "      vars: {side: cluster}\n",
            _ => "",
        };
    }
    y += "    aaa:\n      hosts:\n        old-1:\n      vars: {zone: aaa}\n";
    y += "    site:\n      vars: {tier: parent}\n      children:\n        new_managers:\n        old_cluster:\n";
    y
}

pub(crate) fn lab_ini(lab_toml: &str) -> String {
    let (hosts, d) = lab_hosts(lab_toml);
    let mut s = String::new();
    let mut seen = BTreeSet::new();
    for g in groups_in_order(&hosts) {
        s += &format!("[{g}]\n");
        for (n, addr, _) in hosts.iter().filter(|h| h.2.contains(&g)) {
            if seen.insert(n.clone()) {
                let extra = if n == "mgr-2" { " tier=host" } else { "" };
                s += &format!("{n} ansible_host={addr}{extra}  # first mention\n");
            } else {
                s += &format!("{n}\n");
            }
        }
        s += match g.as_str() {
            "new_managers" => "[new_managers:vars]\ntier=child\n",
            "old_manager" => "[old_manager:vars]\nside=manager\nzone=manager\n",
            "old_cluster" => "[old_cluster:vars]\nside=cluster\n",
            _ => "",
        };
    }
    s += "[aaa]\nold-1\n[aaa:vars]\nzone=aaa\n";
    s += "[site:children]\nnew_managers\nold_cluster\n[site:vars]\ntier=parent\n";
    s += &format!(
        "[all:vars]\nansible_user={}\nansible_port=22\nansible_ssh_private_key_file={}\nansible_ssh_common_args='{}'\n",
        d["user"].as_str().expect("user"),
        d["identity_file"].as_str().expect("key"),
        common_args(&d)
    );
    for (k, v) in d["vars"].as_table().expect("vars") {
        s += &format!("{k}={}\n", v.as_str().expect("str var"));
    }
    s += "tier=all\nnested={'a': [1, 2], 'b': {'c': True}}\ncount=3\n";
    s
}

const CONNECTION_KEYS: [&str; 5] = [
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_ssh_private_key_file",
    "ansible_ssh_common_args",
];

/// Every group's hosts, children included, as Ansible's `--list` says.
fn ansible_groups(list: &Value) -> BTreeMap<String, BTreeSet<String>> {
    fn members(list: &Value, g: &str, out: &mut BTreeSet<String>) {
        for h in list[g]["hosts"].as_array().into_iter().flatten() {
            out.insert(h.as_str().unwrap_or_default().to_string());
        }
        for c in list[g]["children"].as_array().into_iter().flatten() {
            members(list, c.as_str().unwrap_or_default(), out);
        }
    }
    let mut out = BTreeMap::new();
    for g in list.as_object().expect("groups").keys() {
        if g != "_meta" && g != "all" {
            let mut set = BTreeSet::new();
            members(list, g, &mut set);
            out.insert(g.clone(), set);
        }
    }
    out
}

fn runbook_groups(list: &Value) -> BTreeMap<String, BTreeSet<String>> {
    list["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            let hosts = g["hosts"].as_array().expect("hosts");
            (
                g["name"].as_str().expect("name").to_string(),
                hosts
                    .iter()
                    .map(|h| h.as_str().expect("host").to_string())
                    .collect(),
            )
        })
        .collect()
}

fn by_name(list: &Value) -> BTreeMap<String, Value> {
    list["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| (h["name"].as_str().expect("name").to_string(), h.clone()))
        .collect()
}

/// runbook's reading of an inventory equals Ansible's: the same hosts, every group with the same
/// members, every host's variables (connection keys become its connection).
#[track_caller]
fn assert_same_as_ansible(ours: &Value, theirs: &Value) {
    let hostvars = theirs["_meta"]["hostvars"].as_object().expect("hostvars");
    let hosts = by_name(ours);
    assert_eq!(
        hosts.keys().collect::<Vec<_>>(),
        hostvars.keys().collect::<Vec<_>>(),
        "hosts"
    );
    for (name, av) in hostvars {
        let h = &hosts[name];
        let mut vars = av.as_object().expect("vars").clone();
        let take = |vars: &mut serde_json::Map<String, Value>, k: &str| vars.remove(k);
        let address = take(&mut vars, "ansible_host").unwrap_or(json!(name));
        assert_eq!(h["address"], address, "{name}: address");
        assert_eq!(
            h["port"],
            take(&mut vars, "ansible_port").unwrap_or(Value::Null),
            "{name}: port"
        );
        assert_eq!(
            h["user"],
            take(&mut vars, "ansible_user").unwrap_or(Value::Null),
            "{name}: user"
        );
        assert_eq!(
            h["identity_file"],
            take(&mut vars, "ansible_ssh_private_key_file").unwrap_or(Value::Null),
            "{name}: key"
        );
        for k in CONNECTION_KEYS {
            vars.remove(k);
        }
        assert_eq!(h["vars"], Value::Object(vars), "{name}: vars");
    }
    assert_eq!(
        runbook_groups(ours),
        ansible_groups(theirs),
        "groups and their members"
    );
}

/// The connection of every host, as the lab's own TOML gives it.
#[track_caller]
fn assert_same_connection_as_toml(ours: &Value, toml_list: &Value) {
    let toml_hosts = by_name(toml_list);
    for (name, h) in by_name(ours) {
        let t = &toml_hosts[&name];
        for k in [
            "address",
            "port",
            "user",
            "identity_file",
            "known_hosts_file",
            "transport",
        ] {
            assert_eq!(h[k], t[k], "{name}: {k}");
        }
        for (k, v) in t["vars"].as_object().expect("vars") {
            assert_eq!(&h["vars"][k], v, "{name}: var {k}");
        }
    }
}

#[test]
fn the_lab_in_ansible_yaml_and_ini_reads_as_ansible_inventory_list_says() {
    let rb = Rb::new();
    let lab_toml = lab_snapshot(&rb);
    rb.write("lab.yml", &lab_yaml(&lab_toml));
    rb.write("lab.ini", &lab_ini(&lab_toml));
    let toml_list = runbook_list(&rb, "lab.toml");
    for file in ["lab.yml", "lab.ini"] {
        let ours = runbook_list(&rb, file);
        let theirs = ansible_list(rb.dir.path(), file);
        assert_same_as_ansible(&ours, &theirs);
        assert_same_connection_as_toml(&ours, &toml_list);
        // Precedence, spelled out: host > child group > parent group > all; deeper group wins;
        // at the same depth the later name wins.
        let hosts = by_name(&ours);
        let tier = |h: &str| hosts[h]["vars"]["tier"].clone();
        assert_eq!(
            [tier("mgr-1"), tier("mgr-2"), tier("old-2"), tier("old-1")],
            [
                json!("child"),
                json!("host"),
                json!("parent"),
                json!("parent")
            ],
            "{file}"
        );
        assert_eq!(hosts["old-1"]["vars"]["side"], "cluster", "{file}");
        assert_eq!(hosts["old-1"]["vars"]["zone"], "manager", "{file}");
        assert_eq!(
            hosts["mgr-3"]["vars"]["nested"],
            json!({"a": [1, 2], "b": {"c": true}})
        );
        assert_eq!(hosts["mgr-3"]["vars"]["count"], 3, "{file}");
        // File order: group("new_managers")[0] is the first one written.
        let nm = &runbook_groups(&ours)["new_managers"];
        assert_eq!(nm.len(), 3);
        let order = ours["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["name"] == "new_managers")
            .map(|g| g["hosts"].clone())
            .expect("new_managers");
        assert_eq!(order, json!(["mgr-1", "mgr-2", "mgr-3"]), "{file}");
    }
}

#[test]
fn ansible_list_json_and_a_dynamic_inventory_script_read_like_the_yaml() {
    let rb = Rb::new();
    let lab_toml = lab_snapshot(&rb);
    rb.write("lab.yml", &lab_yaml(&lab_toml));
    let theirs = ansible_list(rb.dir.path(), "lab.yml");
    let list = serde_json::to_string_pretty(&theirs).expect("json");
    rb.write("list.json", &list);
    // A script with `_meta` answers everything in `--list`; one without is asked `--host H`.
    let with_meta = rb.write(
        "inv-meta.sh",
        "#!/bin/sh\n[ \"$1\" = --list ] && exec cat \"$(dirname \"$0\")/list.json\"\nexit 1\n",
    );
    let mut groups_only = theirs.clone();
    let hostvars = groups_only
        .as_object_mut()
        .expect("object")
        .remove("_meta")
        .expect("_meta");
    rb.write("groups.json", &groups_only.to_string());
    for (h, vars) in hostvars["hostvars"].as_object().expect("hostvars") {
        rb.write(&format!("host-{h}.json"), &vars.to_string());
    }
    let asks = rb.write(
        "inv-host.sh",
        "#!/bin/sh\nd=$(dirname \"$0\")\ncase \"$1\" in\n--list) exec cat \"$d/groups.json\" ;;\n--host) exec cat \"$d/host-$2.json\" ;;\nesac\nexit 1\n",
    );
    for script in [&with_meta, &asks] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    for file in ["list.json", "inv-meta.sh", "inv-host.sh"] {
        let ours = runbook_list(&rb, file);
        assert_same_as_ansible(&ours, &theirs);
    }
    // A script that fails is named with its stderr.
    let broken = rb.write(
        "broken.sh",
        "#!/bin/sh\necho 'no cloud credentials' >&2\nexit 3\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let r = rb.run(&["inventory", "-i", "broken.sh"]);
    r.code(2);
    assert!(
        r.stderr.contains(
            "inventory script `broken.sh --list` failed (exit status: 3): no cloud credentials"
        ),
        "{}",
        r.stderr
    );
}

fn run_hostname(rb: &Rb, inventory: &str) -> Ran {
    rb.write(
        "hostname.rhai",
        r#"//! Hostname.
step("name", "Ask the first new manager its name", || {
    let h = inventory.group("new_managers")[0];
    log(h.name + " says " + ssh::run(h, ["hostname"]).stdout.trimmed() + ", tier " + h.vars.tier);
});
"#,
    );
    rb.run(&["run", "hostname.rhai", "-i", inventory])
}

#[test]
fn a_run_through_an_ansible_yaml_or_ini_inventory_reaches_the_lab() {
    let rb = Rb::new();
    let lab_toml = lab_snapshot(&rb);
    let _lab = shared();
    rb.write("lab.yml", &lab_yaml(&lab_toml));
    rb.write("lab.ini", &lab_ini(&lab_toml));
    for file in ["lab.yml", "lab.ini"] {
        let r = run_hostname(&rb, file);
        r.code(0);
        assert!(
            r.stderr.contains("mgr-1 says mgr-1, tier child"),
            "{file}: {}",
            r.stderr
        );
    }
}

#[test]
fn connection_settings_runbook_cannot_honour_are_refused_by_name() {
    let rb = Rb::new();
    let cases = [
        (
            "all:\n  hosts:\n    web:\n      ansible_password: hunter2\n",
            "invalid inventory bad-0.inv: host `web`: runbook cannot honour `ansible_password`\n",
        ),
        (
            "[web]\nw1 ansible_ssh_common_args='-o StrictHostKeyChecking=no'\n",
            "runbook checks host keys strictly",
        ),
        (
            "all:\n  hosts:\n    web:\n      ansible_ssh_common_args: -o ProxyJump=bastion\n",
            "runbook cannot pass `-o ProxyJump=bastion` to ssh",
        ),
        (
            "[web]\nw1 ansible_connection=winrm\n",
            "`ansible_connection: winrm`: runbook connects with ssh or locally",
        ),
        (
            "all:\n  hosts:\n    web:\n      ansible_host: \"{{ lookup('env', 'IP') }}\"\n",
            "`ansible_host` is a Jinja template",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = format!("bad-{i}.inv");
        rb.write(&file, text);
        let r = rb.run(&["inventory", "-i", &file]);
        r.code(2);
        assert!(r.stderr.contains(expected), "{text}\n{}", r.stderr);
        assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    }
    // A static file with the x bit (a checkout on a FAT disk) is read, not run: no `#!`.
    let ini = rb.write("exec.ini", "[web]\nw1 ansible_host=10.0.0.1\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    assert_eq!(
        runbook_list(&rb, "exec.ini")["hosts"][0]["address"],
        "10.0.0.1"
    );
    // Harmless ones are read: become as root with sudo, the interpreter, ssh's own multiplexing.
    rb.write(
        "ok.yml",
        "all:\n  vars:\n    ansible_become: true\n    ansible_become_method: sudo\n    ansible_python_interpreter: /usr/bin/python3\n    ansible_ssh_common_args: -o ControlMaster=auto -o ControlPersist=60s\n  hosts:\n    web:\n",
    );
    let ok = runbook_list(&rb, "ok.yml");
    assert_eq!(
        ok["hosts"][0]["vars"],
        json!({"ansible_become": true, "ansible_become_method": "sudo", "ansible_python_interpreter": "/usr/bin/python3"})
    );
}

#[test]
fn a_file_in_no_format_names_every_format_tried() {
    let rb = Rb::new();
    rb.write("hosts.txt", "web-1 = = x\n[web 1]\n");
    let r = rb.run(&["inventory", "-i", "hosts.txt"]);
    r.code(2);
    let expected = "\
  × cannot read inventory hosts.txt: it is not runbook TOML, Ansible YAML or Ansible INI
  help: as TOML: invalid string expected `\"`, `'`
        as YAML: not a mapping of groups
        as INI: line 1: expected key=value host variable assignment, got `x`
        see `runbook help inventory` for the formats runbook reads
";
    assert!(r.stderr.contains(expected), "{}", r.stderr);
}

/// Every `runbook …` command a help line names, run: it must exist (exit 0) and say something.
#[track_caller]
fn commands_named_in_help_work(rb: &Rb, stderr: &str) {
    let help = stderr
        .split("help:")
        .nth(1)
        .unwrap_or_else(|| panic!("no help in: {stderr}"));
    let named: Vec<&str> = help
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("runbook "))
        .collect();
    assert!(!named.is_empty(), "the help names no command: {help}");
    for cmd in named {
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let r = rb.run(&args);
        r.code(0);
        assert!(r.stdout.len() > 200, "`{cmd}` says little: {}", r.stdout);
    }
    assert!(
        !help.contains("book/src"),
        "a path only a checkout has: {help}"
    );
}

#[test]
fn inventory_errors_point_at_help_that_exists_for_an_installed_binary() {
    let rb = Rb::new();
    rb.write("typo.toml", "[hosts.a]\nadress = \"x\"\n");
    rb.write("empty.toml", "[defaults]\nuser = \"ops\"\n");
    rb.write("none.txt", "web-1 = = x\n");
    for file in ["typo.toml", "empty.toml", "none.txt"] {
        let r = rb.run(&["check", "hosts-check", "-i", file]);
        r.code(2);
        commands_named_in_help_work(&rb, &r.stderr);
    }
    let help = rb.run(&["help", "inventory"]);
    for needle in [
        "[hosts.mgr-1]",
        "identity_file",
        "Ansible YAML",
        "Ansible INI",
        "--list",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.stdout);
    }
}

#[test]
fn group_vars_and_host_vars_folders_read_as_ansible_reads_them() {
    let rb = Rb::new();
    let lab_toml = lab_snapshot(&rb);
    // Without its user, key and known_hosts: group_vars/all says them.
    let yaml: String = lab_yaml(&lab_toml)
        .lines()
        .filter(|l| !l.contains("ansible_user") && !l.contains("ansible_ssh_"))
        .map(|l| format!("{l}\n"))
        .collect();
    rb.write("site/lab.yml", &yaml);
    let (_, d) = lab_hosts(&lab_toml);
    rb.write(
        "site/group_vars/all.yml",
        &format!(
            "ansible_user: {}\nansible_ssh_private_key_file: {}\nansible_ssh_common_args: \"{}\"\ntier: gv-all\n",
            d["user"].as_str().expect("user"),
            d["identity_file"].as_str().expect("key"),
            common_args(&d)
        ),
    );
    // A folder: its files in name order; hidden files and backups are not read.
    rb.write(
        "site/group_vars/new_managers/10-a.yml",
        "tier: gv-child-a\nonly_a: 1\n",
    );
    rb.write("site/group_vars/new_managers/20-b.yaml", "tier: gv-child\n");
    rb.write("site/group_vars/new_managers/.hidden.yml", "tier: hidden\n");
    rb.write("site/group_vars/new_managers/30-c.yml~", "tier: backup\n");
    rb.write("site/group_vars/site.json", "{\"side\": \"gv-site\"}");
    rb.write("site/host_vars/mgr-3", "tier: hv-host\n");
    let ours = runbook_list(&rb, "site/lab.yml");
    let theirs = ansible_list(rb.dir.path(), "site/lab.yml");
    assert_same_as_ansible(&ours, &theirs);
    assert_same_connection_as_toml(&ours, &runbook_list(&rb, "lab.toml"));
    // group_vars/ beats the file's groups; the file's host vars beat group_vars/; host_vars/ wins.
    let hosts = by_name(&ours);
    let tier = |h: &str| hosts[h]["vars"]["tier"].clone();
    assert_eq!(
        [tier("mgr-1"), tier("mgr-2"), tier("mgr-3"), tier("old-1")],
        [
            json!("gv-child"),
            json!("host"),
            json!("hv-host"),
            json!("gv-all")
        ]
    );
    assert_eq!(hosts["old-2"]["vars"]["side"], "gv-site");
}

#[test]
fn the_upgrade_plans_the_same_through_ansible_yaml_and_ini_as_through_the_lab_toml() {
    let rb = Rb::new();
    let lab_toml = lab_snapshot(&rb);
    rb.write("lab.yml", &lab_yaml(&lab_toml));
    rb.write("lab.ini", &lab_ini(&lab_toml));
    // Plan runs the read-only probes for real: the lab must not change under it.
    let _lab = shared();
    let plan = |file: &str| {
        let r = rb.run(&["plan", "cloudify-ha-upgrade", "-i", file]);
        r.code(0);
        r.stdout.replacen(&format!("({file})"), "(INVENTORY)", 1)
    };
    // What the plan holds depends on the managers' state other tests leave; the same state
    // read through each inventory must give the same plan.
    let by_toml = plan("lab.toml");
    assert!(by_toml.contains("] restore: "), "{by_toml}");
    for file in ["lab.yml", "lab.ini"] {
        assert_eq!(plan(file), by_toml, "{file}");
    }
}
