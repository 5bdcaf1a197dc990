//! The stats page and its history through the real binary: `/api/history` has
//! rates, errors, latency and state changes; in headless Chromium at 1280×800 the
//! page does not scroll sideways, its charts have the traffic in them, with and
//! without script.

mod common;

use std::thread;
use std::time::Duration;

use common::switch::{admin_config as config, spread, Switch};
use common::{admin, Ringlb};

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

/// Two servers with HTTP checks, the first with an agent check on `agent_port` too.
fn config_with_checks(a: &Switch, b: &Switch, agent_port: u16) -> String {
    config(2, a, b, "")
        .replace(
            "name = \"app\"\n",
            "name = \"app\"\n[backend.check]\nkind = \"http\"\npath = \"/health\"\ninterval = \"500ms\"\n",
        )
        .replace(
            &format!("address = \"{}\"\n", a.addr),
            &format!(
                "address = \"{}\"\ncheck = true\nagent_check = true\nagent_port = {agent_port}\nagent_interval = \"200ms\"\n",
                a.addr
            ),
        )
        .replace(
            &format!("address = \"{}\"\n", b.addr),
            &format!("address = \"{}\"\ncheck = true\n", b.addr),
        )
}

/// The page as drawn without its script (`dom`): the charts and tables are there.
fn drawn_without_script(dom: &str) {
    assert!(
        !dom.contains("<body data-refreshed"),
        "the script ran:\n{dom}"
    );
    for key in ["frontend/web", "backend/app"] {
        let points = chart_points(dom, key);
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
}

#[test]
fn stats_page_in_headless_chromium_fits_1280_and_charts_the_traffic() {
    let Some(browser) = chromium() else { return };
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    // Checks and an agent: the backend table at its widest (check and agent text).
    let agent = common::peers::AgentPeer::start("up 75%\n");
    let with_checks = config_with_checks(&a, &b, agent.addr.port());
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
    drawn_without_script(&run_chromium(browser, &no_script, &["--dump-dom"]));

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
