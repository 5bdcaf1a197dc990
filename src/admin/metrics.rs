//! `GET /metrics`: Prometheus text format 0.0.4, every family's samples together
//! under its HELP and TYPE lines, counters added up across workers.

use std::fmt::Write;

use crate::control::Control;
use super::render::{live_servers, unix, Totals};
use crate::lb::{Admin, Oper, WEIGHT_SCALE};
use crate::msg::stats::{new_latency, BackendStats, FrontendStats, WorkerStats};

/// Prometheus label value escaping.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric family computed from one statistics record: name, type, help, value.
type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> u64);

/// Latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `GET /metrics`, Prometheus text format 0.0.4.
pub fn metrics(control: &Control, stats: &[Box<WorkerStats>]) -> String {
    let totals = Totals::of(stats);
    let mut out = String::with_capacity(8192);
    let o = &mut out;
    let config = control.config.borrow();
    let slots = control.slots.borrow();

    let fronts: Vec<(String, FrontendStats)> = config
        .frontends
        .iter()
        .enumerate()
        .map(|(i, fe)| {
            let f = totals.frontends.get(slots.frontends[i]).cloned();
            (
                format!("frontend=\"{}\"", label(&fe.name)),
                f.unwrap_or_default(),
            )
        })
        .collect();
    let frontend_families: [Family<FrontendStats>; 7] = [
        (
            "ringlb_frontend_current_connections",
            "gauge",
            "Client connections open now.",
            |f| f.current,
        ),
        (
            "ringlb_frontend_connections_total",
            "counter",
            "Client connections accepted.",
            |f| f.connections,
        ),
        (
            "ringlb_frontend_requests_total",
            "counter",
            "HTTP requests received.",
            |f| f.requests,
        ),
        (
            "ringlb_frontend_invalid_requests_total",
            "counter",
            "Requests refused as malformed, too large or too slow.",
            |f| f.invalid_requests,
        ),
        (
            "ringlb_frontend_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out.",
            |f| f.tls_failures,
        ),
        (
            "ringlb_frontend_tls_handshakes_total",
            "counter",
            "TLS handshakes completed, by protocol version.",
            |_| 0,
        ),
        (
            "ringlb_frontend_responses_total",
            "counter",
            "Responses sent to clients, by status class.",
            |_| 0,
        ),
    ];
    for (name, kind, help, get) in frontend_families {
        family(o, name, kind, help);
        for (l, f) in &fronts {
            if name == "ringlb_frontend_tls_handshakes_total" {
                for (v, n) in [("TLSv1.2", f.tls12), ("TLSv1.3", f.tls13)] {
                    let _ = writeln!(o, "{name}{{{l},version=\"{v}\"}} {n}");
                }
            } else if name == "ringlb_frontend_responses_total" {
                for (c, n) in f.responses.iter().enumerate() {
                    let _ = writeln!(o, "{name}{{{l},code=\"{}xx\"}} {n}", c + 1);
                }
            } else {
                line(o, name, l, get(f));
            }
        }
    }

    let table = control.table.borrow();
    let live = live_servers(control);
    let queue_families: [Family<BackendStats>; 5] = [
        (
            "ringlb_backend_no_server_total",
            "counter",
            "Requests or connections refused because no server was usable.",
            |t| t.no_server,
        ),
        (
            "ringlb_backend_queue_current",
            "gauge",
            "Requests waiting for a server slot now.",
            |t| t.queue_current,
        ),
        (
            "ringlb_backend_queued_total",
            "counter",
            "Requests that waited for a server slot.",
            |t| t.queued,
        ),
        (
            "ringlb_backend_queue_timeouts_total",
            "counter",
            "Requests that got 503 after timeout_queue.",
            |t| t.queue_timeouts,
        ),
        (
            "ringlb_backend_queue_full_total",
            "counter",
            "Requests refused because the queue was full.",
            |t| t.queue_full,
        ),
    ];
    for (name, kind, help, get) in queue_families {
        family(o, name, kind, help);
        for (b, _) in &live {
            let v = totals.backends.get(*b).map_or(0, get);
            line(
                o,
                name,
                &format!("backend=\"{}\"", label(&table.backends[*b].config.name)),
                v,
            );
        }
    }
    family(
        o,
        "ringlb_backend_usable_servers",
        "gauge",
        "Servers that may take new traffic.",
    );
    for (b, servers) in &live {
        let be = &table.backends[*b];
        let usable = servers
            .iter()
            .filter(|s| be.servers[**s].sent.usable())
            .count();
        let l = format!("backend=\"{}\"", label(&be.config.name));
        line(o, "ringlb_backend_usable_servers", &l, usable as u64);
    }

    let gauges: [(&str, &str, &str); 11] = [
        (
            "ringlb_server_up",
            "gauge",
            "1 when health checks (or the lack of them) say up.",
        ),
        (
            "ringlb_server_admin_state",
            "gauge",
            "The operator's state: 1 for the current one of ready, drain, maint.",
        ),
        (
            "ringlb_server_weight",
            "gauge",
            "The operator's weight (0..256).",
        ),
        (
            "ringlb_server_effective_weight",
            "gauge",
            "The weight balancers use now (slow start applied), in the same unit.",
        ),
        (
            "ringlb_server_current_connections",
            "gauge",
            "Connections (TCP) or in-flight requests (HTTP) now.",
        ),
        (
            "ringlb_server_connections_total",
            "counter",
            "New connections opened to the server.",
        ),
        (
            "ringlb_server_requests_total",
            "counter",
            "Requests (HTTP) or sessions (TCP) sent to the server.",
        ),
        (
            "ringlb_server_responses_total",
            "counter",
            "Responses from the server, by status class.",
        ),
        (
            "ringlb_server_connect_errors_total",
            "counter",
            "Connect attempts that failed or timed out.",
        ),
        (
            "ringlb_server_response_errors_total",
            "counter",
            "Responses that timed out, were malformed or cut short.",
        ),
        (
            "ringlb_server_status_changes_total",
            "counter",
            "Up/down transitions.",
        ),
    ];
    for (name, kind, help) in gauges {
        family(o, name, kind, help);
        for (b, servers) in &live {
            let be = &table.backends[*b];
            for s in servers {
                let e = &be.servers[*s];
                let (st, active) = totals.server(*b, *s);
                let l = format!(
                    "backend=\"{}\",server=\"{}\"",
                    label(&be.config.name),
                    label(&e.config.name)
                );
                match name {
                    "ringlb_server_up" => line(o, name, &l, u64::from(e.oper() == Oper::Up)),
                    "ringlb_server_admin_state" => {
                        for (state, a) in [
                            ("ready", Admin::Ready),
                            ("drain", Admin::Drain),
                            ("maint", Admin::Maint),
                        ] {
                            let _ = writeln!(
                                o,
                                "{name}{{{l},state=\"{state}\"}} {}",
                                u64::from(e.admin == a)
                            );
                        }
                    }
                    "ringlb_server_weight" => line(o, name, &l, u64::from(e.weight)),
                    "ringlb_server_effective_weight" => {
                        let _ = writeln!(
                            o,
                            "{name}{{{l}}} {}",
                            f64::from(e.sent.weight) / f64::from(WEIGHT_SCALE)
                        );
                    }
                    "ringlb_server_current_connections" => line(o, name, &l, u64::from(active)),
                    "ringlb_server_connections_total" => line(o, name, &l, st.connections),
                    "ringlb_server_requests_total" => line(o, name, &l, st.requests),
                    "ringlb_server_responses_total" => {
                        for (c, n) in st.responses.iter().enumerate() {
                            let _ = writeln!(o, "{name}{{{l},code=\"{}xx\"}} {n}", c + 1);
                        }
                    }
                    "ringlb_server_connect_errors_total" => line(o, name, &l, st.connect_errors),
                    "ringlb_server_response_errors_total" => line(o, name, &l, st.response_errors),
                    _ => line(o, name, &l, e.transitions),
                }
            }
        }
    }

    family(
        o,
        "ringlb_server_latency_seconds",
        "histogram",
        "Time to connect (TCP) or to the response head (HTTP), all workers.",
    );
    for (b, servers) in &live {
        let be = &table.backends[*b];
        for s in servers {
            let (st, _) = totals.server(*b, *s);
            let h = if st.latency.is_empty() {
                new_latency()
            } else {
                st.latency
            };
            let l = format!(
                "backend=\"{}\",server=\"{}\"",
                label(&be.config.name),
                label(&be.servers[*s].config.name)
            );
            for bound in BUCKETS {
                let us = (bound * 1e6) as u64;
                let n = h.count_between(0, us);
                let _ = writeln!(
                    o,
                    "ringlb_server_latency_seconds_bucket{{{l},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                o,
                "ringlb_server_latency_seconds_bucket{{{l},le=\"+Inf\"}} {}",
                h.len()
            );
            let sum = h.mean() * h.len() as f64 / 1e6;
            let _ = writeln!(o, "ringlb_server_latency_seconds_sum{{{l}}} {sum}");
            let _ = writeln!(o, "ringlb_server_latency_seconds_count{{{l}}} {}", h.len());
        }
    }

    family(
        o,
        "ringlb_worker_info",
        "gauge",
        "One per worker, with the I/O driver it runs.",
    );
    for (i, d) in control.drivers.borrow().iter().enumerate() {
        let driver = d.map_or("starting".to_string(), |d| match d {
            crate::msg::Driver::IoUring => "io_uring".into(),
            crate::msg::Driver::Legacy => "epoll".into(),
        });
        let _ = writeln!(
            o,
            "ringlb_worker_info{{worker=\"{i}\",driver=\"{driver}\"}} 1"
        );
    }
    family(
        o,
        "ringlb_config_reloads_total",
        "counter",
        "Configuration reloads applied.",
    );
    let _ = writeln!(o, "ringlb_config_reloads_total {}", control.reloads.get());
    family(
        o,
        "ringlb_config_reload_failures_total",
        "counter",
        "Reloads refused (the old configuration kept running).",
    );
    let _ = writeln!(
        o,
        "ringlb_config_reload_failures_total {}",
        control.reload_failures.get()
    );
    family(
        o,
        "ringlb_start_time_seconds",
        "gauge",
        "When this ringlb started, in Unix seconds.",
    );
    let _ = writeln!(o, "ringlb_start_time_seconds {}", unix(control.started));
    if let Some(v) = &control.vrrp {
        super::vrrp_view::metrics(o, &v.status());
    }
    out
}

pub(super) fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub(super) fn line(o: &mut String, name: &str, labels: &str, v: u64) {
    let _ = writeln!(o, "{name}{{{labels}}} {v}");
}
