//! The admin socket's reports, HAProxy's formats filled from the control plane's
//! table and the workers' statistics: `show info`, `show stat` (CSV rows through
//! [`cli::stat_row`], or typed and JSON through `cli_typed`), `show servers state`.

use std::time::SystemTime;

use super::cli;
use super::cli_typed::{self, Format, Obj, StatRow};
use super::render::{self, Totals};
use crate::control::table::BackendEntry;
use crate::control::Control;
use crate::lb::{Admin, Oper};
use crate::msg::stats::{BackendStats, ServerStats};

pub(super) fn show_info(control: &Control, totals: &Totals, format: Format) -> String {
    let config = control.config.borrow();
    let up = SystemTime::now()
        .duration_since(control.started)
        .map_or(0, |d| d.as_secs());
    let sum = |f: fn(&crate::msg::stats::FrontendStats) -> u64| -> u64 {
        totals.frontends.iter().map(f).sum()
    };
    // In `cli_typed::INFO_FIELDS`' order.
    let values = [
        "ringlb".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
        config.global.workers.to_string(),
        "1".into(),
        "1".into(),
        std::process::id().to_string(),
        cli::uptime(up),
        up.to_string(),
        config.global.max_connections.to_string(),
        config.global.max_connections.to_string(),
        sum(|f| f.current).to_string(),
        sum(|f| f.connections).to_string(),
        sum(|f| f.requests).to_string(),
        u8::from(control.stopping.get()).to_string(),
        render::unix(control.started).to_string(),
    ];
    cli_typed::info(&values, format)
}

/// `show stat`: per frontend a FRONTEND row, per backend a row per server and a
/// BACKEND row, HAProxy's order; in CSV after the header, or typed, or JSON.
pub(super) fn show_stat(control: &Control, totals: &Totals, format: Format) -> String {
    let rows = stat_rows(control, totals);
    match format {
        Format::Plain => {
            let mut o = format!("# {},\n", cli::STAT_COLUMNS);
            for row in &rows {
                o.push_str(&cli::stat_row(&row.fields));
            }
            o
        }
        Format::Typed => cli_typed::stat_typed(&rows),
        Format::Json => cli_typed::stat_json(&rows),
    }
}

fn stat_rows(control: &Control, totals: &Totals) -> Vec<StatRow> {
    let mut o = frontend_rows(control, totals);
    let table = control.table.borrow();
    for (iid, (b, servers)) in render::live_servers(control).into_iter().enumerate() {
        let be = &table.backends[b];
        let mut sum = BackendSum::default();
        for s in servers {
            o.push(server_row(be, (iid, s), totals.server(b, s), &mut sum));
        }
        o.push(backend_row(be, iid, totals.backends.get(b), &sum));
    }
    o
}

/// A FRONTEND row per frontend.
fn frontend_rows(control: &Control, totals: &Totals) -> Vec<StatRow> {
    let mut o = Vec::new();
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    for (i, fe) in config.frontends.iter().enumerate() {
        let f = totals.frontend(slots.frontends[i]);
        let mode = if fe.mode == crate::config::Mode::Http {
            "http"
        } else {
            "tcp"
        };
        let mut row = vec![
            ("pxname", fe.name.clone()),
            ("svname", "FRONTEND".into()),
            ("scur", f.current.to_string()),
            ("slim", fe.max_connections.to_string()),
            ("stot", f.connections.to_string()),
            ("ereq", f.invalid_requests.to_string()),
            ("status", "OPEN".into()),
            ("pid", "1".into()),
            ("iid", (i + 1).to_string()),
            ("sid", "0".into()),
            ("type", "0".into()),
            ("req_tot", f.requests.to_string()),
            ("mode", mode.into()),
            ("conn_tot", f.connections.to_string()),
        ];
        classes(&mut row, &f.responses);
        o.push(StatRow {
            obj: Obj::Frontend,
            iid: i + 1,
            sid: 0,
            fields: row,
        });
    }
    o
}

/// What a BACKEND row adds up from its servers' rows.
#[derive(Default)]
struct BackendSum {
    /// A server is serving (up, ready, resolved).
    up: bool,
    /// Serving active and backup servers, and their weight.
    act: u32,
    bck: u32,
    weight: u64,
    scur: u64,
    stot: u64,
    responses: [u64; 5],
}

