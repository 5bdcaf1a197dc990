//! Limits: `maxconn` (frontend and process), server `maxqueue`, rate limits with a stick table.

use super::tests::{parsed, run};

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
