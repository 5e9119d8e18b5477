use super::ini::literal;
use super::*;
use serde_json::json;

#[test]
fn ini_values_are_python_literals_or_text() {
    let cases = [
        ("22", json!(22)),
        ("-3", json!(-3)),
        ("0x10", json!(16)),
        ("1_000", json!(1000)),
        ("1.5", json!(1.5)),
        ("True", json!(true)),
        ("true", json!("true")),
        ("None", Value::Null),
        ("0755", json!("0755")),
        ("'a b'", json!("a b")),
        ("\"it's\"", json!("it's")),
        ("[1, 'a', [True]]", json!([1, "a", [true]])),
        ("{'k': (1, 2)}", json!({"k": [1, 2]})),
        ("-o X=Y", json!("-o X=Y")),
        ("/opt/x", json!("/opt/x")),
        ("1.2.3.4", json!("1.2.3.4")),
        ("[1, 2", json!("[1, 2")),
    ];
    for (text, want) in cases {
        assert_eq!(literal(text), want, "{text}");
    }
}

#[test]
fn host_patterns_expand_ranges_and_take_a_port() {
    let cases: [(&str, &[&str], Option<u16>); 6] = [
        ("web", &["web"], None),
        ("web:2222", &["web"], Some(2222)),
        ("web[01:03]", &["web01", "web02", "web03"], None),
        ("db-[a:c]:22", &["db-a", "db-b", "db-c"], Some(22)),
        ("x[1:5:2]y", &["x1y", "x3y", "x5y"], None),
        ("fe80::1", &["fe80::1"], None),
    ];
    for (pattern, hosts, port) in cases {
        let (h, p) = expand_host_pattern(pattern).expect(pattern);
        assert_eq!(h, hosts, "{pattern}");
        assert_eq!(p, port, "{pattern}");
    }
    assert!(expand_host_pattern("web[3:1:0]").is_err());
    assert!(expand_host_pattern("web:99999").is_err());
}

#[test]
fn ini_sections_children_declared_later_and_undeclared_groups() {
    let text = "# c\nloose x=1\n[parent:children]\nkid\n[kid]\nk1 ansible_host=10.0.0.1 # comment\n[kid:vars]\nv=2\n";
    let hosts = ini::parse("inv", text)
        .expect("parse")
        .resolve("inv")
        .expect("resolve");
    let names: Vec<_> = hosts
        .iter()
        .map(|h| (h.name.as_str(), h.groups.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("loose", vec!["ungrouped".to_string()]),
            ("k1", vec!["parent".to_string(), "kid".to_string()])
        ]
    );
    assert_eq!(hosts[1].address, "10.0.0.1");
    assert_eq!(hosts[1].vars.get("v"), Some(&toml::Value::Integer(2)));
    let err = ini::parse("inv", "[p:children]\nnever\n").err();
    assert_eq!(
        err.as_deref(),
        Some("line 2: section [p:children] names `never`, a group never declared")
    );
    let err = ini::parse("inv", "[g:vars]\nx=1\n").err();
    assert_eq!(
        err.as_deref(),
        Some("line 1: section [g:vars] is for a group never declared")
    );
}

#[test]
fn a_cycle_of_children_is_an_error() {
    let text = "[a:children]\nb\n[b:children]\na\n[a]\nh\n";
    let err = ini::parse("inv", text)
        .expect("parse")
        .resolve("inv")
        .unwrap_err();
    assert_eq!(
        err.message(),
        "invalid inventory inv: its groups' `children` form a cycle"
    );
}
