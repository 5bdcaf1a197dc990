//! Rule lists and their evaluation. A [`RuleSet`] is built once per configuration
//! (and may be shared by every worker); each worker keeps one [`Scratch`] (buffers
//! reused by every evaluation) and its own tables, and each connection a
//! [`ConnState`] (what it is tracked in).
//!
//! Evaluation is a pure function of the rules, the facts, the tables and `now_ms`:
//! no clock, no I/O, no lock, no allocation once the scratch buffers have grown. Each
//! ACL is tested at most once per evaluation; a rule that changes what ACLs see (a
//! `track`, a path rewrite) clears the memo. Conditions see the request as received
//! except for its path: after `set_path`/`replace_path`, path conditions (and later
//! rewrites and redirects) see the new path. Header edits are only collected: the
//! HTTP codec applies them, and later conditions do not see them.

use super::action::{ConnAction, HeaderEdit, Part, Redirect, RedirectTo, ReqAction};
use super::build::RuleSet;
use super::cond::Ctx;
use super::counter::{Slots, Tracked, SLOTS};
use super::expr::Cond;
use super::facts::{Facts, HttpFacts};
use super::outcome::{ConnOutcome, RequestOutcome, ResponseOutcome, Verdict};
use super::path::split_target;
use super::scratch::Scratch;
use super::table::Table;

