//! The public values around tracking tables: configuration, counters, statistics,
//! and the slots a connection or request is tracked in.

use super::key::KeyKind;
use super::table::{EntryId, NIL};
use super::RuleError;

/// How a table is keyed and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub key: KeyKind,
    /// Most entries; beyond, the least recently used one that is not in use goes.
    pub max_entries: u32,
    /// An entry untouched for this long (and without open connections) is dropped.
    pub expire_ms: u64,
    /// The window of every rate counter of the table (`http_req_rate(10s)`).
    pub rate_period_ms: u64,
}

impl TableConfig {
    pub fn validate(&self) -> Result<(), RuleError> {
        let bad = |m: &str| Err(RuleError::Invalid(m.to_string()));
        if self.max_entries == 0 || self.max_entries == NIL {
            return bad("table size must be 1..4294967295 entries");
        }
        if self.expire_ms == 0 || self.rate_period_ms == 0 {
            return bad("table expire and rate period must be above 0");
        }
        self.key.validate()
    }
}

/// Tracking slots per connection and request (HAProxy's `sc0`..`sc2`).
pub const SLOTS: usize = 3;

/// An entry tracked in a slot: which table (index in the worker's tables), which entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    pub table: u16,
    pub entry: EntryId,
}

/// The entries a connection or a request is tracked in, by slot.
pub type Slots = [Option<Tracked>; SLOTS];

/// A counter that conditions can read and the admin API shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    ConnCur,
    ConnTotal,
    ConnRate,
    HttpReqTotal,
    HttpReqRate,
    HttpErrTotal,
    HttpErrRate,
    BytesIn,
    BytesOut,
}

/// Every counter of an entry, read at one time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub conn_cur: u32,
    pub conn_total: u64,
    pub conn_rate: u64,
    pub http_req_total: u64,
    pub http_req_rate: u64,
    pub http_err_total: u64,
    pub http_err_rate: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Since the entry was last touched.
    pub idle_ms: u64,
}

impl Counters {
    pub fn get(&self, c: Counter) -> u64 {
        match c {
            Counter::ConnCur => u64::from(self.conn_cur),
            Counter::ConnTotal => self.conn_total,
            Counter::ConnRate => self.conn_rate,
            Counter::HttpReqTotal => self.http_req_total,
            Counter::HttpReqRate => self.http_req_rate,
            Counter::HttpErrTotal => self.http_err_total,
            Counter::HttpErrRate => self.http_err_rate,
            Counter::BytesIn => self.bytes_in,
            Counter::BytesOut => self.bytes_out,
        }
    }
}

/// What happened to entries, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    pub evicted: u64,
    pub expired: u64,
    /// `track` calls refused because the table was full of entries in use.
    pub refused: u64,
}
