//! Tracking tables (HAProxy stick tables), one per table per worker: counters per key
//! (client address, client network, or a header value such as an API key).
//!
//! Storage is a slab of entries, an index (`hashbrown::HashTable` of slab positions,
//! hashed with std's randomly keyed SipHash, as keys come from clients), and an LRU
//! list threaded through the slab by position. Every operation is O(1): `track` is a
//! hash lookup, plus at most a few tail checks for expiry or eviction.
//!
//! Memory per entry: 120 bytes in the slab (`size_of::<Entry>()`, checked by a
//! test) and 5 in the index (a `u32` and a control byte), plus the key itself for
//! header-keyed tables (at most `max_len` bytes, on the heap). Slab and index grow
//! by doubling up to `max_entries`, so up to twice that may be allocated: 100k
//! address-keyed clients take 12.5 MB, at most 25 MB allocated.
//!
//! Entries are referred to by [`EntryId`] (table, position, generation): an id whose
//! entry was evicted, expired or removed is simply stale, and operations on it do
//! nothing; so is an id used on another table than its own (tables reordered by a
//! reload).
//! An entry with open tracked connections (`conn_cur > 0`) never expires and is never
//! evicted; when every candidate for eviction is in use, `track` refuses the new key
//! (counted in [`TableStats::refused`]), as HAProxy does.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU32, Ordering};

use hashbrown::HashTable;

use super::counter::{Counter, Counters, TableConfig, TableStats};
use super::key::{Key, KeyKind, StoredKey};
use super::rate::{Rates, Which};
use super::RuleError;

pub(super) const NIL: u32 = u32::MAX;
/// Every table gets its own id, so that a handle cannot be used on another table.
static NEXT_TABLE: AtomicU32 = AtomicU32::new(1);
/// Tail entries looked at for one eviction (in-use ones are moved to the front).
const EVICT_TRIES: usize = 8;
/// Tail entries looked at for expiry on each `track`.
const EXPIRE_STEP: usize = 2;

/// Handle on a tracked entry: stale (and ignored) once the entry is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryId {
    table: u32,
    idx: u32,
    generation: u32,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: StoredKey,
    prev: u32,
    pub(super) next: u32,
    generation: u32,
    conn_cur: u32,
    pub(super) last_ms: u64,
    pub(super) conn_total: u64,
    pub(super) http_req_total: u64,
    pub(super) http_err_total: u64,
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
    pub(super) rates: Rates,
}

/// One tracking table. A plain struct the worker owns and keeps across reloads.
#[derive(Debug)]
pub struct Table {
    uid: u32,
    cfg: TableConfig,
    slab: Vec<Entry>,
    index: HashTable<u32>,
    hasher: std::hash::RandomState,
    /// Most recently used, least recently used.
    head: u32,
    tail: u32,
    /// Free slab positions, linked through `next`.
    free: u32,
    len: u32,
    stats: TableStats,
}

