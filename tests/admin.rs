//! The admin API through the real binary: drain, maint and weight take effect on
//! traffic (and `disabled = true` starts a server in maintenance); /metrics parses as Prometheus text; the JSON and the stats page list every
//! server; the token is enforced; bad commands get clear errors.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use common::http::Client;
use common::switch::{admin_config as config, spread, Switch};
use common::{admin, Ringlb};

const TOKEN: &str = "s3cret-token-0123456789";

#[test]
fn drain_stops_new_requests_while_open_ones_finish() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    // One worker: round robin starts with a, so the slow request is a's.
    let r = Ringlb::start(&config(1, &a, &b, ""));
    let (front, adm) = (r.addr(), r.admin_addr());
    a.set_delay(Duration::from_millis(600));
    let slow = thread::spawn(move || Client::connect(front).get("/slow"));
    a.wait_requests(1);
    let (status, body) = admin(adm, "POST", "/api/servers/app/a/state", "drain", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"state\":\"DRAIN\""), "{body}");
    let before = a.requests();
    let seen = spread(front, 10);
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(a.requests(), before);
    let (status, _, body) = slow.join().unwrap();
    assert_eq!(status, 200, "the drained server's open request must finish");
    assert_eq!(String::from_utf8_lossy(&body), "a /slow");
    let (_, json) = admin(adm, "GET", "/api/servers", "", None);
    assert!(json.contains("\"admin\":\"drain\""), "{json}");
}

#[test]
fn maint_then_ready_and_weight_change_show_in_the_distribution() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(1, &a, &b, ""));
    let (front, adm) = (r.addr(), r.admin_addr());
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "maint", None).0,
        200
    );
    assert_eq!(spread(front, 8).get("b"), Some(&8));
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "ready", None).0,
        200
    );
    let (status, body) = admin(adm, "POST", "/api/servers/app/a/weight", "3", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"weight\":3"), "{body}");
    let seen = spread(front, 40);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&30), Some(&10)),
        "{seen:?}"
    );
    // Weight 0: no new traffic, like HAProxy.
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/weight", "0", None).0,
        200
    );
    assert_eq!(spread(front, 5).get("b"), Some(&5));
}

#[test]
fn a_disabled_server_starts_in_maintenance_until_ready() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let text = config(2, &a, &b, "").replace(
        &format!("address = \"{}\"\n", a.addr),
        &format!("address = \"{}\"\ndisabled = true\n", a.addr),
    );
    let r = Ringlb::start(&text);
    let (front, adm) = (r.addr(), r.admin_addr());
    // Every worker keeps it out from the first request on.
    assert_eq!(spread(front, 8).get("b"), Some(&8));
    assert_eq!(a.requests(), 0);
    assert_eq!(admin_state(adm, "a"), "maint");
    let (_, html) = admin(adm, "GET", "/", "", None);
    assert!(html.contains(">MAINT<"), "stats page lacks MAINT");
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "ready", None).0,
        200
    );
    assert_eq!(admin_state(adm, "a"), "ready");
    // Round robin per worker: both servers take part again.
    let seen = spread(front, 8);
    assert!(
        seen.get("a") >= Some(&2) && seen.get("b") >= Some(&2),
        "{seen:?}"
    );
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_requests() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(2, &a, &b, ""));
    let seen = spread(r.addr(), 12);
    let (status, text) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert_eq!(status, 200);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text format");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in:\n{text}"))
    };
    assert_eq!(
        value("ringlb_frontend_requests_total", &[("frontend", "web")]),
        12.0
    );
    for (name, n) in &seen {
        assert_eq!(
            value(
                "ringlb_server_requests_total",
                &[("backend", "app"), ("server", name)]
            ),
            *n as f64
        );
    }
    assert_eq!(value("ringlb_server_up", &[("server", "a")]), 1.0);
    assert_eq!(value("ringlb_config_reloads_total", &[]), 0.0);
    // One info line per worker, naming its driver; a latency histogram per server.
    let workers = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "ringlb_worker_info")
        .count();
    assert_eq!(workers, 2);
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "ringlb_server_latency_seconds" && s.labels.get("server") == Some("a")
        })
        .expect("latency histogram");
    match &hist.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let inf = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(inf, *seen.get("a").unwrap_or(&0) as f64);
        }
        other => panic!("not a histogram: {other:?}"),
    }
}

