//! The stats page (`GET /`), after HAProxy's: charts of the last ten minutes
//! (`charts.rs`), one table for the frontends, one per backend with a row per server
//! (state in colour, weight, connections, requests and responses by class, errors,
//! last check, last change, latency). Plain HTML, CSS and inline SVG, so it reads the
//! same without script (it then reloads itself every five seconds); with script, a
//! small inline one refreshes the charts and tables in place. Wide tables scroll
//! inside their own box, so the page never scrolls sideways.

use std::fmt::Write;
use std::time::SystemTime;

use super::render::{live_servers, state_text, Totals};
use crate::config::Mode;
use crate::control::history::Shown;
use crate::control::table::BackendEntry;
use crate::control::Control;
use crate::lb::WEIGHT_SCALE;
use crate::msg::stats::{ServerStats, WorkerStats};

const STYLE: &str = "body{font:13px/1.35 system-ui,sans-serif;margin:1em 1.5em;color:#222}\
h1{font-size:18px;margin:0 0 .2em}h2{font-size:15px;margin:1.2em 0 .3em}h2 small{font-weight:normal;color:#555}\
p.meta{color:#555;margin:0 0 .4em}.wrap{max-width:100%;overflow-x:auto;margin-bottom:.5em}\
table{border-collapse:collapse}\
th,td{border:1px solid #bbb;padding:2px 6px;text-align:right;white-space:nowrap;vertical-align:top}\
td{font-variant-numeric:tabular-nums}th{background:#e8e8f0;vertical-align:bottom;white-space:normal}\
th.l,td.l{text-align:left}th.g{text-align:center;border-bottom-color:#ccd}td.w{white-space:normal;min-width:9em;max-width:22em;overflow-wrap:anywhere}\
tr.up td.s{background:#c6f0c2}tr.down td.s{background:#f4b6b6}tr.drain td.s{background:#aac4ff}\
tr.maint td.s{background:#ccc}tr.changing td.s{background:#f8e58c}tbody tr:nth-child(even) td:not(.s){background:#f7f7fb}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ago(t: SystemTime) -> String {
    let s = SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

pub fn html(control: &Control, stats: &[Box<WorkerStats>]) -> String {
    let totals = Totals::of(stats);
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>\
         <title>ringlb stats</title><style>{STYLE}{}</style></head><body>",
        super::charts::STYLE
    );
    let drivers: Vec<String> = control
        .drivers
        .borrow()
        .iter()
        .map(|d| d.map_or("starting".into(), |d| d.to_string()))
        .collect();
    let _ = write!(
        o,
        "<h1>ringlb {}</h1><div class=\"live\"><p class=\"meta\">up {} &middot; {} worker(s): {} &middot; {} reload(s), {} refused &middot; refreshes every 5 s</p>",
        env!("CARGO_PKG_VERSION"),
        ago(control.started),
        drivers.len(),
        esc(&drivers.join(", ")),
        control.reloads.get(),
        control.reload_failures.get(),
    );
    let f = &totals.faults;
    let _ = write!(
        o,
        "<p class=\"meta\">connection limit reached {} time(s) &middot; {} accept error(s) &middot; {} connect(s) failed for want of resources here &middot; {} check(s) not run</p>",
        f.limit_reached,
        f.accept_errors,
        f.local_errors,
        control.checks_not_run.get(),
    );
    o.push_str("</div>");
    super::charts::section(&mut o, &super::history::view(control), esc);
    o.push_str("<div class=\"live\">");
    if let Some(v) = &control.vrrp {
        o.push_str("<div class=\"wrap\">");
        super::vrrp_view::html(&mut o, &v.statuses(), esc);
        o.push_str("</div>");
    }
    if let Some(a) = &control.announce {
        super::announce_view::html(&mut o, &a.status(), esc);
    }
    frontends(&mut o, control, &totals);
    backends(&mut o, control, &totals);
    let _ = writeln!(
        o,
        "</div><script>{}</script></body></html>",
        super::charts::script()
    );
    o
}

