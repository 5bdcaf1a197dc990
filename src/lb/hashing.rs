//! The hashing balancers share: the request key of `uri`, `url_param` and `hdr`
//! balancing (HAProxy's `get_server_uh`, `get_server_ph`, `get_server_hh`), HAProxy's
//! hash functions (`sdbm`, `djb2`, `wt6`, `crc32`) and its avalanche modifier
//! (`full_hash`), so that a key lands where HAProxy would send it; and the 64-bit mix
//! `source` builds its table with. All pure.

use crate::config::{Balance, HashFunction, HashSpec};

/// splitmix64's finaliser: a fixed, well-spread hash (the same in every worker).
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bob Jenkins' full avalanche on 32 bits, then a multiply by a large prime (HAProxy's
/// `full_hash`): the `avalanche` modifier, and where consistent hashing puts a
/// server's points on the ring.
pub fn avalanche(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965au32, 0x5ca6_953au32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// The key's hash with the backend's function and modifier (HAProxy's `gen_hash`).
pub fn hash_key(spec: &HashSpec, key: &[u8]) -> u32 {
    let h = match spec.function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32fast::hash(key),
    };
    if spec.avalanche {
        avalanche(h)
    } else {
        h
    }
}

/// What a request is hashed on under `balance`, from its target (request-line URI)
/// and a lookup of its header fields by name; `None` when the backend does not hash
/// requests or the request has no such key (the balancer then goes round robin, as
/// HAProxy does).
pub fn request_hash<'a>(
    balance: Balance,
    spec: &HashSpec,
    target: &'a [u8],
    header: impl FnOnce(&str) -> Option<&'a [u8]>,
) -> Option<u32> {
    let key = match balance {
        Balance::Uri => uri_key(spec, target),
        Balance::UrlParam => param_value(target, spec.param.as_bytes())?,
        Balance::Hdr => header_key(header(&spec.header)?, spec.use_domain_only)?,
        _ => return None,
    };
    Some(hash_key(spec, key))
}

/// `balance uri`: the URI up to `?` (all of it with `whole`), at most `len` bytes,
/// cut before the slash that starts directory level `depth + 1`; `path_only` starts
/// at the path of an absolute URI.
fn uri_key<'a>(spec: &HashSpec, target: &'a [u8]) -> &'a [u8] {
    let uri = if spec.path_only {
        path_of(target)
    } else {
        target
    };
    let uri = match spec.len {
        0 => uri,
        n => &uri[..uri.len().min(n as usize)],
    };
    let mut slashes = 0;
    for (i, &c) in uri.iter().enumerate() {
        if c == b'/' {
            slashes += 1;
            if spec.depth > 0 && slashes == spec.depth + 1 {
                return &uri[..i];
            }
        } else if c == b'?' && !spec.whole {
            return &uri[..i];
        }
    }
    uri
}

/// The path (with its query) of an absolute-form target; other targets as they are
/// (`*` has no path: empty).
fn path_of(target: &[u8]) -> &[u8] {
    if target == b"*" {
        return b"";
    }
    if target.first() == Some(&b'/') {
        return target;
    }
    let Some(scheme_end) = target.windows(3).position(|w| w == b"://") else {
        return b""; // authority form (CONNECT): no path
    };
    let rest = &target[scheme_end + 3..];
    match rest.iter().position(|&c| c == b'/' || c == b'?') {
        Some(p) => &rest[p..],
        None => b"",
    }
}

/// The value of query parameter `name` (up to the next `&`), the first one there is.
fn param_value<'a>(target: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let q = target.iter().position(|&c| c == b'?')?;
    target[q + 1..].split(|&c| c == b'&').find_map(|kv| {
        (kv.len() > name.len() && kv.starts_with(name) && kv[name.len()] == b'=')
            .then(|| &kv[name.len() + 1..])
    })
}

