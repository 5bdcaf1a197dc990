//! Whether a response may be stored by a cache, by the rule HAProxy 2.6 applies before
//! `cookie ... nocache` adds `Cache-Control: private` (only to a cacheable response).
//! Checked against HAProxy 2.6.12 (tests/corpus/differential/cookie-persistence) and its
//! `http_check_response_for_cacheability`:
//!
//! - the request method is safe (GET, HEAD, OPTIONS, TRACE);
//! - the status is cacheable by default (RFC 9110 §15.1: 200, 203, 204, 206, 300, 301,
//!   404, 405, 410, 414, 501);
//! - no `Pragma` field is exactly `no-cache`;
//! - no `Cache-Control` element (comma-separated, compared whole and case-insensitively)
//!   is `private`, `no-cache`, `no-store`, `max-age=0` or `s-maxage=0` (a later `public`
//!   makes it cacheable again);
//! - and it carries freshness (`max-age*` / `s-maxage*` element, `Expires`) or a
//!   validator (`ETag`, `Last-Modified`): without them HAProxy does not count it as
//!   cacheable (RFC 9111 §3).

/// Methods whose responses a cache may store (RFC 9110 §9.2.1, safe methods).
pub fn safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// `head`: a response head as written for the client (status line, fields, empty line).
pub fn response_cacheable(safe_method: bool, status: u16, head: &[u8]) -> bool {
    let by_status = matches!(
        status,
        200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501
    );
    if !safe_method || !by_status {
        return false;
    }
    let (mut cacheable, mut fresh, mut validator) = (true, false, false);
    for (name, value) in fields(head) {
        if name.eq_ignore_ascii_case(b"pragma") && trim(value).eq_ignore_ascii_case(b"no-cache") {
            return false;
        }
        if name.eq_ignore_ascii_case(b"expires") {
            fresh = true;
        }
        if name.eq_ignore_ascii_case(b"etag") || name.eq_ignore_ascii_case(b"last-modified") {
            validator = true;
        }
        if !name.eq_ignore_ascii_case(b"cache-control") {
            continue;
        }
        for e in value.split(|&b| b == b',').map(trim) {
            let is = |w: &[u8]| e.eq_ignore_ascii_case(w);
            if is(b"public") {
                cacheable = true;
            } else if is(b"private")
                || is(b"no-cache")
                || is(b"no-store")
                || is(b"max-age=0")
                || is(b"s-maxage=0")
            {
                cacheable = false;
            } else if starts_with_ignore_case(e, b"max-age")
                || starts_with_ignore_case(e, b"s-maxage")
            {
                fresh = true;
            }
        }
    }
    cacheable && (fresh || validator)
}

/// The `(name, value)` of every field line of a head.
fn fields(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            Some((&l[..colon], &l[colon + 1..]))
        })
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn starts_with_ignore_case(v: &[u8], prefix: &[u8]) -> bool {
    v.len() >= prefix.len() && v[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &[&str]) -> Vec<u8> {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for f in fields {
            h.extend_from_slice(f.as_bytes());
            h.extend_from_slice(b"\r\n");
        }
        h.extend_from_slice(b"\r\n");
        h
    }

    fn get(status: u16, fields: &[&str]) -> bool {
        response_cacheable(true, status, &head(fields))
    }

    #[test]
    fn freshness_or_a_validator_is_needed() {
        // What HAProxy 2.6.12 did with `cookie ... nocache` in front of a test server.
        assert!(!get(200, &[]));
        assert!(!get(200, &["Cache-Control: public"]));
        assert!(get(200, &["ETag: \"x\""]));
        assert!(get(200, &["Last-Modified: Tue, 01 Dec 2026 08:00:00 GMT"]));
        assert!(get(200, &["Expires: Thu, 01 Dec 2094 16:00:00 GMT"]));
        assert!(get(200, &["Cache-Control: max-age=60"]));
        assert!(get(200, &["Cache-Control: s-maxage=5"]));
        assert!(get(200, &["cache-control: public, max-age=60"]));
        assert!(get(200, &["Cache-Control: public", "Expires: x"]));
    }

    #[test]
    fn directives_that_forbid_storing() {
        for cc in [
            "private",
            "PRIVATE",
            "no-cache",
            "no-store,max-age=5",
            "max-age=0",
            "s-maxage=0",
            "max-age=60, private",
        ] {
            assert!(
                !get(200, &[&format!("Cache-Control: {cc}"), "ETag: x"]),
                "{cc}"
            );
        }
        assert!(!get(200, &["Pragma: no-cache", "ETag: x"]));
        assert!(!get(200, &["Pragma: No-Cache", "ETag: x"]));
        // Only the whole Pragma value counts; no-cache="set-cookie" still is cacheable.
        assert!(get(200, &["Pragma: no-cache, x", "ETag: x"]));
        assert!(get(
            200,
            &["Cache-Control: no-cache=\"set-cookie\"", "ETag: x"]
        ));
        // A later `public` wins over an earlier `private`, as HAProxy reads them in order.
        assert!(get(200, &["Cache-Control: private, public, max-age=5"]));
    }

    #[test]
    fn status_and_method() {
        for s in [200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501] {
            assert!(get(s, &["ETag: x"]), "{s}");
        }
        for s in [201, 302, 304, 307, 308, 400, 403, 500, 503] {
            assert!(!get(s, &["ETag: x"]), "{s}");
        }
        assert!(!response_cacheable(false, 200, &head(&["ETag: x"])));
        assert!(safe_method("GET") && safe_method("HEAD") && safe_method("OPTIONS"));
        assert!(!safe_method("POST") && !safe_method("PUT"));
    }
}