#[test]
fn json_and_stats_page_list_every_server() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(1, &a, &b, ""));
    let _ = spread(r.addr(), 4);
    let (status, json) = admin(r.admin_addr(), "GET", "/api/servers", "", None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let servers = &v["backends"][0]["servers"];
    assert_eq!(servers.as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(servers[0]["name"], "a");
    assert_eq!(servers[0]["state"], "UP");
    assert_eq!(servers[0]["requests_total"], 2);
    assert_eq!(servers[1]["responses"]["2xx"], 2);
    let (status, html) = admin(r.admin_addr(), "GET", "/", "", None);
    assert_eq!(status, 200);
    assert!(html.contains("http-equiv=\"refresh\""));
    for needle in [
        "Backend app",
        ">a<",
        ">b<",
        &a.addr.to_string(),
        &b.addr.to_string(),
        ">UP<",
    ] {
        assert!(html.contains(needle), "stats page lacks {needle:?}");
    }
}

#[test]
fn the_token_is_required_when_set() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(1, &a, &b, &format!("admin_token = \"{TOKEN}\"")));
    let adm = r.admin_addr();
    assert_eq!(admin(adm, "GET", "/metrics", "", None).0, 401);
    assert_eq!(
        admin(adm, "GET", "/metrics", "", Some("wrong-token-0123456789")).0,
        401
    );
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "maint", None).0,
        401
    );
    assert_eq!(
        spread(r.addr(), 4).len(),
        2,
        "an unauthorised command must not apply"
    );
    assert_eq!(admin(adm, "GET", "/metrics", "", Some(TOKEN)).0, 200);
}

#[test]
fn bad_commands_get_clear_errors() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(1, &a, &b, ""));
    let adm = r.admin_addr();
    let (s, body) = admin(adm, "POST", "/api/servers/app/zz/state", "drain", None);
    assert_eq!(
        (s, body.contains("no server app/zz")),
        (404, true),
        "{body}"
    );
    let (s, body) = admin(adm, "POST", "/api/servers/app/a/state", "sleep", None);
    assert_eq!(
        (s, body.contains("ready, drain or maint")),
        (400, true),
        "{body}"
    );
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/weight", "257", None).0,
        400
    );
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/weight", "-1", None).0,
        400
    );
    assert_eq!(
        admin(adm, "GET", "/api/servers/app/a/state", "", None).0,
        405
    );
    assert_eq!(admin(adm, "GET", "/nope", "", None).0, 404);
    // Nothing above changed anything.
    assert_eq!(spread(r.addr(), 4).len(), 2);
}

