//! Edits to a head already written for the other side (rules' `set_header`,
//! `add_header`, `del_header`, `set_path`, `replace_path`), made in place in the
//! reused head buffer: no allocation once the buffer has grown. The head is a start
//! line, header lines and the empty line, each ending in CRLF, as `write_upstream_head`
//! and `write_downstream_head` write it; names and values were checked when the rules
//! were loaded (tokens, no CR/LF/NUL).

/// Where the empty line that ends the head starts (`head.len() - 2` for a bare head).
pub(super) fn head_end(head: &[u8]) -> usize {
    head.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |p| p + 2)
}

/// Remove every field named `name` (ASCII case-insensitive); how many were removed.
pub fn remove_fields(head: &mut Vec<u8>, name: &[u8]) -> usize {
    let end = head_end(head);
    let Some(first) = head[..end].iter().position(|&b| b == b'\n') else {
        return 0;
    };
    let (mut r, mut w, mut removed) = (first + 1, first + 1, 0);
    while r < end {
        let e = head[r..end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(end, |p| r + p + 1);
        let line = &head[r..e];
        let named = line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name);
        if named {
            removed += 1;
        } else {
            head.copy_within(r..e, w);
            w += e - r;
        }
        r = e;
    }
    if removed > 0 {
        let len = head.len();
        head.copy_within(end..len, w);
        head.truncate(len - (end - w));
    }
    removed
}

/// Add `name: value` as the last field.
pub fn append_field(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let at = head_end(head);
    let field = [name, b": ", value, b"\r\n"];
    if at == head.len() - 2 {
        head.truncate(at);
        for part in field {
            head.extend_from_slice(part);
        }
        head.extend_from_slice(b"\r\n");
    } else {
        head.splice(at..at, field.into_iter().flatten().copied());
    }
}

/// Replace the path of the request line's target with `path`, keeping the query (and
/// the scheme and authority of an absolute-form target).
pub fn replace_path(head: &mut Vec<u8>, path: &[u8]) {
    let line_end = head.iter().position(|&b| b == b'\r').unwrap_or(head.len());
    let Some(sp1) = head[..line_end].iter().position(|&b| b == b' ') else {
        return;
    };
    let Some(sp2) = head[sp1 + 1..line_end]
        .iter()
        .position(|&b| b == b' ')
        .map(|p| sp1 + 1 + p)
    else {
        return;
    };
    let target = &head[sp1 + 1..sp2];
    let mut start = sp1 + 1;
    if let Some(p) = target.windows(3).position(|w| w == b"://") {
        let auth = p + 3;
        start += target[auth..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .map_or(target.len(), |q| auth + q);
    }
    let end = head[start..sp2]
        .iter()
        .position(|&b| b == b'?')
        .map_or(sp2, |q| start + q);
    head.splice(start..end, path.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn fields_are_removed_case_insensitively_and_body_kept() {
        let mut h =
            b"GET / HTTP/1.1\r\nServer: a\r\nX: 1\r\nserver: b\r\nServerX: c\r\n\r\nbody".to_vec();
        assert_eq!(remove_fields(&mut h, b"Server"), 2);
        assert_eq!(s(&h), "GET / HTTP/1.1\r\nX: 1\r\nServerX: c\r\n\r\nbody");
        assert_eq!(remove_fields(&mut h, b"nope"), 0);
        assert_eq!(remove_fields(&mut h, b"x"), 1);
        assert_eq!(remove_fields(&mut h, b"serverx"), 1);
        assert_eq!(s(&h), "GET / HTTP/1.1\r\n\r\nbody");
    }

    #[test]
    fn fields_are_appended_before_the_empty_line() {
        let mut h = b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\n".to_vec();
        append_field(&mut h, b"B", b"2");
        assert_eq!(s(&h), "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n");
        let mut h = b"HTTP/1.1 200 OK\r\n\r\nxy".to_vec();
        append_field(&mut h, b"B", b"");
        assert_eq!(s(&h), "HTTP/1.1 200 OK\r\nB: \r\n\r\nxy");
    }

    #[test]
    fn paths_are_replaced_keeping_the_query() {
        let cases = [
            ("GET /a/b?x=1 HTTP/1.1", "/new", "GET /new?x=1 HTTP/1.1"),
            ("GET /a/b HTTP/1.1", "/", "GET / HTTP/1.1"),
            ("GET /a? HTTP/1.0", "/b/c", "GET /b/c? HTTP/1.0"),
            (
                "GET http://h:8/a?q HTTP/1.1",
                "/z",
                "GET http://h:8/z?q HTTP/1.1",
            ),
            ("GET http://h?q HTTP/1.1", "/z", "GET http://h/z?q HTTP/1.1"),
            ("GET http://h HTTP/1.1", "/z", "GET http://h/z HTTP/1.1"),
        ];
        for (line, path, want) in cases {
            let mut h = format!("{line}\r\nHost: h\r\n\r\n").into_bytes();
            replace_path(&mut h, path.as_bytes());
            assert_eq!(s(&h), format!("{want}\r\nHost: h\r\n\r\n"), "{line}");
        }
    }
}
