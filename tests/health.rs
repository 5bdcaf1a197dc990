//! Active and passive health checks through the real binary, with backends whose
//! behaviour the test switches while ringlb runs. Waits are on log lines and on probe
//! counts at the backend, never on sleeps.

mod common;

use std::time::Duration;

use common::switch::{checked_config, spread, Switch, ALTERNATE, HANG};
use common::Ringlb;

/// Fast checks so that tests take fractions of a second; the timeout has margin for a
/// loaded machine (a slow check must not stand in for the failure under test).
const FAST: &str =
    "kind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\nfast_interval = \"50ms\"\n\
                    down_interval = \"100ms\"\ntimeout = \"2s\"\nrise = 2\nfall = 2";

#[test]
fn failing_http_check_takes_a_server_out_and_rise_brings_it_back() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let mut r = Ringlb::start(&checked_config(2, &[&a, &b], FAST, "", ""));
    a.wait_probes(2);
    b.wait_probes(2);
    assert!(!r.logged("DOWN"), "healthy servers went down: {:?}", r.log);

    a.set_health(503);
    let line = r.wait_for("app/a DOWN");
    assert!(line.contains("HTTP status 503, expected 200"), "{line}");
    r.wait_applied(2, 0, "oper: Down");
    let before = a.requests();
    let seen = spread(r.addr(), 20);
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");
    assert_eq!(
        a.requests(),
        before,
        "a request reached a server marked down"
    );

    a.set_health(200);
    let line = r.wait_for("app/a UP");
    assert!(line.contains("2 consecutive successful"), "{line}");
    r.wait_applied(2, 0, "oper: Up");
    // Two workers, each with its own round robin: about half each.
    let seen = spread(r.addr(), 20);
    let (na, nb) = (
        seen.get("a").copied().unwrap_or(0),
        seen.get("b").copied().unwrap_or(0),
    );
    assert!(na >= 5 && nb >= 5 && na + nb == 20, "{seen:?}");
}

#[test]
fn tcp_check_marks_a_server_that_refuses_connections_down_after_fall_failures() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let check = "kind = \"tcp\"\ninterval = \"100ms\"\nfast_interval = \"50ms\"\ntimeout = \"200ms\"\nrise = 2\nfall = 3";
    let mut r = Ringlb::start(&checked_config(1, &[&a, &b], check, "", ""));
    // First a check must succeed, so the server is fully up and needs `fall` failures.
    a.wait_accepted(2);
    a.stop();
    let line = r.wait_for("app/a DOWN");
    assert!(line.contains("connection refused"), "{line}");
    assert!(line.contains("3 consecutive failed"), "{line}");
    r.wait_applied(1, 0, "oper: Down");
    let seen = spread(r.addr(), 10);
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
}

#[test]
fn a_server_that_hangs_fails_its_check_by_timeout() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let mut r = Ringlb::start(&checked_config(1, &[&a, &b], FAST, "", ""));
    a.set_health(HANG);
    let line = r.wait_for("app/a DOWN");
    assert!(line.contains("no answer within 2s"), "{line}");
}

#[test]
fn flapping_is_damped_by_rise() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let check =
        "kind = \"http\"\npath = \"/health\"\ninterval = \"50ms\"\nfast_interval = \"20ms\"\n\
                 down_interval = \"20ms\"\ntimeout = \"200ms\"\nrise = 2\nfall = 2";
    let mut r = Ringlb::start(&checked_config(1, &[&a, &b], check, "", ""));
    a.set_health(503);
    r.wait_for("app/a DOWN");
    r.wait_applied(1, 0, "oper: Down");
    // Now every other check fails: never two successes in a row, so never up again.
    a.set_health(ALTERNATE);
    let seen = a.probes();
    a.wait_probes(seen + 20);
    assert!(
        !r.logged("app/a UP"),
        "flapping server came back: {:?}",
        r.log
    );
    let seen = spread(r.addr(), 6);
    assert_eq!(seen.get("b"), Some(&6), "{seen:?}");
}

#[test]
fn checks_run_once_per_interval_whatever_the_number_of_workers() {
    let a = Switch::start("a");
    let check = "kind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\ntimeout = \"200ms\"";
    let _r = Ringlb::start(&checked_config(2, &[&a], check, "", ""));
    a.wait_probes(16);
    let times = a.state.probe_times.lock().unwrap().clone();
    // Two workers each probing would halve the gaps. Every gap is at least the interval
    // less its 10% jitter; a scheduler can only make gaps longer, never shorter.
    for pair in times.windows(2).skip(1) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(85),
            "probes {gap:?} apart: {times:?}"
        );
    }
}

#[test]
fn passive_health_takes_out_a_server_that_returns_500s() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    // Checks pass (the health path is fine) but the application fails.
    a.set_requests(500);
    let check =
        "kind = \"http\"\npath = \"/health\"\ninterval = \"200ms\"\nfast_interval = \"200ms\"\n\
                 timeout = \"2s\"\nrise = 3\nfall = 2";
    let mut r = Ringlb::start(&checked_config(1, &[&a, &b], check, "error_limit = 3", ""));
    a.wait_probes(1);
    let seen = spread(r.addr(), 30);
    let line = r.wait_for("app/a DOWN");
    assert!(
        line.contains("3 consecutive errors seen by the proxy"),
        "{line}"
    );
    // Round robin would have sent 15 of the 30 to a; a few may race the broadcast.
    let failed = seen.get("status 500").copied().unwrap_or(0);
    assert!((3..=5).contains(&failed), "{seen:?}");
    // Checks still pass, so they bring the server back.
    r.wait_for("app/a UP");
}

#[test]
fn servers_without_check_are_never_probed_nor_taken_out_passively() {
    let a = Switch::start("a");
    a.set_requests(500);
    let text = format!(
        "[global]\nworkers = 1\npin_workers = false\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nerror_limit = 1\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
        a.addr
    );
    let mut r = Ringlb::start(&text);
    let seen = spread(r.addr(), 5);
    assert_eq!(seen.get("status 500"), Some(&5), "{seen:?}");
    assert_eq!(a.probes(), 0);
    assert!(!r.logged("DOWN"));
}

#[test]
fn slow_start_ramps_a_returning_server_up_gradually() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let text = checked_config(
        1,
        &[&a, &b],
        FAST,
        "slow_start = \"2s\"",
        "admin_bind = \"127.0.0.1:0\"",
    );
    let mut r = Ringlb::start(&text);
    a.set_health(503);
    r.wait_for("app/a DOWN");
    a.set_health(200);
    r.wait_for("app/a UP");
    let weight = |r: &Ringlb| -> f64 {
        let (_, json) = common::admin(r.admin_addr(), "GET", "/api/servers", "", None);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["backends"][0]["servers"][0]["effective_weight"]
            .as_f64()
            .unwrap()
    };
    let w = weight(&r);
    assert!(w > 0.0 && w < 0.5, "just up, effective weight {w}");
    let seen = spread(r.addr(), 40);
    let to_a = seen.get("a").copied().unwrap_or(0);
    assert!(
        to_a < 12,
        "a returning server got {to_a} of 40 at once: {seen:?}"
    );
    // The ramp ends at the full weight (bounded wait on a state we cannot subscribe to).
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while weight(&r) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "slow start never finished"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = spread(r.addr(), 20);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&10), Some(&10)),
        "{seen:?}"
    );
}
