//! The grammar of a Host field value (RFC 9112 §3.2) and of an absolute-form target's
//! authority: RFC 3986 `uri-host [ ":" port ]`, without userinfo (RFC 9110 §4.2.4: a
//! recipient treats userinfo in an http(s) URI as an error). Runs on every request:
//! a byte-class table, no allocation.
//!
//! ```text
//! uri-host    = IP-literal / IPv4address / reg-name
//! IP-literal  = "[" ( IPv6address / IPvFuture ) "]"
//! IPvFuture   = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
//! reg-name    = *( unreserved / pct-encoded / sub-delims )
//! port        = *DIGIT
//! ```
//!
//! Decisions within the grammar:
//! - an empty host is refused (`""`, `":80"`): RFC 9110 §4.2.1 forbids an http(s) URI
//!   with an empty host. An empty Host *field* is the caller's business (RFC 9112
//!   allows it when the target has no authority).
//! - an empty port is accepted (`host:`, `[::1]:`): RFC 3986 allows it and RFC 9110
//!   §4.2.3 makes it equivalent to no port, which is how routing treats it too.
//! - a port is digits only, any number of them, as in RFC 3986 (no range check).
//! - IPv6 zone identifiers (RFC 6874, `[fe80::1%25en0]`) are refused: HTTP never
//!   adopted them.
//! - IPv4address needs no branch of its own: its characters are all reg-name
//!   characters, so every IPv4address is also a valid reg-name.

use std::net::Ipv6Addr;

const UNRESERVED: u8 = 1;
const SUB_DELIM: u8 = 2;
const HEX: u8 = 4;

/// Character classes of RFC 3986 §2, indexed by byte.
static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            t[b] |= UNRESERVED;
        }
        if matches!(
            c,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        ) {
            t[b] |= SUB_DELIM;
        }
        if c.is_ascii_hexdigit() {
            t[b] |= HEX;
        }
        b += 1;
    }
    t
}

fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

/// Is `authority` a valid `uri-host [ ":" port ]`? See the module documentation for
/// what is accepted.
pub fn valid_authority(authority: &[u8]) -> bool {
    let (host, rest) = if authority.first() == Some(&b'[') {
        match authority.iter().position(|&b| b == b']') {
            Some(close) => authority.split_at(close + 1),
            None => return false,
        }
    } else {
        // A reg-name has no ':', so the first one starts the port.
        match authority.iter().position(|&b| b == b':') {
            Some(colon) => authority.split_at(colon),
            None => (authority, &[][..]),
        }
    };
    let port_ok = match rest {
        [] => true,
        [b':', port @ ..] => port.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    port_ok && valid_host(host)
}

fn valid_host(host: &[u8]) -> bool {
    match host {
        [b'[', inner @ .., b']'] => match inner {
            [b'v' | b'V', ..] => ip_future(&inner[1..]),
            _ => ipv6(inner),
        },
        _ => !host.is_empty() && reg_name(host),
    }
}

/// `*( unreserved / pct-encoded / sub-delims )`
fn reg_name(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            match s.get(i + 1..i + 3) {
                Some(&[h, l]) if is(h, HEX) && is(l, HEX) => i += 3,
                _ => return false,
            }
        } else if is(s[i], UNRESERVED | SUB_DELIM) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// IPvFuture after its "v": `1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn ip_future(s: &[u8]) -> bool {
    let digits = s.iter().take_while(|&&b| is(b, HEX)).count();
    match &s[digits..] {
        [b'.', rest @ ..] => {
            digits > 0
                && !rest.is_empty()
                && rest
                    .iter()
                    .all(|&b| b == b':' || is(b, UNRESERVED | SUB_DELIM))
        }
        _ => false,
    }
}

/// RFC 3986 IPv6address. The standard library's parser accepts exactly that grammar
/// (1 to 4 hex digits a group, at most one `::` standing for at least one group, an
/// optional dotted IPv4 tail without leading zeros, no zone) and does not allocate.
fn ipv6(s: &[u8]) -> bool {
    std::str::from_utf8(s).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_authorities_are_refused() {
        let bad_reg_names = [
            "", "a b", "a/b", "a\tb", "a?b", "a#b", "a\\b", "a\"b", "a<b", "a{b}", "a|b", "a^b",
            "a`b", "a\u{e9}", "a\u{0}b", "a\r", "[::1] ", "%zz", "a%2", "a%",
        ];
        let bad_ports = [
            ":80",
            ":",
            "a:b",
            "a:80:80",
            "[::1]x",
            "[::1]:x",
            "example.com:80 ",
        ];
        let userinfo = ["user@host", "u:p@host", "@host"];
        let bad_ip_literals = [
            "[::1",
            "::1]",
            "[::g]",
            "[]",
            "[::1]]",
            "[[::1]]",
            "[1:2:3:4:5:6:7:8:9]",
            "[1::2::3]",
            "[12345::]",
            "[::1.2.3.04]",
            "[::256.1.1.1]",
            "[1.2.3.4]",
            "[fe80::1%25en0]",
            "[v1.]",
            "[v.x]",
            "[vg.x]",
            "[v1x]",
            "[v1.a/b]",
        ];
        for bad in [&bad_reg_names[..], &bad_ports, &userinfo, &bad_ip_literals].concat() {
            assert!(!valid_authority(bad.as_bytes()), "accepted {bad:?}");
        }
        assert!(!valid_authority(b"a\xffb"));
    }

    #[test]
    fn valid_authorities_are_accepted() {
        for good in [
            "x",
            "[::1]",
            "[::1]:8080",
            "[::]",
            "[::ffff:1.2.3.4]",
            "[2001:DB8::1]",
            "[1:2:3:4:5:6:7:8]",
            "[1:2:3:4:5:6:7::]",
            "[1::2:3:4:5:6:7]",
            "[1:2:3:4:5:6:1.2.3.4]",
            "xn--bcher-kva.example",
            "example.com.",
            "EXAMPLE.COM",
            "127.0.0.1:80",
            "999.1.1.1", // not an IPv4address, but a valid reg-name
            "a-b_c~d",
            "%41%2f",
            "!$&'()*+,;=",
            "host:",  // empty port: allowed (see the module documentation)
            "[::1]:", // likewise
            "host:00080",
            "[v1.fe80::a+en1]",
            "[V1F.x]",
            "[vA.:]",
        ] {
            assert!(valid_authority(good.as_bytes()), "refused {good:?}");
        }
    }
}
