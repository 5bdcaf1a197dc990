//! Whole-file translations: sections, defaults inheritance, listen, and the lost list.

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
fn server_maxqueue_matters_only_for_requests_bound_to_a_server() {
    let text = "backend b\n  balance BAL\n  default-server maxconn 10 maxqueue 5\n  server s 10.0.0.1:80\n  server t 10.0.0.2:80\n";
    for bal in ["roundrobin", "leastconn", "static-rr"] {
        let (toml, lost) = run(&text.replace("BAL", bal));
        assert!(lost.is_empty(), "{bal}: {lost:?}");
        assert!(
            toml.contains(
                "h.cfg:3: default-server maxconn 10 maxqueue 5 (server maxqueue: no key needed"
            ),
            "{toml}"
        );
    }
    for bound in [
        "balance source",
        "balance uri",
        "balance roundrobin\n  cookie SRV insert",
        "balance leastconn\n  stick on src",
    ] {
        let (_, lost) = run(&text.replace("balance BAL", bound));
        assert!(
            lost.iter().any(|l| l.starts_with("h.cfg:")
                && l.contains(": server maxqueue: not translated: ringlb queues per backend")),
            "{bound}: {lost:?}"
        );
    }
}

#[test]
fn frontend_maxconn_at_or_above_the_global_one_needs_no_key() {
    let text = "global\n  maxconn 4000\ndefaults\n  maxconn 4000\nfrontend f\n  bind :80\n  default_backend b\nfrontend g\n  bind :81\n  default_backend b\n  maxconn 5000\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        parsed(&toml)["global"]["max_connections"].as_integer(),
        Some(4000)
    );
    assert!(
        toml.contains(
            "h.cfg:4: maxconn 4000 (no key needed: global.max_connections = 4000 is reached first)"
        ),
        "{toml}"
    );
    assert!(
        toml.contains("h.cfg:11: maxconn 5000 (no key needed"),
        "{toml}"
    );
    // Below the process limit: the frontend's own limit.
    let (toml, lost) = run(&text.replace("maxconn 5000", "maxconn 3999"));
    assert!(lost.is_empty(), "{lost:?}");
    let fes = parsed(&toml)["frontend"].as_array().unwrap().clone();
    let limits: Vec<_> = fes
        .iter()
        .map(|f| f.get("max_connections").and_then(|v| v.as_integer()))
        .collect();
    assert_eq!(limits, [None, Some(3999)]);
    // Without a global limit, every frontend keeps its own.
    let (toml, lost) = run(&text.replace("global\n  maxconn 4000\n", ""));
    assert!(lost.is_empty(), "{lost:?}");
    let fes = parsed(&toml)["frontend"].as_array().unwrap().clone();
    let limits: Vec<_> = fes
        .iter()
        .map(|f| f.get("max_connections").and_then(|v| v.as_integer()))
        .collect();
    assert_eq!(limits, [Some(4000), Some(5000)]);
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
fn server_options_say_how_ringlb_differs() {
    let text = "backend b\n  server s 10.0.0.1:80 disabled minconn 5 maxconn 50 on-marked-down shutdown-sessions\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    assert!(toml.contains("min_connections = 5"), "{toml}");
    assert!(toml.contains("disabled = true"), "{toml}");
    assert!(
        toml.contains("on_marked_down = \"shutdown_sessions\""),
        "{toml}"
    );
}

