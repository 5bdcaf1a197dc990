//! Servers (options, disabled, resolvers, templates, check settings), cookies, error files, response rules.

use super::tests::{parsed, run};

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
