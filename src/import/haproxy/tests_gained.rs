//! Translations of what ringlb gained: ALPN and `proto h2` on binds and servers, the
//! check's protocol, a backend's own rules.

use super::tests::{parsed, run};

/// `v`'s string at `key` in each table of an array (`None` where absent).
fn each<'a>(v: &'a toml::Value, key: &str) -> Vec<Option<&'a str>> {
    let all = v.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter()
        .map(|t| t.get(key).and_then(|x| x.as_str()))
        .collect()
}

/// A translation that must lose nothing: its text and its table.
fn complete(text: &str) -> (String, toml::Table) {
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    (toml, t)
}

/// An array of strings.
fn strs(v: &toml::Value) -> Vec<&str> {
    let all = v.as_array().map(Vec::as_slice).unwrap_or_default();
    all.iter().filter_map(|x| x.as_str()).collect()
}

#[test]
fn tls_bind_alpn_keeps_what_http_mode_speaks() {
    let text = "frontend f\n  mode http\n  bind :443 ssl crt /etc/site.pem alpn spdy/3,h2,http/1.1\n  default_backend b\n  bind :8443 ssl crt /etc/site.pem proto h2\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, t) = complete(text);
    let fes = t["frontend"].as_array().unwrap();
    let alpn = |i: usize| strs(&fes[i]["tls"]["alpn"]);
    assert_eq!(alpn(0), ["h2", "http/1.1"], "{toml}");
    // proto h2 on a TLS bind: every client speaks HTTP/2 (h2 alone by ALPN).
    assert_eq!(alpn(1), ["h2"], "{toml}");
    assert!(fes[1].get("h2c").is_none(), "{toml}");
}

/// `http-check connect` opens the check's own connection: HTTP/1.1 unless it says
/// `proto h2`; with `default` it inherits the servers' protocol.
#[test]
fn http_check_connect_decides_the_check_proto() {
    let be = |connect: &str| {
        format!("backend b\n  mode http\n  option httpchk\n{connect}  server s 10.0.0.1:80 proto h2 check\n")
    };
    let proto = |text: &str| {
        let (_, t) = complete(text);
        t["backend"][0]["check"]
            .get("proto")
            .and_then(|v| v.as_str())
            .map(String::from)
    };
    assert_eq!(proto(&be("")).as_deref(), Some("h2"));
    assert_eq!(proto(&be("  http-check connect\n")), None);
    assert_eq!(
        proto(&be("  http-check connect default\n")).as_deref(),
        Some("h2")
    );
    let fixed = be("  http-check connect proto h2\n").replace(" proto h2 check", " check");
    assert_eq!(proto(&fixed).as_deref(), Some("h2"));
}

/// `alpn` to a TLS server: `h2` alone is HTTP/2; a list with http/1.1 is what ringlb
/// offers (h2 in it is the difference, said in a comment); anything else is reported.
#[test]
fn server_alpn_lists() {
    let text = "backend b\n  mode http\n  server a 10.0.0.1:443 ssl verify none alpn h2\n  server b 10.0.0.2:443 ssl verify none alpn h2,http/1.1\n  server c 10.0.0.3:443 ssl verify none alpn spdy/3\n";
    let (toml, lost) = run(text);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].contains("h.cfg:5: server alpn spdy/3: not translated"),
        "{lost:?}"
    );
    let t = parsed(&toml);
    let protos = each(&t["backend"][0]["server"], "proto");
    assert_eq!(protos, [Some("h2"), None, None]);
    assert!(
        toml.contains("(alpn h2,http/1.1: differs: ringlb offers http/1.1 alone"),
        "{toml}"
    );
}

