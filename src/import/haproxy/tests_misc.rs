//! Translations of HAProxy's half-closed timeouts, TLS defaults and options.

use super::tests::{parsed, run};

/// A translation that must lose nothing: its text and its table.
fn complete(text: &str) -> (String, toml::Table) {
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    (toml, t)
}

#[test]
fn half_closed_timeouts_go_to_their_side() {
    let text = "defaults\n  mode tcp\n  timeout client 30s\n  timeout client-fin 5s\n  timeout server 30s\n  timeout server-fin 2s\nlisten db\n  bind :5432\n  server s 10.0.0.1:5432\n";
    let (toml, t) = complete(text);
    assert_eq!(
        t["frontend"][0]["timeout_client_fin"].as_str(),
        Some("5s"),
        "{toml}"
    );
    assert_eq!(
        t["backend"][0]["timeout_server_fin"].as_str(),
        Some("2s"),
        "{toml}"
    );
    assert!(
        t["frontend"][0].get("timeout_server_fin").is_none(),
        "{toml}"
    );
    // In HTTP mode it is carried, with where ringlb applies it said.
    let http = text.replace("mode tcp", "mode http");
    let (toml, t) = complete(&http);
    assert_eq!(
        t["frontend"][0]["timeout_client_fin"].as_str(),
        Some("5s"),
        "{toml}"
    );
    assert!(
        toml.contains("an HTTP exchange keeps timeout_client"),
        "{toml}"
    );
    // Not a time: reported.
    let (_, lost) = run("frontend f\n  bind :80\n  timeout client-fin soon\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:3: timeout"), "{lost:?}");
}

const TLS_GLOBAL: &str = "global\n  ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256\n  ssl-default-bind-options prefer-client-ciphers no-sslv3 no-tlsv10 no-tlsv11 no-tls-tickets\n  ssl-default-server-options ssl-min-ver TLSv1.3\n";