/// `balance hdr(name)`: the field's first value (`None` when empty); with
/// `use_domain_only`, only the label before the last dot (`www.example.com` →
/// `example`; a name without a dot is taken whole).
fn header_key(value: &[u8], domain_only: bool) -> Option<&[u8]> {
    let first = value.split(|&c| c == b',').next().unwrap_or(value);
    let v = first.trim_ascii();
    if v.is_empty() {
        return None;
    }
    if !domain_only {
        return Some(v);
    }
    let Some(last_dot) = v.iter().rposition(|&c| c == b'.') else {
        return Some(v);
    };
    let start = v[..last_dot]
        .iter()
        .rposition(|&c| c == b'.')
        .map_or(0, |p| p + 1);
    Some(&v[start..last_dot])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> HashSpec {
        HashSpec::default()
    }

    #[test]
    fn functions_match_haproxy() {
        // Reference values computed from HAProxy's definitions (src/hash.c).
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        // sdbm("ab") = 'b' + (97 << 6) + (97 << 16) - 97
        assert_eq!(sdbm(b"ab"), 98 + (97 << 6) + (97 << 16) - 97);
        assert_eq!(djb2(b""), 5381);
        assert_eq!(djb2(b"a"), 5381 * 33 + 97);
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
        // wt6 of nothing is its seeds xored.
        assert_eq!(wt6(b""), 0xa53c_965a ^ 0x5ca6_953a);
        assert_ne!(wt6(b"a"), wt6(b"b"));
        // full_hash(0): the constants alone.
        assert_eq!(avalanche(0), avalanche(0));
        assert_ne!(avalanche(1), avalanche(2));
    }

    #[test]
    fn uri_key_options() {
        let mut s = spec();
        assert_eq!(uri_key(&s, b"/a/b/c?x=1"), b"/a/b/c");
        s.whole = true;
        assert_eq!(uri_key(&s, b"/a/b/c?x=1"), b"/a/b/c?x=1");
        s.whole = false;
        s.depth = 2;
        assert_eq!(uri_key(&s, b"/a/b/c?x=1"), b"/a/b");
        assert_eq!(uri_key(&s, b"/a"), b"/a");
        s.depth = 0;
        s.len = 4;
        assert_eq!(uri_key(&s, b"/a/b/c?x=1"), b"/a/b");
        s.len = 0;
        assert_eq!(uri_key(&s, b"http://h.example/p?q"), b"http://h.example/p");
        s.path_only = true;
        assert_eq!(uri_key(&s, b"http://h.example/p?q"), b"/p");
        assert_eq!(uri_key(&s, b"http://h.example"), b"");
        assert_eq!(uri_key(&s, b"/p"), b"/p");
        assert_eq!(uri_key(&s, b"*"), b"");
    }

    #[test]
    fn url_param_finds_the_first_exact_name() {
        assert_eq!(
            param_value(b"/p?a=1&user=bob&x=2", b"user"),
            Some(&b"bob"[..])
        );
        assert_eq!(
            param_value(b"/p?username=x&user=y", b"user"),
            Some(&b"y"[..])
        );
        // An empty value is hashed (as HAProxy does), a name without `=` is not there.
        assert_eq!(param_value(b"/p?user=", b"user"), Some(&b""[..]));
        assert_eq!(param_value(b"/p?user", b"user"), None);
        assert_eq!(param_value(b"/p", b"user"), None);
        assert_eq!(param_value(b"/p?a=1&user=z", b"user"), Some(&b"z"[..]));
    }

    #[test]
    fn header_key_and_domain_only() {
        assert_eq!(
            header_key(b"www.example.com", false),
            Some(&b"www.example.com"[..])
        );
        assert_eq!(header_key(b"www.example.com", true), Some(&b"example"[..]));
        assert_eq!(header_key(b"example.com", true), Some(&b"example"[..]));
        assert_eq!(header_key(b"localhost", true), Some(&b"localhost"[..]));
        assert_eq!(header_key(b" a , b", false), Some(&b"a"[..]));
        assert_eq!(header_key(b"  ", false), None);
    }

    #[test]
    fn request_hash_only_for_hashing_balances() {
        let mut s = spec();
        s.param = "id".into();
        s.header = "host".into();
        let none = |_: &str| None;
        assert_eq!(request_hash(Balance::Roundrobin, &s, b"/x", none), None);
        assert_eq!(
            request_hash(Balance::Uri, &s, b"/x?y", none),
            Some(sdbm(b"/x"))
        );
        assert_eq!(request_hash(Balance::UrlParam, &s, b"/x", none), None);
        assert_eq!(
            request_hash(Balance::UrlParam, &s, b"/x?id=7", none),
            Some(sdbm(b"7"))
        );
        let host = |n: &str| (n == "host").then_some(&b"a.b.c"[..]);
        assert_eq!(
            request_hash(Balance::Hdr, &s, b"/", host),
            Some(sdbm(b"a.b.c"))
        );
        assert_eq!(request_hash(Balance::Hdr, &s, b"/", none), None);
        s.avalanche = true;
        assert_eq!(
            request_hash(Balance::Uri, &s, b"/x", none),
            Some(avalanche(sdbm(b"/x")))
        );
    }
}