impl RuleSet {
    /// Connection rules, at accept. Tracked entries go into `conn`; call
    /// [`ConnState::close`] when the connection ends, rejected or not.
    pub fn on_connect<'s>(
        &'s self,
        facts: &Facts<'_>,
        tables: &mut [Table],
        conn: &mut ConnState,
        sc: &'s mut Scratch,
        now_ms: u64,
    ) -> ConnOutcome<'s> {
        sc.begin(self, conn.tracked);
        let (mut reject, mut rule) = (false, None);
        for (i, r) in self.conn.iter().enumerate() {
            if !self.holds(r.cond.as_ref(), facts, tables, sc, now_ms) {
                continue;
            }
            match r.action {
                ConnAction::Accept | ConnAction::Reject => {
                    reject = r.action == ConnAction::Reject;
                    rule = Some(i);
                    sc.hits.push(i as u32);
                    break;
                }
                ConnAction::Track { slot, table } => {
                    if track(facts, tables, sc, slot, table, now_ms, true) {
                        sc.hits.push(i as u32);
                    }
                }
            }
        }
        conn.tracked = sc.tracked;
        ConnOutcome {
            reject,
            rule,
            hits: &sc.hits,
        }
    }

    /// Request rules, once per request (in tcp mode, once after the TLS handshake,
    /// with `facts.http` empty). Entries tracked on connect count the request first.
    pub fn on_request<'s>(
        &'s self,
        facts: &Facts<'_>,
        tables: &mut [Table],
        conn: &ConnState,
        sc: &'s mut Scratch,
        now_ms: u64,
    ) -> RequestOutcome<'s> {
        sc.begin(self, conn.tracked);
        if facts.http.is_some() {
            for t in conn.tracked.iter().flatten() {
                if let Some(table) = tables.get_mut(usize::from(t.table)) {
                    table.request(t.entry, now_ms);
                }
            }
        }
        self.request(facts, tables, sc, now_ms)
    }

    /// Request rules of a second set on the same request, right after the first
    /// set's (a backend's after its frontend's, HAProxy's order), with the same
    /// scratch space: conditions, rewrites and redirects see the path as the first
    /// set's rewrites left it (its edit is given again). The request was counted in
    /// the connection's tracked entries by the first set: not again.
    pub fn on_request_after<'s>(
        &'s self,
        facts: &Facts<'_>,
        tables: &mut [Table],
        conn: &ConnState,
        sc: &'s mut Scratch,
        now_ms: u64,
    ) -> RequestOutcome<'s> {
        sc.begin_same_request(self, conn.tracked);
        self.request(facts, tables, sc, now_ms)
    }

    fn request<'s>(
        &'s self,
        facts: &Facts<'_>,
        tables: &mut [Table],
        sc: &'s mut Scratch,
        now_ms: u64,
    ) -> RequestOutcome<'s> {
        let (mut stop, mut allowed, mut backend, mut routed) = (None, None, None, false);
        for (i, r) in self.req.iter().enumerate() {
            let routing = r.action.routes();
            if (allowed.is_some() && !routing) || (routing && routed) {
                continue;
            }
            if !self.holds(r.cond.as_ref(), facts, tables, sc, now_ms) {
                continue;
            }
            let acted = match &r.action {
                ReqAction::UseBackend(b) => {
                    (backend, routed) = (Some((i, *b)), true);
                    true
                }
                ReqAction::UseBackendNamed(n) => {
                    (backend, routed) = (n.resolve(facts, sc).map(|b| (i, b)), true);
                    true
                }
                ReqAction::Allow => {
                    allowed = Some(i);
                    true
                }
                ReqAction::Deny(_) | ReqAction::Return(_) | ReqAction::Tarpit { .. } => {
                    stop = Some(i);
                    true
                }
                ReqAction::Redirect(rd) => {
                    let built = facts
                        .http
                        .as_ref()
                        .is_some_and(|h| location(rd, facts, h, sc));
                    if built {
                        stop = Some(i);
                    }
                    built
                }
                ReqAction::Header(e) => {
                    if facts.http.is_some() {
                        render(e, facts, sc);
                    }
                    facts.http.is_some()
                }
                ReqAction::SetPath(_) | ReqAction::ReplacePath(_) => rewrite(&r.action, facts, sc),
                ReqAction::Track { slot, table } => {
                    track(facts, tables, sc, *slot, *table, now_ms, false)
                }
            };
            if acted {
                sc.hits.push(i as u32);
            }
            if stop.is_some() || (allowed.is_some() && routed) {
                break;
            }
        }
        let sc: &'s Scratch = sc;
        let verdict = match stop.or(allowed) {
            None => Verdict::Continue,
            Some(i) => match &self.req[i].action {
                ReqAction::Deny(r) => Verdict::Deny(r),
                ReqAction::Return(r) => Verdict::Return(r),
                ReqAction::Redirect(rd) => Verdict::Redirect {
                    status: rd.status,
                    location: &sc.location,
                },
                ReqAction::Tarpit { delay_ms, status } => Verdict::Tarpit {
                    delay_ms: *delay_ms,
                    status: *status,
                },
                _ => Verdict::Allow,
            },
        };
        RequestOutcome {
            verdict,
            rule: stop.or(allowed),
            backend: if stop.is_some() { None } else { backend },
            tracked: sc.tracked,
            set: self,
            hits: &sc.hits,
            path: sc.path.rewritten(),
            values: &sc.values,
            spans: &sc.spans,
        }
    }

    /// Response rules, with `facts.status` set; `tracked` as the request's outcome
    /// gave it. Every rule whose condition holds adds its edit.
    pub fn on_response<'s>(
        &'s self,
        facts: &Facts<'_>,
        tables: &[Table],
        tracked: &Slots,
        sc: &'s mut Scratch,
        now_ms: u64,
    ) -> ResponseOutcome<'s> {
        sc.begin(self, *tracked);
        for (i, r) in self.res.iter().enumerate() {
            if self.holds(r.cond.as_ref(), facts, tables, sc, now_ms) {
                render(&r.action, facts, sc);
                sc.hits.push(i as u32);
            }
        }
        ResponseOutcome {
            set: self,
            hits: &sc.hits,
            values: &sc.values,
            spans: &sc.spans,
        }
    }

    /// `use_server` rules, in a fresh evaluation (a TCP session, or a request no
    /// request rule of this set looked at): the first rule whose server `usable` says
    /// takes traffic and whose condition holds; `(rule, server)`. HAProxy's
    /// `use-server`: a rule naming a server that is down is passed over.
    pub fn use_server(
        &self,
        facts: &Facts<'_>,
        tables: &[Table],
        sc: &mut Scratch,
        now_ms: u64,
        usable: impl Fn(u32) -> bool,
    ) -> Option<(usize, u32)> {
        if self.srv.is_empty() {
            return None;
        }
        sc.begin(self, Slots::default());
        self.first_server(facts, tables, sc, now_ms, usable)
    }

    /// Like [`RuleSet::use_server`], right after [`RuleSet::on_request`] of this same
    /// set let the request through (its outcome dropped): conditions see the path as
    /// its rewrites left it, and the ACLs it tested are not tested again.
    pub fn use_server_after_request(
        &self,
        facts: &Facts<'_>,
        tables: &[Table],
        sc: &mut Scratch,
        now_ms: u64,
        usable: impl Fn(u32) -> bool,
    ) -> Option<(usize, u32)> {
        if sc.set_id != self.id {
            sc.begin(self, Slots::default());
        }
        self.first_server(facts, tables, sc, now_ms, usable)
    }

    fn first_server(
        &self,
        facts: &Facts<'_>,
        tables: &[Table],
        sc: &mut Scratch,
        now_ms: u64,
        usable: impl Fn(u32) -> bool,
    ) -> Option<(usize, u32)> {
        self.srv.iter().enumerate().find_map(|(i, r)| {
            (usable(r.action) && self.holds(r.cond.as_ref(), facts, tables, sc, now_ms))
                .then_some((i, r.action))
        })
    }

    /// A rule's condition, each ACL tested at most once (memo in the scratch space).
    fn holds(
        &self,
        cond: Option<&Cond>,
        facts: &Facts<'_>,
        tables: &[Table],
        sc: &mut Scratch,
        now_ms: u64,
    ) -> bool {
        let Some(cond) = cond else { return true };
        let Scratch {
            memo,
            path,
            tracked,
            ..
        } = sc;
        let mut cx = Ctx {
            facts,
            path,
            tables,
            tracked,
            now_ms,
        };
        cond.eval(|i| {
            memo.get(i).unwrap_or_else(|| {
                let v = self.acls[i].test().eval(&mut cx);
                memo.set(i, v);
                v
            })
        })
    }
}

