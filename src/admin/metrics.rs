//! `GET /metrics`: Prometheus text format 0.0.4, every family's samples together
//! under its HELP and TYPE lines, counters added up across workers.
//!
//! What is exported is one table, [`FAMILIES`], in output order: per family its name,
//! HELP, TYPE, split label, and a getter whose variant of [`Get`] says which rows it
//! has (frontends, backends, servers, workers or the process). [`Rows`] gathers the
//! rows with their labels; `prom.rs` writes them. Nothing branches on a family's name.

use super::prom::{head, histogram, label, samples, Family, Num};
use super::render::{admin_name, live_servers, unix, Totals};
use crate::control::table::{ServerEntry, Table};
use crate::control::Control;
use crate::lb::{Oper, WEIGHT_SCALE};
use crate::msg::stats::{
    BackendStats, FaultCounts, FrontendStats, Latency, ServerStats, WorkerStats, HELLO_FAILURES,
    PROXY_REFUSALS,
};
use crate::msg::Driver;

/// The rows of a family, and how to read one.
enum Get {
    /// Per frontend, label `frontend`.
    Frontend(fn(&FrontendStats, usize) -> Num),
    /// Per live backend, label `backend`.
    Backend(fn(&BackendRow<'_>, usize) -> Num),
    /// Per live server, labels `backend`, `server`.
    Server(fn(&ServerRow<'_>, usize) -> Num),
    /// A histogram per live server, labels `backend`, `server`.
    ServerHistogram(fn(&ServerStats) -> &Latency),
    /// An info family: one sample of 1 per worker, the facts in its labels `worker`
    /// and `driver`.
    WorkerInfo,
    /// One unlabelled sample for the whole process.
    Global(fn(&Control) -> Num),
    /// One unlabelled sample, added up across workers.
    Faults(fn(&FaultCounts) -> Num),
}

struct BackendRow<'a> {
    stats: &'a BackendStats,
    /// Servers that may take new traffic.
    usable: u64,
}

struct ServerRow<'a> {
    entry: &'a ServerEntry,
    stats: &'a ServerStats,
    /// Connections or in-flight requests now.
    active: u32,
    /// Idle connections kept for reuse now.
    idle: u32,
}

const CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx"];
const TLS_VERSIONS: &[&str] = &["TLSv1.2", "TLSv1.3"];
/// As `render::admin_name` spells them.
const ADMIN_STATES: &[&str] = &["ready", "drain", "maint"];

/// Everything `/metrics` exports, in order (the VRRP families follow, from
/// `vrrp_view.rs`, with `[vrrp]`).
static FAMILIES: &[Family<Get>] = &[
    Family::gauge(
        "ringlb_frontend_current_connections",
        "Client connections open now.",
        Get::Frontend(|f, _| f.current.into()),
    ),
    Family::counter(
        "ringlb_frontend_connections_total",
        "Client connections accepted.",
        Get::Frontend(|f, _| f.connections.into()),
    ),
    Family::counter(
        "ringlb_frontend_requests_total",
        "HTTP requests received.",
        Get::Frontend(|f, _| f.requests.into()),
    ),
    Family::counter(
        "ringlb_frontend_h2_requests_total",
        "HTTP requests received as HTTP/2 streams (also counted in ringlb_frontend_requests_total).",
        Get::Frontend(|f, _| f.h2_requests.into()),
    ),
    Family::counter(
        "ringlb_frontend_h2_connections_total",
        "Client connections that spoke HTTP/2 (also counted in ringlb_frontend_connections_total); their streams are ringlb_frontend_h2_requests_total.",
        Get::Frontend(|f, _| f.h2_connections.into()),
    ),
    Family::counter(
        "ringlb_frontend_invalid_requests_total",
        "Requests refused as malformed, too large or too slow.",
        Get::Frontend(|f, _| f.invalid_requests.into()),
    ),
    Family::counter(
        "ringlb_frontend_tls_handshake_failures_total",
        "TLS handshakes that failed or timed out.",
        Get::Frontend(|f, _| f.tls_failures.into()),
    ),
    Family::counter(
        "ringlb_frontend_tls_handshakes_total",
        "TLS handshakes completed, by protocol version.",
        Get::Frontend(|f, i| [f.tls12, f.tls13][i].into()),
    )
    .by("version", TLS_VERSIONS),
    Family::counter(
        "ringlb_frontend_proxy_protocol_accepted_total",
        "Connections accepted with a PROXY protocol header.",
        Get::Frontend(|f, _| f.proxy_accepted.into()),
    ),
    Family::counter(
        "ringlb_frontend_proxy_protocol_refused_total",
        "Connections closed for their PROXY protocol header, by reason.",
        Get::Frontend(|f, i| f.proxy_refused[i].into()),
    )
    .by("reason", &PROXY_REFUSALS),
    Family::counter(
        "ringlb_frontend_sni_hello_failures_total",
        "SNI-routed connections without a readable ClientHello, by reason.",
        Get::Frontend(|f, i| f.hello_failures[i].into()),
    )
    .by("reason", &HELLO_FAILURES),
    Family::counter(
        "ringlb_frontend_responses_total",
        "Responses sent to clients, by status class.",
        Get::Frontend(|f, i| f.responses[i].into()),
    )
    .by("code", CLASSES),
    Family::counter(
        "ringlb_backend_no_server_total",
        "Requests or connections refused because no server was usable.",
        Get::Backend(|b, _| b.stats.no_server.into()),
    ),
    Family::gauge(
        "ringlb_backend_queue_current",
        "Requests waiting for a server slot now.",
        Get::Backend(|b, _| b.stats.queue_current.into()),
    ),
    Family::counter(
        "ringlb_backend_queued_total",
        "Requests that waited for a server slot.",
        Get::Backend(|b, _| b.stats.queued.into()),
    ),
    Family::counter(
        "ringlb_backend_queue_timeouts_total",
        "Requests that got 503 after timeout_queue.",
        Get::Backend(|b, _| b.stats.queue_timeouts.into()),
    ),
    Family::counter(
        "ringlb_backend_queue_full_total",
        "Requests refused because the queue was full.",
        Get::Backend(|b, _| b.stats.queue_full.into()),
    ),
    Family::counter(
        "ringlb_backend_connections_opened_total",
        "New connections opened to the backend's servers (with requests_reused: how well server connections are reused).",
        Get::Backend(|b, _| b.stats.connections_opened().into()),
    ),
    Family::counter(
        "ringlb_backend_requests_reused_total",
        "HTTP requests sent on a server connection that had carried a request before.",
        Get::Backend(|b, _| b.stats.requests_reused().into()),
    ),
    Family::gauge(
        "ringlb_backend_usable_servers",
        "Servers that may take new traffic.",
        Get::Backend(|b, _| b.usable.into()),
    ),
    Family::gauge(
        "ringlb_server_up",
        "1 when health checks (or the lack of them) say up.",
        Get::Server(|s, _| (s.entry.oper() == Oper::Up).into()),
    ),
    Family::gauge(
        "ringlb_server_admin_state",
        "The operator's state: 1 for the current one of ready, drain, maint.",
        Get::Server(|s, i| (admin_name(s.entry.admin) == ADMIN_STATES[i]).into()),
    )
    .by("state", ADMIN_STATES),
    Family::gauge(
        "ringlb_server_weight",
        "The operator's weight (0..256).",
        Get::Server(|s, _| u64::from(s.entry.weight).into()),
    ),
    Family::gauge(
        "ringlb_server_effective_weight",
        "The weight balancers use now (slow start applied), in the same unit.",
        Get::Server(|s, _| Num::Float(f64::from(s.entry.sent.weight) / f64::from(WEIGHT_SCALE))),
    ),
    Family::gauge(
        "ringlb_server_current_connections",
        "Connections (TCP) or in-flight requests (HTTP) now.",
        Get::Server(|s, _| u64::from(s.active).into()),
    ),
    Family::gauge(
        "ringlb_server_idle_connections",
        "Idle connections to the server kept for reuse, all workers (HAProxy's idle_conn_cur).",
        Get::Server(|s, _| u64::from(s.idle).into()),
    ),
    Family::counter(
        "ringlb_server_connections_total",
        "New connections opened to the server.",
        Get::Server(|s, _| s.stats.connections.into()),
    ),
    Family::counter(
        "ringlb_server_requests_total",
        "Requests (HTTP) or sessions (TCP) sent to the server.",
        Get::Server(|s, _| s.stats.requests.into()),
    ),
    Family::counter(
        "ringlb_server_responses_total",
        "Responses from the server, by status class.",
        Get::Server(|s, i| s.stats.responses[i].into()),
    )
    .by("code", CLASSES),
    Family::counter(
        "ringlb_server_connect_errors_total",
        "Connect attempts that failed or timed out.",
        Get::Server(|s, _| s.stats.connect_errors.into()),
    ),
    Family::counter(
        "ringlb_server_slow_responses_total",
        "Response heads still awaited after the backend's slow_response.",
        Get::Server(|s, _| s.stats.slow_responses.into()),
    ),
    Family::counter(
        "ringlb_server_response_errors_total",
        "Responses that timed out, were malformed or cut short.",
        Get::Server(|s, _| s.stats.response_errors.into()),
    ),
    Family::counter(
        "ringlb_server_status_changes_total",
        "Up/down transitions.",
        Get::Server(|s, _| s.entry.transitions.into()),
    ),
    Family::histogram(
        "ringlb_server_latency_seconds",
        "Time to connect (TCP) or to the response head (HTTP), all workers.",
        Get::ServerHistogram(|s| &s.latency),
    ),
    Family::gauge(
        "ringlb_worker_info",
        "One per worker, with the I/O driver it runs.",
        Get::WorkerInfo,
    ),
    Family::counter(
        "ringlb_config_reloads_total",
        "Configuration reloads applied.",
        Get::Global(|c| c.reloads.get().into()),
    ),
    Family::counter(
        "ringlb_config_reload_failures_total",
        "Reloads refused (the old configuration kept running).",
        Get::Global(|c| c.reload_failures.get().into()),
    ),
    Family::counter(
        "ringlb_connection_limit_reached_total",
        "Times a worker reached its share of max_connections and paused accepting.",
        Get::Faults(|f| f.limit_reached.into()),
    ),
    Family::counter(
        "ringlb_accept_errors_total",
        "Accepts that failed (out of descriptors or memory).",
        Get::Faults(|f| f.accept_errors.into()),
    ),
    Family::counter(
        "ringlb_local_errors_total",
        "Connects to servers that failed for ringlb's own shortage (descriptors, buffers, ports); never counted against servers.",
        Get::Faults(|f| f.local_errors.into()),
    ),
    Family::counter(
        "ringlb_log_lines_dropped_total",
        "Log lines dropped rather than waited for: access-log lines a worker could not hand to the writer, and lines the writers could not deliver (syslog unreachable).",
        Get::Faults(|f| (f.log_lines_dropped + crate::logging::sink::dropped()).into()),
    ),
    Family::gauge(
        "ringlb_buffers_pooled_bytes",
        "Session buffer memory the workers keep free for reuse (HAProxy's pool_allocated_bytes less pool_used_bytes, for its buffers); not what sessions hold (an idle keep-alive connection holds none after its first idle second).",
        Get::Faults(|f| f.pooled_buffer_bytes.into()),
    ),
    Family::counter(
        "ringlb_checks_not_run_total",
        "Health checks that could not run for ringlb's own shortage; never counted against servers.",
        Get::Global(|c| c.checks_not_run.get().into()),
    ),
    Family::counter(
        "ringlb_dns_resolution_failures_total",
        "Runtime DNS resolutions of servers that failed (timeouts, errors, no records); the last addresses were kept.",
        Get::Global(|c| c.resolve_failures.get().into()),
    ),
    Family::gauge(
        "ringlb_start_time_seconds",
        "When this ringlb started, in Unix seconds.",
        Get::Global(|c| unix(c.started).into()),
    ),
];

/// `GET /metrics`, Prometheus text format 0.0.4.
pub fn metrics(control: &Control, stats: &[Box<WorkerStats>]) -> String {
    let totals = Totals::of(stats);
    let zero = Zero::default();
    let table = control.table.borrow();
    let rows = Rows::new(control, &table, &totals, &zero);
    let mut out = String::with_capacity(8192);
    for f in FAMILIES {
        write_family(&mut out, f, &rows);
    }
    rule_hits(&mut out, control, &totals);
    super::tables::metrics(&mut out, stats);
    if let Some(v) = &control.vrrp {
        super::vrrp_view::metrics(&mut out, &v.statuses());
    }
    if let Some(a) = &control.announce {
        super::announce_view::metrics(&mut out, &a.status());
    }
    out
}

/// Every row of every kind, with its labels, joined from the configuration, the
/// control plane's table and the workers' totals.
struct Rows<'a> {
    control: &'a Control,
    faults: &'a FaultCounts,
    frontends: Vec<(String, &'a FrontendStats)>,
    backends: Vec<(String, BackendRow<'a>)>,
    servers: Vec<(String, ServerRow<'a>)>,
    workers: Vec<(String, ())>,
}

/// What a row shows when no worker's copy has its slot yet.
#[derive(Default)]
struct Zero {
    frontend: FrontendStats,
    backend: BackendStats,
    server: ServerStats,
}

impl<'a> Rows<'a> {
    fn new(control: &'a Control, table: &'a Table, totals: &'a Totals, zero: &'a Zero) -> Self {
        let (backends, servers) = backend_rows(control, table, totals, zero);
        Rows {
            control,
            faults: &totals.faults,
            frontends: frontend_rows(control, totals, zero),
            backends,
            servers,
            workers: worker_rows(control),
        }
    }
}

/// `ringlb_rule_hits_total{frontend,rule}`: times each rule acted, added up across
/// workers; written only when some frontend has rules.
fn rule_hits(out: &mut String, control: &Control, totals: &Totals) {
    use std::fmt::Write;
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    let mut headed = false;
    for (fe, slot) in config.frontends.iter().zip(&slots.frontends) {
        let hits = totals
            .frontends
            .get(*slot)
            .map_or(&[][..], |s| &s.rule_hits[..]);
        for i in 0..fe.rule_count() {
            if !headed {
                out.push_str("# HELP ringlb_rule_hits_total Times each rule acted (tcp_rule, http_rule, response_rule N of the frontend).\n# TYPE ringlb_rule_hits_total counter\n");
                headed = true;
            }
            let _ = writeln!(
                out,
                "ringlb_rule_hits_total{{frontend=\"{}\",rule=\"{}\"}} {}",
                label(&fe.name),
                fe.rule_label(i),
                hits.get(i).copied().unwrap_or(0)
            );
        }
    }
}

/// Every configured frontend, in configuration order.
fn frontend_rows<'a>(
    control: &Control,
    totals: &'a Totals,
    zero: &'a Zero,
) -> Vec<(String, &'a FrontendStats)> {
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    config
        .frontends
        .iter()
        .zip(&slots.frontends)
        .map(|(fe, slot)| {
            let stats = totals.frontends.get(*slot).unwrap_or(&zero.frontend);
            (format!("frontend=\"{}\"", label(&fe.name)), stats)
        })
        .collect()
}

type BackendRows<'a> = (Vec<(String, BackendRow<'a>)>, Vec<(String, ServerRow<'a>)>);

/// Live backends and their live servers, in slot order.
fn backend_rows<'a>(
    control: &Control,
    table: &'a Table,
    totals: &'a Totals,
    zero: &'a Zero,
) -> BackendRows<'a> {
    let (mut backends, mut servers) = (Vec::new(), Vec::new());
    for (b, live) in live_servers(control) {
        let be = &table.backends[b];
        let bl = format!("backend=\"{}\"", label(&be.config.name));
        for s in &live {
            let entry = &be.servers[*s];
            let (stats, active) = totals.server_ref(b, *s).unwrap_or((&zero.server, 0));
            let row = ServerRow {
                entry,
                stats,
                active,
                idle: totals.idle(b, *s),
            };
            servers.push((
                format!("{bl},server=\"{}\"", label(&entry.config.name)),
                row,
            ));
        }
        let usable = live
            .iter()
            .filter(|s| be.servers[**s].sent.usable())
            .count();
        let row = BackendRow {
            stats: totals.backends.get(b).unwrap_or(&zero.backend),
            usable: usable as u64,
        };
        backends.push((bl, row));
    }
    (backends, servers)
}

/// Every worker, with its I/O driver once it reported one.
fn worker_rows(control: &Control) -> Vec<(String, ())> {
    let drivers = control.drivers.borrow();
    drivers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let driver = match d {
                Some(Driver::IoUring) => "io_uring",
                Some(Driver::Legacy) => "epoll",
                None => "starting",
            };
            (format!("worker=\"{i}\",driver=\"{driver}\""), ())
        })
        .collect()
}

fn write_family(o: &mut String, f: &Family<Get>, rows: &Rows) {
    head(o, f);
    match f.get {
        Get::Frontend(get) => samples(o, f, &rows.frontends, |r, i| get(r, i)),
        Get::Backend(get) => samples(o, f, &rows.backends, get),
        Get::Server(get) => samples(o, f, &rows.servers, get),
        Get::ServerHistogram(get) => {
            for (labels, row) in &rows.servers {
                histogram(o, f.name, labels, get(row.stats));
            }
        }
        Get::WorkerInfo => samples(o, f, &rows.workers, |_, _| 1.into()),
        Get::Global(get) => samples(o, f, &[(String::new(), rows.control)], |c, _| get(c)),
        Get::Faults(get) => samples(o, f, &[(String::new(), rows.faults)], |c, _| get(c)),
    }
}