#[test]
fn ssl_defaults_apply_to_every_tls_bind_and_server() {
    let text = format!("{TLS_GLOBAL}frontend f\n  mode http\n  bind :443 ssl crt /etc/site.pem\n  bind :80\n  default_backend b\nbackend b\n  mode http\n  server s 10.0.0.1:443 ssl verify none\n  server p 10.0.0.2:80\n");
    let (toml, t) = complete(&text);
    let tls = &t["frontend"][0]["tls"];
    let ciphers: Vec<&str> = tls["ciphers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        ciphers,
        [
            "TLS13_AES_128_GCM_SHA256",
            "TLS13_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ],
        "{toml}"
    );
    assert_eq!(tls["session_tickets"].as_bool(), Some(false), "{toml}");
    assert!(tls.get("min_version").is_none(), "{toml}");
    // prefer-client-ciphers: rustls' own way, no "differs" about the order.
    assert!(!toml.contains("in the client's order"), "{toml}");
    // The plain bind's frontend has no TLS table; servers: only the TLS one.
    assert!(t["frontend"][1].get("tls").is_none(), "{toml}");
    let servers = t["backend"][0]["server"].as_array().unwrap();
    assert_eq!(
        servers[0]["tls_min_version"].as_str(),
        Some("1.3"),
        "{toml}"
    );
    assert!(servers[1].get("tls_min_version").is_none(), "{toml}");
}

#[test]
fn bind_and_server_tls_options_override_and_lacking_suites_are_reported() {
    let text = "frontend f\n  bind :443 ssl crt /etc/site.pem ssl-min-ver TLSv1.3 ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_SHA256\n  default_backend b\nbackend b\n  server s 10.0.0.1:443 ssl verify none ciphers ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384 no-tls-tickets force-tlsv12\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    let tls = &t["frontend"][0]["tls"];
    assert_eq!(tls["min_version"].as_str(), Some("1.3"), "{toml}");
    let c = tls["ciphers"].as_array().unwrap();
    assert_eq!(c.len(), 1, "TLS 1.3 only: no TLS 1.2 suites\n{toml}");
    assert!(toml.contains("in the client's order"), "{toml}");
    let s = &t["backend"][0]["server"][0];
    assert_eq!(s["tls_session_tickets"].as_bool(), Some(false), "{toml}");
    assert_eq!(s["tls_ciphers"].as_array().unwrap().len(), 4, "{toml}");
    assert_eq!(lost.len(), 3, "{lost:?}");
    assert!(
        lost[0].contains("bind ciphersuites") && lost[0].contains("TLS_AES_128_CCM_SHA256"),
        "{lost:?}"
    );
    assert!(
        lost[1].contains("server ciphers") && lost[1].contains("DHE-RSA-AES256"),
        "{lost:?}"
    );
    assert!(lost[2].contains("server force-tlsv12"), "{lost:?}");
}

#[test]
fn a_cipher_string_selecting_nothing_rustls_has_keeps_the_defaults() {
    let text = "global\n  ssl-default-bind-ciphers ABCD+KLMJ:...\nfrontend f\n  bind :443 ssl crt /etc/site.pem\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert!(!toml.contains("ciphers ="), "{toml}");
    assert_eq!(lost.len(), 1, "{lost:?}");
    let want = "h.cfg:2: ssl-default-bind-ciphers: not translated: \"ABCD+KLMJ:...\" selects no";
    assert!(lost[0].starts_with(want), "{lost:?}");
    // Without a TLS bind the defaults are only noted.
    let (_, lost) = run("global\n  ssl-default-bind-options no-sslv3 no-tls-tickets\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n");
    assert!(lost.is_empty(), "{lost:?}");
}

#[test]
fn a_second_log_target_for_events_becomes_the_syslog_copy() {
    let text = "global\n  log /dev/log local0\n  log /dev/log local1 notice\n  log 10.0.0.9 local2 warning\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    let copy = &t["global"]["syslog_copy"];
    assert_eq!(copy["address"].as_str(), Some("/dev/log"), "{toml}");
    assert_eq!(copy["facility"].as_str(), Some("local1"), "{toml}");
    assert_eq!(
        t["global"]["syslog_copy_level"].as_str(),
        Some("info"),
        "{toml}"
    );
    // One copy only: the third target is reported.
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:4: log"), "{lost:?}");
    // A second target that would take access lines (info) stays reported.
    let (_, lost) = run("global\n  log /dev/log local0\n  log 10.0.0.9 local1 info\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n");
    assert_eq!(lost.len(), 1, "{lost:?}");
}

#[test]
fn stats_auth_rules_become_the_admin_userlist_and_write_groups() {
    let text = "userlist stats-auth\n  group admin users alice\n  group readonly users bob\n  user alice insecure-password s3cret\n  user bob insecure-password pw\nlisten stats\n  bind :1936\n  mode http\n  stats enable\n  stats uri /\n  acl AUTH http_auth(stats-auth)\n  acl AUTH_ADMIN http_auth_group(stats-auth) admin\n  stats http-request auth unless AUTH\n  stats admin if AUTH_ADMIN\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    assert_eq!(
        t["global"]["admin_userlist"].as_str(),
        Some("stats-auth"),
        "{toml}"
    );
    let groups = t["global"]["admin_write_groups"].as_array().unwrap();
    assert_eq!(groups[0].as_str(), Some("admin"), "{toml}");
    // Without the auth rule there is no userlist to take groups from: reported.
    let (_, lost) = run(&text.replace("  stats http-request auth unless AUTH\n", ""));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:13: stats admin"), "{lost:?}");
}

const LOGGED: &str =
    "global\n  log 127.0.0.1:514 local0\ndefaults\n  log global\n  mode http\n  option httplog\n";

#[test]
fn logasap_and_log_separate_errors_become_frontend_keys() {
    let text = format!("{LOGGED}  option logasap\n  option log-separate-errors\nfrontend f\n  bind :80\n  default_backend b\nfrontend g\n  bind :81\n  no option logasap\n  default_backend b\nbackend b\n  option logasap\n  server s 10.0.0.1:80\n");
    let (toml, t) = complete(&text);
    let f = &t["frontend"][0];
    assert_eq!(f["log_asap"].as_bool(), Some(true), "{toml}");
    assert_eq!(f["log_separate_errors"].as_bool(), Some(true), "{toml}");
    assert_eq!(
        t["frontend"][1]["log_asap"].as_bool(),
        Some(false),
        "{toml}"
    );
    assert!(t["backend"][0].get("log_asap").is_none(), "{toml}");
}