/// A backend's own rules run after the frontend's in HAProxy, and so in ringlb: they
/// stay in the backend, whether its frontends route elsewhere too or not. Its
/// `tcp-request` rules (which ringlb's backends cannot have) move to the frontends
/// that send everything to it.
#[test]
fn backend_rules_stay_in_their_backend() {
    let text = "frontend f\n  mode http\n  bind :80\n  http-request set-header X-Front 1\n  use_backend c if { path_beg /c }\n  default_backend b\nbackend b\n  mode http\n  acl inside src 10.0.0.0/8\n  http-request deny unless inside\n  http-response set-header X-B 1\n  redirect code 301 prefix / drop-query append-slash if { path_reg ^/[^/]*$ }\n  server s 10.0.0.1:80\nbackend c\n  mode http\n  server s 10.0.0.2:80\n";
    let (toml, t) = complete(text);
    let fe = &t["frontend"][0];
    let actions = each(&fe["http_rule"], "action");
    assert_eq!(actions, [Some("set_header"), Some("use_backend")], "{toml}");
    let be = &t["backend"][0];
    assert_eq!(be["acl"][0]["name"].as_str(), Some("inside"), "{toml}");
    let actions = each(&be["http_rule"], "action");
    assert_eq!(actions, [Some("deny"), Some("redirect")], "{toml}");
    let redirect = &be["http_rule"][1];
    assert_eq!(redirect["status"].as_integer(), Some(301), "{toml}");
    assert_eq!(redirect["append_slash"].as_bool(), Some(true), "{toml}");
    assert_eq!(redirect["drop_query"].as_bool(), Some(true), "{toml}");
    assert_eq!(each(&be["response_rule"], "name"), [Some("X-B")], "{toml}");
    assert!(t["backend"][1].get("http_rule").is_none(), "{toml}");

    let tcp = "frontend f\n  mode tcp\n  bind :6379\n  default_backend b\nbackend b\n  mode tcp\n  acl inside src 10.0.0.0/8\n  tcp-request content reject if ! inside\n  server s 10.0.0.1:6379\n";
    let (toml, t) = complete(tcp);
    assert_eq!(
        each(&t["frontend"][0]["tcp_rule"], "action"),
        [Some("reject")],
        "{toml}"
    );
    assert!(t["backend"][0].get("acl").is_none(), "{toml}");
    let shared = tcp.replace("  default_backend b\n", "  default_backend b\nfrontend g\n  mode tcp\n  bind :6380\n  use_backend b if { src 10.1.0.0/16 }\n  default_backend c\nbackend c\n  mode tcp\n  server s 10.0.0.2:6379\n");
    let (_, lost) = run(&shared);
    assert!(
        lost.iter()
            .any(|l| l.contains(": tcp-request content: not translated: tcp-request in a backend")),
        "{lost:?}"
    );
}

/// `use_backend %[...]` with map converters becomes `backend_format`; the map files
/// are named as written (a relative one is said to differ), a condition is kept, and
/// what ringlb cannot render (or a tcp frontend's) is reported.
#[test]
fn dynamic_use_backend_with_a_map_becomes_backend_format() {
    let text = "frontend f\n  mode http\n  bind :80\n  use_backend %[req.hdr(host),lower,map_dom(/etc/haproxy/hosts.map,web)] if { path_beg /app }\n  use_backend %[path,map_beg(paths.map)]\n  http-request set-header X-Pool %[req.hdr(host),lower,map(/etc/haproxy/hosts.map,none)]\n  default_backend web\nbackend web\n  server s 10.0.0.1:80\n";
    let (toml, t) = complete(text);
    let rules = &t["frontend"][0]["http_rule"];
    assert_eq!(
        each(rules, "backend_format"),
        [
            None,
            Some("%[req.hdr(host),lower,map_dom(/etc/haproxy/hosts.map,web)]"),
            Some("%[path,map_beg(paths.map)]")
        ],
        "{toml}"
    );
    assert_eq!(each(rules, "if")[1], Some("anon_4_1"), "{toml}");
    assert!(
        toml.contains("differs: map file \"paths.map\" is relative"),
        "{toml}"
    );
    assert_eq!(
        each(rules, "format")[0],
        Some("%[req.hdr(host),lower,map(/etc/haproxy/hosts.map,none)]"),
        "{toml}"
    );
    let (_, lost) = run("frontend f\n  mode http\n  bind :80\n  use_backend %[var(txn.be)]\n  default_backend web\nbackend web\n  server s 10.0.0.1:80\n");
    assert!(
        lost.iter()
            .any(|l| l.contains("dynamic backend name") && l.contains("var")),
        "{lost:?}"
    );
    let (_, lost) = run("frontend f\n  mode tcp\n  bind :80\n  use_backend %[src,map_ip(nets.map)]\n  default_backend web\nbackend web\n  server s 10.0.0.1:80\n");
    assert!(
        lost.iter().any(|l| l.contains("http mode only")),
        "{lost:?}"
    );
}
