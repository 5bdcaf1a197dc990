//! Conditions in HAProxy's syntax, parsed once at load: ACL names separated by spaces
//! are ANDed, `||` or `or` separates alternatives (AND binds tighter), `!` before a
//! name negates it (`!name` or `! name`); `unless` negates the whole condition.
//! Anonymous ACLs (`{ … }`) are not supported: they are named in the configuration.
//!
//! The compiled form is one flat array of terms (ACL index, negated, last of its
//! group); evaluation short-circuits inside a group and stops at the first group
//! that holds. The caller memoizes ACL results, so an ACL used twice is tested once.

use super::RuleError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Term {
    acl: u32,
    negated: bool,
    ends_group: bool,
}

/// A compiled `if`/`unless` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    terms: Box<[Term]>,
    unless: bool,
}

impl Cond {
    /// Parse `text`; `resolve` gives the index of an ACL name.
    pub fn parse(
        text: &str,
        unless: bool,
        resolve: impl Fn(&str) -> Option<u32>,
    ) -> Result<Self, RuleError> {
        let bad = |reason| RuleError::BadCondition {
            text: text.to_string(),
            reason,
        };
        let mut terms: Vec<Term> = Vec::new();
        // A group is open (a term was seen since the last `||`), a `!` is pending.
        let (mut open, mut negate) = (false, false);
        for tok in text.split_ascii_whitespace() {
            match tok {
                "||" | "or" => {
                    if !open || negate {
                        return Err(bad("`||` needs a condition on both sides"));
                    }
                    if let Some(last) = terms.last_mut() {
                        last.ends_group = true;
                    }
                    open = false;
                }
                "!" => {
                    if negate {
                        return Err(bad("double negation"));
                    }
                    negate = true;
                }
                _ if tok.starts_with('{') || tok.ends_with('}') => {
                    return Err(bad(
                        "anonymous ACLs ({ … }) are not supported: name the ACL",
                    ));
                }
                _ => {
                    let (neg, name) = match tok.strip_prefix('!') {
                        Some(rest) if negate || rest.starts_with('!') => {
                            return Err(bad("double negation"))
                        }
                        Some(rest) => (true, rest),
                        None => (negate, tok),
                    };
                    let acl = resolve(name).ok_or_else(|| RuleError::UnknownAcl(name.into()))?;
                    terms.push(Term {
                        acl,
                        negated: neg,
                        ends_group: false,
                    });
                    (open, negate) = (true, false);
                }
            }
        }
        if negate {
            return Err(bad("`!` needs an ACL name after it"));
        }
        if terms.is_empty() {
            return Err(bad("empty condition"));
        }
        if !open {
            return Err(bad("`||` needs a condition on both sides"));
        }
        if let Some(last) = terms.last_mut() {
            last.ends_group = true;
        }
        Ok(Cond {
            terms: terms.into(),
            unless,
        })
    }

    pub fn is_unless(&self) -> bool {
        self.unless
    }

    /// The ACLs the condition uses (with repeats).
    pub fn acls(&self) -> impl Iterator<Item = usize> + '_ {
        self.terms.iter().map(|t| t.acl as usize)
    }

    /// The condition, with `acl(i)` giving ACL `i`'s result (called only as needed).
    pub fn eval(&self, mut acl: impl FnMut(usize) -> bool) -> bool {
        let mut group_holds = true;
        for t in self.terms.iter() {
            if group_holds {
                group_holds = acl(t.acl as usize) != t.negated;
            }
            if t.ends_group {
                if group_holds {
                    return !self.unless;
                }
                group_holds = true;
            }
        }
        self.unless
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 4] = ["a", "b", "c", "d"];

    fn parse(text: &str) -> Result<Cond, RuleError> {
        Cond::parse(text, false, |n| {
            NAMES.iter().position(|x| *x == n).map(|i| i as u32)
        })
    }

    /// The condition over every assignment of a, b, c, d (bit i = ACL i).
    fn truth(text: &str) -> Vec<bool> {
        let c = parse(text).expect("valid");
        (0..16u32)
            .map(|bits| c.eval(|i| bits >> i & 1 == 1))
            .collect()
    }

    fn table(f: impl Fn(bool, bool, bool, bool) -> bool) -> Vec<bool> {
        (0..16u32)
            .map(|b| f(b & 1 == 1, b & 2 == 2, b & 4 == 4, b & 8 == 8))
            .collect()
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(truth("a b || c"), table(|a, b, c, _| (a && b) || c));
        assert_eq!(truth("a || b c"), table(|a, b, c, _| a || (b && c)));
        assert_eq!(
            truth("a or b c or d"),
            table(|a, b, c, d| a || (b && c) || d)
        );
        assert_eq!(truth("a b c d"), table(|a, b, c, d| a && b && c && d));
    }

    #[test]
    fn negation() {
        assert_eq!(truth("!a"), table(|a, _, _, _| !a));
        assert_eq!(truth("! a b"), table(|a, b, _, _| !a && b));
        assert_eq!(truth("a !b || !c"), table(|a, b, c, _| (a && !b) || !c));
    }

    #[test]
    fn unless_negates_the_whole() {
        let c = Cond::parse("a || b", true, |n| {
            NAMES.iter().position(|x| *x == n).map(|i| i as u32)
        })
        .expect("valid");
        assert!(c.is_unless());
        assert!(!c.eval(|i| i == 1));
        assert!(c.eval(|_| false));
    }

    #[test]
    fn short_circuit() {
        let c = parse("a b || c").expect("valid");
        let mut asked = Vec::new();
        assert!(c.eval(|i| {
            asked.push(i);
            i == 2
        }));
        assert_eq!(asked, [0, 2], "b is not asked once a is false");
        let mut asked = Vec::new();
        assert!(c.eval(|i| {
            asked.push(i);
            true
        }));
        assert_eq!(asked, [0, 1], "c is not asked once a b holds");
        assert_eq!(c.acls().collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn errors() {
        let e = parse("a nosuch").expect_err("unknown").to_string();
        assert!(e.contains("\"nosuch\""), "{e}");
        assert!(matches!(parse("!nosuch"), Err(RuleError::UnknownAcl(n)) if n == "nosuch"));
        for bad in [
            "",
            "   ",
            "||",
            "a ||",
            "|| a",
            "a || || b",
            "a or",
            "!",
            "a !",
            "! || a",
            "!!a",
            "! !a",
            "{ src 1.2.3.4 }",
            "a }",
        ] {
            assert!(
                matches!(parse(bad), Err(RuleError::BadCondition { .. })),
                "{bad:?}: {:?}",
                parse(bad)
            );
        }
    }
}