#[test]
fn options_that_are_already_ringlbs_behaviour_say_why_and_others_say_what_differs() {
    let text = format!("{LOGGED}frontend f\n  bind :80\n  option http-ignore-probes\n  default_backend b\nbackend b\n  no option abortonclose\n  server s 10.0.0.1:80\n");
    complete(&text);
    let notes = super::tests::notes(&text);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("gets no 408, no log line"), "{notes:?}");
    assert!(
        notes[1].contains("HAProxy's default, no abortonclose"),
        "{notes:?}"
    );
    let text = format!("{LOGGED}frontend f\n  bind :80\n  default_backend b\nbackend b\n  option abortonclose\n  server s 10.0.0.1:80\n");
    let (_, lost) = run(&text);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].contains("cannot drop a request whose client left"),
        "{lost:?}"
    );
}

#[test]
fn a_bind_port_from_an_unset_variable_is_carried_for_ringlb_to_expand() {
    let (toml, t) = complete("frontend f\n  bind 0.0.0.0:$PORT\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n");
    assert_eq!(
        t["frontend"][0]["bind"][0].as_str(),
        Some("0.0.0.0:${PORT}"),
        "{toml}"
    );
}

#[test]
fn a_readable_crt_list_becomes_the_certificate_list_in_its_order() {
    let dir = std::env::temp_dir().join(format!("ringlb-crtlist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("list");
    std::fs::write(&list, "# sites\n\n/etc/a.pem\nb.pem\n").unwrap();
    let text = format!("global\n  crt-base /certs\nfrontend f\n  mode http\n  bind :443 ssl crt-list {}\n  default_backend b\nbackend b\n  mode http\n  server s 10.0.0.1:80\n", list.display());
    let (toml, t) = complete(&text);
    let certs = t["frontend"][0]["tls"]["certificates"].as_array().unwrap();
    let paths: Vec<&str> = certs.iter().map(|c| c["cert"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/etc/a.pem", "/certs/b.pem"], "{toml}");
    assert_eq!(certs[1]["key"].as_str(), Some("/certs/b.pem"));
    // Options and SNI filters of an entry are reported; the certificate is kept.
    std::fs::write(
        &list,
        "a.pem [alpn h2 ssl-min-ver TLSv1.2] www.a.test !old.a.test\nb.pem *.b.test\n",
    )
    .unwrap();
    let (toml, lost) = run(&text);
    assert_eq!(lost.len(), 3, "{lost:?}");
    assert!(
        lost[0].contains(":1 [alpn h2 ssl-min-ver TLSv1.2]: not translated: per-certificate"),
        "{lost:?}"
    );
    assert!(
        lost[1].contains(":1 www.a.test !old.a.test: not translated: ringlb picks"),
        "{lost:?}"
    );
    assert!(lost[2].contains(":2 *.b.test: not translated"), "{lost:?}");
    assert_eq!(
        parsed(&toml)["frontend"][0]["tls"]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Unreadable: the line is reported, saying so.
    std::fs::remove_dir_all(&dir).unwrap();
    let (_, lost) = run(&text);
    assert!(
        lost[0].contains("frontend: not translated: a frontend with no address"),
        "{lost:?}"
    );
    assert!(
        lost[1].contains("cannot be read at import time"),
        "{lost:?}"
    );
    assert_eq!(lost.len(), 2, "{lost:?}");
}

#[test]
fn directives_haproxy_removed_say_so() {
    let text = "frontend f\n  bind :80\n  mode http\n  reqadd X-Forwarded-Proto:\\ https\n  default_backend b\nbackend b\n  mode http\n  reqirep ^Host:\\ www Host:\\ app\n  server s 10.0.0.1:80\n";
    let (_, lost) = run(text);
    assert_eq!(lost.len(), 2, "{lost:?}");
    for l in &lost {
        assert!(
            l.contains("removed in HAProxy 2.1 (HAProxy 2.6 refuses the file too)"),
            "{lost:?}"
        );
    }
}

#[test]
fn a_second_stats_address_names_the_one_kept() {
    let text = "listen stats\n  mode http\n  bind 192.0.2.10:9049\n  bind 192.0.2.11:9049\n  stats enable\n  stats uri /stats\n";
    let (toml, lost) = run(text);
    assert!(
        parsed(&toml)["global"]["admin_bind"].as_str() == Some("192.0.2.10:9049"),
        "{toml}"
    );
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:4: bind: not translated: ringlb's admin listener has one address (global.admin_bind = 192.0.2.10:9049, from the first bind): the page is not served on 192.0.2.11:9049"), "{lost:?}");
}

#[test]
fn httpclose_goes_on_the_frontends_whose_every_backend_has_it() {
    let text = "frontend f\n  bind :80\n  mode http\n  default_backend b\nfrontend g\n  bind :81\n  mode http\n  option httpclose\n  default_backend c\nbackend b\n  mode http\n  option httpclose\n  server s 10.0.0.1:80\nbackend c\n  mode http\n  server s 10.0.0.2:80\n";
    let (toml, t) = complete(text);
    assert_eq!(
        t["frontend"][0]["http_close"].as_bool(),
        Some(true),
        "{toml}"
    );
    assert_eq!(
        t["frontend"][1]["http_close"].as_bool(),
        Some(true),
        "{toml}"
    );
    assert!(toml.contains("does not carry Connection: close"), "{toml}");
    // A frontend that also routes to a backend without it: reported.
    let mixed = text.replace(
        "default_backend b",
        "use_backend c if { path_beg /c }\n  default_backend b",
    );
    let (_, lost) = run(&mixed);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].contains(
            "h.cfg:13: option httpclose: not translated: ringlb's http_close is per frontend"
        ),
        "{lost:?}"
    );
}

#[test]
fn a_backends_timeout_http_request_is_noted_as_without_effect() {
    let text = "frontend f\n  bind :80\n  mode http\n  default_backend b\nbackend b\n  mode http\n  timeout http-request 5s\n  server s 10.0.0.1:80\n";
    let (toml, t) = complete(text);
    assert!(
        t["backend"][0].get("timeout_http_request").is_none(),
        "{toml}"
    );
    let notes = super::tests::notes(text);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("h.cfg:7: timeout http-request 5s: no key needed: a backend's")),
        "{notes:?}"
    );
}

#[test]
fn prefer_last_server_keeps_server_connections_with_their_client() {
    let text = "frontend f\n  bind :80\n  mode http\n  default_backend b\nbackend b\n  mode http\n  option prefer-last-server\n  server s 10.0.0.1:80\n";
    let (toml, t) = complete(text);
    assert_eq!(
        t["backend"][0]["http_reuse"].as_str(),
        Some("never"),
        "{toml}"
    );
    assert!(toml.contains("keeps a client on its last server"), "{toml}");
    // With another reuse strategy (later in the section, or inherited): reported.
    let (_, lost) = run(&text.replace("server s", "http-reuse safe\n  server s"));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].contains("h.cfg:7: option prefer-last-server: not translated: ringlb keeps a client on its last server only with http_reuse = \"never\"; with http-reuse safe"), "{lost:?}");
    // From defaults, as the backend inherits it.
    let (toml, t) = complete("defaults\n  mode http\n  option prefer-last-server\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n");
    assert_eq!(
        t["backend"][0]["http_reuse"].as_str(),
        Some("never"),
        "{toml}"
    );
}

#[test]
fn defer_accept_becomes_a_frontend_key_and_splits_a_frontend_of_mixed_binds() {
    let text = "frontend f\n  mode http\n  bind :80 defer-accept\n  bind :81 defer-accept\n  bind :8080\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, t) = complete(text);
    let fes = t["frontend"].as_array().unwrap();
    assert_eq!(fes.len(), 2, "{toml}");
    assert_eq!(fes[0]["defer_accept"].as_bool(), Some(true), "{toml}");
    assert_eq!(fes[0]["bind"].as_array().map(Vec::len), Some(2), "{toml}");
    assert_eq!(fes[1]["bind"][0].as_str(), Some("0.0.0.0:8080"), "{toml}");
    assert_eq!(fes[1].get("defer_accept"), None, "{toml}");
}