/// Track in `slot` unless it is taken; on connect the connection counts, on request
/// the request (in HTTP mode).
fn track(
    facts: &Facts<'_>,
    tables: &mut [Table],
    sc: &mut Scratch,
    slot: u8,
    table: u16,
    now_ms: u64,
    connect: bool,
) -> bool {
    let s = usize::from(slot);
    if s >= SLOTS || sc.tracked[s].is_some() {
        return false;
    }
    let Some(t) = tables.get_mut(usize::from(table)) else {
        return false;
    };
    let headers = facts.http.as_ref().map(|h| &h.headers);
    let Some(key) = t.key_kind().key_of(facts.client, headers) else {
        return false;
    };
    let Some(entry) = t.track(key, now_ms) else {
        return false;
    };
    if connect {
        t.conn_open(entry, now_ms);
    } else if facts.http.is_some() {
        t.request(entry, now_ms);
    }
    sc.tracked[s] = Some(Tracked { table, entry });
    sc.memo.clear();
    true
}

/// A header edit's value from its format, into the scratch space (a literal value
/// is used where it is).
fn render(e: &HeaderEdit, facts: &Facts<'_>, sc: &mut Scratch) {
    if let Some(f) = &e.format {
        let start = sc.values.len() as u32;
        f.render(facts, sc.path.rewritten(), &mut sc.values);
        sc.spans.push((start, sc.values.len() as u32));
    }
}