#[test]
fn disabled_servers_start_in_maintenance_and_enabled_undoes_a_default() {
    let text = "backend b\n  default-server disabled\n  server s1 10.0.0.1:80\n  server s2 10.0.0.2:80 enabled\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    let servers = t["backend"][0]["server"].as_array().unwrap();
    let disabled: Vec<_> = servers.iter().map(|s| s["disabled"].as_bool()).collect();
    assert_eq!(disabled, [Some(true), Some(false)]);
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
fn stats_listener_becomes_admin_bind() {
    let text = "listen stats\n  bind 127.0.0.1:8404\n  mode http\n  stats enable\n  stats uri /stats\n  stats auth admin:secret\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    assert_eq!(t["global"]["admin_bind"].as_str(), Some("127.0.0.1:8404"));
    assert_eq!(t["frontend"].as_array().unwrap().len(), 1);
    assert!(lost.is_empty(), "{lost:?}");
    // `stats auth` → a userlist the admin listener asks for.
    assert_eq!(t["global"]["admin_userlist"].as_str(), Some("stats_auth"));
    let list = &t["userlist"][0];
    assert_eq!(list["name"].as_str(), Some("stats_auth"));
    assert_eq!(list["user"][0]["name"].as_str(), Some("admin"));
    assert_eq!(
        list["user"][0]["insecure_password"].as_str(),
        Some("secret")
    );
}

#[test]
fn userlists_acls_and_auth_rules() {
    let text = "userlist admins\n  group ops users alice\n  group dev\n  user alice insecure-password s3cret\n  user bob password $6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1 groups dev\n  user old password $1$md5$abcdefgh\nfrontend f\n  bind :80\n  mode http\n  acl ok http_auth(admins)\n  acl devs http_auth_group(admins) dev\n  http-request auth realm \"Ops area\" if !ok\n  http-request auth if { path_beg /dev } !devs\n  default_backend b\nbackend b\n  mode http\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].starts_with("h.cfg:6: user: not translated: only SHA-256 and SHA-512"),
        "{lost:?}"
    );
    let t = parsed(&toml);
    let users = t["userlist"][0]["user"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["groups"].as_array().unwrap().len(), 1);
    assert_eq!(users[1]["groups"][0].as_str(), Some("dev"));
    let fe = &t["frontend"][0];
    assert_eq!(
        fe["acl"][0]["http_auth"]["userlist"].as_str(),
        Some("admins")
    );
    assert_eq!(fe["acl"][1]["http_auth"]["groups"][0].as_str(), Some("dev"));
    let rules = fe["http_rule"].as_array().unwrap();
    assert_eq!(rules[0]["realm"].as_str(), Some("Ops area"));
    assert_eq!(
        rules[1]["realm"].as_str(),
        Some("f"),
        "HAProxy's default realm is the proxy's name"
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

#[test]
fn rate_limit_with_a_stick_table() {
    let text = "frontend f\n  mode http\n  bind :80\n  stick-table type ip size 100k expire 30s store http_req_rate(10s)\n  acl too_fast sc_http_req_rate(0) gt 100\n  http-request track-sc0 src\n  http-request deny deny_status 429 if too_fast\n  tcp-request connection track-sc1 src table per_ip\n  acl many src_conn_cur(per_ip) ge 20\n  tcp-request connection reject if many\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\nbackend per_ip\n  stick-table type ip size 1m expire 1m store conn_cur\n";
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    let tables = t["table"].as_array().unwrap();
    assert_eq!(tables[0]["name"].as_str(), Some("f"));
    assert_eq!(tables[0]["size"].as_integer(), Some(102400));
    assert_eq!(tables[0]["period"].as_str(), Some("10s"));
    assert_eq!(tables[1]["name"].as_str(), Some("per_ip"));
    let fe = &t["frontend"][0];
    assert_eq!(fe["acl"][0]["counter"]["table"].as_str(), Some("f"));
    assert_eq!(fe["acl"][1]["counter"]["above"].as_integer(), Some(19));
    assert_eq!(fe["http_rule"][0]["action"].as_str(), Some("track"));
    assert_eq!(fe["tcp_rule"][0]["table"].as_str(), Some("per_ip"));
    assert_eq!(t["backend"].as_array().unwrap().len(), 1);
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
fn frontend_maxconn_is_the_process_limit_only_with_one_frontend() {
    let one = "global\n  maxconn 5000\ndefaults\n  maxconn 2000\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(one);
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(
        parsed(&toml)["global"]["max_connections"].as_integer(),
        Some(2000)
    );
    let two = format!("{one}frontend g\n  bind :81\n  default_backend b\n");
    let (toml, lost) = run(&two);
    assert!(lost.is_empty(), "{lost:?}");
    // Two frontends: each keeps the limit it inherits, the process keeps its own.
    let t = parsed(&toml);
    assert_eq!(t["global"]["max_connections"].as_integer(), Some(5000));
    for fe in t["frontend"].as_array().unwrap() {
        assert_eq!(fe["max_connections"].as_integer(), Some(2000));
    }
}

#[test]
fn resolvers_templates_and_per_backend_check_settings() {
    let text = "resolvers dns\n  nameserver ns1 10.0.0.53:53\n  resolve_retries 2\n  timeout resolve 5s\n  timeout retry 1s\n  hold valid 10s\nbackend b\n  server-template web 1-3 web.service.local:8080 check resolvers dns\n  server a app.local:80 check inter 2s resolvers dns resolve-prefer ipv4\n  server c 10.0.0.3:80 check inter 5s\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    assert_eq!(
        t["resolvers"]["nameservers"][0].as_str(),
        Some("10.0.0.53:53")
    );
    assert_eq!(t["resolvers"]["attempts"].as_integer(), Some(2));
    assert_eq!(t["resolvers"]["timeout"].as_str(), Some("1s"));
    let be = &t["backend"][0];
    assert_eq!(be["server_template"][0]["count"].as_integer(), Some(3));
    assert_eq!(
        be["server_template"][0]["resolve_interval"].as_str(),
        Some("5s")
    );
    assert_eq!(be["server"][0]["resolve_prefer"].as_str(), Some("ipv4"));
    assert_eq!(be["check"]["interval"].as_str(), Some("2s"));
    assert_eq!(
        lost,
        ["h.cfg:10: server inter: not translated: ringlb has one check setting per backend; another server's value was kept"]
    );
}

#[test]
fn error_files_cookies_and_response_rules() {
    let text = "defaults\n  mode http\n  errorfile 503 /etc/haproxy/errors/503.http\n  errorfile 404 /etc/haproxy/errors/404.http\nfrontend f\n  bind :80\n  http-response set-header X-Frame-Options DENY\n  redirect scheme https code 301 if !{ ssl_fc }\n  default_backend b\nbackend b\n  cookie SRV insert indirect nocache maxidle 30m\n  server s 10.0.0.1:80 cookie s1\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    let fe = &t["frontend"][0];
    assert_eq!(fe["error_page"][0]["status"].as_integer(), Some(503));
    assert_eq!(
        fe["response_rule"][0]["name"].as_str(),
        Some("X-Frame-Options")
    );
    assert_eq!(fe["http_rule"][0]["status"].as_integer(), Some(301));
    assert_eq!(fe["http_rule"][0]["if"].as_str(), Some("!anon_8_1"));
    assert_eq!(t["backend"][0]["cookie"]["mode"].as_str(), Some("insert"));
    assert_eq!(t["backend"][0]["server"][0]["cookie"].as_str(), Some("s1"));
    assert_eq!(
        lost,
        [
            "h.cfg:4: errorfile: not translated: ringlb never answers 404 itself",
            "h.cfg:11: cookie maxidle: not translated: dates inside the cookie are not supported",
        ]
    );
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

#[test]
fn stats_socket_becomes_the_admin_socket() {
    let text = "global\n  stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners user haproxy\n  stats socket /run/haproxy/second.sock\n  stats timeout 30s\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    let g = &parsed(&toml)["global"];
    assert_eq!(g["admin_socket"].as_str(), Some("/run/haproxy/admin.sock"));
    assert_eq!(g["admin_socket_mode"].as_str(), Some("660"));
    assert_eq!(g["admin_socket_level"].as_str(), Some("admin"));
    assert!(
        toml.contains("(differs: ringlb answers a subset of HAProxy's CLI"),
        "{toml}"
    );
    assert!(toml.contains("user/group/uid/gid not applied"), "{toml}");
    assert_eq!(lost, ["h.cfg:3: stats socket: not translated: ringlb opens one admin socket (the first stats socket line)"]);
    // Without level: HAProxy's default (operator) is ringlb's too, no key needed.
    let (toml, lost) = run(&text
        .replace(" mode 660 level admin expose-fd listeners user haproxy", "")
        .replace("  stats socket /run/haproxy/second.sock\n", ""));
    assert!(lost.is_empty(), "{lost:?}");
    assert!(parsed(&toml)["global"].get("admin_socket_level").is_none());
    let (_, lost) = run("global\n  stats socket /x.sock level root\n");
    assert_eq!(
        lost,
        ["h.cfg:2: stats socket: not translated: level \"root\" is not valid"]
    );
}
