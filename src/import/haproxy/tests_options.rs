//! Options and `log`/tuning lines: what needs a key in ringlb and what is its default already.

use super::tests::{notes, parsed, run};

#[test]
fn dontlognull_is_ringlbs_default_in_http_mode_and_a_key_in_tcp_mode() {
    let base = "global\n  log /dev/log local0\ndefaults\n  option dontlognull\nfrontend f\n  bind :80\n  mode MODE\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let http = base.replace("MODE", "http");
    let (toml, lost) = run(&http);
    assert!(lost.is_empty(), "{lost:?}");
    assert!(parsed(&toml)["frontend"][0]
        .get("log_empty_connections")
        .is_none());
    assert_eq!(
        notes(&http),
        ["h.cfg:4: option dontlognull: no key needed: ringlb does not log a connection that closes or times out before sending a byte"]
    );
    let (toml, lost) = run(&base.replace("MODE", "tcp"));
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        parsed(&toml)["frontend"][0]["log_empty_connections"].as_bool(),
        Some(false)
    );
    assert!(
        toml.contains("# h.cfg:4: option dontlognull\nlog_empty_connections = false"),
        "{toml}"
    );
    // `no option dontlognull`: the other way round.
    let no = base.replace("  option", "  no option");
    let (toml, lost) = run(&no.replace("MODE", "tcp"));
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        parsed(&toml)["frontend"][0]["log_empty_connections"].as_bool(),
        Some(true)
    );
    let (_, lost) = run(&no.replace("MODE", "http"));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].starts_with("h.cfg:4: no option dontlognull: not translated: ringlb does not log"),
        "{lost:?}"
    );
    // A backend's: HAProxy ignores it too.
    let (_, lost) = run(&format!("{http}  option dontlognull\n"));
    assert!(lost.is_empty(), "{lost:?}");
}

#[test]
fn forwardfor_inherited_by_tcp_frontends_only_has_no_effect() {
    let text = "defaults\n  mode http\n  option forwardfor except 127.0.0.0/8\nfrontend f\n  bind :80\n  mode tcp\n  default_backend b\nbackend b\n  mode tcp\n  server s 10.0.0.1:80\n";
    let (_, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        notes(text),
        ["h.cfg:3: option forwardfor except 127.0.0.0/8: no key needed: no effect on a tcp frontend, in HAProxy either"]
    );
    // An http frontend inheriting it too: X-Forwarded-For alone, except loopback.
    let (toml, lost) = run(&format!(
        "{text}frontend g\n  bind :81\n  default_backend b\n"
    ));
    assert!(lost.is_empty(), "{lost:?}");
    for key in [
        "forwarded_for = true",
        "forwarded_headers = [\"x-forwarded-for\"]",
        "forwarded_for_except = [\"127.0.0.0/8\"]",
    ] {
        assert!(toml.contains(key), "{key} in {toml}");
    }
}

#[test]
fn forwardfor_options_become_keys() {
    let text = "frontend f\n  bind :80\n  mode http\n  option forwardfor header X-Client-IP if-none\n  default_backend b\nbackend b\n  mode http\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    assert!(
        toml.contains("forwarded_for_header = \"X-Client-IP\""),
        "{toml}"
    );
    assert!(toml.contains("forwarded_for_if_none = true"), "{toml}");
    let (_, lost) = run(&text.replace("if-none", "bogus"));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:4: option forwardfor bogus: not translated"));
}

#[test]
fn a_second_log_target_says_what_it_would_receive() {
    // The second (events only) becomes global.syslog_copy (see tests_misc.rs); more
    // targets are reported.
    let text = "global\n  log /dev/log local0\n  log /dev/log local1 notice\n  log 10.0.0.8 local3 notice\n  log 10.0.0.9:514 local2\n";
    let (_, lost) = run(text);
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(
        lost[0].starts_with("h.cfg:4: log: not translated: ringlb sends its logs to one target")
    );
    assert!(
        lost[0].contains("only takes HAProxy's events at notice and above"),
        "{lost:?}"
    );
    assert!(
        lost[1].ends_with("send a copy elsewhere with a syslog relay"),
        "{lost:?}"
    );
}

#[test]
fn tuning_lines_at_haproxys_default_need_no_key() {
    let text = "global\n  tune.bufsize 16384\n  tune.maxrewrite 1024\n  tune.bufsize 32768\n";
    let (_, lost) = run(text);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:4: tune.bufsize: not translated"));
}

#[test]
fn the_last_check_option_wins() {
    let text = "backend b\n  option httpchk GET /healthz\n  http-check expect status 200\n  option ssl-hello-chk\n  server s 10.0.0.1:6443 check\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    let c = &t["backend"][0]["check"];
    assert_eq!(c["kind"].as_str(), Some("tcp"));
    assert_eq!(c["tls"].as_bool(), Some(true));
    assert!(c.get("path").is_none());
}

#[test]
fn http_reuse_becomes_the_backends_http_reuse_from_defaults_too() {
    let text = "defaults\n  mode http\n  http-reuse always\n\nfrontend f\n  bind :80\n  default_backend a\n\nbackend a\n  server s 10.0.0.1:80\n\nbackend n\n  http-reuse never\n  server s 10.0.0.2:80\n\nbackend x\n  http-reuse sometimes\n  server s 10.0.0.3:80\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    assert_eq!(t["backend"][0]["http_reuse"].as_str(), Some("always"));
    assert_eq!(t["backend"][1]["http_reuse"].as_str(), Some("never"));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].contains("h.cfg:17") && lost[0].contains("sometimes"),
        "{lost:?}"
    );
}
