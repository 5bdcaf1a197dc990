//! The worker's scratch space: buffers every evaluation reuses, so that the hot path
//! allocates nothing once they have grown.

use regex::bytes::CaptureLocations;

use super::build::RuleSet;
use super::counter::Slots;
use super::path::LazyPath;

/// Buffers reused by every evaluation on a worker. One per worker is enough
/// (evaluations do not overlap); an outcome borrows it until dropped.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(super) set_id: u64,
    pub(super) memo: Memo,
    pub(super) path: LazyPath,
    pub(super) location: Vec<u8>,
    pub(super) hits: Vec<u32>,
    pub(super) tracked: Slots,
    pub(super) locs: Vec<Option<CaptureLocations>>,
    /// The capture buffers of the other rule sets evaluated lately (a frontend's and
    /// its backends' alternate on every request), by set id: kept, not reallocated.
    pub(super) other_locs: Vec<(u64, Vec<Option<CaptureLocations>>)>,
    /// Header values rendered from formats, one after the other...
    pub(super) values: Vec<u8>,
    /// ...and where each is, in the order of the rules that acted.
    pub(super) spans: Vec<(u32, u32)>,
    /// The backend name a `use_backend` value renders to.
    pub(super) name: Vec<u8>,
}

impl Scratch {
    pub(super) fn begin(&mut self, set: &RuleSet, tracked: Slots) {
        if self.set_id != set.id {
            self.switch_locs(set);
        }
        self.memo.reset(set.acls.len());
        self.path.reset(set.merge_slashes);
        self.clear_outputs(tracked);
    }

    /// Like `begin`, for the next rule set on the same request (a backend's after
    /// its frontend's): the path as the earlier rules left it stays.
    pub(super) fn begin_same_request(&mut self, set: &RuleSet, tracked: Slots) {
        if self.set_id != set.id {
            self.switch_locs(set);
        }
        self.memo.reset(set.acls.len());
        if self.path.rewritten().is_none() {
            self.path.reset(set.merge_slashes);
        }
        self.clear_outputs(tracked);
    }

    fn clear_outputs(&mut self, tracked: Slots) {
        self.location.clear();
        self.hits.clear();
        self.values.clear();
        self.spans.clear();
        self.tracked = tracked;
    }
}

impl Scratch {
    /// Put the current set's capture buffers aside and take `set`'s (at most
    /// [`KEPT_SETS`] sets are kept: the oldest goes).
    fn switch_locs(&mut self, set: &RuleSet) {
        let old = std::mem::take(&mut self.locs);
        if self.set_id != 0 {
            if self.other_locs.len() >= KEPT_SETS {
                self.other_locs.remove(0);
            }
            self.other_locs.push((self.set_id, old));
        }
        self.locs = match self.other_locs.iter().position(|(id, _)| *id == set.id) {
            Some(i) => self.other_locs.remove(i).1,
            None => Vec::new(),
        };
        self.locs.resize_with(set.rewrites as usize, || None);
        self.set_id = set.id;
    }
}

/// Rule sets whose capture buffers a scratch space keeps besides the current one.
const KEPT_SETS: usize = 8;

/// ACL results of one evaluation: two bitsets (known, value).
#[derive(Debug, Default)]
pub(super) struct Memo {
    known: Vec<u64>,
    value: Vec<u64>,
}

impl Memo {
    pub(super) fn reset(&mut self, acls: usize) {
        let words = acls.div_ceil(64);
        self.known.clear();
        self.known.resize(words, 0);
        self.value.clear();
        self.value.resize(words, 0);
    }

    pub(super) fn clear(&mut self) {
        self.known.fill(0);
    }

    pub(super) fn get(&self, i: usize) -> Option<bool> {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        (self.known.get(w)? & b != 0).then(|| self.value[w] & b != 0)
    }

    pub(super) fn set(&mut self, i: usize, v: bool) {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        if let (Some(k), Some(val)) = (self.known.get_mut(w), self.value.get_mut(w)) {
            *k |= b;
            if v {
                *val |= b;
            } else {
                *val &= !b;
            }
        }
    }
}