impl Table {
    pub fn new(cfg: TableConfig) -> Result<Self, RuleError> {
        cfg.validate()?;
        Ok(Table {
            uid: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
            cfg,
            slab: Vec::new(),
            index: HashTable::new(),
            hasher: std::hash::RandomState::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
            stats: TableStats::default(),
        })
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// The entry for `key`, created if needed (counters at zero). `None` when the
    /// table is full of entries with open connections.
    pub fn track(&mut self, key: Key<'_>, now_ms: u64) -> Option<EntryId> {
        self.expire_tail(now_ms, EXPIRE_STEP);
        let hash = self.hasher.hash_one(key);
        let slab = &self.slab;
        if let Some(&idx) = self
            .index
            .find(hash, |&i| slab[i as usize].key.as_key() == key)
        {
            if self.expired(idx, now_ms) {
                self.stats.expired += 1;
                self.reset(idx, now_ms);
            }
            self.touch(idx, now_ms);
            return Some(self.id(idx));
        }
        if self.len >= self.cfg.max_entries && !self.evict_one() {
            self.stats.refused += 1;
            return None;
        }
        let idx = self.alloc(StoredKey::new(key), now_ms);
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index.insert_unique(hash, idx, |&i| {
            hasher.hash_one(slab[i as usize].key.as_key())
        });
        self.link_front(idx);
        self.len += 1;
        Some(self.id(idx))
    }

    /// A tracked connection opens: `conn_cur`, `conn_total`, `conn_rate`.
    pub fn conn_open(&mut self, id: EntryId, now_ms: u64) {
        let period = self.cfg.rate_period_ms;
        self.update(id, now_ms, |e| {
            e.conn_cur = e.conn_cur.saturating_add(1);
            e.conn_total += 1;
            e.rates.add(Which::Conn, now_ms, period);
        });
    }

    /// A tracked connection closes.
    pub fn conn_close(&mut self, id: EntryId, now_ms: u64) {
        self.update(id, now_ms, |e| e.conn_cur = e.conn_cur.saturating_sub(1));
    }

    /// An HTTP request: `http_req_total`, `http_req_rate`.
    pub fn request(&mut self, id: EntryId, now_ms: u64) {
        let period = self.cfg.rate_period_ms;
        self.update(id, now_ms, |e| {
            e.http_req_total += 1;
            e.rates.add(Which::Req, now_ms, period);
        });
    }

    /// An HTTP error (what counts as one is the caller's choice; HAProxy counts 4xx
    /// responses other than 401 and 407, and invalid requests).
    pub fn error(&mut self, id: EntryId, now_ms: u64) {
        let period = self.cfg.rate_period_ms;
        self.update(id, now_ms, |e| {
            e.http_err_total += 1;
            e.rates.add(Which::Err, now_ms, period);
        });
    }

    pub fn bytes(&mut self, id: EntryId, bytes_in: u64, bytes_out: u64, now_ms: u64) {
        self.update(id, now_ms, |e| {
            e.bytes_in += bytes_in;
            e.bytes_out += bytes_out;
        });
    }

    /// One counter of a live entry.
    pub fn read(&self, id: EntryId, counter: Counter, now_ms: u64) -> Option<u64> {
        let e = self.live(id)?;
        let p = self.cfg.rate_period_ms;
        Some(match counter {
            Counter::ConnRate => e.rates.read(Which::Conn, now_ms, p),
            Counter::HttpReqRate => e.rates.read(Which::Req, now_ms, p),
            Counter::HttpErrRate => e.rates.read(Which::Err, now_ms, p),
            other => self.counters_of(e, now_ms).get(other),
        })
    }

    pub fn counters(&self, id: EntryId, now_ms: u64) -> Option<Counters> {
        self.live(id).map(|e| self.counters_of(e, now_ms))
    }

    /// The entry for `key`, if present, without touching it.
    pub fn find(&self, key: Key<'_>) -> Option<EntryId> {
        let hash = self.hasher.hash_one(key);
        let slab = &self.slab;
        let &idx = self
            .index
            .find(hash, |&i| slab[i as usize].key.as_key() == key)?;
        Some(self.id(idx))
    }

    /// Drop `key`'s entry (admin API). Handles on it become stale.
    pub fn remove(&mut self, key: Key<'_>) -> bool {
        match self.find(key) {
            Some(id) => {
                self.drop_entry(id.idx);
                true
            }
            None => false,
        }
    }

    /// Every entry, in no particular order (admin API, `/metrics`).
    pub fn iter(&self, now_ms: u64) -> impl Iterator<Item = (Key<'_>, Counters)> + '_ {
        self.slab
            .iter()
            .filter(|e| !e.key.is_vacant())
            .map(move |e| (e.key.as_key(), self.counters_of(e, now_ms)))
    }

    /// The `n` entries with the highest `by` (admin API; allocates).
    pub fn top(&self, n: usize, by: Counter, now_ms: u64) -> Vec<(Key<'_>, Counters)> {
        let mut all: Vec<(Key<'_>, Counters)> = self.iter(now_ms).collect();
        all.sort_unstable_by_key(|e| std::cmp::Reverse(e.1.get(by)));
        all.truncate(n);
        all
    }

    /// Drop every expired entry (a periodic sweep; `track` also drops a few).
    pub fn expire(&mut self, now_ms: u64) -> usize {
        self.expire_tail(now_ms, self.len as usize)
    }

    /// Keep the contents across a reload with a new configuration of the same key
    /// kind: the new size (least recently used entries dropped first, in use or not),
    /// expiry and rate period apply from now on. A different key kind is refused: the
    /// caller then starts a new table.
    pub fn reconfigure(&mut self, cfg: TableConfig) -> Result<(), RuleError> {
        cfg.validate()?;
        if cfg.key != self.cfg.key {
            return Err(RuleError::Invalid(
                "a table's key cannot change on reload".to_string(),
            ));
        }
        let max = cfg.max_entries;
        self.cfg = cfg;
        self.resize_to(max);
        Ok(())
    }

    /// At most `max` entries from now on.
    pub fn resize_to(&mut self, max: u32) {
        self.cfg.max_entries = max.clamp(1, NIL - 1);
        while self.len > self.cfg.max_entries && self.tail != NIL {
            self.stats.evicted += 1;
            self.drop_entry(self.tail);
        }
    }

    pub(super) fn key_kind(&self) -> &KeyKind {
        &self.cfg.key
    }

    /// Entries from the most recently used on, and the position of each (`saved.rs`).
    pub(super) fn by_recency(&self) -> impl Iterator<Item = &Entry> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let e = self.slab.get(at as usize)?;
            at = e.next;
            Some(e)
        })
    }

    /// The live entry `id` for `saved.rs` to fill in.
    pub(super) fn entry_mut(&mut self, id: EntryId) -> Option<&mut Entry> {
        self.live(id)?;
        self.slab.get_mut(id.idx as usize)
    }

    // -----------------------------------------------------------------------------

