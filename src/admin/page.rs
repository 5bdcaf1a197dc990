//! The stats page (`GET /`), after HAProxy's: one table for the frontends, one per
//! backend with a row per server (state in colour, weight, connections, requests and
//! responses by class, errors, last check, last change, latency), reloading itself
//! every five seconds. Plain HTML and CSS, no script, so it renders anywhere.

use std::fmt::Write;
use std::time::SystemTime;

use super::render::{live_servers, state_text, Totals};
use crate::config::Mode;
use crate::control::Control;
use crate::lb::{Admin, Oper, WEIGHT_SCALE};
use crate::msg::stats::WorkerStats;

const STYLE: &str = "body{font:13px/1.35 system-ui,sans-serif;margin:1em 2em;color:#222}\
h1{font-size:18px;margin:0 0 .2em}h2{font-size:15px;margin:1.2em 0 .3em}\
p.meta{color:#555;margin:0 0 1em}table{border-collapse:collapse;margin-bottom:.5em}\
th,td{border:1px solid #bbb;padding:2px 6px;text-align:right;white-space:nowrap}\
th{background:#e8e8f0}td.l{text-align:left}tr.up td.s{background:#c6f0c2}\
tr.down td.s{background:#f4b6b6}tr.drain td.s{background:#aac4ff}tr.maint td.s{background:#ccc}\
tr.trans td.s{background:#f8e58c}";

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
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>ringlb stats</title><style>{STYLE}</style></head><body>"
    );
    let drivers: Vec<String> = control
        .drivers
        .borrow()
        .iter()
        .map(|d| d.map_or("starting".into(), |d| d.to_string()))
        .collect();
    let _ = write!(
        o,
        "<h1>ringlb {}</h1><p class=\"meta\">up {} &middot; {} worker(s): {} &middot; {} reload(s), {} refused &middot; refreshes every 5 s</p>",
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
    if let Some(v) = &control.vrrp {
        super::vrrp_view::html(&mut o, &v.statuses(), esc);
    }
    frontends(&mut o, control, &totals);
    backends(&mut o, control, &totals);
    o.push_str("</body></html>\n");
    o
}

fn frontends(o: &mut String, control: &Control, totals: &Totals) {
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    o.push_str(
        "<h2>Frontends</h2><table><tr><th>name</th><th>mode</th><th>listening on</th><th>current</th>\
         <th>connections</th><th>requests</th><th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>\
         <th>invalid</th></tr>",
    );
    for (i, fe) in config.frontends.iter().enumerate() {
        let f = totals
            .frontends
            .get(slots.frontends[i])
            .cloned()
            .unwrap_or_default();
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
            "<tr><td class=\"l\">{}</td><td class=\"l\">{mode}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&fe.name),
            esc(&binds.join(" ")),
            f.current,
            f.connections,
            f.requests
        );
        for n in f.responses {
            let _ = write!(o, "<td>{n}</td>");
        }
        let _ = write!(o, "<td>{}</td></tr>", f.invalid_requests);
    }
    o.push_str("</table>");
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
        let _ = write!(
            o,
            "<h2>Backend {} <small>({}; {usable}/{} servers usable; {no_server} refused for want of a server)</small></h2>",
            esc(&be.config.name),
            format!("{:?}", be.config.balance).to_lowercase(),
            servers.len()
        );
        o.push_str(
            "<table><tr><th>server</th><th>address</th><th>state</th><th>weight</th><th>current</th>\
             <th>connections</th><th>requests</th><th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>\
             <th>connect err</th><th>response err</th><th>last check</th><th>agent</th><th>last change</th><th>p50 ms</th><th>p99 ms</th></tr>",
        );
        for s in servers {
            let e = &be.servers[*s];
            let (st, active) = totals.server(*b, *s);
            let state = state_text(e, be.config.check.fall, be.config.check.rise);
            let class = match (e.admin, e.oper()) {
                (Admin::Maint, _) => "maint",
                (Admin::Drain, _) => "drain",
                _ if state.contains("going") => "trans",
                (_, Oper::Up) => "up",
                (_, Oper::Down) => "down",
            };
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
            let lat = &st.latency;
            let _ = write!(
                o,
                "<td>{}</td><td>{}</td><td class=\"l\">{check}</td><td class=\"l\">{agent}</td><td>{} ago</td><td>{:.2}</td><td>{:.2}</td></tr>",
                st.connect_errors,
                st.response_errors,
                ago(e.last_change),
                lat.value_at_quantile(0.5) as f64 / 1000.0,
                lat.value_at_quantile(0.99) as f64 / 1000.0,
            );
        }
        o.push_str("</table>");
    }
}
