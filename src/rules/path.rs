//! The request path as rules see it. A path condition must not be bypassed by
//! spelling the same resource differently (`/%61dmin`, `/./admin`, `/x/../admin`,
//! `//admin`), so conditions match a normalized path (RFC 3986 6.2.2):
//!
//! 1. the query is split off first and never normalized;
//! 2. percent-encoded unreserved characters (`ALPHA DIGIT - . _ ~`) are decoded, other
//!    percent-encodings are upper-cased (`%2f` → `%2F`, which stays encoded: an
//!    encoded slash is data, not a separator); a `%` not followed by two hex digits is
//!    left as it is;
//! 3. optionally, runs of `/` become one;
//! 4. dot-segments are removed (RFC 3986 5.2.4): `..` above the root stays at the root,
//!    a trailing slash is kept.
//!
//! Case is kept: `/ADMIN` and `/admin` differ unless a matcher ignores case.

/// The path and the raw query (without its `?`) of an origin-form request target.
pub fn split_target(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], Some(&target[q + 1..])),
        None => (target, None),
    }
}

/// Normalize `path` (without its query) into `out`, which is cleared first and keeps
/// its capacity from one request to the next.
pub fn normalize_path(path: &[u8], merge_slashes: bool, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%' {
            let hi = path.get(i + 1).copied().and_then(hex_value);
            let lo = path.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                let v = hi << 4 | lo;
                if is_unreserved(v) {
                    out.push(v);
                } else {
                    out.extend_from_slice(&[b'%', HEX[hi as usize], HEX[lo as usize]]);
                }
                i += 3;
                continue;
            }
        }
        if !(b == b'/' && merge_slashes && out.last() == Some(&b'/')) {
            out.push(b);
        }
        i += 1;
    }
    remove_dot_segments(out);
}

/// The normalized path of the request being evaluated, computed on first use and
/// kept in buffers reused from one request to the next. After a rewrite
/// (`set_path`, `replace_path`) it is the rewritten path, normalized too.
#[derive(Debug, Default)]
pub struct LazyPath {
    buf: Vec<u8>,
    tmp: Vec<u8>,
    ready: bool,
    rewritten: bool,
    merge_slashes: bool,
}

impl LazyPath {
    /// Forget the previous request.
    pub fn reset(&mut self, merge_slashes: bool) {
        self.ready = false;
        self.rewritten = false;
        self.merge_slashes = merge_slashes;
    }

    /// The normalized path of `target` (`path[?query]`), computed once per request.
    pub fn get(&mut self, target: &[u8]) -> &[u8] {
        if !self.ready {
            normalize_path(split_target(target).0, self.merge_slashes, &mut self.buf);
            self.ready = true;
        }
        &self.buf
    }

    /// Rewrite the path: `f` gets the current normalized path and an empty buffer;
    /// when it returns true, the buffer (normalized) becomes the path.
    pub fn rewrite(&mut self, target: &[u8], f: impl FnOnce(&[u8], &mut Vec<u8>) -> bool) -> bool {
        self.get(target);
        self.tmp.clear();
        if !f(&self.buf, &mut self.tmp) {
            return false;
        }
        normalize_path(&self.tmp, self.merge_slashes, &mut self.buf);
        self.rewritten = true;
        true
    }

