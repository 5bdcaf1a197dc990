//! The virtual routers on the admin API: a box each on the stats page, objects in the
//! JSON and `ringlb_vrrp_*` families in /metrics (state, priority, master,
//! transitions, adverts sent and received, drops by reason), labelled by router.
//! The JSON keeps the first router's fields at the top (as with one `[vrrp]`) and
//! lists every router under `routers`, the sync groups under `sync_groups`.

use std::fmt::Write;

use serde_json::{json, Value};

use super::prom::{head, samples, Family, Num};
use super::render::unix;
use crate::vrrp::{state_name, Drop, State, Status, Vrrp};

/// `/api/vrrp`: the first router's object, with every router and sync group added.
pub fn json(v: &Vrrp) -> Value {
    let routers: Vec<Value> = v.statuses().iter().map(router_json).collect();
    let groups: Vec<Value> = v
        .groups()
        .into_iter()
        .map(|(name, members, state)| {
            json!({
                "name": name,
                "routers": members,
                "state": state.map(|s| state_name(s, false)),
            })
        })
        .collect();
    let mut top = routers.first().cloned().unwrap_or_else(|| json!({}));
    top["routers"] = Value::Array(routers);
    top["sync_groups"] = Value::Array(groups);
    top
}

pub fn router_json(s: &Status) -> Value {
    let c = &s.counters;
    json!({
        "name": s.name,
        "sync_group": s.group,
        "interface": s.interface,
        "address": s.primary.to_string(),
        "virtual_router_id": s.vrid,
        "state": state_name(s.state, false),
        "priority": s.priority,
        "configured_priority": s.base_priority,
        "master": s.master.map(|m| m.to_string()),
        "virtual_ips": s.virtual_ips.iter().map(|(a, p)| format!("{a}/{p}")).collect::<Vec<_>>(),
        "tracking": s.tracking,
        "peers": s.peers.iter().map(|(a, p)| json!({"address": a.to_string(), "priority": p})).collect::<Vec<_>>(),
        "transitions_total": c.transitions,
        "became_master_total": c.became_master,
        "last_transition": c.last_transition.map(unix),
        "adverts_sent_total": c.adverts_sent,
        "adverts_received_total": c.adverts_received,
        "dropped_total": Drop::REASONS.iter().zip(c.dropped).map(|(r, n)| (r.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "errors_total": c.errors,
    })
}

/// The rows of a VRRP family, and how to read one.
enum Get {
    /// The virtual router, labels `vrid`, `interface`.
    Router(fn(&Status, usize) -> Num),
    /// An info family: 1 for the master last heard, named in a `master` label after
    /// the router's; no sample while no master is known.
    MasterInfo,
}

/// As `state_name` spells them.
const STATES: &[&str] = &["INIT", "BACKUP", "MASTER", "FAULT"];

/// The `ringlb_vrrp_*` families, in output order.
static FAMILIES: &[Family<Get>] = &[
    Family::gauge(
        "ringlb_vrrp_state",
        "1 for the state the virtual router is in.",
        Get::Router(|s, i| (state_name(s.state, false) == STATES[i]).into()),
    )
    .by("state", STATES),
    Family::gauge(
        "ringlb_vrrp_priority",
        "Priority advertised now (lowered by track_weight while tracking finds a problem).",
        Get::Router(|s, _| u64::from(s.priority).into()),
    ),
    Family::gauge(
        "ringlb_vrrp_configured_priority",
        "Priority from the configuration.",
        Get::Router(|s, _| u64::from(s.base_priority).into()),
    ),
    Family::gauge(
        "ringlb_vrrp_master_info",
        "The master last heard (or this host), as a label.",
        Get::MasterInfo,
    ),
    Family::counter(
        "ringlb_vrrp_transitions_total",
        "State changes.",
        Get::Router(|s, _| s.counters.transitions.into()),
    ),
    Family::counter(
        "ringlb_vrrp_became_master_total",
        "Times this host became master.",
        Get::Router(|s, _| s.counters.became_master.into()),
    ),
    Family::counter(
        "ringlb_vrrp_adverts_sent_total",
        "Advertisements sent.",
        Get::Router(|s, _| s.counters.adverts_sent.into()),
    ),
    Family::counter(
        "ringlb_vrrp_adverts_received_total",
        "Valid advertisements received from peers.",
        Get::Router(|s, _| s.counters.adverts_received.into()),
    ),
    Family::counter(
        "ringlb_vrrp_errors_total",
        "Socket or netlink errors while acting.",
        Get::Router(|s, _| s.counters.errors.into()),
    ),
    Family::counter(
        "ringlb_vrrp_dropped_total",
        "Advertisements dropped, by reason.",
        Get::Router(|s, i| s.counters.dropped[i].into()),
    )
    .by("reason", &Drop::REASONS),
];

/// Every family, a sample per router (labels `vrid`, `interface`, `name`).
pub fn metrics(o: &mut String, statuses: &[Status]) {
    let routers: Vec<(String, &Status)> = statuses
        .iter()
        .map(|s| {
            let labels = format!(
                "vrid=\"{}\",interface=\"{}\",name=\"{}\"",
                s.vrid,
                s.interface.replace('"', ""),
                s.name.replace('"', "")
            );
            (labels, s)
        })
        .collect();
    let master: Vec<(String, ())> = routers
        .iter()
        .filter_map(|(vr, s)| Some((format!("{vr},master=\"{}\"", s.master?), ())))
        .collect();
    let router = routers;
    for f in FAMILIES {
        head(o, f);
        match f.get {
            Get::Router(get) => samples(o, f, &router, |s, i| get(s, i)),
            Get::MasterInfo => samples(o, f, &master, |_, _| 1.into()),
        }
    }
}

pub fn html(o: &mut String, statuses: &[Status], esc: fn(&str) -> String) {
    for s in statuses {
        router_html(o, s, esc);
    }
}

fn router_html(o: &mut String, s: &Status, esc: fn(&str) -> String) {
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
        "<h2>VRRP {} <small>(virtual router {} on {}, {})</small></h2><table><tr><th class=\"l\">state</th><th>priority</th>\
         <th class=\"l\">master</th><th class=\"l\">virtual IPs</th><th>transitions</th><th>adverts sent</th><th>received</th>\
         <th class=\"l\">dropped</th><th class=\"l\">tracking</th></tr><tr class=\"{class}\"><td class=\"s l\">{}</td><td>{}/{}</td>\
         <td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr></table>",
        esc(&s.name),
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
