//! What the admin API shows: the control thread's table joined with the workers'
//! statistics, added up across workers, as JSON (`/api/servers`). The Prometheus
//! text (`/metrics`) is in `metrics.rs`, the HTML page in `page.rs`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::control::table::ServerEntry;
use crate::control::Control;
use crate::lb::{Admin, Oper, WEIGHT_SCALE};
use crate::msg::stats::{
    add_slots, BackendStats, FaultCounts, FrontendStats, ServerStats, WorkerStats,
};

pub use super::metrics::metrics;
pub use super::page::html;

/// Every worker's statistics added up, by slot.
#[derive(Default)]
pub struct Totals {
    pub frontends: Vec<FrontendStats>,
    pub backends: Vec<BackendStats>,
    pub faults: FaultCounts,
}

impl Totals {
    pub fn of(stats: &[Box<WorkerStats>]) -> Totals {
        let mut t = Totals::default();
        for w in stats {
            add_slots(&mut t.frontends, &w.frontends);
            add_slots(&mut t.backends, &w.backends);
            t.faults += &w.faults;
        }
        t
    }

    /// A server's totals and current connections, when some worker sent them.
    pub fn server_ref(&self, b: usize, s: usize) -> Option<(&ServerStats, u32)> {
        let be = self.backends.get(b)?;
        Some((be.servers.get(s)?, *be.active.get(s)?))
    }

    /// A server's idle connections kept for reuse, all workers.
    pub fn idle(&self, b: usize, s: usize) -> u32 {
        let be = self.backends.get(b);
        be.and_then(|be| be.idle.get(s)).copied().unwrap_or(0)
    }

    /// A frontend's totals (zero when no worker sent them).
    pub fn frontend(&self, slot: usize) -> FrontendStats {
        self.frontends.get(slot).cloned().unwrap_or_default()
    }

    pub fn server(&self, b: usize, s: usize) -> (ServerStats, u32) {
        self.server_ref(b, s)
            .map(|(st, active)| (st.clone(), active))
            .unwrap_or_else(|| (ServerStats::default(), 0))
    }
}

/// A server's state in words, HAProxy style: `UP`, `DOWN`, `DRAIN`, `MAINT`, with the
/// health counter's progress while a check result is changing it.
pub fn state_text(e: &ServerEntry, fall: u32, rise: u32) -> String {
    if let (Admin::Ready, Some(word)) = (e.admin, e.agent_down()) {
        return format!("DOWN (agent: {word})");
    }
    match (e.admin, e.oper()) {
        _ if !e.config.resolved => "MAINT (resolution)".into(),
        (Admin::Maint, _) => "MAINT".into(),
        (Admin::Drain, Oper::Up) => "DRAIN".into(),
        (Admin::Drain, Oper::Down) => "DRAIN (DOWN)".into(),
        (Admin::Ready, Oper::Up) if e.config.check && e.health.needed_to_change() < fall => {
            format!(
                "UP, going down {}/{fall}",
                fall - e.health.needed_to_change()
            )
        }
        (Admin::Ready, Oper::Down) if e.health.needed_to_change() < rise => {
            format!(
                "DOWN, going up {}/{rise}",
                rise - e.health.needed_to_change()
            )
        }
        (Admin::Ready, Oper::Up) => "UP".into(),
        (Admin::Ready, Oper::Down) => "DOWN".into(),
    }
}

pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn server_value(control: &Control, totals: &Totals, b: usize, s: usize) -> Value {
    let table = control.table.borrow();
    let be = &table.backends[b];
    let e = &be.servers[s];
    let (st, active) = totals.server(b, s);
    let lat = &st.latency;
    json!({
        "name": e.config.name,
        "address": e.config.address_text,
        // What a runtime-resolved server connects to now (null: no address yet).
        "resolved_address": e.config.resolve.as_ref().map(|_| e.config.resolved.then(|| e.config.address.to_string())),
        "state": state_text(e, be.config.check.fall, be.config.check.rise),
        "oper": if e.oper() == Oper::Up { "up" } else { "down" },
        "admin": admin_name(e.admin),
        "weight": e.weight,
        "effective_weight": f64::from(e.sent.weight) / f64::from(WEIGHT_SCALE),
        "backup": e.config.backup,
        "check": check_value(e, &be.config.check),
        "agent": agent_value(e),
        "last_change_unix": unix(e.last_change),
        "transitions": e.transitions,
        "current_connections": active,
        "connections_total": st.connections,
        "requests_total": st.requests,
        "responses": {
            "1xx": st.responses[0], "2xx": st.responses[1], "3xx": st.responses[2],
            "4xx": st.responses[3], "5xx": st.responses[4],
        },
        "connect_errors": st.connect_errors,
        "response_errors": st.response_errors,
        "slow_responses": st.slow_responses,
        "latency_ms": {
            "p50": ms(lat.value_at_quantile(0.5)),
            "p99": ms(lat.value_at_quantile(0.99)),
            "samples": lat.len(),
        },
    })
}

