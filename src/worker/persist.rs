//! Cookie persistence (HAProxy's `cookie` directive) on a worker: which server a
//! request's cookie names, the request's `Cookie` edited for the server, and the
//! response's `Set-Cookie` edited or added. Nothing is shared between workers: the
//! cookie carries the choice, so a client keeps its server whichever worker (or
//! ringlb node) its connection lands on.

use crate::config::{Backend, CookieMode};
use crate::http::cacheable;
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
/// `nocache` adds `Cache-Control: private` only when the response was cacheable
/// (`(safe request method, status)` and the head's own fields decide, as in HAProxy).
pub fn on_response(
    b: &Backend,
    sticky: Sticky,
    server: usize,
    (safe_method, status): (bool, u16),
    head: &mut Vec<u8>,
) {
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
            if p.nocache && cacheable::response_cacheable(safe_method, status, head) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn backend(cookie: &str) -> Backend {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
             [[backend]]\nname = \"app\"\n[backend.cookie]\n{cookie}\n\
             [[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\ncookie = \"ca\"\n\
             [[backend.server]]\nname = \"b\"\naddress = \"127.0.0.1:3\"\n"
        );
        let mut c = Config::parse(&text, "test").unwrap();
        c.backends.remove(0)
    }

    fn response(set: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n{set}\r\n").into_bytes()
    }

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn inserted_cookies_carry_the_configured_attributes() {
        let b = backend(
            "name = \"SID\"\ndomain = \"example.com\"\nsecure = true\nattr = [\"SameSite=Lax\"]",
        );
        let mut h = response("");
        on_response(
            &b,
            Sticky {
                on: true,
                server: None,
            },
            1,
            (true, 200),
            &mut h,
        );
        let want = "set-cookie: SID=b; path=/; domain=example.com; Secure; SameSite=Lax\r\n";
        assert_eq!(s(&h), s(&response(want)));
        // The client already names the server that answered: nothing is set.
        let mut h = response("");
        on_response(
            &b,
            Sticky {
                on: true,
                server: Some(1),
            },
            1,
            (true, 200),
            &mut h,
        );
        assert_eq!(s(&h), s(&response("")));
    }

    #[test]
    fn nocache_marks_only_cacheable_responses_private() {
        let b = backend("name = \"SID\"\nnocache = true");
        let first = Sticky {
            on: true,
            server: None,
        };
        let set = "set-cookie: SID=ca; path=/\r\n";
        let mut h = response("");
        on_response(&b, first, 0, (true, 200), &mut h);
        assert_eq!(s(&h), s(&response(set)));
        let mut h = response("ETag: \"v1\"\r\n");
        on_response(&b, first, 0, (true, 200), &mut h);
        let want = format!("ETag: \"v1\"\r\n{set}cache-control: private\r\n");
        assert_eq!(s(&h), s(&response(&want)));
        // A POST's response is not cacheable: the cookie alone.
        let mut h = response("ETag: \"v1\"\r\n");
        on_response(&b, first, 0, (false, 200), &mut h);
        assert_eq!(s(&h), s(&response(&format!("ETag: \"v1\"\r\n{set}"))));
    }

    #[test]
    fn preserve_keeps_the_servers_own_cookie_and_adds_none() {
        let own = "Set-Cookie: SID=app-chosen\r\n";
        let b = backend("name = \"SID\"\npreserve = true");
        let mut h = response(own);
        on_response(
            &b,
            Sticky {
                on: true,
                server: None,
            },
            0,
            (true, 200),
            &mut h,
        );
        assert_eq!(s(&h), s(&response(own)));
        // Without preserve the server's cookie goes and ringlb's takes its place.
        let b = backend("name = \"SID\"");
        let mut h = response(own);
        on_response(
            &b,
            Sticky {
                on: true,
                server: None,
            },
            0,
            (true, 200),
            &mut h,
        );
        assert_eq!(s(&h), s(&response("set-cookie: SID=ca; path=/\r\n")));
    }

    #[test]
    fn a_request_cookie_names_a_server_by_its_value() {
        let b = backend("name = \"SID\"\nindirect = true");
        let mut head = b"GET / HTTP/1.1\r\ncookie: x=1; SID=b\r\n\r\n".to_vec();
        let fields = [&b"x=1; SID=b"[..]];
        let got = on_request(&b, fields.into_iter(), &mut head);
        assert_eq!(
            got,
            Sticky {
                on: true,
                server: Some(1)
            }
        );
        assert_eq!(s(&head), "GET / HTTP/1.1\r\ncookie: x=1\r\n\r\n");
        let none = on_request(
            &backend("name = \"SID\""),
            [&b"SID=zz"[..]].into_iter(),
            &mut head,
        );
        assert_eq!(
            none,
            Sticky {
                on: true,
                server: None
            }
        );
    }
}
