//! The agent's answer, parsed as HAProxy parses it (pure): one line of words
//! separated by spaces, tabs or commas, in any order, optionally ended by CR/LF:
//! `up`; `down`, `fail`, `stopped` (operationally down, the word shown); `ready`,
//! `drain`, `maint` (administrative state); `75%` (weight relative to the configured
//! one); `maxconn:N` (accepted, not applied); and after `#`, a reason for the stats
//! page. Words the agent does not say change nothing.

use crate::lb::{Admin, WEIGHT_SCALE};

/// What one agent answer says. `None`: not said, unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentReply {
    /// `Some(None)`: up; `Some(Some(word))`: down, with the agent's word.
    pub down: Option<Option<&'static str>>,
    pub admin: Option<Admin>,
    /// Percent of the configured weight.
    pub weight_percent: Option<u32>,
    /// What followed `#`.
    pub reason: Option<String>,
    /// Words not understood (ignored, shown).
    pub unknown: Vec<String>,
}

/// Longest agent answer read (HAProxy reads one buffer; an agent says a line).
pub const MAX_ANSWER: usize = 1024;

/// The first line of `raw`. An answer with no word understood is an error (the agent
/// check failed; as in HAProxy that changes nothing of the server).
pub fn parse_agent(raw: &[u8]) -> Result<AgentReply, String> {
    let line = raw
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or(b"");
    let line = String::from_utf8_lossy(line);
    let (words, reason) = match line.split_once('#') {
        Some((w, r)) => (w, Some(r.trim().to_string()).filter(|r| !r.is_empty())),
        None => (&*line, None),
    };
    let mut reply = AgentReply {
        reason,
        ..AgentReply::default()
    };
    let mut understood = 0;
    for word in words.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
        let known = match word.to_ascii_lowercase().as_str() {
            "up" => set(&mut reply.down, None),
            "down" => set(&mut reply.down, Some("down")),
            "fail" | "failed" => set(&mut reply.down, Some("fail")),
            "stopped" => set(&mut reply.down, Some("stopped")),
            "ready" => set(&mut reply.admin, Admin::Ready),
            "drain" => set(&mut reply.admin, Admin::Drain),
            "maint" => set(&mut reply.admin, Admin::Maint),
            w if w.starts_with("maxconn:") => true,
            w => percent(w).is_some_and(|p| set(&mut reply.weight_percent, p)),
        };
        if known {
            understood += 1;
        } else {
            reply.unknown.push(word.chars().take(32).collect());
        }
    }
    if understood == 0 {
        let shown: String = line.chars().take(64).collect();
        return Err(if shown.trim().is_empty() {
            "the agent said nothing".to_string()
        } else {
            format!("agent answer not understood: {shown:?}")
        });
    }
    Ok(reply)
}

/// Record what a word says (a later word wins); true: the word was understood.
fn set<T>(slot: &mut Option<T>, value: T) -> bool {
    *slot = Some(value);
    true
}

/// `75%` → 75 (HAProxy caps what it reads at 25600%).
fn percent(word: &str) -> Option<u32> {
    let digits = word.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u64>().map_or(25_600, |n| n.min(25_600)) as u32)
}

/// The balancer weight of a server whose configured weight scaled for the balancers
/// (and ramped by slow start) is `scaled`, when its agent says `percent`: HAProxy's
/// `iweight * percent / 100`, at most the largest weight (256). Computed on the scaled
/// weight, so that 50% of a weight-1 server is half of it, not zero.
pub fn agent_weight(scaled: u32, percent: u32) -> u32 {
    let max = 256 * WEIGHT_SCALE;
    (u64::from(scaled) * u64::from(percent) / 100).min(u64::from(max)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AgentReply {
        parse_agent(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn single_words() {
        assert_eq!(p("up\n").down, Some(None));
        assert_eq!(p("down\r\n").down, Some(Some("down")));
        assert_eq!(p("DOWN").down, Some(Some("down")));
        assert_eq!(p("fail").down, Some(Some("fail")));
        assert_eq!(p("stopped").down, Some(Some("stopped")));
        assert_eq!(p("ready").admin, Some(Admin::Ready));
        assert_eq!(p("drain").admin, Some(Admin::Drain));
        assert_eq!(p("maint").admin, Some(Admin::Maint));
        assert_eq!(p("75%").weight_percent, Some(75));
        assert_eq!(p("0%").weight_percent, Some(0));
        assert_eq!(p("999999999999%").weight_percent, Some(25_600));
        // A word not said is left alone.
        let r = p("75%");
        assert_eq!((r.down, r.admin), (None, None));
    }

    #[test]
    fn several_words_in_any_order_with_a_reason() {
        let r = p("ready,up 50%\tmaxconn:30 # back from backup\n");
        assert_eq!(r.down, Some(None));
        assert_eq!(r.admin, Some(Admin::Ready));
        assert_eq!(r.weight_percent, Some(50));
        assert_eq!(r.reason.as_deref(), Some("back from backup"));
        assert!(r.unknown.is_empty());
        let r = p("stopped#disk full");
        assert_eq!(r.down, Some(Some("stopped")));
        assert_eq!(r.reason.as_deref(), Some("disk full"));
        // Only the first line counts.
        assert_eq!(p("drain\nmaint\n").admin, Some(Admin::Drain));
    }

    #[test]
    fn unknown_words_are_ignored_but_an_answer_of_nothing_known_fails() {
        let r = p("up banana");
        assert_eq!(r.unknown, vec!["banana".to_string()]);
        for bad in [
            "",
            "\n",
            "   ",
            "hello",
            "75",
            "%",
            "x%",
            "-5%",
            "#only a reason",
        ] {
            assert!(parse_agent(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert_eq!(parse_agent(b"").unwrap_err(), "the agent said nothing");
        assert!(parse_agent(b"hello\n").unwrap_err().contains("\"hello\""));
    }

    #[test]
    fn weights_are_relative_to_the_configured_weight() {
        let w = |weight: u32| weight * WEIGHT_SCALE;
        assert_eq!(agent_weight(w(100), 75), w(75));
        assert_eq!(agent_weight(w(1), 50), w(1) / 2);
        assert_eq!(agent_weight(w(10), 0), 0);
        assert_eq!(agent_weight(w(200), 200), w(256));
        assert_eq!(agent_weight(w(256), 25_600), w(256));
        assert_eq!(agent_weight(0, 100), 0);
    }
}
