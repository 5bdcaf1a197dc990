//! A backend's own rules on a worker (HAProxy's rules in a backend, docs/rules.md):
//! its request rules once a request is routed to it, after the frontend's; then its
//! `use_server` rules; its response rules before the frontend's. Same engine, same
//! scratch space as the frontend's rules; a backend's rules track nothing.

use super::backend::BackendState;
use super::route::Answer;
use super::rules::{answer_of, apply_edits, apply_header, with_backends};
use super::state::Worker;
use crate::config::Frontend;
use crate::rules::{ConnState, Facts, RuleSet, Slots};

/// What a backend's rules decided about a request routed to it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BackendDecision {
    /// Answered by a backend rule: the response is in `head`.
    pub answer: Option<Answer>,
    /// `use_server`: the server's slot in the backend.
    pub server: Option<usize>,
}

/// The rules of backend `backend`, if it has any (borrowed from the worker's
/// backends, borrowed as long as `f` runs).
fn with_backend_rules<R>(
    w: &Worker,
    backend: usize,
    f: impl FnOnce(&RuleSet, &BackendState) -> R,
) -> Option<R> {
    let backends = w.backends.borrow();
    let b = backends.get(backend)?;
    let rs = b.config.rules.as_deref()?;
    Some(f(rs, b))
}

/// HAProxy's `use-server` passes over a server that is down (or in maintenance); a
/// draining one still takes it, as with a persistence cookie.
fn usable(b: &BackendState, server: u32) -> bool {
    slot_of(b, server)
        .and_then(|s| b.servers.get(s))
        .is_some_and(|s| s.persistable())
}

/// A server as rules number it (its index in the configuration) → its slot.
fn slot_of(b: &BackendState, server: u32) -> Option<usize> {
    b.config.rule_servers.get(server as usize).copied()
}

/// Whether backend `backend` has response rules (the request head is then kept for
/// them).
pub fn has_response_rules(w: &Worker, backend: usize) -> bool {
    with_backend_rules(w, backend, |rs, _| !rs.response_rules().is_empty()).unwrap_or(false)
}

/// A request routed to `backend`, whose head for the server is in `head` with the
/// frontend's edits: the backend's request rules (their edits applied to `head`, or
/// their answer written over it), then its `use_server` rules when it goes on.
/// `after_frontend`: the frontend's request rules ran on this request just before
/// (the backend's then see the path as they rewrote it).
pub fn on_request(
    w: &Worker,
    frontend: &Frontend,
    backend: usize,
    facts: &Facts<'_>,
    head: &mut Vec<u8>,
    keep: bool,
    after_frontend: bool,
) -> BackendDecision {
    with_backend_rules(w, backend, |rs, b| {
        w.with_rules(|st| {
            let now = st.now_ms();
            let conn = ConnState::default();
            let out = with_backends(w, &b.config.rule_backends, facts, |f| {
                let (tables, sc) = (&mut st.tables, &mut st.scratch);
                match after_frontend {
                    true => rs.on_request_after(f, tables, &conn, sc, now),
                    false => rs.on_request(f, tables, &conn, sc, now),
                }
            });
            let forwards = out.forwards();
            if forwards {
                apply_edits(head, out.edits());
            }
            let answer = answer_of(out.verdict, frontend, head, keep);
            let server = forwards
                .then(|| {
                    with_backends(w, &b.config.rule_backends, facts, |f| {
                        let ok = |s| usable(b, s);
                        rs.use_server_after_request(f, &st.tables, &mut st.scratch, now, ok)
                    })
                })
                .flatten()
                .and_then(|(_, s)| slot_of(b, s));
            BackendDecision { answer, server }
        })
    })
    .unwrap_or_default()
}

/// A TCP session going to `backend`: the server its `use_server` rules name, if any
/// (HTTP conditions are false here).
pub fn use_server(w: &Worker, backend: usize, facts: &Facts<'_>) -> Option<usize> {
    with_backend_rules(w, backend, |rs, b| {
        if rs.server_rules().is_empty() {
            return None;
        }
        w.with_rules(|st| {
            let now = st.now_ms();
            with_backends(w, &b.config.rule_backends, facts, |f| {
                rs.use_server(f, &st.tables, &mut st.scratch, now, |s| usable(b, s))
            })
        })
        .and_then(|(_, s)| slot_of(b, s))
    })
    .flatten()
}

/// The backend's response rules on the final response head written for the client
/// (before the frontend's, as HAProxy runs them).
pub fn on_response(
    w: &Worker,
    backend: usize,
    facts: &Facts<'_>,
    tracked: &Slots,
    head: &mut Vec<u8>,
) {
    with_backend_rules(w, backend, |rs, b| {
        if rs.response_rules().is_empty() {
            return;
        }
        w.with_rules(|st| {
            let now = st.now_ms();
            let out = with_backends(w, &b.config.rule_backends, facts, |f| {
                rs.on_response(f, &st.tables, tracked, &mut st.scratch, now)
            });
            for (e, value) in out.edits() {
                apply_header(head, e, value);
            }
        })
    });
}
