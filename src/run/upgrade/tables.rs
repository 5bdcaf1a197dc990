//! Tracking tables (stick tables, rate limits) across an upgrade. The old process
//! asks its workers for their entries (a message, `Update::SaveTables`), merges the
//! answers (a key several workers had adds its counts up), keeps the most recently
//! used up to a cap (the rest are dropped, counted and logged) and puts them in the
//! offer. The new process deals each entry to the worker that serves that client:
//! address and network keys by the same hash as `steering = "source"` (so a
//! different worker count re-shards), header keys by a hash of their bytes.

use std::collections::HashMap;
use std::time::Duration;

use crate::control::Control;
use crate::listen::steer;
use crate::msg::tables::SavedTable;
use crate::msg::Update;
use crate::rules::{SavedEntry, SavedKey};

/// How long the old process waits for its workers' tables.
pub const SAVE_WITHIN: Duration = Duration::from_secs(2);

/// Every worker's tables as one set: entries of one key added up, the most recently
/// used first, at most `cap` over all tables (`global.upgrade_table_entries`, about
/// 200 bytes each in the offer); and how many were dropped.
pub fn merge(answers: Vec<Vec<SavedTable>>, cap: usize) -> (Vec<SavedTable>, usize) {
    let mut order: Vec<String> = Vec::new();
    let mut by_name: HashMap<String, HashMap<SavedKey, SavedEntry>> = HashMap::new();
    let mut left_out = 0;
    for table in answers.into_iter().flatten() {
        left_out += table.left_out;
        if !by_name.contains_key(&table.name) {
            order.push(table.name.clone());
        }
        let entries = by_name.entry(table.name).or_default();
        for e in table.entries {
            match entries.get_mut(&e.key) {
                Some(had) => had.merge(&e),
                None => {
                    entries.insert(e.key.clone(), e);
                }
            }
        }
    }
    let mut all: Vec<(usize, SavedEntry)> = Vec::new();
    for (i, name) in order.iter().enumerate() {
        if let Some(entries) = by_name.remove(name) {
            all.extend(entries.into_values().map(|e| (i, e)));
        }
    }
    all.sort_by_key(|(_, e)| e.idle_ms);
    let dropped = left_out + all.len().saturating_sub(cap);
    all.truncate(cap);
    let mut tables: Vec<SavedTable> = order
        .into_iter()
        .map(|name| SavedTable {
            name,
            entries: Vec::new(),
            left_out: 0,
        })
        .collect();
    for (i, e) in all {
        tables[i].entries.push(e);
    }
    (tables, dropped)
}

/// The worker that serves the client a key stands for, out of `workers`.
pub fn owner(key: &SavedKey, workers: usize) -> usize {
    match key {
        SavedKey::Addr(ip) => steer::worker_for(*ip, workers),
        // FNV-1a: any stable spread will do (such clients are not steered).
        SavedKey::Bytes(b) => {
            let h = b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
                (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
            });
            (h % workers.max(1) as u64) as usize
        }
    }
}

/// Each worker's share of `tables`.
pub fn deal(tables: Vec<SavedTable>, workers: usize) -> Vec<Vec<SavedTable>> {
    let mut out: Vec<Vec<SavedTable>> = (0..workers.max(1)).map(|_| Vec::new()).collect();
    for t in tables {
        let mut shares: Vec<Vec<SavedEntry>> = (0..out.len()).map(|_| Vec::new()).collect();
        for e in t.entries {
            shares[owner(&e.key, out.len())].push(e);
        }
        for (w, entries) in shares.into_iter().enumerate() {
            if !entries.is_empty() {
                out[w].push(SavedTable {
                    name: t.name.clone(),
                    entries,
                    left_out: 0,
                });
            }
        }
    }
    out
}

/// New process: give every worker its share of the old process's entries.
pub fn restore(control: &Control, tables: Vec<SavedTable>) {
    let total: usize = tables.iter().map(|t| t.entries.len()).sum();
    if total == 0 {
        return;
    }
    let workers = control.broadcaster.workers();
    tracing::info!(
        entries = total,
        workers,
        "upgrade: tracking-table entries from the old process dealt to the workers"
    );
    for (w, share) in deal(tables, workers).into_iter().enumerate() {
        if !share.is_empty() && w < workers {
            control
                .broadcaster
                .send(w, Update::RestoreTables(Box::new(share)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn entry(key: SavedKey, idle_ms: u64, requests: u32) -> SavedEntry {
        SavedEntry {
            key,
            idle_ms,
            conn_total: 0,
            http_req_total: u64::from(requests),
            http_err_total: 0,
            bytes_in: 0,
            bytes_out: 0,
            period_ms: 100,
            curr: [0, requests, 0],
            prev: [0; 3],
        }
    }

    fn addr(s: &str) -> SavedKey {
        SavedKey::Addr(s.parse::<IpAddr>().unwrap())
    }

    fn table(name: &str, entries: Vec<SavedEntry>) -> SavedTable {
        SavedTable {
            name: name.into(),
            entries,
            left_out: 0,
        }
    }

    #[test]
    fn merge_adds_a_key_up_and_keeps_the_most_recent_under_the_cap() {
        let w0 = vec![table(
            "rl",
            vec![
                entry(addr("10.0.0.1"), 5, 3),
                entry(addr("10.0.0.2"), 50, 1),
            ],
        )];
        let w1 = vec![table("rl", vec![entry(addr("10.0.0.1"), 9, 4)])];
        let (tables, dropped) = merge(vec![w0.clone(), w1.clone()], 10);
        assert_eq!(dropped, 0);
        assert_eq!(tables.len(), 1);
        let first = &tables[0].entries[0];
        assert_eq!(
            (first.http_req_total, first.curr[1], first.idle_ms),
            (7, 7, 5)
        );
        let (tables, dropped) = merge(vec![w0, w1], 1);
        assert_eq!(dropped, 1);
        assert_eq!(tables[0].entries.len(), 1);
        assert_eq!(tables[0].entries[0].key, addr("10.0.0.1"));
        let (none, dropped) = merge(Vec::new(), 10);
        assert!(none.is_empty() && dropped == 0);
        // What a worker left out counts as dropped too.
        let mut w2 = table("rl", Vec::new());
        w2.left_out = 3;
        assert_eq!(merge(vec![vec![w2]], 10).1, 3);
    }

    #[test]
    fn entries_go_to_the_worker_steering_sends_the_client_to() {
        let entries: Vec<SavedEntry> = (1..=40)
            .map(|i| entry(addr(&format!("127.0.0.{i}")), 0, 1))
            .chain([entry(SavedKey::Bytes(b"api-key".to_vec()), 0, 1)])
            .collect();
        for workers in [1, 2, 3] {
            let dealt = deal(vec![table("rl", entries.clone())], workers);
            assert_eq!(dealt.len(), workers);
            let mut seen = 0;
            for (w, share) in dealt.iter().enumerate() {
                for t in share {
                    for e in &t.entries {
                        if let Some(ip) = e.key.addr() {
                            assert_eq!(steer::worker_for(ip, workers), w);
                        }
                        seen += 1;
                    }
                }
            }
            assert_eq!(seen, entries.len());
        }
    }
}
