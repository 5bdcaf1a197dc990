//! Cookie persistence (HAProxy's `cookie` directive) on a worker: which server a
//! request's cookie names, the request's `Cookie` edited for the server, and the
//! response's `Set-Cookie` edited or added. Nothing is shared between workers: the
//! cookie carries the choice, so a client keeps its server whichever worker (or
//! ringlb node) its connection lands on.

use crate::config::{Backend, CookieMode};
use crate::http::cookie::{self, RequestEdit, ResponseEdit};

/// What a request's persistence cookie said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sticky {
    /// The backend has a persistence cookie.
    pub on: bool,
    /// The server slot the request's cookie names (whatever that server's state).
    pub server: Option<usize>,
}

/// Read the persistence cookie of `b` in the request's `Cookie` fields (the first one
/// found), and edit the head already written for the server (`head`): removed for
/// `insert` + `indirect`, its `server~` prefix taken off for `prefix`.
pub fn on_request<'h>(
    b: &Backend,
    cookie_fields: impl Iterator<Item = &'h [u8]>,
    head: &mut Vec<u8>,
) -> Sticky {
    let Some(p) = &b.cookie else {
        return Sticky::default();
    };
    let name = p.name.as_bytes();
    let Some(value) = cookie_fields
        .into_iter()
        .find_map(|v| cookie::find(v, name))
    else {
        return Sticky {
            on: true,
            server: None,
        };
    };
    let server_part = match p.mode {
        CookieMode::Prefix => value.split(|&c| c == b'~').next().unwrap_or(value),
        CookieMode::Insert | CookieMode::Rewrite => value,
    };
    let server = b
        .servers
        .iter()
        .position(|s| !s.cookie.is_empty() && s.cookie.as_bytes() == server_part);
    match p.mode {
        CookieMode::Insert if p.indirect => cookie::edit_request(head, name, RequestEdit::Remove),
        CookieMode::Prefix => cookie::edit_request(head, name, RequestEdit::Unprefix),
        _ => {}
    }
    Sticky { on: true, server }
}

/// Edit the final response head written for the client (`head`) of a request that
/// went to `server`: set the cookie when the client's does not name that server
/// (`insert`), or mark the server's own cookie with the server (`prefix`, `rewrite`).
pub fn on_response(b: &Backend, sticky: Sticky, server: usize, head: &mut Vec<u8>) {
    let (Some(p), Some(s)) = (&b.cookie, b.servers.get(server)) else {
        return;
    };
    let (name, value) = (p.name.as_bytes(), s.cookie.as_bytes());
    match p.mode {
        CookieMode::Insert => {
            let own = if p.preserve {
                ResponseEdit::Keep
            } else {
                ResponseEdit::Remove
            };
            let own = cookie::edit_response(head, name, own);
            if sticky.server == Some(server) || (p.preserve && own > 0) {
                return;
            }
            cookie::append_set_cookie(head, name, value, p.attributes.as_bytes());
            if p.nocache {
                crate::http::edit::append_field(head, b"cache-control", b"private");
            }
        }
        CookieMode::Prefix => {
            cookie::edit_response(head, name, ResponseEdit::Prefix(value));
        }
        CookieMode::Rewrite => {
            cookie::edit_response(head, name, ResponseEdit::Rewrite(value));
        }
    }
}