/// Send `request` as it is to the admin listener and read until it closes: (status,
/// body). A reset after the answer (the admin API closes without reading the rest of
/// what it refused) is not an error.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = common::connect(addr);
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad admin response: {out:?}"));
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// Server `name`'s admin state in `GET /api/servers`.
fn admin_state(adm: SocketAddr, name: &str) -> String {
    let (status, json) = admin(adm, "GET", "/api/servers", "", None);
    assert_eq!(status, 200, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let servers = v["backends"][0]["servers"].as_array().expect("servers");
    let server = servers.iter().find(|s| s["name"] == name).expect("server");
    server["admin"].as_str().expect("admin state").to_string()
}

/// The admin API parses requests with the proxy's strict codec: a command whose framing
/// or head the data path would refuse is refused the same way and never applied.
#[test]
fn admin_api_refuses_ambiguous_framing_and_bad_heads_and_applies_nothing() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(1, &a, &b, ""));
    let adm = r.admin_addr();
    let post = "POST /api/servers/app/a/state HTTP/1.1";
    let cases: [(&str, String, u16); 12] = [
        (
            "conflicting Content-Length",
            format!("{post}\r\nhost: admin\r\ncontent-length: 5\r\ncontent-length: 4\r\n\r\nmaint"),
            400,
        ),
        (
            "Content-Length as a list",
            format!("{post}\r\nhost: admin\r\ncontent-length: 5, 5\r\n\r\nmaint"),
            400,
        ),
        (
            "bare LF line endings",
            format!("{post}\nhost: admin\ncontent-length: 5\n\nmaint"),
            400,
        ),
        (
            "one bare LF",
            format!("{post}\r\nhost: admin\ncontent-length: 5\r\n\r\nmaint"),
            400,
        ),
        (
            "chunked body",
            format!("{post}\r\nhost: admin\r\ntransfer-encoding: chunked\r\n\r\n5\r\nmaint\r\n0\r\n\r\n"),
            411,
        ),
        (
            "Transfer-Encoding and Content-Length",
            format!("{post}\r\nhost: admin\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\nmaint"),
            400,
        ),
        (
            "a coding before chunked",
            format!("{post}\r\nhost: admin\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nmaint\r\n0\r\n\r\n"),
            501,
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            "POST /api/servers/app/a/state HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n5\r\nmaint\r\n0\r\n\r\n".to_string(),
            400,
        ),
        (
            "invalid Host",
            format!("{post}\r\nhost: ad min\r\ncontent-length: 5\r\n\r\nmaint"),
            400,
        ),
        (
            "no Host in HTTP/1.1",
            format!("{post}\r\ncontent-length: 5\r\n\r\nmaint"),
            400,
        ),
        (
            "two Host headers",
            format!("{post}\r\nhost: admin\r\nhost: other\r\ncontent-length: 5\r\n\r\nmaint"),
            400,
        ),
        (
            "obsolete line folding",
            format!("{post}\r\nhost: admin\r\ncontent-length: 5\r\nx-a: 1\r\n 2\r\n\r\nmaint"),
            400,
        ),
    ];
    for (what, request, want) in &cases {
        let (status, body) = raw(adm, request.as_bytes());
        assert_eq!(status, *want, "{what}: {body}");
        assert!(body.contains("\"error\""), "{what}: {body}");
    }
    assert_eq!(admin_state(adm, "a"), "ready", "a refused command applied");
    assert_eq!(spread(r.addr(), 4).len(), 2);
    // Identical Content-Length headers are one length (RFC 9112 §6.3), as on the data
    // path: accepted. This also shows the raw requests above reach the API.
    let (status, body) = raw(
        adm,
        format!("{post}\r\nhost: admin\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\ndrain")
            .as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(admin_state(adm, "a"), "drain");
}

/// A whole request must fit in 16 KiB: a larger body gets 413 before it is read, a
/// larger head 431; up to the limit, and without Host in HTTP/1.0, it is served.
#[test]
fn admin_requests_keep_the_16_kib_limit() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config(1, &a, &b, ""));
    let adm = r.admin_addr();
    let post = "POST /api/servers/app/a/weight HTTP/1.1\r\nhost: admin";
    let (status, body) = raw(
        adm,
        format!("{post}\r\ncontent-length: 16384\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 413, "{body}");
    // The largest length there is must not wrap around the limit; one more is invalid.
    for (length, want) in [("18446744073709551615", 413), ("18446744073709551616", 400)] {
        let head = format!("{post}\r\ncontent-length: {length}\r\n\r\n");
        let (status, body) = raw(adm, head.as_bytes());
        assert_eq!(status, want, "{length}: {body}");
    }
    let big = format!(
        "{post}\r\nx-pad: {}\r\ncontent-length: 1\r\n\r\n7",
        "p".repeat(17 * 1024)
    );
    let (status, body) = raw(adm, big.as_bytes());
    assert_eq!(status, 431, "{body}");
    let head = format!("{post}\r\ncontent-length: 15000\r\n\r\n");
    let body = format!("7{}", " ".repeat(15000 - 1));
    let (status, answer) = raw(adm, format!("{head}{body}").as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"weight\":7"), "{answer}");
    let (status, json) = raw(adm, b"GET /api/servers HTTP/1.0\r\n\r\n");
    assert_eq!(status, 200, "{json}");
    assert!(json.contains("\"weight\":7"), "{json}");
}
