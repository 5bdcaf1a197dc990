//! `use_backend` with a computed name (HAProxy's `use_backend %[...]`): the value is
//! rendered per request into a reused buffer and looked up among the backends' names.
//! A name that is no backend routes nowhere: later `use_backend` rules are skipped and
//! the request goes where it would without any (HAProxy applies `default_backend`).

use std::collections::HashMap;
use std::sync::Arc;

use super::cond::Layer;
use super::facts::Facts;
use super::format::Format;
use super::scratch::Scratch;

/// Backend names to the caller's numbers (shared by every such rule of a configuration).
pub type BackendNames = HashMap<Box<[u8]>, u32>;

#[derive(Debug, Clone)]
pub struct NamedBackend {
    format: Format,
    names: Arc<BackendNames>,
}

impl NamedBackend {
    pub fn new(format: Format, names: Arc<BackendNames>) -> Self {
        NamedBackend { format, names }
    }

    /// The backend the value names for this request, if it names one.
    pub(super) fn resolve(&self, facts: &Facts<'_>, sc: &mut Scratch) -> Option<u32> {
        sc.name.clear();
        self.format.render(facts, sc.path.rewritten(), &mut sc.name);
        self.names.get(&sc.name[..]).copied()
    }

    /// It reads the request head (so it is an HTTP-mode rule).
    pub fn reads_http(&self) -> bool {
        self.format.layer() >= Layer::Http
    }

    /// It can only be known once the response is (refused: routing comes first).
    pub fn reads_response(&self) -> bool {
        self.format.layer() > Layer::Http
    }

    /// Every backend this rule may pick (a name from a map file is only known per
    /// request, so all of them).
    pub fn may_pick(&self) -> impl Iterator<Item = u32> + '_ {
        self.names.values().copied()
    }
}
