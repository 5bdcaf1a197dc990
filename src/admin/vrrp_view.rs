//! The virtual router on the admin API: a box on the stats page, an object in the
//! JSON and `ringlb_vrrp_*` families in /metrics (state, priority, master,
//! transitions, adverts sent and received, drops by reason).

use std::fmt::Write;

use serde_json::{json, Value};

use super::metrics::{family, line};
use super::render::unix;
use crate::vrrp::{state_name, Drop, State, Status};

pub fn json(s: &Status) -> Value {
    let c = &s.counters;
    json!({
        "interface": s.interface,
        "address": s.primary.to_string(),
        "virtual_router_id": s.vrid,
        "state": state_name(s.state, false),
        "priority": s.priority,
        "configured_priority": s.base_priority,
        "master": s.master.map(|m| m.to_string()),
        "virtual_ips": s.virtual_ips.iter().map(|(a, p)| format!("{a}/{p}")).collect::<Vec<_>>(),
        "tracking": s.tracking,
        "transitions_total": c.transitions,
        "became_master_total": c.became_master,
        "last_transition": c.last_transition.map(unix),
        "adverts_sent_total": c.adverts_sent,
        "adverts_received_total": c.adverts_received,
        "dropped_total": Drop::REASONS.iter().zip(c.dropped).map(|(r, n)| (r.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "errors_total": c.errors,
    })
}

pub fn metrics(o: &mut String, s: &Status) {
    let c = &s.counters;
    let vr = format!(
        "vrid=\"{}\",interface=\"{}\"",
        s.vrid,
        s.interface.replace('"', "")
    );
    family(
        o,
        "ringlb_vrrp_state",
        "gauge",
        "1 for the state the virtual router is in.",
    );
    for (state, name) in [
        (State::Initialize, "INIT"),
        (State::Backup, "BACKUP"),
        (State::Master, "MASTER"),
        (State::Fault, "FAULT"),
    ] {
        line(
            o,
            "ringlb_vrrp_state",
            &format!("{vr},state=\"{name}\""),
            u64::from(s.state == state),
        );
    }
    family(
        o,
        "ringlb_vrrp_priority",
        "gauge",
        "Priority advertised now (lowered by track_weight while tracking finds a problem).",
    );
    line(o, "ringlb_vrrp_priority", &vr, u64::from(s.priority));
    family(
        o,
        "ringlb_vrrp_configured_priority",
        "gauge",
        "Priority from the configuration.",
    );
    line(
        o,
        "ringlb_vrrp_configured_priority",
        &vr,
        u64::from(s.base_priority),
    );
    family(
        o,
        "ringlb_vrrp_master_info",
        "gauge",
        "The master last heard (or this host), as a label.",
    );
    if let Some(m) = s.master {
        line(
            o,
            "ringlb_vrrp_master_info",
            &format!("{vr},master=\"{m}\""),
            1,
        );
    }
    let counters: [(&str, &str, u64); 5] = [
        (
            "ringlb_vrrp_transitions_total",
            "State changes.",
            c.transitions,
        ),
        (
            "ringlb_vrrp_became_master_total",
            "Times this host became master.",
            c.became_master,
        ),
        (
            "ringlb_vrrp_adverts_sent_total",
            "Advertisements sent.",
            c.adverts_sent,
        ),
        (
            "ringlb_vrrp_adverts_received_total",
            "Valid advertisements received from peers.",
            c.adverts_received,
        ),
        (
            "ringlb_vrrp_errors_total",
            "Socket or netlink errors while acting.",
            c.errors,
        ),
    ];
    for (name, help, v) in counters {
        family(o, name, "counter", help);
        line(o, name, &vr, v);
    }
    family(
        o,
        "ringlb_vrrp_dropped_total",
        "counter",
        "Advertisements dropped, by reason.",
    );
    for (reason, n) in Drop::REASONS.iter().zip(c.dropped) {
        line(
            o,
            "ringlb_vrrp_dropped_total",
            &format!("{vr},reason=\"{reason}\""),
            n,
        );
    }
}

pub fn html(o: &mut String, s: &Status, esc: fn(&str) -> String) {
    let c = &s.counters;
    let class = match s.state {
        State::Master => "up",
        State::Backup => "drain",
        State::Initialize => "maint",
        State::Fault => "down",
    };
    let vips: Vec<String> = s
        .virtual_ips
        .iter()
        .map(|(a, p)| format!("{a}/{p}"))
        .collect();
    let dropped: Vec<String> = Drop::REASONS
        .iter()
        .zip(c.dropped)
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    let _ = write!(
        o,
        "<h2>VRRP <small>(virtual router {} on {}, {})</small></h2><table><tr><th>state</th><th>priority</th>\
         <th>master</th><th>virtual IPs</th><th>transitions</th><th>adverts sent</th><th>received</th>\
         <th>dropped</th><th>tracking</th></tr><tr class=\"{class}\"><td class=\"s l\">{}</td><td>{}/{}</td>\
         <td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr></table>",
        s.vrid,
        esc(&s.interface),
        s.primary,
        state_name(s.state, false),
        s.priority,
        s.base_priority,
        s.master.map_or("-".into(), |m| m.to_string()),
        vips.join(", "),
        c.transitions,
        c.adverts_sent,
        c.adverts_received,
        if dropped.is_empty() { "0".into() } else { dropped.join(", ") },
        if s.tracking.is_empty() { "ok".into() } else { esc(&s.tracking.join("; ")) },
    );
}