    /// The rewritten path, when a rule rewrote it.
    pub fn rewritten(&self) -> Option<&[u8]> {
        self.rewritten.then_some(&self.buf[..])
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 5.2.4, in place: the output (`buf[..w]`) never grows past the input still
/// to read (`buf[r..]`), so both live in one buffer.
fn remove_dot_segments(buf: &mut Vec<u8>) {
    let n = buf.len();
    let (mut r, mut w) = (0usize, 0usize);
    while r < n {
        let rest = &buf[r..];
        if rest.starts_with(b"../") {
            r += 3; // A
        } else if rest.starts_with(b"./") {
            r += 2; // A
        } else if rest.starts_with(b"/./") {
            r += 2; // B: "/./x" → "/x"
        } else if rest == b"/." {
            buf[r + 1] = b'/'; // B: "/." → "/"
            r += 1;
        } else if rest.starts_with(b"/../") {
            r += 3; // C: "/../x" → "/x", dropping the last output segment
            w = last_slash(&buf[..w]);
        } else if rest == b"/.." {
            buf[r + 2] = b'/'; // C: "/.." → "/", dropping the last output segment
            r += 2;
            w = last_slash(&buf[..w]);
        } else if rest == b"." || rest == b".." {
            r = n; // D
        } else {
            // E: move the first segment, with its leading "/", to the output.
            let start = r;
            let first = usize::from(buf[r] == b'/');
            let end = buf[r + first..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(n, |p| r + first + p);
            buf.copy_within(start..end, w);
            w += end - start;
            r = end;
        }
    }
    buf.truncate(w);
}

/// Where the last segment of `out` starts (its "/"), or 0.
fn last_slash(out: &[u8]) -> usize {
    out.iter().rposition(|&b| b == b'/').unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str, merge: bool) -> String {
        let mut out = Vec::new();
        normalize_path(path.as_bytes(), merge, &mut out);
        String::from_utf8(out).expect("ASCII in, ASCII out")
    }

    #[test]
    fn bypass_spellings_of_admin_all_become_admin() {
        for p in [
            "/admin",
            "/%61dmin",
            "/%61%64%6D%69%6e",
            "/./admin",
            "//admin",
            "/x/../admin",
            "/x/%2e%2e/admin",
            "/x/%2E%2E/admin",
            "/x/y/../../admin",
            "/../admin",
            "/../../admin",
            "/.//./admin",
            "///x/..//admin",
        ] {
            assert_eq!(norm(p, true), "/admin", "{p}");
        }
        assert_eq!(norm("/ADMIN", true), "/ADMIN", "case is kept");
    }

    #[test]
    fn without_merging_empty_segments_stay() {
        assert_eq!(norm("//admin", false), "//admin");
        assert_eq!(norm("/x//../admin", false), "/x/admin");
        assert_eq!(norm("/x/../admin", false), "/admin");
    }

    #[test]
    fn dot_segments_at_the_edges() {
        assert_eq!(norm("", true), "");
        assert_eq!(norm("/", true), "/");
        assert_eq!(norm("/.", true), "/");
        assert_eq!(norm("/..", true), "/");
        assert_eq!(norm("/a/.", true), "/a/");
        assert_eq!(norm("/a/b/..", true), "/a/");
        assert_eq!(norm("/a/", true), "/a/", "trailing slash kept");
        assert_eq!(norm("/a/b/", true), "/a/b/");
        assert_eq!(norm("/a/.b/..c/...", true), "/a/.b/..c/...");
        assert_eq!(norm("*", true), "*");
        // RFC 3986 5.2.4's own examples.
        assert_eq!(norm("/a/b/c/./../../g", false), "/a/g");
        assert_eq!(norm("mid/content=5/../6", false), "mid/6");
        assert_eq!(norm("../a", false), "a");
        assert_eq!(norm("./a", false), "a");
    }

    #[test]
    fn percent_encodings() {
        assert_eq!(
            norm("/a%2fb", true),
            "/a%2Fb",
            "encoded slash stays encoded"
        );
        assert_eq!(
            norm("/a%2F..%2Fb", true),
            "/a%2F..%2Fb",
            "and is no separator"
        );
        assert_eq!(norm("/%7e%2D%5f%2e", true), "/~-_.");
        assert_eq!(norm("/%41%7A%30", true), "/Az0");
        assert_eq!(norm("/%3f%00%ff", true), "/%3F%00%FF");
        assert_eq!(norm("/bad%zz%4", true), "/bad%zz%4", "malformed left alone");
        assert_eq!(norm("/%", true), "/%");
        assert_eq!(norm("/%2", true), "/%2");
    }

    #[test]
    fn query_is_split_off_and_untouched() {
        assert_eq!(
            split_target(b"/a/../b?x=/../%61"),
            (&b"/a/../b"[..], Some(&b"x=/../%61"[..]))
        );
        assert_eq!(split_target(b"/a"), (&b"/a"[..], None));
        assert_eq!(split_target(b"/a?"), (&b"/a"[..], Some(&b""[..])));
    }

    #[test]
    fn lazy_path_normalizes_once_and_rewrites() {
        let mut p = LazyPath::default();
        p.reset(true);
        assert_eq!(p.get(b"/a/../b?q=/../"), b"/b");
        assert_eq!(p.get(b"/ignored"), b"/b", "computed once per request");
        assert_eq!(p.rewritten(), None);
        assert!(!p.rewrite(b"", |_, _| false));
        assert!(p.rewrite(b"", |cur, out| {
            out.extend_from_slice(b"/x/..//");
            out.extend_from_slice(cur);
            true
        }));
        assert_eq!(p.rewritten(), Some(&b"/b"[..]));
        p.reset(false);
        assert_eq!(p.get(b"//c"), b"//c");
        assert_eq!(p.rewritten(), None);
    }

    #[test]
    fn buffer_is_reused() {
        let mut out = Vec::with_capacity(64);
        let cap = out.capacity();
        normalize_path(b"/one/../two", true, &mut out);
        normalize_path(b"/three", true, &mut out);
        assert_eq!(out, b"/three");
        assert_eq!(out.capacity(), cap);
    }
}
