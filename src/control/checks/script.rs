//! The judge of a scripted check's `expect` steps (pure): what has arrived since the
//! last match either matches (and is consumed up to the end of the match), may still
//! match when more arrives, or has failed; and the excerpt of what arrived that a
//! failure shows ("got \"role:slave\"").

use crate::config::Step;

/// Most bytes an expect step waits through before it fails.
pub const MAX_EXPECT: usize = 16 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Judged {
    /// Matched: drop this many bytes (through the end of the match).
    Matched(usize),
    /// No match yet; read more.
    More,
    /// No match, and none can come (the peer closed, or [`MAX_EXPECT`] arrived).
    Failed(String),
}

/// Judge `got` (everything since the last match) against an expect step. `closed`:
/// the peer closed its side, nothing more will come.
pub fn judge(step: &Step, got: &[u8], closed: bool) -> Judged {
    let end = match step {
        Step::Send(_) => return Judged::Matched(0),
        Step::Expect(s) => find(got, s.as_bytes()).map(|i| i + s.len()),
        Step::ExpectRegex(r) => r.find(got).map(|m| m.end()),
    };
    match end {
        Some(e) => Judged::Matched(e),
        None if closed && got.is_empty() => {
            Judged::Failed("connection closed, nothing received".into())
        }
        None if closed => Judged::Failed(format!("got {} (connection closed)", excerpt(step, got))),
        None if got.len() >= MAX_EXPECT => Judged::Failed(format!(
            "got {} ({MAX_EXPECT} bytes, no match)",
            excerpt(step, got)
        )),
        None => Judged::More,
    }
}

/// The failure of an expect step that timed out with `got` received.
pub fn timed_out(step: &Step, got: &[u8], timeout: std::time::Duration) -> String {
    if got.is_empty() {
        format!("nothing received within {timeout:?}")
    } else {
        format!("got {} (no match within {timeout:?})", excerpt(step, got))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What to show of `got`: the line that looks most like what was expected (it shares
/// the longest start with it, at least 3 bytes, e.g. `role:slave` for `role:master`),
/// else the first non-empty line; quoted, escaped, at most 80 characters.
pub fn excerpt(step: &Step, got: &[u8]) -> String {
    let want: &[u8] = match step {
        Step::Expect(s) => s.as_bytes(),
        Step::ExpectRegex(r) => literal_prefix(r.as_str()),
        Step::Send(_) => b"",
    };
    let lines = got
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty());
    let mut best: Option<(&[u8], usize)> = None;
    let mut first = None;
    for line in lines {
        first.get_or_insert(line);
        let common = line.iter().zip(want).take_while(|(a, b)| a == b).count();
        if common >= 3 && best.is_none_or(|(_, c)| common > c) {
            best = Some((line, common));
        }
    }
    let line = best.map(|(l, _)| l).or(first).unwrap_or(got);
    let text = String::from_utf8_lossy(line);
    let mut shown: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        shown.push_str("...");
    }
    format!("{shown:?}")
}

/// The literal characters a regex starts with (`role:master` of `role:master\b`).
fn literal_prefix(pattern: &str) -> &[u8] {
    let end = pattern
        .find(|c: char| {
            !(c.is_ascii_alphanumeric() || c == ':' || c == '_' || c == '-' || c == ' ' || c == '=')
        })
        .unwrap_or(pattern.len());
    &pattern.as_bytes()[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn expect(s: &str) -> Step {
        Step::Expect(s.into())
    }

    fn regex(s: &str) -> Step {
        Step::ExpectRegex(regex::bytes::Regex::new(s).unwrap())
    }

    #[test]
    fn a_match_consumes_through_its_end() {
        assert_eq!(
            judge(&expect("+PONG"), b"+PONG\r\n", false),
            Judged::Matched(5)
        );
        assert_eq!(
            judge(&expect("PONG"), b"xx+PONG", false),
            Judged::Matched(7)
        );
        assert_eq!(
            judge(
                &regex("role:(master|primary)"),
                b"$90\r\n# Replication\r\nrole:master\r\n",
                false
            ),
            Judged::Matched(31)
        );
        assert_eq!(
            judge(&Step::Send(b"x".to_vec()), b"", false),
            Judged::Matched(0)
        );
    }

    #[test]
    fn no_match_waits_for_more_until_closed_or_full() {
        assert_eq!(judge(&expect("+PONG"), b"+PO", false), Judged::More);
        assert_eq!(judge(&expect("+PONG"), b"", false), Judged::More);
        assert_eq!(
            judge(&expect("+PONG"), b"-ERR unknown\r\n", true),
            Judged::Failed("got \"-ERR unknown\" (connection closed)".into())
        );
        assert_eq!(
            judge(&expect("+PONG"), b"", true),
            Judged::Failed("connection closed, nothing received".into())
        );
        let big = vec![b'x'; MAX_EXPECT];
        assert!(
            matches!(judge(&expect("y"), &big, false), Judged::Failed(m) if m.contains("no match"))
        );
    }

    #[test]
    fn the_excerpt_shows_the_line_that_looks_like_the_expected_one() {
        let info = b"$120\r\n# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\n";
        assert_eq!(excerpt(&expect("role:master"), info), "\"role:slave\"");
        assert_eq!(excerpt(&regex("role:master\\b"), info), "\"role:slave\"");
        assert_eq!(excerpt(&expect("+PONG"), b"-ERR x\r\n"), "\"-ERR x\"");
        let long = "a".repeat(100);
        assert_eq!(
            excerpt(&expect("zzz"), long.as_bytes()),
            format!("\"{}...\"", "a".repeat(80))
        );
        assert_eq!(
            timed_out(&expect("role:master"), info, Duration::from_millis(300)),
            "got \"role:slave\" (no match within 300ms)"
        );
        assert_eq!(
            timed_out(&expect("x"), b"", Duration::from_secs(1)),
            "nothing received within 1s"
        );
    }
}
