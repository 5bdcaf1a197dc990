//! Tracking tables in the admin API: `GET /api/tables` (each table's size and its
//! busiest entries, across workers) and their `/metrics` families. With
//! `steering = "source"` a client lives in one worker's table, so adding the workers'
//! views up gives each client once.

use std::fmt::Write;

use serde_json::{json, Value};

use super::prom::label;
use crate::msg::stats::{TableView, WorkerStats, TABLE_TOP};
use crate::rules::Counters;

/// One table, every worker's view added up.
#[derive(Debug, Default)]
pub struct Merged {
    pub name: String,
    pub entries: usize,
    pub top: Vec<(String, Counters)>,
    pub evicted: u64,
    pub expired: u64,
    pub refused: u64,
}

/// The tables of every worker's copy, by name in configuration order.
pub fn merged(stats: &[Box<WorkerStats>]) -> Vec<Merged> {
    let mut out: Vec<Merged> = Vec::new();
    for view in stats.iter().flat_map(|w| &w.tables) {
        let i = match out.iter().position(|m| m.name == view.name) {
            Some(i) => i,
            None => {
                out.push(Merged {
                    name: view.name.clone(),
                    ..Merged::default()
                });
                out.len() - 1
            }
        };
        add(&mut out[i], view);
    }
    for m in &mut out {
        m.top
            .sort_by_key(|(_, c)| std::cmp::Reverse(c.http_req_rate));
        m.top.truncate(TABLE_TOP);
    }
    out
}

fn add(m: &mut Merged, v: &TableView) {
    m.entries += v.entries;
    m.top.extend(v.top.iter().cloned());
    m.evicted += v.evicted;
    m.expired += v.expired;
    m.refused += v.refused;
}

/// `GET /api/tables`.
pub fn json(stats: &[Box<WorkerStats>]) -> String {
    let tables: Vec<Value> = merged(stats)
        .iter()
        .map(|m| {
            let top: Vec<Value> = m
                .top
                .iter()
                .map(|(key, c)| {
                    json!({
                        "key": key,
                        "conn_cur": c.conn_cur,
                        "conn_total": c.conn_total,
                        "http_req_total": c.http_req_total,
                        "http_req_rate": c.http_req_rate,
                        "http_err_rate": c.http_err_rate,
                        "bytes_in": c.bytes_in,
                        "bytes_out": c.bytes_out,
                        "idle_ms": c.idle_ms,
                    })
                })
                .collect();
            json!({
                "name": m.name,
                "entries": m.entries,
                "evicted": m.evicted,
                "expired": m.expired,
                "refused": m.refused,
                "top": top,
            })
        })
        .collect();
    json!({ "tables": tables }).to_string()
}

/// A table family: name, type, help, and what it reads of a table.
type Family = (&'static str, &'static str, &'static str, fn(&Merged) -> u64);

/// `ringlb_table_entries{table}` and the tables' eviction counters, when there are
/// tables.
pub fn metrics(out: &mut String, stats: &[Box<WorkerStats>]) {
    let merged = merged(stats);
    if merged.is_empty() {
        return;
    }
    let families: [Family; 3] = [
        (
            "ringlb_table_entries",
            "gauge",
            "Entries in each tracking table, all workers.",
            |m| m.entries as u64,
        ),
        (
            "ringlb_table_evicted_total",
            "counter",
            "Entries dropped to make room (least recently used first).",
            |m| m.evicted,
        ),
        (
            "ringlb_table_refused_total",
            "counter",
            "Clients not tracked because the table was full of entries in use.",
            |m| m.refused,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for m in &merged {
            let _ = writeln!(out, "{name}{{table=\"{}\"}} {}", label(&m.name), get(m));
        }
    }
}