/// `set_path` / `replace_path` on the scratch path.
fn rewrite(action: &ReqAction, facts: &Facts<'_>, sc: &mut Scratch) -> bool {
    let Some(h) = facts.http.as_ref() else {
        return false;
    };
    let done = match action {
        ReqAction::SetPath(p) => sc.path.rewrite(h.target, |_, out| {
            out.extend_from_slice(p);
            true
        }),
        ReqAction::ReplacePath(rw) => {
            let Some(locs) = sc.locs.get_mut(rw.ordinal as usize) else {
                return false;
            };
            let locs = locs.get_or_insert_with(|| rw.regex.capture_locations());
            sc.path.rewrite(h.target, |cur, out| {
                if rw.regex.captures_read(locs, cur).is_none() {
                    return false;
                }
                for part in rw.parts.iter() {
                    match part {
                        Part::Literal(l) => out.extend_from_slice(l),
                        Part::Group(g) => {
                            if let Some((a, b)) = locs.get(*g) {
                                out.extend_from_slice(&cur[a..b]);
                            }
                        }
                    }
                }
                true
            })
        }
        _ => false,
    };
    if done {
        sc.memo.clear();
    }
    done
}

/// Build a redirect's location in `sc.location`; false when it cannot be (a scheme
/// redirect without a Host).
fn location(rd: &Redirect, facts: &Facts<'_>, h: &HttpFacts<'_>, sc: &mut Scratch) -> bool {
    let out = &mut sc.location;
    out.clear();
    let (raw_path, query) = split_target(h.target);
    let path = match sc.path.rewritten() {
        Some(p) => p,
        None if raw_path.is_empty() => b"/",
        None => raw_path,
    };
    let query = if rd.drop_query { None } else { query };
    match &rd.to {
        RedirectTo::Location(l) => {
            out.extend_from_slice(l);
            return true;
        }
        RedirectTo::LocationFormat(f) => {
            f.render(facts, sc.path.rewritten(), out);
            return true;
        }
        RedirectTo::PrefixFormat(f) => {
            f.render(facts, sc.path.rewritten(), out);
            if out == b"/" {
                out.clear();
            }
        }
        RedirectTo::Prefix(p) => {
            let p = match p.strip_suffix(b"/") {
                Some(short) if path.starts_with(b"/") => short,
                _ => p,
            };
            out.extend_from_slice(p);
        }
        RedirectTo::Scheme(scheme) => {
            let Some(host) = h.host else { return false };
            let default = if scheme.eq_ignore_ascii_case("https") {
                ":80"
            } else {
                ":443"
            };
            let host = host.strip_suffix(default).unwrap_or(host);
            out.extend_from_slice(scheme.as_bytes());
            out.extend_from_slice(b"://");
            out.extend_from_slice(host.as_bytes());
        }
    }
    out.extend_from_slice(path);
    if rd.append_slash && !path.ends_with(b"/") {
        out.push(b'/');
    }
    if let Some(q) = query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
    true
}

/// What a connection is tracked in. Keep one per connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnState {
    pub tracked: Slots,
}

impl ConnState {
    /// The connection ends: its tracked entries' `conn_cur` go down.
    pub fn close(&mut self, tables: &mut [Table], now_ms: u64) {
        for t in self.tracked.iter_mut().filter_map(Option::take) {
            if let Some(table) = tables.get_mut(usize::from(t.table)) {
                table.conn_close(t.entry, now_ms);
            }
        }
    }
}

/// An HTTP error (the caller decides which responses are errors) in every entry
/// `tracked` names: a request outcome's [`RequestOutcome::tracked`].
pub fn count_error(tables: &mut [Table], tracked: &Slots, now_ms: u64) {
    for t in tracked.iter().flatten() {
        if let Some(table) = tables.get_mut(usize::from(t.table)) {
            table.error(t.entry, now_ms);
        }
    }
}

/// Bytes in every entry `tracked` names. A request's slots include its connection's:
/// count per request in HTTP mode, per connection (with [`ConnState::tracked`]) in
/// TCP mode, not both.
pub fn count_bytes(
    tables: &mut [Table],
    tracked: &Slots,
    bytes_in: u64,
    bytes_out: u64,
    now_ms: u64,
) {
    for t in tracked.iter().flatten() {
        if let Some(table) = tables.get_mut(usize::from(t.table)) {
            table.bytes(t.entry, bytes_in, bytes_out, now_ms);
        }
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