    fn id(&self, idx: u32) -> EntryId {
        EntryId {
            table: self.uid,
            idx,
            generation: self.slab[idx as usize].generation,
        }
    }

    fn live(&self, id: EntryId) -> Option<&Entry> {
        self.slab
            .get(id.idx as usize)
            .filter(|e| id.table == self.uid && e.generation == id.generation && !e.key.is_vacant())
    }

    fn update(&mut self, id: EntryId, now_ms: u64, f: impl FnOnce(&mut Entry)) {
        if self.live(id).is_some() {
            f(&mut self.slab[id.idx as usize]);
            self.touch(id.idx, now_ms);
        }
    }

    fn counters_of(&self, e: &Entry, now_ms: u64) -> Counters {
        let p = self.cfg.rate_period_ms;
        Counters {
            conn_cur: e.conn_cur,
            conn_total: e.conn_total,
            conn_rate: e.rates.read(Which::Conn, now_ms, p),
            http_req_total: e.http_req_total,
            http_req_rate: e.rates.read(Which::Req, now_ms, p),
            http_err_total: e.http_err_total,
            http_err_rate: e.rates.read(Which::Err, now_ms, p),
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
            idle_ms: now_ms.saturating_sub(e.last_ms),
        }
    }

    fn expired(&self, idx: u32, now_ms: u64) -> bool {
        let e = &self.slab[idx as usize];
        e.conn_cur == 0 && now_ms.saturating_sub(e.last_ms) >= self.cfg.expire_ms
    }

    /// Look at up to `budget` entries from the LRU tail: expired ones go, in-use ones
    /// move to the front; stop at the first that is neither.
    fn expire_tail(&mut self, now_ms: u64, budget: usize) -> usize {
        let mut dropped = 0;
        for _ in 0..budget {
            let t = self.tail;
            if t == NIL || now_ms.saturating_sub(self.slab[t as usize].last_ms) < self.cfg.expire_ms
            {
                break;
            }
            if self.slab[t as usize].conn_cur > 0 {
                self.touch(t, now_ms);
                continue;
            }
            self.stats.expired += 1;
            self.drop_entry(t);
            dropped += 1;
        }
        dropped
    }

    /// Make room for one entry: the least recently used one not in use goes.
    fn evict_one(&mut self) -> bool {
        for _ in 0..EVICT_TRIES {
            let t = self.tail;
            if t == NIL {
                return false;
            }
            if self.slab[t as usize].conn_cur == 0 {
                self.stats.evicted += 1;
                self.drop_entry(t);
                return true;
            }
            let last = self.slab[t as usize].last_ms;
            self.touch(t, last);
        }
        false
    }

    fn alloc(&mut self, key: StoredKey, now_ms: u64) -> u32 {
        let fresh = Entry {
            key,
            prev: NIL,
            next: NIL,
            generation: 0,
            conn_cur: 0,
            last_ms: now_ms,
            conn_total: 0,
            http_req_total: 0,
            http_err_total: 0,
            bytes_in: 0,
            bytes_out: 0,
            rates: Rates::new(now_ms),
        };
        if self.free != NIL {
            let idx = self.free;
            let e = &mut self.slab[idx as usize];
            self.free = e.next;
            let generation = e.generation;
            *e = Entry {
                generation,
                ..fresh
            };
            idx
        } else {
            self.slab.push(fresh);
            (self.slab.len() - 1) as u32
        }
    }

    /// Counters back to zero (an expired entry seen again), same key, new generation.
    fn reset(&mut self, idx: u32, now_ms: u64) {
        let e = &mut self.slab[idx as usize];
        e.generation = e.generation.wrapping_add(1);
        e.conn_total = 0;
        e.http_req_total = 0;
        e.http_err_total = 0;
        e.bytes_in = 0;
        e.bytes_out = 0;
        e.rates = Rates::new(now_ms);
    }

    fn drop_entry(&mut self, idx: u32) {
        let hash = self.hasher.hash_one(self.slab[idx as usize].key.as_key());
        if let Ok(found) = self.index.find_entry(hash, |&i| i == idx) {
            found.remove();
        }
        self.unlink(idx);
        let e = &mut self.slab[idx as usize];
        e.key = StoredKey::Vacant;
        e.generation = e.generation.wrapping_add(1);
        e.next = self.free;
        self.free = idx;
        self.len -= 1;
    }

    fn touch(&mut self, idx: u32, now_ms: u64) {
        let e = &mut self.slab[idx as usize];
        e.last_ms = e.last_ms.max(now_ms);
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }

    fn link_front(&mut self, idx: u32) {
        let old = self.head;
        {
            let e = &mut self.slab[idx as usize];
            e.prev = NIL;
            e.next = old;
        }
        if old != NIL {
            self.slab[old as usize].prev = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let e = &self.slab[idx as usize];
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.slab[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slab[n as usize].prev = prev,
        }
        let e = &mut self.slab[idx as usize];
        e.prev = NIL;
        e.next = NIL;
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
