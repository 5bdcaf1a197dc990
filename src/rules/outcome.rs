//! What an evaluation returns: the verdict, the rule that gave it, every rule that
//! acted, and the edits for the HTTP codec. Outcomes borrow the rule set and the
//! worker's scratch space: nothing is copied out of them.

use super::action::{HeaderEdit, Reply, ReqAction};
use super::build::RuleSet;
use super::counter::Slots;

#[derive(Debug)]
pub struct ConnOutcome<'s> {
    pub reject: bool,
    /// The rule that accepted or rejected.
    pub rule: Option<usize>,
    /// Every rule that acted, in order (`ringlb_rule_hits_total`).
    pub hits: &'s [u32],
}

/// How a request goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'s> {
    /// No terminal rule: forward (to `backend` if a rule chose one).
    Continue,
    /// An `allow` rule: forward, skip the remaining filtering rules.
    Allow,
    Deny(&'s Reply),
    Return(&'s Reply),
    Redirect {
        status: u16,
        location: &'s [u8],
    },
    Tarpit {
        delay_ms: u64,
        status: u16,
    },
}

/// A change to make to the request before forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit<'s> {
    /// The edit and its value (rendered when the edit has a format).
    Header(&'s HeaderEdit, &'s [u8]),
    /// The new path (normalized); the query stays as received.
    Path(&'s [u8]),
}

#[derive(Debug)]
pub struct RequestOutcome<'s> {
    pub verdict: Verdict<'s>,
    /// The rule that gave the verdict (the terminal rule, or the `allow`).
    pub rule: Option<usize>,
    /// `(rule, backend)` from the first matching `use_backend`, when forwarding.
    pub backend: Option<(usize, u32)>,
    /// Entries the request is tracked in (for errors and bytes after the response).
    pub tracked: Slots,
    pub(super) set: &'s RuleSet,
    pub(super) hits: &'s [u32],
    pub(super) path: Option<&'s [u8]>,
    pub(super) values: &'s [u8],
    pub(super) spans: &'s [(u32, u32)],
}

impl<'s> RequestOutcome<'s> {
    /// The request goes to a backend.
    pub fn forwards(&self) -> bool {
        matches!(self.verdict, Verdict::Continue | Verdict::Allow)
    }

    /// Every request rule that acted, in order (`ringlb_rule_hits_total`).
    pub fn hits(&self) -> &'s [u32] {
        self.hits
    }

    /// The edits to apply, in rule order, when the request is forwarded (none else).
    pub fn edits(&self) -> impl Iterator<Item = Edit<'s>> + 's {
        let (set, hits, fwd) = (self.set, self.hits, self.forwards());
        let mut values = Values::new(self.values, self.spans);
        let headers = hits.iter().filter(move |_| fwd).filter_map(move |&i| {
            match &set.req[i as usize].action {
                ReqAction::Header(e) => Some(Edit::Header(e, values.of(e))),
                _ => None,
            }
        });
        headers.chain(self.path.filter(|_| fwd).map(Edit::Path))
    }
}

#[derive(Debug)]
pub struct ResponseOutcome<'s> {
    pub(super) set: &'s RuleSet,
    pub(super) hits: &'s [u32],
    pub(super) values: &'s [u8],
    pub(super) spans: &'s [(u32, u32)],
}

impl<'s> ResponseOutcome<'s> {
    pub fn hits(&self) -> &'s [u32] {
        self.hits
    }

    /// Each edit with its value (rendered when the edit has a format).
    pub fn edits(&self) -> impl Iterator<Item = (&'s HeaderEdit, &'s [u8])> + 's {
        let set = self.set;
        let mut values = Values::new(self.values, self.spans);
        self.hits.iter().map(move |&i| {
            let e = &set.res[i as usize].action;
            (e, values.of(e))
        })
    }
}

/// The values of the edits that acted, in their order: literal ones where they are,
/// rendered ones from the scratch space, one span per edit with a format.
struct Values<'s> {
    bytes: &'s [u8],
    spans: std::slice::Iter<'s, (u32, u32)>,
}

impl<'s> Values<'s> {
    fn new(bytes: &'s [u8], spans: &'s [(u32, u32)]) -> Self {
        Values {
            bytes,
            spans: spans.iter(),
        }
    }

    fn of(&mut self, e: &'s HeaderEdit) -> &'s [u8] {
        if e.format.is_none() {
            return &e.value;
        }
        self.spans
            .next()
            .and_then(|&(a, b)| self.bytes.get(a as usize..b as usize))
            .unwrap_or(b"")
    }
}