/// A server's check: what it is, where it goes, its last result (the failed step of
/// a script is in `last_detail`).
fn check_value(e: &ServerEntry, check: &crate::config::HealthCheck) -> Value {
    let tls = match &e.config.probe.check_tls {
        crate::config::CheckTls::Traffic => e.config.tls.is_some(),
        crate::config::CheckTls::Plain => false,
        crate::config::CheckTls::Tls(_) => true,
    };
    let target = e.config.probe.check_target(e.config.address);
    json!({
        "enabled": e.config.check,
        "kind": check.kind_name(),
        "target": target.to_string(),
        "tls": tls,
        "last_ok": e.last_check.as_ref().map(|c| c.ok),
        "last_detail": e.last_check.as_ref().map(|c| c.detail.clone()),
        "last_at_unix": e.last_check.as_ref().map(|c| unix(c.at)),
        "last_duration_ms": e.last_check.as_ref().map(|c| c.took.as_secs_f64() * 1000.0),
    })
}

/// A server's agent: where it is, what it last said, what of it is in force.
fn agent_value(e: &ServerEntry) -> Value {
    let Some(agent) = &e.config.probe.agent else {
        return json!({ "enabled": false });
    };
    let last = e.agent.last.as_ref();
    json!({
        "enabled": true,
        "address": agent.address(e.config.address).to_string(),
        "down": e.agent.down,
        "weight_percent": e.agent.percent,
        "last_ok": last.map(|l| l.ok),
        "last_answer": last.map(|l| l.answer.clone()),
        "last_detail": last.map(|l| l.detail.clone()),
        "last_at_unix": last.map(|l| unix(l.at)),
    })
}

/// One server's state after an API change (no statistics: no snapshot is taken).
pub fn server_json(control: &Control, b: usize, s: usize) -> String {
    let table = control.table.borrow();
    let be = &table.backends[b];
    let e = &be.servers[s];
    json!({
        "backend": be.config.name,
        "name": e.config.name,
        "state": state_text(e, be.config.check.fall, be.config.check.rise),
        "admin": admin_name(e.admin),
        "weight": e.weight,
        "effective_weight": f64::from(e.sent.weight) / f64::from(WEIGHT_SCALE),
    })
    .to_string()
}

pub(super) fn admin_name(a: Admin) -> &'static str {
    match a {
        Admin::Ready => "ready",
        Admin::Drain => "drain",
        Admin::Maint => "maint",
    }
}

/// `GET /api/servers`.
pub fn json(control: &Control, stats: &[Box<WorkerStats>]) -> String {
    let totals = Totals::of(stats);
    let live: Vec<(usize, Vec<usize>)> = live_servers(control);
    let table = control.table.borrow();
    let backends: Vec<Value> = live
        .iter()
        .map(|(b, servers)| {
            let be = &table.backends[*b];
            json!({
                "name": be.config.name,
                "balance": be.config.balance.name().to_string(),
                "no_server_total": totals.backends.get(*b).map_or(0, |t| t.no_server),
                "connections_opened_total": totals.backends.get(*b).map_or(0, |t| t.connections_opened()),
                "requests_reused_total": totals.backends.get(*b).map_or(0, |t| t.requests_reused()),
                "queue": totals.backends.get(*b).map_or(json!(null), |t| json!({
                    "current": t.queue_current, "queued_total": t.queued,
                    "timeouts_total": t.queue_timeouts, "full_total": t.queue_full,
                })),
                "servers": servers.iter().map(|s| server_value(control, &totals, *b, *s)).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "backends": backends,
        "workers": workers_value(control, stats.len()),
        "reloads": control.reloads.get(),
        "vrrp": control.vrrp.as_ref().map(|v| super::vrrp_view::json(v)),
        "announce": control.announce.as_ref().map(|a| super::announce_view::json(&a.status())),
    })
    .to_string()
}

fn workers_value(control: &Control, answered: usize) -> Value {
    let drivers = control.drivers.borrow();
    json!({
        "count": drivers.len(),
        "answered": answered,
        "drivers": drivers.iter().map(|d| d.map(|d| d.to_string())).collect::<Vec<_>>(),
    })
}

/// Live backends (by slot) and their live servers, in slot order.
pub fn live_servers(control: &Control) -> Vec<(usize, Vec<usize>)> {
    let table = control.table.borrow();
    table
        .backends
        .iter()
        .enumerate()
        .filter(|(_, b)| b.live)
        .map(|(i, b)| {
            let servers = b
                .servers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.live)
                .map(|(j, _)| j)
                .collect();
            (i, servers)
        })
        .collect()
}