/// A column of a table head: its name (a group's, when it has sub-columns), its
/// sub-columns, and whether it holds text (left-aligned) rather than numbers.
type Col = (&'static str, &'static [&'static str], bool);

/// A two-row table head: single columns span both rows, groups name their
/// sub-columns below. Text columns align left, numbers right, as their cells do.
fn head(o: &mut String, cols: &[Col]) {
    o.push_str("<div class=\"wrap\"><table><thead><tr>");
    for (name, subs, text) in cols {
        let class = if *text { " class=\"l\"" } else { "" };
        match subs.len() {
            0 => {
                let _ = write!(o, "<th rowspan=\"2\"{class}>{name}</th>");
            }
            n => {
                let _ = write!(o, "<th colspan=\"{n}\" class=\"g\">{name}</th>");
            }
        }
    }
    o.push_str("</tr><tr>");
    for sub in cols.iter().flat_map(|(_, subs, _)| subs.iter()) {
        let _ = write!(o, "<th>{sub}</th>");
    }
    o.push_str("</tr></thead><tbody>");
}

const CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx"];

fn frontends(o: &mut String, control: &Control, totals: &Totals) {
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    o.push_str("<h2>Frontends</h2>");
    head(
        o,
        &[
            ("name", &[], true),
            ("mode", &[], true),
            ("listening on", &[], true),
            ("connections", &["now", "total"], false),
            ("requests", &[], false),
            ("HTTP/2", &["conns", "streams"], false),
            ("responses", CLASSES, false),
            ("invalid", &[], false),
        ],
    );
    for (i, fe) in config.frontends.iter().enumerate() {
        let f = totals.frontend(slots.frontends[i]);
        let binds: Vec<String> = control
            .listening
            .borrow()
            .iter()
            .filter(|l| l.frontend == fe.name)
            .map(|l| l.bound.to_string())
            .collect();
        let mode = match fe.mode {
            Mode::Http => "http",
            Mode::Tcp => "tcp",
        };
        let _ = write!(
            o,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{mode}</td><td class=\"l w\">{}</td><td>{}</td><td>{}</td>",
            esc(&fe.name),
            esc(&binds.join(" ")),
            f.current,
            f.connections,
        );
        if fe.mode == Mode::Tcp {
            // No requests nor responses in tcp mode: a dash, not a misleading zero.
            o.push_str(&"<td>-</td>".repeat(4 + f.responses.len()));
        } else {
            let _ = write!(
                o,
                "<td>{}</td><td>{}</td><td>{}</td>",
                f.requests, f.h2_connections, f.h2_requests
            );
            for n in f.responses {
                let _ = write!(o, "<td>{n}</td>");
            }
            let _ = write!(o, "<td>{}</td>", f.invalid_requests);
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div>");
}

fn backends(o: &mut String, control: &Control, totals: &Totals) {
    let live = live_servers(control);
    let table = control.table.borrow();
    for (b, servers) in &live {
        let be = &table.backends[*b];
        let usable = servers
            .iter()
            .filter(|s| be.servers[**s].sent.usable())
            .count();
        let no_server = totals.backends.get(*b).map_or(0, |t| t.no_server);
        let reuse = totals
            .backends
            .get(*b)
            .and_then(|t| t.new_connections_per_1000())
            .map_or(String::new(), |n| {
                format!("; {n:.0} new server connections per 1,000 requests")
            });
        let _ = write!(
            o,
            "<h2>Backend {} <small>({}; {usable}/{} servers usable; {no_server} refused for want of a server{reuse})</small></h2>",
            esc(&be.config.name),
            be.config.balance.name(),
            servers.len()
        );
        // The agent column only where some server has an agent.
        let agents = servers
            .iter()
            .any(|s| be.servers[*s].config.probe.agent.is_some());
        let mut cols: Vec<Col> = vec![
            ("server", &[], true),
            ("address", &[], true),
            ("state", &[], true),
            ("weight", &[], false),
            ("connections", &["now", "total"], false),
            ("requests", &[], false),
            ("responses", CLASSES, false),
            ("errors", &["connect", "response"], false),
            ("last check", &[], true),
        ];
        if agents {
            cols.push(("agent", &[], true));
        }
        cols.extend([
            ("last change", &[][..], false),
            ("latency ms", &["p50", "p99"][..], false),
        ]);
        head(o, &cols);
        for s in servers {
            server_row(o, be, *s, totals.server(*b, *s), agents);
        }
        o.push_str("</tbody></table></div>");
    }
}

fn server_row(
    o: &mut String,
    be: &BackendEntry,
    s: usize,
    (st, active): (ServerStats, u32),
    agents: bool,
) {
    let e = &be.servers[s];
    let state = state_text(e, be.config.check.fall, be.config.check.rise);
    let class = Shown::of(e, be.config.check.fall, be.config.check.rise).word();
    let effective = f64::from(e.sent.weight) / f64::from(WEIGHT_SCALE);
    let weight = if effective < f64::from(e.weight) {
        format!("{effective:.1}/{}", e.weight)
    } else {
        e.weight.to_string()
    };
    let check = match (&e.last_check, e.config.check) {
        (_, false) => "no check".to_string(),
        (None, true) => "pending".to_string(),
        (Some(c), true) => format!(
            "{} {} ago: {}",
            if c.ok { "OK" } else { "FAIL" },
            ago(c.at),
            esc(&c.detail)
        ),
    };
    let _ = write!(
        o,
        "<tr class=\"{class}\"><td class=\"l\">{}{}</td><td class=\"l\">{}</td><td class=\"s l\">{}</td><td>{weight}</td>\
         <td>{active}</td><td>{}</td><td>{}</td>",
        esc(&e.config.name),
        if e.config.backup { " (backup)" } else { "" },
        esc(&e.config.address_text),
        esc(&state),
        st.connections,
        st.requests
    );
    for n in st.responses {
        let _ = write!(o, "<td>{n}</td>");
    }
    let _ = write!(
        o,
        "<td>{}</td><td>{}</td><td class=\"l w\">{check}</td>",
        st.connect_errors, st.response_errors,
    );
    if agents {
        let agent = match (&e.config.probe.agent, &e.agent.last) {
            (None, _) => "-".to_string(),
            (Some(_), None) => "pending".to_string(),
            (Some(_), Some(a)) => format!(
                "{} {} ago: {}{}",
                if a.ok { "OK" } else { "FAIL" },
                ago(a.at),
                esc(&a.detail),
                e.agent
                    .percent
                    .map_or(String::new(), |p| format!(" (weight {p}%)"))
            ),
        };
        let _ = write!(o, "<td class=\"l w\">{agent}</td>");
    }
    let lat = &st.latency;
    let ms = |q| match lat.len() {
        0 => "-".to_string(),
        _ => format!("{:.2}", lat.value_at_quantile(q) as f64 / 1000.0),
    };
    let _ = write!(
        o,
        "<td>{} ago</td><td>{}</td><td>{}</td></tr>",
        ago(e.last_change),
        ms(0.5),
        ms(0.99),
    );
}
