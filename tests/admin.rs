//! The admin API through the real binary: drain, maint and weight take effect on
//! traffic; /metrics parses as Prometheus text; the JSON and the stats page list every
//! server; the token is enforced; bad commands get clear errors.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use common::http::Client;
use common::switch::{spread, Switch};
use common::{admin, Ringlb};

const TOKEN: &str = "s3cret-token-0123456789";

/// Backend "app" with servers a and b (no checks), admin on a free loopback port.
fn config(workers: usize, a: &Switch, b: &Switch, global: &str) -> String {
    format!(
        "[global]\nworkers = {workers}\npin_workers = false\ngrace_period = \"5s\"\nadmin_bind = \"127.0.0.1:0\"\n{global}\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"a\"\naddress = \"{}\"\n\
         [[backend.server]]\nname = \"b\"\naddress = \"{}\"\n",
        a.addr, b.addr
    )
}

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

/// Headless Chromium, when installed (CI installs it and sets RINGLB_REQUIRE_BROWSER=1,
/// which turns a missing browser into a failure instead of a skip).
fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_BROWSER").as_deref(),
            Ok("1"),
            "chromium is required here (RINGLB_REQUIRE_BROWSER=1) but not installed"
        );
        common::say_skipped(
            "stats page in Chromium",
            "chromium is not installed (apt-get install chromium; RINGLB_REQUIRE_BROWSER=1 makes this a failure)",
        );
    }
    found
}

/// Run headless Chromium on `url` with the flags that work without a desktop and
/// `extra` (`--dump-dom`, `--screenshot=...`), in a fresh profile, at 1280×800;
/// what it printed. Bounded: killed if it does not finish.
fn run_chromium(browser: &str, url: &str, extra: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!(
        "ringlb-chromium-{}-{}",
        std::process::id(),
        PROFILES.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let mut child = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let deadline = std::time::Instant::now() + common::PATIENCE * 3;
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&profile);
    reader.join().unwrap()
}

static PROFILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The numbers after `data-points="` in `dom`, for the charts of `key`'s card.
fn chart_points(dom: &str, key: &str) -> Vec<usize> {
    let card = dom
        .split(&format!("data-key=\"{key}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no chart card {key}:\n{dom}"));
    let card = card.split("class=\"card\"").next().unwrap_or(card);
    card.split("data-points=\"")
        .skip(1)
        .filter_map(|p| p.split('"').next()?.parse().ok())
        .collect()
}

/// Requests on the frontend until its history has `n` samples with requests in
/// them (a sample every 2 s): bounded in count and time.
fn traffic_until_charted(r: &Ringlb, n: usize) {
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let _ = spread(r.addr(), 5);
        let (_, json) = admin(r.admin_addr(), "GET", "/api/history", "", None);
        let v: serde_json::Value = serde_json::from_str(&json).expect("history is JSON");
        let busy = v["frontends"][0]["requests_per_s"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|x| x.as_f64() > Some(0.0)).count());
        if busy >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "history has {busy} busy samples: {json}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The last non-null value of a history series.
fn latest(series: &serde_json::Value) -> Option<f64> {
    series.as_array()?.iter().rev().find_map(|v| v.as_f64())
}

#[test]
fn history_has_rates_errors_latency_and_state_changes() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    b.state
        .request_status
        .store(503, std::sync::atomic::Ordering::SeqCst);
    let r = Ringlb::start(&config(2, &a, &b, ""));
    traffic_until_charted(&r, 2);
    assert_eq!(
        admin(
            r.admin_addr(),
            "POST",
            "/api/servers/app/b/state",
            "maint",
            None
        )
        .0,
        200
    );
    // Until a sample sees b in maintenance (a sample every 2 s).
    let deadline = std::time::Instant::now() + common::PATIENCE;
    let v = loop {
        let (status, json) = admin(r.admin_addr(), "GET", "/api/history", "", None);
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&json).expect("history is JSON");
        let states = v["backends"][0]["servers"][1]["state"].clone();
        if states.as_array().and_then(|s| s.last()) == Some(&"maint".into()) {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "{json}");
        thread::sleep(Duration::from_millis(100));
    };
    let n = v["at_unix_ms"].as_array().map_or(0, Vec::len);
    assert!(n >= 3, "{v}");
    assert_eq!(v["interval_ms"], 2000);
    let (web, app) = (&v["frontends"][0], &v["backends"][0]);
    assert_eq!((&web["name"], &app["name"]), (&"web".into(), &"app".into()));
    for series in ["requests_per_s", "errors_per_s", "p50_ms", "p99_ms"] {
        let values = web[series].as_array().unwrap();
        assert_eq!(values.len(), n, "{series}: {v}");
        assert!(
            values.iter().any(|x| x.as_f64() > Some(0.0)),
            "{series}: {v}"
        );
    }
    // b answered 503s: errors on both sides, counted as 5xx (no failed connects).
    let most = |s: &serde_json::Value| {
        s.as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x.as_f64())
            .fold(0.0, f64::max)
    };
    assert!(most(&app["http_5xx_per_s"]) > 0.0, "{v}");
    assert_eq!(most(&app["connect_errors_per_s"]), 0.0, "{v}");
    assert_eq!(most(&app["errors_per_s"]), most(&app["http_5xx_per_s"]));
    assert!(latest(&app["p99_ms"]) >= latest(&app["p50_ms"]), "{v}");
    // b's strip: up, then maint, the change marked once.
    let b_marks = &app["servers"][1];
    assert_eq!(b_marks["name"], "b");
    assert_eq!(b_marks["state"][0], "up");
    let changed = b_marks["changed"].as_array().unwrap();
    assert_eq!(changed.iter().filter(|c| **c == true).count(), 1, "{v}");
    assert_eq!(changed.last(), Some(&true.into()));
    assert!(app["servers"][0]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| *c == false));
    // Other methods are refused like on every other path.
    assert_eq!(
        admin(r.admin_addr(), "POST", "/api/history", "", None).0,
        405
    );
}

