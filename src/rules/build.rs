//! Building a [`RuleSet`]: ACLs are added first, then rules whose conditions name
//! them. Names are resolved and every ACL is checked against its rule's phase here,
//! once, so that evaluation has nothing left that can fail.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::action::{ConnAction, HeaderEdit, ReqAction};
use super::cond::{Acl, Layer};
use super::counter::{TableConfig, SLOTS};
use super::expr::Cond;
use super::key::KeyKind;
use super::RuleError;

/// Unique ids tie a scratch space's capture buffers to the rule set they were made for.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// `if` or `unless` a condition (HAProxy syntax, see [`Cond`]).
#[derive(Debug, Clone, Copy)]
pub enum When<'t> {
    If(&'t str),
    Unless(&'t str),
}

/// An action with its condition (none: always).
#[derive(Debug, Clone)]
pub struct Rule<A> {
    pub action: A,
    pub cond: Option<Cond>,
}

/// The rules of one frontend (or backend), by phase. Immutable once built; `Send + Sync`, so
/// workers may share one.
#[derive(Debug)]
pub struct RuleSet {
    pub(super) id: u64,
    pub(super) acls: Vec<Acl>,
    pub(super) conn: Vec<Rule<ConnAction>>,
    pub(super) req: Vec<Rule<ReqAction>>,
    pub(super) res: Vec<Rule<HeaderEdit>>,
    /// `use_server` rules (a backend's): the server's index in its backend.
    pub(super) srv: Vec<Rule<u32>>,
    pub(super) merge_slashes: bool,
    /// `replace_path` rules (each gets a capture buffer in the scratch space).
    pub(super) rewrites: u32,
}

/// Builds a [`RuleSet`]: ACLs first, then rules whose conditions name them.
#[derive(Debug)]
pub struct RuleSetBuilder {
    set: RuleSet,
    names: HashMap<Box<str>, u32>,
    tables: Vec<KeyKind>,
}

impl RuleSetBuilder {
    /// `tables`: the worker's tables, in the order rules refer to them.
    /// `merge_slashes`: path conditions see `//` as `/`.
    pub fn new(tables: &[TableConfig], merge_slashes: bool) -> Self {
        RuleSetBuilder {
            set: RuleSet {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                acls: Vec::new(),
                conn: Vec::new(),
                req: Vec::new(),
                res: Vec::new(),
                srv: Vec::new(),
                merge_slashes,
                rewrites: 0,
            },
            names: HashMap::new(),
            tables: tables.iter().map(|t| t.key.clone()).collect(),
        }
    }

    /// Add an ACL; its index is what [`Cond`] refers to.
    pub fn acl(&mut self, acl: Acl) -> Result<u32, RuleError> {
        let idx = self.set.acls.len() as u32;
        if self.names.contains_key(acl.name()) {
            return Err(RuleError::Invalid(format!(
                "ACL {:?} defined twice",
                acl.name()
            )));
        }
        self.names.insert(acl.name().into(), idx);
        self.set.acls.push(acl);
        Ok(idx)
    }

    /// A connection rule; its condition may only test the address, port and counters.
    pub fn connection(
        &mut self,
        action: ConnAction,
        when: Option<When<'_>>,
    ) -> Result<usize, RuleError> {
        if let ConnAction::Track { slot, table } = action {
            if matches!(self.table(slot, table)?, KeyKind::Header { .. }) {
                return Err(RuleError::Invalid(
                    "a table keyed by a header cannot track connections".into(),
                ));
            }
        }
        let cond = self.cond(when, Layer::Connection)?;
        self.set.conn.push(Rule { action, cond });
        Ok(self.set.conn.len() - 1)
    }

    /// A request rule; its condition may test anything but the response.
    pub fn request(
        &mut self,
        mut action: ReqAction,
        when: Option<When<'_>>,
    ) -> Result<usize, RuleError> {
        action.check()?;
        match &mut action {
            ReqAction::Track { slot, table } => {
                self.table(*slot, *table)?;
            }
            ReqAction::ReplacePath(rw) => {
                rw.ordinal = self.set.rewrites;
                self.set.rewrites += 1;
            }
            ReqAction::Header(e) if e.format.as_ref().is_some_and(|f| f.layer() > Layer::Http) => {
                return Err(RuleError::Invalid(
                    "a request rule's value cannot read the response".into(),
                ));
            }
            _ => {}
        }
        let cond = self.cond(when, Layer::Http)?;
        self.set.req.push(Rule { action, cond });
        Ok(self.set.req.len() - 1)
    }

    /// A response rule: a header edit, under a condition that may test anything.
    pub fn response(
        &mut self,
        edit: HeaderEdit,
        when: Option<When<'_>>,
    ) -> Result<usize, RuleError> {
        if edit.format.as_ref().is_some_and(|f| f.reads_request()) {
            return Err(RuleError::Invalid(
                "a response rule's value cannot read the request head (in HAProxy, hdr() there is the response's header)".into(),
            ));
        }
        let cond = self.cond(when, Layer::Response)?;
        self.set.res.push(Rule { action: edit, cond });
        Ok(self.set.res.len() - 1)
    }

    /// A `use_server` rule (HAProxy's `use-server`, in a backend): `server` is the
    /// server's index in the backend; its condition may test the request head.
    pub fn use_server(&mut self, server: u32, when: Option<When<'_>>) -> Result<usize, RuleError> {
        let cond = self.cond(when, Layer::Http)?;
        self.set.srv.push(Rule {
            action: server,
            cond,
        });
        Ok(self.set.srv.len() - 1)
    }

    pub fn build(self) -> RuleSet {
        self.set
    }

    fn table(&self, slot: u8, table: u16) -> Result<&KeyKind, RuleError> {
        if usize::from(slot) >= SLOTS {
            return Err(RuleError::Invalid(format!(
                "tracking slot {slot} (0..{SLOTS})"
            )));
        }
        self.tables
            .get(usize::from(table))
            .ok_or_else(|| RuleError::Invalid(format!("no table {table}")))
    }

    fn cond(&self, when: Option<When<'_>>, phase: Layer) -> Result<Option<Cond>, RuleError> {
        let Some(when) = when else { return Ok(None) };
        let (text, unless) = match when {
            When::If(t) => (t, false),
            When::Unless(t) => (t, true),
        };
        let cond = Cond::parse(text, unless, |n| self.names.get(n).copied())?;
        for i in cond.acls() {
            let acl = &self.set.acls[i];
            if acl.test().layer() > phase {
                return Err(RuleError::Invalid(format!(
                    "ACL {:?} needs data not known yet at this phase ({:?})",
                    acl.name(),
                    acl.test().layer()
                )));
            }
        }
        Ok(Some(cond))
    }
}

impl RuleSet {
    pub fn acls(&self) -> &[Acl] {
        &self.acls
    }

    pub fn connection_rules(&self) -> &[Rule<ConnAction>] {
        &self.conn
    }

    pub fn request_rules(&self) -> &[Rule<ReqAction>] {
        &self.req
    }

    pub fn response_rules(&self) -> &[Rule<HeaderEdit>] {
        &self.res
    }

    /// `use_server` rules: the server index each names.
    pub fn server_rules(&self) -> &[Rule<u32>] {
        &self.srv
    }

    /// The first request rule that needs HTTP (by its action or its condition): a
    /// tcp-mode frontend must have none.
    pub fn first_http_rule(&self) -> Option<usize> {
        self.req.iter().position(|r| {
            r.action.http_only()
                || r.cond
                    .as_ref()
                    .is_some_and(|c| c.acls().any(|i| self.acls[i].test().layer() == Layer::Http))
        })
    }
}
