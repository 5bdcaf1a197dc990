//! A table's entries out of one process and into the next (binary upgrade): each
//! entry with its counters, its rates' two periods and its idleness, times relative
//! to the moment it was saved, so they mean the same on the new process's clock.
//! Open connections (`conn_cur`) stay with the old process and are not carried.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::key::{Key, KeyKind};
use super::table::Table;

/// A key as it travels: an address (or network) or a header value's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SavedKey {
    Addr(IpAddr),
    Bytes(Vec<u8>),
}

impl SavedKey {
    /// The client address a key stands for (address and network tables).
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            SavedKey::Addr(a) => Some(*a),
            SavedKey::Bytes(_) => None,
        }
    }
}

/// One entry, as saved at some `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEntry {
    pub key: SavedKey,
    pub idle_ms: u64,
    pub conn_total: u64,
    pub http_req_total: u64,
    pub http_err_total: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// How far into the rates' current period, and the counts of the current and
    /// previous periods (connections, requests, errors).
    pub period_ms: u64,
    pub curr: [u32; 3],
    pub prev: [u32; 3],
}

impl SavedEntry {
    /// Add `other`'s counts (the same key saved by two workers).
    pub fn merge(&mut self, other: &SavedEntry) {
        self.idle_ms = self.idle_ms.min(other.idle_ms);
        self.conn_total += other.conn_total;
        self.http_req_total += other.http_req_total;
        self.http_err_total += other.http_err_total;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.period_ms = self.period_ms.max(other.period_ms);
        for i in 0..3 {
            self.curr[i] = self.curr[i].saturating_add(other.curr[i]);
            self.prev[i] = self.prev[i].saturating_add(other.prev[i]);
        }
    }
}

fn saved_key(key: Key<'_>) -> SavedKey {
    match key {
        Key::V4(a) => SavedKey::Addr(IpAddr::V4(Ipv4Addr::from(a))),
        Key::V6(a) => SavedKey::Addr(IpAddr::V6(Ipv6Addr::from(a))),
        Key::Bytes(b) => SavedKey::Bytes(b.to_vec()),
    }
}

impl Table {
    /// Up to `max` entries, the most recently used first, at `now_ms`.
    pub fn save(&self, now_ms: u64, max: usize) -> Vec<SavedEntry> {
        let period = self.config().rate_period_ms;
        self.by_recency()
            .take(max)
            .map(|e| {
                let (age, curr, prev) = e.rates.saved(now_ms, period);
                SavedEntry {
                    key: saved_key(e.key.as_key()),
                    idle_ms: now_ms.saturating_sub(e.last_ms),
                    conn_total: e.conn_total,
                    http_req_total: e.http_req_total,
                    http_err_total: e.http_err_total,
                    bytes_in: e.bytes_in,
                    bytes_out: e.bytes_out,
                    period_ms: age,
                    curr,
                    prev,
                }
            })
            .collect()
    }

    /// Put a saved entry back at `now_ms` (its counts are added to an entry the key
    /// already has). `false` when its key does not fit this table's kind, or the
    /// table is full of entries in use.
    pub fn restore(&mut self, s: &SavedEntry, now_ms: u64) -> bool {
        let kind = self.key_kind().clone();
        let key = match (&s.key, &kind) {
            (SavedKey::Bytes(b), KeyKind::Header { max_len, .. })
                if b.len() <= usize::from(*max_len) =>
            {
                Key::Bytes(b)
            }
            (SavedKey::Addr(a), _) => match kind.addr_key(*a) {
                Some(k) => k,
                None => return false,
            },
            _ => return false,
        };
        let Some(id) = self.track(key, now_ms) else {
            return false;
        };
        let period = self.config().rate_period_ms;
        let Some(e) = self.entry_mut(id) else {
            return false;
        };
        e.last_ms = now_ms.saturating_sub(s.idle_ms);
        e.conn_total += s.conn_total;
        e.http_req_total += s.http_req_total;
        e.http_err_total += s.http_err_total;
        e.bytes_in += s.bytes_in;
        e.bytes_out += s.bytes_out;
        e.rates.absorb(s.period_ms, s.curr, s.prev, now_ms, period);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Counter, TableConfig};

    fn table(key: KeyKind) -> Table {
        Table::new(TableConfig {
            key,
            max_entries: 100,
            expire_ms: 60_000,
            rate_period_ms: 10_000,
        })
        .unwrap()
    }

    #[test]
    fn an_entry_keeps_its_counts_and_rate_on_another_clock() {
        let mut old = table(KeyKind::Addr);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let key = KeyKind::Addr.addr_key(ip).unwrap();
        let id = old.track(key, 1_000).unwrap();
        for t in 0..30 {
            old.request(id, 1_000 + t * 10);
        }
        let saved = old.save(2_000, 10);
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].key, SavedKey::Addr(ip));
        // The new process's clock starts elsewhere.
        let mut new = table(KeyKind::Addr);
        assert!(new.restore(&saved[0], 50_000_000));
        let id = new.find(key).unwrap();
        assert_eq!(new.read(id, Counter::HttpReqRate, 50_000_000), Some(30));
        assert_eq!(new.read(id, Counter::HttpReqTotal, 50_000_000), Some(30));
        // A header value does not fit an address table.
        let header = SavedEntry {
            key: SavedKey::Bytes(b"k".to_vec()),
            ..saved[0].clone()
        };
        assert!(!new.restore(&header, 50_000_000));
    }

    #[test]
    fn save_keeps_the_most_recent_and_merge_adds() {
        let mut t = table(KeyKind::Addr);
        for i in 0..5u32 {
            let key = Key::V4(0xC000_0200 + i);
            let id = t.track(key, u64::from(i)).unwrap();
            t.request(id, u64::from(i));
        }
        let saved = t.save(10, 2);
        let keys: Vec<_> = saved.iter().map(|s| s.key.clone()).collect();
        assert_eq!(
            keys,
            vec![
                SavedKey::Addr("192.0.2.4".parse().unwrap()),
                SavedKey::Addr("192.0.2.3".parse().unwrap())
            ]
        );
        let mut a = saved[0].clone();
        a.merge(&saved[0]);
        assert_eq!((a.http_req_total, a.curr[1]), (2, 2));
        assert!(t.save(10, 0).is_empty());
    }
}