#[test]
fn stats_page_in_headless_chromium_fits_1280_and_charts_the_traffic() {
    let Some(browser) = chromium() else { return };
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    // Checks and an agent: the backend table at its widest (check and agent text).
    let agent = common::peers::AgentPeer::start("up 75%\n");
    let with_checks = config(2, &a, &b, "")
        .replace(
            "name = \"app\"\n",
            "name = \"app\"\n[backend.check]\nkind = \"http\"\npath = \"/health\"\ninterval = \"500ms\"\n",
        )
        .replace(
            &format!("address = \"{}\"\n", a.addr),
            &format!(
                "address = \"{}\"\ncheck = true\nagent_check = true\nagent_port = {}\nagent_interval = \"200ms\"\n",
                a.addr,
                agent.addr.port()
            ),
        )
        .replace(
            &format!("address = \"{}\"\n", b.addr),
            &format!("address = \"{}\"\ncheck = true\n", b.addr),
        );
    let r = Ringlb::start(&with_checks);
    traffic_until_charted(&r, 2);
    assert_eq!(
        admin(
            r.admin_addr(),
            "POST",
            "/api/servers/app/b/state",
            "drain",
            None
        )
        .0,
        200
    );
    let url = format!("http://{}/", r.admin_addr());
    let (status, page) = admin(r.admin_addr(), "GET", "/", "", None);
    assert_eq!(status, 200);
    let dir = std::env::temp_dir();
    let copy = |name: &str, text: String| {
        let path = dir.join(format!("ringlb-{}-{name}.html", std::process::id()));
        std::fs::write(&path, text).unwrap();
        format!("file://{}", path.display())
    };

    // Without script: the page's own HTML, its script refused by the browser (a
    // content security policy; Chromium's headless mode prints nothing at all with
    // scripting switched off): the charts are drawn and the tables are there.
    let no_script = copy(
        "noscript",
        page.replacen(
            "<head>",
            "<head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">",
            1,
        ),
    );
    let dom = run_chromium(browser, &no_script, &["--dump-dom"]);
    assert!(
        !dom.contains("<body data-refreshed"),
        "the script ran:\n{dom}"
    );
    for key in ["frontend/web", "backend/app"] {
        let points = chart_points(&dom, key);
        assert!(points.len() == 2 && points[0] >= 2, "{key}: {points:?}");
    }
    assert!(dom.contains("<path class=\"req\" d=\"M"), "{dom}");
    for needle in [
        "Backend app",
        ">a<",
        ">b<",
        ">UP<",
        ">DRAIN<",
        "Frontends",
        "http check passed",
        "(weight 75%)",
    ] {
        assert!(
            dom.contains(needle),
            "page without script lacks {needle:?}:\n{dom}"
        );
    }

    // At 1280×800 the document does not scroll sideways (wide tables scroll in
    // their own box): measured by a hook added to a copy of the page.
    let hook = "<script>addEventListener('load',function(){var d=document.documentElement;\
        var p=document.createElement('pre');p.id='measured';\
        p.textContent='scroll='+d.scrollWidth+' client='+d.clientWidth;document.body.appendChild(p)})</script>";
    let measured = copy(
        "measure",
        page.replacen("</body>", &format!("{hook}</body>"), 1),
    );
    let dom = run_chromium(browser, &measured, &["--dump-dom"]);
    let line = dom
        .split("<pre id=\"measured\">")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap_or_else(|| panic!("no measurement:\n{dom}"));
    let number = |key: &str| -> u32 {
        let v = line.split(key).nth(1).and_then(|v| v.split(' ').next());
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    assert!(number("client=") >= 1200, "{line}");
    assert!(
        number("scroll=") <= number("client="),
        "sideways scroll at 1280 px: {line}"
    );

    // With script, from the admin listener itself: the script refreshes the charts
    // from /api/history (the page says how many samples it drew).
    let dom = run_chromium(browser, &url, &["--virtual-time-budget=5000", "--dump-dom"]);
    let refreshed: usize = dom
        .split("<body data-refreshed=\"")
        .nth(1)
        .and_then(|t| t.split('"').next()?.parse().ok())
        .unwrap_or_else(|| panic!("the script did not refresh the charts:\n{dom}"));
    assert!(refreshed >= 3, "{refreshed} samples");
    assert!(chart_points(&dom, "frontend/web")[0] >= 2, "{dom}");

    let shot = dir.join(format!("ringlb-stats-{}.png", std::process::id()));
    run_chromium(
        browser,
        &url,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "screenshot of {} bytes",
        png.len()
    );
    // 1280×800: the PNG header's width and height.
    assert_eq!(&png[16..24], &[0, 0, 5, 0, 0, 0, 3, 32]);
    eprintln!("stats page screenshot: {}", shot.display());
}
