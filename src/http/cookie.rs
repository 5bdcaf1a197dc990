//! Cookies for server persistence (HAProxy's `cookie` directive): finding one cookie
//! in `Cookie` fields, and in-place edits of `Cookie` / `Set-Cookie` fields of a head
//! already written for the other side. Like `edit.rs`, edits move bytes inside the
//! reused head buffer and allocate nothing once it has grown.
//!
//! `Cookie` (RFC 6265 §5.4) is `name=value` pairs separated by `;` and optional
//! spaces; `Set-Cookie` (§4.1) is one `name=value` followed by `; attribute`s.

use std::ops::Range;

use super::edit::head_end;

/// One `name=value` pair inside a field value: the whole pair and its value, as
/// ranges of the buffer the value was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Crumb {
    pair: Range<usize>,
    value: Range<usize>,
}

/// The pairs of a `Cookie` field value `v[range]`, in order.
fn crumbs(v: &[u8], range: Range<usize>) -> impl Iterator<Item = Crumb> + '_ {
    let mut at = range.start;
    let end = range.end;
    std::iter::from_fn(move || {
        while at < end {
            let stop = v[at..end]
                .iter()
                .position(|&b| b == b';')
                .map_or(end, |p| at + p);
            let (mut s, mut e) = (at, stop);
            at = stop + 1;
            while s < e && matches!(v[s], b' ' | b'\t') {
                s += 1;
            }
            while e > s && matches!(v[e - 1], b' ' | b'\t') {
                e -= 1;
            }
            if s == e {
                continue;
            }
            let eq = v[s..e].iter().position(|&b| b == b'=').map_or(e, |p| s + p);
            let value = if eq < e { eq + 1..e } else { e..e };
            return Some(Crumb { pair: s..e, value });
        }
        None
    })
}

/// Whether the pair `c` of `v` is named `name` (cookie names are case-sensitive).
fn named(v: &[u8], c: &Crumb, name: &[u8]) -> bool {
    let pair = &v[c.pair.clone()];
    pair.len() > name.len() && pair.starts_with(name) && pair[name.len()] == b'='
}

/// The value of the first cookie named `name` in a `Cookie` field value.
pub fn find<'a>(field_value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    crumbs(field_value, 0..field_value.len())
        .find(|c| named(field_value, c, name))
        .map(|c| &field_value[c.value])
}

/// Walk the fields named `field` of the head in `head` (start line, fields, empty
/// line, maybe body bytes after it). `edit` gets the range of a field's value and
/// returns where the value ends after its edit; a field it left empty is removed.
fn edit_fields(
    head: &mut Vec<u8>,
    field: &[u8],
    mut edit: impl FnMut(&mut Vec<u8>, Range<usize>) -> usize,
) {
    let Some(first) = head.iter().position(|&b| b == b'\n') else {
        return;
    };
    let mut r = first + 1;
    while r < head_end(head) {
        let end = head_end(head);
        let e = head[r..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |p| r + p + 1);
        let line = &head[r..e];
        let is_field = line.len() > field.len()
            && line[field.len()] == b':'
            && line[..field.len()].eq_ignore_ascii_case(field);
        if !is_field {
            r = e;
            continue;
        }
        let mut vs = r + field.len() + 1;
        while vs < e && matches!(head[vs], b' ' | b'\t') {
            vs += 1;
        }
        let ve = if head[..e].ends_with(b"\r\n") {
            e - 2
        } else {
            e
        };
        let (vs, ve) = (vs.min(ve), ve.max(vs));
        let new_end = edit(head, vs..ve);
        let next = new_end + (e - ve);
        if new_end == vs && ve > vs {
            head.drain(r..next);
        } else {
            r = next;
        }
    }
}

/// How a request's `Cookie` fields are edited for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEdit {
    /// Remove the cookie (HAProxy's `insert indirect`): the server never sees it.
    Remove,
    /// Remove the `server~` prefix from its value (HAProxy's `prefix`).
    Unprefix,
}

