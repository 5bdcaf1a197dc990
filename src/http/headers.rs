//! Header rules shared by requests and responses.

/// Hop-by-hop headers: meaningful for one connection only, never forwarded as is.
pub fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Should this header be dropped because a Connection header names it? Never for the
/// headers that frame or address the message: a client sending `Connection:
/// Content-Length` must not be able to strip the framing the server needs (that would
/// turn the body into a smuggled request), nor `Connection: Host` the Host header.
pub fn dropped_by_connection(headers: &[httparse::Header<'_>], name: &str) -> bool {
    let protected = ["host", "content-length", "transfer-encoding"]
        .iter()
        .any(|p| name.eq_ignore_ascii_case(p));
    !protected && connection_has(headers, name)
}

/// Whether there is a Connection header (without one, [`dropped_by_connection`] is false
/// for every header).
pub fn has_connection(headers: &[httparse::Header<'_>]) -> bool {
    headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("connection"))
}

/// Comma-separated list elements of a header value, trimmed, empty ones skipped.
pub fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

pub fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// Does any `Connection` header list `token`?
pub fn connection_has(headers: &[httparse::Header<'_>], token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .any(|h| list(h.value).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
}

/// Content-Length: 1*DIGIT, no sign, no list, no overflow. `Err` on anything else,
/// and on several headers that disagree.
pub fn content_length(headers: &[httparse::Header<'_>]) -> Result<Option<u64>, &'static str> {
    let mut found: Option<u64> = None;
    for h in headers.iter().filter(|h| is_content_length(h.name)) {
        let v = trim(h.value);
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err("invalid Content-Length");
        }
        let mut n: u64 = 0;
        for &d in v {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or("Content-Length overflows")?;
        }
        match found {
            Some(prev) if prev != n => return Err("conflicting Content-Length headers"),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// `name` is `content-length` in any case: its 14 bytes compared as two words with
/// the upper-case letters folded (bit 0x20), the `-` compared as it is. Exact: only
/// `A`-`Z` fold onto `a`-`z`, and the one byte that is not a letter is not folded.
/// (A byte-by-byte `eq_ignore_ascii_case` cost ~100 instructions per response.)
fn is_content_length(name: &str) -> bool {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let b = name.as_bytes();
    if b.len() != 14 || b[7] != b'-' {
        return false;
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(w) | FOLD
    };
    word(0) == u64::from_le_bytes(*b"content-") && word(6) == u64::from_le_bytes(*b"t-length")
}

/// Transfer-Encoding across all its headers: `Ok(None)` when absent, `Ok(Some(()))`
/// when it is exactly `chunked`. A final coding other than chunked, or chunked
/// applied twice, is malformed (400); other codings before chunked are not supported
/// (501).
pub fn transfer_encoding(headers: &[httparse::Header<'_>]) -> Result<Option<()>, TeError> {
    let (mut present, mut codings, mut chunked, mut last_is_chunked) = (false, 0, 0, false);
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        present = true;
        let mut empty = true;
        for c in list(h.value) {
            empty = false;
            codings += 1;
            last_is_chunked = c.eq_ignore_ascii_case(b"chunked");
            chunked += usize::from(last_is_chunked);
        }
        if empty {
            codings += 1;
            last_is_chunked = false;
        }
    }
    if !present {
        return Ok(None);
    }
    if !last_is_chunked || chunked > 1 {
        return Err(TeError::Malformed);
    }
    if codings > 1 {
        return Err(TeError::Unsupported);
    }
    Ok(Some(()))
}

#[derive(Debug, PartialEq, Eq)]
pub enum TeError {
    Malformed,
    Unsupported,
}

/// Reject line endings httparse tolerates: a bare LF, or a CR not followed by LF.
/// Eight bytes at a time: in each word, the LFs must be exactly the bytes right after
/// the CRs (a CR in a word's last byte carries into the next word's first). A byte by
/// byte loop cost ~10 instructions a byte, ~1,200 per HTTP/1.1 request (its head and
/// the response's); a `memchr` per CR or LF ~50 each.
pub fn strict_line_endings(head: &[u8]) -> bool {
    let mut carry = 0u64;
    let mut words = head.chunks_exact(8);
    for chunk in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let w = u64::from_le_bytes(w);
        let cr = bytes_equal(w, b'\r');
        if bytes_equal(w, b'\n') != (cr << 8) | carry {
            return false;
        }
        carry = cr >> 56;
    }
    // The last bytes, padded with zeros (neither CR nor LF): a CR last of all has no
    // LF after it.
    let rest = words.remainder();
    let mut w = [0u8; 8];
    w[..rest.len()].copy_from_slice(rest);
    let w = u64::from_le_bytes(w);
    let cr = bytes_equal(w, b'\r');
    bytes_equal(w, b'\n') == (cr << 8) | carry && cr >> 56 == 0
}

/// Bit 7 of each byte of `w` that equals `c`, the other bits clear. Exact (no carry
/// between bytes): the low seven bits of each byte of `w ^ c` are added to 0x7f, which
/// sets bit 7 unless they were all zero, and bit 7 itself is or-ed in as it is.
fn bytes_equal(w: u64, c: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ (0x0101_0101_0101_0101 * u64::from(c));
    !(((x & LOW7) + LOW7) | x | LOW7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(name: &'a str, value: &'a [u8]) -> httparse::Header<'a> {
        httparse::Header { name, value }
    }

    /// The word compare says what `eq_ignore_ascii_case` says, for the name in
    /// every case mix and with any one byte replaced by any other.
    #[test]
    fn content_length_name_is_matched_exactly() {
        let name = b"content-length";
        for mask in 0u32..(1 << 14) {
            let mixed: Vec<u8> = (0..14)
                .map(|i| match mask >> i & 1 {
                    1 => name[i].to_ascii_uppercase(),
                    _ => name[i],
                })
                .collect();
            assert!(is_content_length(std::str::from_utf8(&mixed).unwrap()));
        }
        for at in 0..14 {
            for byte in 0..=255u8 {
                let mut b = name.to_vec();
                b[at] = byte;
                let Ok(s) = std::str::from_utf8(&b) else {
                    continue;
                };
                assert_eq!(
                    is_content_length(s),
                    s.eq_ignore_ascii_case("content-length"),
                    "{b:?}"
                );
            }
        }
        for other in [
            "",
            "content-lengt",
            "content-lengths",
            "content_length",
            "x",
        ] {
            assert!(!is_content_length(other));
        }
    }

    /// The word-wise check says what a byte-by-byte loop says, on heads made of CR,
    /// LF and another byte in every arrangement up to 10 bytes long (across a word's
    /// end), and on every byte value next to a CR.
    #[test]
    fn strict_line_endings_agrees_with_a_byte_loop() {
        fn by_byte(head: &[u8]) -> bool {
            let mut prev = 0u8;
            for (i, &b) in head.iter().enumerate() {
                if (b == b'\n' && prev != b'\r') || (b == b'\r' && head.get(i + 1) != Some(&b'\n'))
                {
                    return false;
                }
                prev = b;
            }
            true
        }
        let alphabet = [b'\r', b'\n', b'a'];
        for len in 0..=10u32 {
            for mut k in 0..3usize.pow(len) {
                let mut head = Vec::new();
                for _ in 0..len {
                    head.push(alphabet[k % 3]);
                    k /= 3;
                }
                assert_eq!(strict_line_endings(&head), by_byte(&head), "{head:?}");
            }
        }
        for byte in 0..=255u8 {
            for at in 0..10 {
                let mut head = b"ab\r\ncd\r\n\r\n".to_vec();
                head[at] = byte;
                assert_eq!(strict_line_endings(&head), by_byte(&head), "{head:?}");
            }
        }
        // Longer heads.
        let mut long = b"GET / HTTP/1.1\r\nHost: a\r\n".repeat(8);
        long.extend(b"\r\n");
        assert!(strict_line_endings(&long));
        long[100] = b'\n';
        assert_eq!(strict_line_endings(&long), by_byte(&long));
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(content_length(&[h("Content-Length", b"42")]), Ok(Some(42)));
        assert_eq!(
            content_length(&[h("content-length", b"7"), h("Content-Length", b"7")]),
            Ok(Some(7))
        );
        assert_eq!(content_length(&[]), Ok(None));
        for bad in [
            &b"+3"[..],
            b"-1",
            b"",
            b"0,",
            b"3, 30",
            b"1 2",
            b"0x10",
            b"99999999999999999999999",
        ] {
            assert!(
                content_length(&[h("Content-Length", bad)]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(content_length(&[h("Content-Length", b"3"), h("Content-Length", b"30")]).is_err());
    }

    #[test]
    fn transfer_encoding_rules() {
        assert_eq!(
            transfer_encoding(&[h("Transfer-Encoding", b"chunked")]),
            Ok(Some(()))
        );
        assert_eq!(
            transfer_encoding(&[h("Transfer-Encoding", b"Chunked")]),
            Ok(Some(()))
        );
        assert_eq!(transfer_encoding(&[]), Ok(None));
        for bad in [
            &b"xchunked"[..],
            b"chunked, identity",
            b"chunked, chunked",
            b"gzip",
            b"",
            b"identity",
        ] {
            assert_eq!(
                transfer_encoding(&[h("Transfer-Encoding", bad)]),
                Err(TeError::Malformed),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            transfer_encoding(&[h("Transfer-Encoding", b"gzip, chunked")]),
            Err(TeError::Unsupported)
        );
        assert_eq!(
            transfer_encoding(&[
                h("Transfer-Encoding", b"chunked"),
                h("Transfer-Encoding", b"chunked")
            ]),
            Err(TeError::Malformed)
        );
    }

    #[test]
    fn line_endings() {
        assert!(strict_line_endings(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!strict_line_endings(b"GET / HTTP/1.1\nHost: a\r\n\r\n"));
        assert!(!strict_line_endings(
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"
        ));
    }

    #[test]
    fn framing_and_host_cannot_be_dropped_through_connection() {
        let hs = [h(
            "Connection",
            b"Content-Length, Host, Transfer-Encoding, X-Private",
        )];
        assert!(!dropped_by_connection(&hs, "content-length"));
        assert!(!dropped_by_connection(&hs, "Host"));
        assert!(!dropped_by_connection(&hs, "transfer-encoding"));
        assert!(dropped_by_connection(&hs, "X-Private"));
    }

    #[test]
    fn connection_tokens() {
        let hs = [
            h("Connection", b"keep-alive, Upgrade"),
            h("Upgrade", b"websocket"),
        ];
        assert!(connection_has(&hs, "upgrade"));
        assert!(!connection_has(&hs, "close"));
        assert!(is_hop_by_hop("Keep-Alive"));
        assert!(!is_hop_by_hop("Content-Length"));
    }
}
