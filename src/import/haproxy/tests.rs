//! Whole-file translations: sections, defaults inheritance, listen, binds, routes, and
//! the lost list; the helpers (`run`, `notes`, `parsed`) the other `tests_*.rs` use.

use crate::import::report::Ledger;

fn env(name: &str) -> Option<String> {
    (name == "WEB_PORT").then(|| "8081".to_string())
}

pub(super) fn run(text: &str) -> (String, Vec<String>) {
    let mut led = Ledger::default();
    let tables = super::translate("h.cfg", text, &env, &mut led).unwrap();
    led.close();
    let toml = crate::import::toml_out::write(&[], &tables);
    let lost = led.lost_list().iter().map(|l| l.to_string()).collect();
    (toml, lost)
}

/// The lines noted as left to ringlb's default ("no key needed").
pub(super) fn notes(text: &str) -> Vec<String> {
    let mut led = Ledger::default();
    super::translate("h.cfg", text, &env, &mut led).unwrap();
    let notes = led.notes();
    notes
        .into_iter()
        .filter(|n| n.contains("no key needed"))
        .collect()
}

pub(super) fn parsed(toml: &str) -> toml::Table {
    toml::from_str(toml).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

#[test]
fn listen_becomes_a_frontend_and_a_backend() {
    let (toml, lost) = run(
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\nlisten web\n  bind :80\n  balance leastconn\n  option httpchk GET /health\n  server a 10.0.0.1:8080 check inter 3s rise 3\n  server b \"10.0.0.2:${WEB_PORT}\" check backup\n",
    );
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    let fe = &t["frontend"][0];
    assert_eq!(fe["name"].as_str(), Some("web"));
    assert_eq!(fe["bind"][0].as_str(), Some("0.0.0.0:80"));
    assert_eq!(fe["default_backend"].as_str(), Some("web"));
    assert_eq!(fe["timeout_http_request"].as_str(), Some("30s"));
    let be = &t["backend"][0];
    assert_eq!(be["balance"].as_str(), Some("leastconn"));
    assert_eq!(be["redispatch"].as_bool(), Some(false));
    assert_eq!(be["error_limit"].as_integer(), Some(0));
    assert_eq!(be["timeout_queue"].as_str(), Some("5s"));
    assert_eq!(be["check"]["kind"].as_str(), Some("http"));
    assert_eq!(be["check"]["path"].as_str(), Some("/health"));
    assert_eq!(be["check"]["interval"].as_str(), Some("3s"));
    assert_eq!(be["server"][1]["address"].as_str(), Some("10.0.0.2:8081"));
    assert!(toml.contains("# h.cfg:11: server a 10.0.0.1:8080 check inter 3s rise 3\n"));
}

#[test]
fn several_defaults_and_from() {
    let text = "defaults base\n  mode http\n  timeout client 10s\n  option redispatch\n\ndefaults\n  mode tcp\n  timeout client 1m\n\nfrontend a from base\n  bind :80\n  default_backend b\n\nfrontend t\n  bind :5432\n  default_backend b\n\nbackend b from base\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    assert_eq!(t["frontend"][0]["mode"].as_str(), Some("http"));
    assert_eq!(t["frontend"][0]["timeout_client"].as_str(), Some("10s"));
    assert_eq!(t["frontend"][1]["mode"].as_str(), Some("tcp"));
    assert_eq!(t["frontend"][1]["timeout_client"].as_str(), Some("1m"));
    assert_eq!(t["backend"][0]["redispatch"].as_bool(), Some(true));
}

#[test]
fn unknown_directives_and_options_are_listed() {
    let text = "global\n  log /dev/log local0\n  daemon\n  stats socket ipv4@127.0.0.1:9999\n  frobnicate 3\nfrontend f\n  bind :80 ssl crt /etc/x.pem curves X25519\n  mode http\n  default_backend b\n  option dontlognull\nbackend b\n  server s 10.0.0.1:80 check maxqueue 10\n";
    let (_, lost) = run(text);
    // maxqueue: roundrobin without persistence never queues on one server.
    assert_eq!(lost.len(), 3, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:4: stats socket: not translated: ringlb's admin socket is a Unix socket; for TCP use the JSON API on global.admin_bind"));
    assert_eq!(
        lost[1],
        "h.cfg:5: frobnicate: not translated: no ringlb equivalent"
    );
    assert_eq!(lost[2], "h.cfg:7: bind curves: not translated: ringlb offers rustls' default key exchange groups and signature schemes, no 0-RTT");
}

#[test]
fn tls_and_plain_binds_split_into_two_frontends() {
    let text = "frontend f\n  mode http\n  bind :80\n  bind :443 ssl crt /etc/site.pem alpn h2,http/1.1\n  http-request redirect scheme https unless { ssl_fc }\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    let fes = t["frontend"].as_array().unwrap();
    assert_eq!(fes.len(), 2);
    assert_eq!(fes[1]["name"].as_str(), Some("f-tls"));
    // ringlb's http mode speaks h2 too: both are offered, in HAProxy's order.
    assert_eq!(fes[1]["tls"]["alpn"][0].as_str(), Some("h2"));
    assert_eq!(fes[1]["tls"]["alpn"][1].as_str(), Some("http/1.1"));
    assert_eq!(
        fes[1]["tls"]["certificates"][0]["key"].as_str(),
        Some("/etc/site.pem")
    );
    assert_eq!(fes[0]["http_rule"][0]["scheme"].as_str(), Some("https"));
    assert_eq!(fes[0]["http_rule"][0]["unless"].as_str(), Some("anon_5_1"));
}

#[test]
fn use_backend_rules_and_the_503_without_default() {
    let text = "frontend f\n  mode http\n  bind :80\n  acl api path_beg /api\n  use_backend api if api\n  use_backend gone if { hdr(host) -i old.example.com }\nbackend api\n  server s 10.0.0.1:80\nbackend gone\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    let rules = t["frontend"][0]["http_rule"].as_array().unwrap();
    assert_eq!(rules[0]["action"].as_str(), Some("use_backend"));
    assert_eq!(rules[1]["action"].as_str(), Some("return"));
    assert_eq!(rules[2]["unless"].as_str(), Some("api"));
    assert_eq!(t["frontend"][0]["default_backend"].as_str(), Some("api"));
    // A backend without servers answers 503 in both: nothing is lost.
    assert!(lost.is_empty(), "{lost:?}");
    assert!(toml.contains("answered with 503"));
}

#[test]
fn sni_passthrough() {
    let text = "frontend tls\n  mode tcp\n  bind :443\n  tcp-request inspect-delay 5s\n  tcp-request content accept if { req_ssl_hello_type 1 }\n  acl a req.ssl_sni -i a.example.com\n  use_backend ba if a\n  use_backend bb if { req.ssl_sni -m end .example.org }\n  default_backend ba\nbackend ba\n  server s 10.0.0.1:443\nbackend bb\n  server s 10.0.0.2:443\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    let routes = t["frontend"][0]["route"].as_array().unwrap();
    assert_eq!(routes[0]["sni"].as_str(), Some("a.example.com"));
    assert_eq!(routes[1]["sni"].as_str(), Some("*.example.org"));
    assert_eq!(
        t["frontend"][0]["timeout_client_handshake"].as_str(),
        Some("5s")
    );
}

#[test]
fn trailing_backslash_and_unset_variables_are_reported() {
    let text = "frontend f\n  bind \"${NOPE}:80\"\n  default_backend b\nbackend b\n  server s 10.0.0.1:80 \\\n   check\n";
    let (_, lost) = run(text);
    assert!(
        lost.iter()
            .any(|l| l.starts_with("h.cfg:2: ${NOPE}: not translated")),
        "{lost:?}"
    );
    assert!(
        lost.iter()
            .any(|l| l.starts_with("h.cfg:5: \\: not translated")),
        "{lost:?}"
    );
    assert!(
        lost.iter()
            .any(|l| l.starts_with("h.cfg:6: check: not translated")),
        "{lost:?}"
    );
}
