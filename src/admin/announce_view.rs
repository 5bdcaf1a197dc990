//! `[announce]` on the admin API: `GET /api/announce`, `POST /api/announce` (`on` or
//! `off`, as plain text or a JSON string), a line on the stats page and the
//! `ringlb_announce_*` families in /metrics.

use std::fmt::Write;
use std::rc::Rc;

use serde_json::{json, Value};

use super::prom::{head, samples, Family, Num};
use super::render::unix;
use super::server::Reply;
use crate::announce::{Announcer, Status};

pub fn json(s: &Status) -> Value {
    json!({
        "interface": s.interface,
        "addresses": s.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "announced": s.announced,
        "operator": if s.operator_on { "on" } else { "off" },
        "healthy": s.healthy,
        "reason": s.reason,
        "problems": s.problems,
        "since": unix(s.since),
        "transitions_total": s.transitions,
        "errors_total": s.errors,
    })
}

/// `POST /api/announce`: `off` withdraws at once (open connections go on), `on`
/// announces again as soon as health allows.
pub fn set(announcer: &Rc<Announcer>, body: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(body);
    let on = match text.trim().trim_matches('"') {
        "on" => true,
        "off" => false,
        _ => return Reply::json_error(400, "send on or off"),
    };
    announcer.set_operator(on);
    Reply::new(
        200,
        "application/json",
        json(&announcer.status()).to_string(),
    )
}

/// How a family reads the status.
type Get = fn(&Status) -> Num;

/// The `ringlb_announce_*` families, in output order; one row, labelled by device.
static FAMILIES: &[Family<Get>] = &[
    Family::gauge(
        "ringlb_announce_state",
        "1 while the service addresses are on the announce device (BIRD announces them).",
        |s| s.announced.into(),
    ),
    Family::gauge(
        "ringlb_announce_operator_enabled",
        "0 after POST /api/announce off (the node is drained).",
        |s| s.operator_on.into(),
    ),
    Family::gauge(
        "ringlb_announce_healthy",
        "1 while health tracking finds nothing wrong with the tracked frontends and the workers.",
        |s| s.healthy.into(),
    ),
    Family::counter(
        "ringlb_announce_transitions_total",
        "Times the addresses were added or withdrawn.",
        |s| s.transitions.into(),
    ),
    Family::counter(
        "ringlb_announce_errors_total",
        "Netlink requests that failed (retried every second).",
        |s| s.errors.into(),
    ),
];

pub fn metrics(o: &mut String, s: &Status) {
    let row = [(
        format!("interface=\"{}\"", s.interface.replace(['"', '\\'], "")),
        s,
    )];
    for f in FAMILIES {
        head(o, f);
        samples(o, f, &row, |s, _| (f.get)(s));
    }
}

pub fn html(o: &mut String, s: &Status, esc: fn(&str) -> String) {
    let (class, state) = match (s.announced, s.operator_on) {
        (true, _) => ("up", "announced"),
        (false, false) => ("drain", "drained"),
        (false, true) => ("down", "withdrawn"),
    };
    let addrs: Vec<String> = s.addresses.iter().map(|a| a.to_string()).collect();
    let _ = write!(
        o,
        "<h2>Announce <small>(BIRD, device {})</small></h2><table><tr><th>state</th><th>addresses</th>\
         <th>why</th><th>changes</th><th>errors</th></tr><tr class=\"{class}\"><td class=\"s l\">{state}</td>\
         <td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr></table>",
        esc(&s.interface),
        addrs.join(", "),
        esc(&s.reason),
        s.transitions,
        s.errors,
    );
}

/// A fixed status for the admin tests.
#[cfg(test)]
pub(super) fn sample_status() -> Status {
    Status {
        interface: "svc0".into(),
        addresses: vec!["192.0.2.10".parse().unwrap(), "192.0.2.11".parse().unwrap()],
        announced: false,
        operator_on: false,
        healthy: true,
        reason: "drained by the operator (POST /api/announce off)".into(),
        problems: vec![],
        since: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000),
        transitions: 2,
        errors: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drained_node_in_json_metrics_and_html() {
        let s = sample_status();
        let j = json(&s);
        assert_eq!(j["announced"], false);
        assert_eq!(j["operator"], "off");
        assert_eq!(j["addresses"], json!(["192.0.2.10", "192.0.2.11"]));
        assert_eq!(j["since"], 1000);
        let mut m = String::new();
        metrics(&mut m, &s);
        for want in [
            "# TYPE ringlb_announce_state gauge",
            "ringlb_announce_state{interface=\"svc0\"} 0",
            "ringlb_announce_operator_enabled{interface=\"svc0\"} 0",
            "ringlb_announce_healthy{interface=\"svc0\"} 1",
            "ringlb_announce_transitions_total{interface=\"svc0\"} 2",
            "ringlb_announce_errors_total{interface=\"svc0\"} 1",
        ] {
            assert!(m.lines().any(|l| l == want), "{want} not in\n{m}");
        }
        let mut h = String::new();
        html(&mut h, &s, |t| t.replace('<', "&lt;"));
        assert!(
            h.contains("class=\"drain\"") && h.contains(">drained<"),
            "{h}"
        );
        assert!(h.contains("192.0.2.10, 192.0.2.11"), "{h}");
    }
}