/// Edit every cookie named `name` in the `Cookie` fields of a request head; a field
/// left without a cookie is removed.
pub fn edit_request(head: &mut Vec<u8>, name: &[u8], how: RequestEdit) {
    edit_fields(head, b"cookie", |h, value| {
        let mut end = value.end;
        loop {
            let Some(c) = crumbs(h, value.start..end).find(|c| named(h, c, name)) else {
                break;
            };
            let cut = match how {
                RequestEdit::Unprefix => match h[c.value.clone()].iter().position(|&b| b == b'~') {
                    Some(p) => c.value.start..c.value.start + p + 1,
                    None => break, // no prefix: left as it is
                },
                RequestEdit::Remove => pair_with_separator(h, &c, value.start..end),
            };
            end -= cut.len();
            h.drain(cut);
            if how == RequestEdit::Unprefix {
                break; // one per field: a second one keeps its prefix-less value
            }
        }
        end
    });
}

/// The bytes to cut to remove pair `c` from the field value `within`: the pair and
/// the separator after it, or before it when it is the last pair.
fn pair_with_separator(h: &[u8], c: &Crumb, within: Range<usize>) -> Range<usize> {
    let mut after = c.pair.end;
    while after < within.end && matches!(h[after], b' ' | b'\t' | b';') {
        after += 1;
    }
    if after < within.end {
        return c.pair.start..after;
    }
    let mut before = c.pair.start;
    while before > within.start && matches!(h[before - 1], b' ' | b'\t' | b';') {
        before -= 1;
    }
    before..c.pair.end
}