/// The row of server `s` (its statistics and active connections in `stats`) of
/// backend `be`, the `iid`th shown; added to `sum`.
fn server_row(
    be: &BackendEntry,
    (iid, s): (usize, usize),
    (st, active): (ServerStats, u32),
    sum: &mut BackendSum,
) -> StatRow {
    let e = &be.servers[s];
    let serving = e.oper() == Oper::Up && e.admin == Admin::Ready && e.config.resolved;
    if serving {
        sum.up = true;
        sum.weight += u64::from(e.weight);
        if e.config.backup {
            sum.bck += 1
        } else {
            sum.act += 1
        }
    }
    sum.scur += u64::from(active);
    sum.stot += st.connections;
    for (k, v) in sum.responses.iter_mut().enumerate() {
        *v += st.responses[k];
    }
    let status = server_status(e, &be.config.check);
    let mut row = vec![
        ("pxname", be.config.name.clone()),
        ("svname", e.config.name.clone()),
        ("qcur", "0".into()),
        ("scur", active.to_string()),
        ("stot", st.connections.to_string()),
        ("econ", st.connect_errors.to_string()),
        ("eresp", st.response_errors.to_string()),
        ("status", status),
        ("weight", e.weight.to_string()),
        ("act", u8::from(!e.config.backup).to_string()),
        ("bck", u8::from(e.config.backup).to_string()),
        ("lastchg", since(e.last_change)),
        ("pid", "1".into()),
        ("iid", (iid + 1).to_string()),
        ("sid", (s + 1).to_string()),
        ("lbtot", st.requests.to_string()),
        ("type", "2".into()),
        ("addr", e.config.address_text.clone()),
        ("uweight", e.config.weight.to_string()),
    ];
    classes(&mut row, &st.responses);
    StatRow {
        obj: Obj::Server,
        iid: iid + 1,
        sid: s + 1,
        fields: row,
    }
}

/// The BACKEND row of backend `be`, the `iid`th shown (`q`: its statistics).
fn backend_row(
    be: &BackendEntry,
    iid: usize,
    q: Option<&BackendStats>,
    sum: &BackendSum,
) -> StatRow {
    let mut row = vec![
        ("pxname", be.config.name.clone()),
        ("svname", "BACKEND".into()),
        ("qcur", q.map_or(0, |q| q.queue_current).to_string()),
        ("scur", sum.scur.to_string()),
        ("stot", sum.stot.to_string()),
        ("status", if sum.up { "UP" } else { "DOWN" }.into()),
        ("weight", sum.weight.to_string()),
        ("act", sum.act.to_string()),
        ("bck", sum.bck.to_string()),
        ("pid", "1".into()),
        ("iid", (iid + 1).to_string()),
        ("sid", "0".into()),
        ("type", "1".into()),
        ("algo", be.config.balance.name().to_string()),
    ];
    classes(&mut row, &sum.responses);
    StatRow {
        obj: Obj::Backend,
        iid: iid + 1,
        sid: 0,
        fields: row,
    }
}

/// A server's `status` column in HAProxy's words.
fn server_status(
    e: &crate::control::table::ServerEntry,
    check: &crate::config::HealthCheck,
) -> String {
    match (e.admin, e.oper()) {
        (Admin::Maint, _) => "MAINT".into(),
        (Admin::Drain, _) => "DRAIN".into(),
        _ if !e.config.check => "no check".into(),
        // `disable health`: HAProxy says `no check` while up, plain `DOWN` while down.
        (_, Oper::Up) if e.check_paused && e.agent_down().is_none() => "no check".into(),
        (_, Oper::Down) if e.check_paused && e.agent_down().is_none() => "DOWN".into(),
        _ => render::state_text(e, check.fall, check.rise),
    }
}

fn classes(row: &mut Vec<(&'static str, String)>, r: &[u64; 5]) {
    for (name, v) in ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx"]
        .iter()
        .zip(r)
    {
        row.push((name, v.to_string()));
    }
}

fn since(t: SystemTime) -> String {
    SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs())
        .to_string()
}

/// `show servers state [backend]`, HAProxy's format version 1 (fields ringlb has
/// no value for: `-` or 0).
pub(super) fn servers_state(control: &Control, only: Option<&str>) -> String {
    let table = control.table.borrow();
    if let Some(b) = only {
        if !table
            .backends
            .iter()
            .any(|be| be.live && be.config.name == b)
        {
            return "Can't find backend.\n".into();
        }
    }
    let mut o = cli::SERVERS_STATE_HEADER.to_string();
    for (iid, (b, servers)) in render::live_servers(control).into_iter().enumerate() {
        let be = &table.backends[b];
        if only.is_some_and(|n| n != be.config.name) {
            continue;
        }
        for s in servers {
            let e = &be.servers[s];
            let op = if e.oper() == Oper::Up { 2 } else { 0 };
            let admin = match e.admin {
                Admin::Ready => 0,
                Admin::Maint => 1,
                Admin::Drain => 8,
            };
            let a = e.config.address;
            o.push_str(&format!(
                "{} {} {} {} {} {op} {admin} {} {} {} 0 0 0 {} 0 0 0 - {} - 0 0 - - 0\n",
                iid + 1,
                be.config.name,
                s + 1,
                e.config.name,
                a.ip(),
                e.weight,
                e.config.weight,
                since(e.last_change),
                u8::from(e.config.check),
                a.port(),
            ));
        }
    }
    o
}
