use super::*;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/haproxy"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(corpus_dir().join(name)).expect("read corpus file")
}

/// Names of every `*.cfg` of the corpus (not its `expected/` folder), sorted.
fn corpus() -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "cfg"))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 6, "corpus went missing: {names:?}");
    names
}

/// A report in short: `c7` = client edited at line 7, `!s29` = server ignored at line 29,
/// `-client` = client missing.
fn summary(r: &EditReport) -> String {
    let tag = |w: Which| &w.keyword()[..1];
    let changes = r
        .changes
        .iter()
        .map(|c| format!("{}{}", tag(c.which), c.line));
    let ignored = r
        .ignored
        .iter()
        .map(|t| format!("!{}{}", tag(t.which), t.line));
    let missing = r.missing.iter().map(|w| format!("-{w}"));
    changes
        .chain(ignored)
        .chain(missing)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Per corpus file: summary of set_timeouts(1440m, 1440m); `expected/NAME` is the output.
const EXPECT: &[(&str, &str)] = &[
    ("cloudify-manager.cfg", "c7 s9"),
    ("debian-default.cfg", "c26 s27"),
    ("legacy-1x.cfg", "-client -server"),
    (
        "multi-named-defaults.cfg",
        "c11 s12 c18 s19 c23 s34 c44 s45 s60 !s29 !c39",
    ),
    ("no-trailing-newline.cfg", "c4 s10"),
    ("sed-traps.cfg", "c9 s10 t14"),
    ("tabs-crlf.cfg", "c9 s10"),
    ("tunnel-defaults.cfg", "c9 s11 t12 !t18"),
    ("tunnel-listen.cfg", "c5 s7 t10"),
];

/// `timeout tunnel` follows the longer requested value, is never lowered, and is not added.
#[test]
fn tunnel_is_raised_to_the_longer_value_never_lowered_never_added() {
    let text = "defaults\n timeout tunnel 1h\nbackend b\n timeout tunnel 3d\n timeout server 1m\n";
    let mut c = Config::parse(text);
    let r = c.set_timeouts(Some("2h"), Some("90m")).unwrap();
    assert_eq!(summary(&r), "t2 s5 -client");
    assert_eq!(
        c.render(),
        "defaults\n timeout tunnel 2h\nbackend b\n timeout tunnel 3d\n timeout server 90m\n"
    );
    let mut c = Config::parse("defaults\n timeout client 1m\n");
    let r = c.set_timeouts(Some("2h"), Some("2h")).unwrap();
    assert_eq!(summary(&r), "c2 -server", "no tunnel is added");
}

#[test]
fn corpus_round_trips_byte_for_byte() {
    for name in corpus() {
        let text = read(&name);
        assert_eq!(Config::parse(&text).render(), text, "{name}");
    }
    for text in ["", "\n", "\r\n", "x", "a\rb\n", " \t\n#\n", "é\"#\"'q\n\\"] {
        assert_eq!(Config::parse(text).render(), text);
    }
}

#[test]
fn corpus_edit_gives_expected_files_and_touches_only_those_lines() {
    let listed: Vec<_> = EXPECT.iter().map(|e| e.0.to_string()).collect();
    assert_eq!(corpus(), listed, "every corpus file needs an EXPECT entry");
    for &(name, want) in EXPECT {
        let text = read(name);
        let mut c = Config::parse(&text);
        let before = c.timeouts();
        let r = c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
        assert_eq!(summary(&r), want, "{name}");
        for ch in &r.changes {
            let t = before.iter().find(|t| t.line == ch.line).unwrap();
            let old = (&*t.value, &*t.section, "1440m");
            assert_eq!((&*ch.old, &*ch.section, &*ch.new), old);
        }
        let out = c.render();
        assert_eq!(out, read(&format!("expected/{name}")), "{name}");
        let (a, b) = (text.split_inclusive('\n'), out.split_inclusive('\n'));
        assert_eq!(a.clone().count(), b.clone().count());
        for (i, (x, y)) in a.zip(b).enumerate() {
            let edited = r.changes.iter().any(|c| c.line == i + 1);
            assert_eq!(x != y, edited, "{name}:{}", i + 1);
        }
        let again = c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
        assert!(again.is_noop(), "{name} is not idempotent: {again:?}");
        assert_eq!(c.render(), out);
    }
}

#[test]
fn sed_traps_full_output() {
    let text = "defaults\n  timeout client 30m # keep\n  timeout  server   30m\n  \
        timeout client-fin 30s\n  timeout server-fin 30s\n  # timeout client 30m\n  \
        #timeout server 1m\n  timeout clientXYZ 1s\n  timeout tunnel 1h\n";
    let mut c = Config::parse(text);
    let r = c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
    let want = "defaults\n  timeout client 1440m # keep\n  timeout  server   1440m\n  \
        timeout client-fin 30s\n  timeout server-fin 30s\n  # timeout client 30m\n  \
        #timeout server 1m\n  timeout clientXYZ 1s\n  timeout tunnel 1440m\n";
    assert_eq!(c.render(), want);
    // The tunnel timeout supersedes client and server on an established TCP connection: it
    // is raised too (issue 15), where sed's `timeout client.*` never reached it.
    assert_eq!(summary(&r), "c2 s3 t9");
    assert!(r
        .changes
        .iter()
        .all(|c| c.section == "defaults" && (c.old == "30m" || c.which == Which::Tunnel)));
}

#[test]
fn timeouts_and_sections_are_reported() {
    let t = &Config::parse(&read("debian-default.cfg")).timeouts()[0];
    let got = (&*t.section, t.which, &*t.value, t.line, t.effective);
    assert_eq!(got, ("defaults", Which::Client, "50000", 26, true));
    let c = Config::parse(&read("multi-named-defaults.cfg"));
    let labels = c
        .sections()
        .into_iter()
        .map(|s| format!("{}@{}", s.label(), s.line));
    let labels: Vec<_> = labels.collect();
    assert_eq!(labels.len(), 12);
    assert_eq!(
        labels[..3],
        ["global@2", "defaults web@6", "defaults tcp@15"]
    );
    assert_eq!(labels[11], "backend indented-header@59");
    let ignored: Vec<_> = c.timeouts().into_iter().filter(|t| !t.effective).collect();
    let ignored: Vec<_> = ignored.iter().map(|t| &*t.section).collect();
    assert_eq!(ignored, ["frontend api", "backend api"]);
    let unnamed = Config::parse("defaults from base\n").sections();
    assert_eq!(unnamed[0].name, None);
    let stray = &Config::parse("  timeout client 1s\nglobal\n").timeouts()[0];
    assert_eq!((&*stray.section, stray.effective), (NO_SECTION, false));
}

#[test]
fn missing_and_ignored_are_reported_not_added() {
    let text = "frontend fe\n  timeout client 30s\n  timeout server 30s\n\
        backend be\n  timeout client 9s\n";
    let mut c = Config::parse(text);
    let r = c.set_timeouts(None, Some("1440m")).unwrap();
    assert!(r.is_noop());
    assert_eq!(summary(&r), "!s3 -server");
    assert_eq!(c.render(), text);
    let r = c.set_timeouts(Some("1d"), None).unwrap();
    assert_eq!(summary(&r), "c2 !c5");
    assert_eq!(c.render(), text.replacen("client 30s", "client 1d", 1));
    let mut c = Config::parse("global\n  daemon\n");
    let r = c.set_timeouts(Some("1m"), Some("1m")).unwrap();
    assert_eq!(r.missing, [Which::Client, Which::Server]);
}

#[test]
fn comment_inside_word_and_quoted_value() {
    let text = "listen l\n\ttimeout client 30m#n\r\n\ttimeout server \"30m\"\r\n";
    let mut c = Config::parse(text);
    assert_eq!(c.timeouts()[0].value, "30m");
    c.set_timeouts(Some("5m"), Some("5m")).unwrap();
    let want = "listen l\n\ttimeout client 5m#n\r\n\ttimeout server 5m\r\n";
    assert_eq!(c.render(), want);
}

#[test]
fn invalid_value_changes_nothing() {
    let text = read("cloudify-manager.cfg");
    let mut c = Config::parse(&text);
    let (ok, bad) = (Some("1440m"), ["30x", "30d", "", "5 m", "-1"].map(Some));
    for (client, server) in bad.iter().flat_map(|&b| [(ok, b), (b, ok), (b, None)]) {
        let err = c.set_timeouts(client, server).unwrap_err();
        assert!(matches!(err, Error::InvalidTimeout { .. }), "{err:?}");
        assert_eq!(c.render(), text);
    }
    let err = c.set_timeouts(ok, Some("30x")).unwrap_err().to_string();
    let want = "refusing to set `timeout server`: invalid duration value \"30x\": \
        unit must be one of us, ms, s, m, h, d";
    assert_eq!(err, want);
}

#[test]
fn parse_duration_units_and_limits() {
    // VALUE=MICROSECONDS
    let ok = "50000=50000000 250ms=250000 1500us=1500 30s=30000000 1440m=86400000000 \
        2h=7200000000 24d=2073600000000 0=0 0005s=5000000 2147483647=2147483647000 \
        596h=2145600000000";
    for (s, micros) in ok.split(' ').map(|p| p.split_once('=').unwrap()) {
        let want = Duration::from_micros(micros.parse().unwrap());
        assert_eq!(parse_duration(s), Ok(want), "{s}");
    }
    let err = |s: &str| parse_duration(s).unwrap_err();
    for s in "2147483648 597h 25d 30d 2147483647001us 99999999999999999999".split(' ') {
        assert_eq!(err(s), Error::TimerOverflow { value: s.into() });
    }
    for s in [
        "30x", "1M", "1S", "1d1h", "5 s", "5s ", "30m#x", "1.5s", "5\u{b5}s",
    ] {
        assert_eq!(err(s), Error::BadUnit { value: s.into() });
    }
    for s in ["", "m", "-1", "+5s", ".5s", " 5s", "\"5s\"", "\u{661}s"] {
        assert_eq!(err(s), Error::NotANumber { value: s.into() });
    }
    let msg = err("30d").to_string();
    let want = "timer overflow in duration value \"30d\": HAProxy's maximum is 2147483647 ms \
        (~24.8 days)";
    assert_eq!(msg, want);
}

#[test]
fn unified_diff_format() {
    let old = read("cloudify-manager.cfg");
    let mut c = Config::parse(&old);
    c.set_timeouts(Some("1440m"), Some("1440m")).unwrap();
    let d = unified_diff("/etc/haproxy/haproxy.cfg", &old, &c.render());
    let want =
        "--- a/etc/haproxy/haproxy.cfg\n+++ b/etc/haproxy/haproxy.cfg\n@@ -4,9 +4,9 @@\n     \
        log global\n     mode tcp\n     retries 2\n-    timeout client 30m\n+    timeout client \
        1440m\n     timeout connect 4s\n-    timeout server 30m\n+    timeout server 1440m\n     \
        timeout check 5s\n listen stats\n     mode http\n";
    assert_eq!(d, want);
    assert_eq!(unified_diff("x", &old, &old), "");
    let d = unified_diff("x.cfg", "a\nb", "a\nc");
    let want =
        "--- a/x.cfg\n+++ b/x.cfg\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n";
    assert!(d.starts_with(want), "{d}");
}