/// How a response's `Set-Cookie` fields of the persistence cookie are edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseEdit<'a> {
    /// Leave them (only count them).
    Keep,
    /// Remove them (HAProxy's `insert`: ringlb sets the cookie itself).
    Remove,
    /// Put `server~` in front of the value (HAProxy's `prefix`).
    Prefix(&'a [u8]),
    /// Replace the value with the server's (HAProxy's `rewrite`).
    Rewrite(&'a [u8]),
}

/// Edit every `Set-Cookie` field of the cookie named `name` in a response head.
/// Returns how many there were.
pub fn edit_response(head: &mut Vec<u8>, name: &[u8], how: ResponseEdit<'_>) -> usize {
    let mut seen = 0;
    edit_fields(head, b"set-cookie", |h, value| {
        let first_end = h[value.clone()]
            .iter()
            .position(|&b| b == b';')
            .map_or(value.end, |p| value.start + p);
        let Some(c) = crumbs(h, value.start..first_end).next() else {
            return value.end;
        };
        if !named(h, &c, name) {
            return value.end;
        }
        seen += 1;
        match how {
            ResponseEdit::Keep => value.end,
            ResponseEdit::Remove => {
                h.drain(value.clone());
                value.start
            }
            ResponseEdit::Prefix(server) => {
                let at = c.value.start;
                h.splice(at..at, server.iter().chain(b"~").copied());
                value.end + server.len() + 1
            }
            ResponseEdit::Rewrite(server) => {
                let old = c.value.len();
                h.splice(c.value.clone(), server.iter().copied());
                value.end + server.len() - old
            }
        }
    });
    seen
}

/// Add `Set-Cookie: name=value<attributes>` (`attributes` starts with `; ` when not
/// empty) as the last field.
pub fn append_set_cookie(head: &mut Vec<u8>, name: &[u8], value: &[u8], attributes: &[u8]) {
    let at = head_end(head);
    let parts: [&[u8]; 6] = [b"set-cookie: ", name, b"=", value, attributes, b"\r\n"];
    head.splice(at..at, parts.into_iter().flatten().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn a_cookie_is_found_by_exact_name() {
        let v = b"a=1; SERVERID=s2;theme=dark; SERVERIDX=no";
        assert_eq!(find(v, b"SERVERID"), Some(&b"s2"[..]));
        assert_eq!(find(v, b"theme"), Some(&b"dark"[..]));
        assert_eq!(find(v, b"serverid"), None, "names are case-sensitive");
        assert_eq!(find(v, b"SERVER"), None);
        assert_eq!(find(b"", b"a"), None);
        assert_eq!(find(b" ; ;a=", b"a"), Some(&b""[..]));
        assert_eq!(
            find(b"flag; a=1", b"flag"),
            None,
            "a bare name has no value"
        );
    }

    fn request(cookies: &[&str]) -> Vec<u8> {
        let mut h = b"GET / HTTP/1.1\r\nhost: h\r\n".to_vec();
        for c in cookies {
            h.extend_from_slice(format!("cookie: {c}\r\n").as_bytes());
        }
        h.extend_from_slice(b"x: y\r\n\r\n");
        h
    }

    #[test]
    fn the_persistence_cookie_is_removed_wherever_it_stands() {
        let cases = [
            ("SERVERID=s1", None),
            ("SERVERID=s1; a=1", Some("a=1")),
            ("a=1; SERVERID=s1", Some("a=1")),
            ("a=1; SERVERID=s1; b=2", Some("a=1; b=2")),
            ("a=1;SERVERID=s1;b=2", Some("a=1;b=2")),
            ("SERVERID=s1; SERVERID=s2", None),
            ("a=1; SERVERIDX=s1", Some("a=1; SERVERIDX=s1")),
        ];
        for (field, want) in cases {
            let mut h = request(&[field]);
            edit_request(&mut h, b"SERVERID", RequestEdit::Remove);
            let want = match want {
                Some(w) => request(&[w]),
                None => request(&[]),
            };
            assert_eq!(s(&h), s(&want), "{field}");
        }
        let mut h = request(&["SERVERID=s1", "a=1", "b=2; SERVERID=s1"]);
        edit_request(&mut h, b"SERVERID", RequestEdit::Remove);
        assert_eq!(s(&h), s(&request(&["a=1", "b=2"])));
    }

    #[test]
    fn a_prefix_is_taken_off_the_value() {
        let mut h = request(&["a=1; JSESSIONID=s1~abc~d; b=2"]);
        edit_request(&mut h, b"JSESSIONID", RequestEdit::Unprefix);
        assert_eq!(s(&h), s(&request(&["a=1; JSESSIONID=abc~d; b=2"])));
        let mut h = request(&["JSESSIONID=abc"]);
        edit_request(&mut h, b"JSESSIONID", RequestEdit::Unprefix);
        assert_eq!(s(&h), s(&request(&["JSESSIONID=abc"])));
    }

    fn response(set: &[&str]) -> Vec<u8> {
        let mut h = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
        for c in set {
            h.extend_from_slice(format!("set-cookie: {c}\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\nok");
        h
    }

    #[test]
    fn set_cookies_are_removed_prefixed_or_rewritten() {
        let from = [
            "a=1; Path=/",
            "JSESSIONID=abc; Path=/; HttpOnly",
            "JSESSIONIDX=z",
        ];
        let mut h = response(&from);
        assert_eq!(
            edit_response(&mut h, b"JSESSIONID", ResponseEdit::Remove),
            1
        );
        assert_eq!(s(&h), s(&response(&["a=1; Path=/", "JSESSIONIDX=z"])));

        let mut h = response(&from);
        assert_eq!(
            edit_response(&mut h, b"JSESSIONID", ResponseEdit::Prefix(b"s1")),
            1
        );
        let want = [
            "a=1; Path=/",
            "JSESSIONID=s1~abc; Path=/; HttpOnly",
            "JSESSIONIDX=z",
        ];
        assert_eq!(s(&h), s(&response(&want)));

        let mut h = response(&["SERVERID=whatever; Path=/", "SERVERID=x"]);
        assert_eq!(
            edit_response(&mut h, b"SERVERID", ResponseEdit::Rewrite(b"web-1")),
            2
        );
        assert_eq!(
            s(&h),
            s(&response(&["SERVERID=web-1; Path=/", "SERVERID=web-1"]))
        );

        let mut h = response(&from);
        assert_eq!(edit_response(&mut h, b"JSESSIONID", ResponseEdit::Keep), 1);
        assert_eq!(s(&h), s(&response(&from)));

        let mut h = response(&[]);
        assert_eq!(edit_response(&mut h, b"SERVERID", ResponseEdit::Remove), 0);
        assert_eq!(s(&h), s(&response(&[])));
    }

    #[test]
    fn a_set_cookie_is_appended_before_the_body() {
        let mut h = response(&["a=1"]);
        append_set_cookie(&mut h, b"SERVERID", b"s1", b"; path=/; HttpOnly");
        assert_eq!(
            s(&h),
            s(&response(&["a=1", "SERVERID=s1; path=/; HttpOnly"]))
        );
    }
}
