//! Lists of string patterns with one match method (HAProxy's `-m str|beg|end|dom|reg`
//! and `-i`): a list matches when any of its patterns does. Everything is prepared
//! at load (values sorted and lower-cased, regexes compiled into one `RegexSet`), and
//! matching allocates nothing.

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::RuleError;

/// Compiled size limit of one regex or one ACL's set of regexes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest regex source accepted.
pub const REGEX_MAX_LEN: usize = 4096;

/// How the patterns of a list are compared with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The whole value (a binary search over the sorted list).
    Exact,
    /// The value starts with a pattern.
    Prefix,
    /// The value ends with a pattern.
    Suffix,
    /// Domain names: `example.com` matches itself and every name below it
    /// (`a.example.com`), `.example.com` only the names below it. Labels are
    /// compared whole: `badexample.com` matches neither. Always case-insensitive.
    Domain,
    /// A regex found anywhere in the value (anchor it with `^…$`).
    Regex,
}

/// A list of patterns; see [`Method`].
#[derive(Debug, Clone)]
pub struct Patterns {
    method: Method,
    ignore_case: bool,
    /// Exact: sorted. Prefix, Suffix: as given. Domain: names matching themselves and
    /// below, sorted. Lower-cased when ignoring case.
    values: Box<[Box<[u8]>]>,
    /// Domain only: names matching only below themselves, sorted.
    below: Box<[Box<[u8]>]>,
    regex: Option<RegexSet>,
}

impl Patterns {
    pub fn new<S: AsRef<[u8]>>(
        method: Method,
        values: impl IntoIterator<Item = S>,
        ignore_case: bool,
    ) -> Result<Self, RuleError> {
        let ignore_case = ignore_case || method == Method::Domain;
        let prep = |v: &[u8]| -> Box<[u8]> {
            if ignore_case {
                v.to_ascii_lowercase().into()
            } else {
                v.into()
            }
        };
        let mut p = Patterns {
            method,
            ignore_case,
            values: Box::default(),
            below: Box::default(),
            regex: None,
        };
        let values: Vec<S> = values.into_iter().collect();
        if values.is_empty() {
            return Err(RuleError::Invalid("a pattern list needs a value".into()));
        }
        match method {
            Method::Regex => p.regex = Some(regex_set(&values, ignore_case)?),
            Method::Domain => {
                let (mut own, mut below) = (Vec::new(), Vec::new());
                for v in &values {
                    match v.as_ref().strip_prefix(b".") {
                        Some(rest) => below.push(prep(rest)),
                        None => own.push(prep(v.as_ref())),
                    }
                }
                own.sort_unstable();
                below.sort_unstable();
                (p.values, p.below) = (own.into(), below.into());
            }
            _ => {
                let mut v: Vec<Box<[u8]>> = values.iter().map(|v| prep(v.as_ref())).collect();
                if method == Method::Exact {
                    v.sort_unstable();
                    v.dedup();
                }
                p.values = v.into();
            }
        }
        Ok(p)
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn ignores_case(&self) -> bool {
        self.ignore_case
    }

    pub fn matches(&self, value: &[u8]) -> bool {
        let ic = self.ignore_case;
        match self.method {
            Method::Exact => contains(&self.values, value, ic),
            Method::Prefix => self
                .values
                .iter()
                .any(|p| value.len() >= p.len() && eq(&value[..p.len()], p, ic)),
            Method::Suffix => self
                .values
                .iter()
                .any(|p| value.len() >= p.len() && eq(&value[value.len() - p.len()..], p, ic)),
            Method::Domain => {
                contains(&self.values, value, true)
                    || value.iter().enumerate().any(|(i, &b)| {
                        b == b'.' && {
                            let parent = &value[i + 1..];
                            contains(&self.values, parent, true)
                                || contains(&self.below, parent, true)
                        }
                    })
            }
            Method::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }
}

/// `value` equals `pattern` (already lower-cased when ignoring case).
fn eq(value: &[u8], pattern: &[u8], ic: bool) -> bool {
    if ic {
        value.eq_ignore_ascii_case(pattern)
    } else {
        value == pattern
    }
}

/// Binary search of `value` in `sorted` (lower-cased when `ic`), folding `value`'s
/// case on the fly.
fn contains(sorted: &[Box<[u8]>], value: &[u8], ic: bool) -> bool {
    if !ic {
        return sorted.binary_search_by(|p| (**p).cmp(value)).is_ok();
    }
    sorted
        .binary_search_by(|p| {
            let folded = value.iter().map(u8::to_ascii_lowercase);
            p.iter().copied().cmp(folded)
        })
        .is_ok()
}

fn regex_set<S: AsRef<[u8]>>(values: &[S], ignore_case: bool) -> Result<RegexSet, RuleError> {
    let mut sources = Vec::with_capacity(values.len());
    for v in values {
        let s = std::str::from_utf8(v.as_ref())
            .map_err(|_| RuleError::Invalid("a regex must be UTF-8".into()))?;
        // Compiled alone first, so that an error names the pattern at fault.
        regex(s, ignore_case)?;
        sources.push(s);
    }
    RegexSetBuilder::new(&sources)
        .case_insensitive(ignore_case)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RuleError::Regex {
            pattern: sources.join(" "),
            source: Box::new(e),
        })
}

/// One regex, bounded in size (`replace_path`, and every pattern of a set).
pub fn regex(source: &str, ignore_case: bool) -> Result<Regex, RuleError> {
    if source.len() > REGEX_MAX_LEN {
        return Err(RuleError::Invalid(format!(
            "regex longer than {REGEX_MAX_LEN} bytes"
        )));
    }
    RegexBuilder::new(source)
        .case_insensitive(ignore_case)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RuleError::Regex {
            pattern: source.to_string(),
            source: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(method: Method, values: &[&str], ic: bool) -> Patterns {
        Patterns::new(method, values.iter().copied(), ic).expect("valid patterns")
    }

    #[test]
    fn exact_with_and_without_case() {
        let s = p(Method::Exact, &["/admin", "/b", "/a"], false);
        assert!(s.matches(b"/admin") && s.matches(b"/a") && s.matches(b"/b"));
        assert!(!s.matches(b"/ADMIN") && !s.matches(b"/admin/") && !s.matches(b""));
        let i = p(Method::Exact, &["/Admin"], true);
        assert!(i.matches(b"/ADMIN") && i.matches(b"/admin") && !i.matches(b"/admins"));
    }

    #[test]
    fn prefix_and_suffix() {
        let b = p(Method::Prefix, &["/api/", "/static"], false);
        assert!(b.matches(b"/api/x") && b.matches(b"/static.css"));
        assert!(!b.matches(b"/api") && !b.matches(b"/API/x"));
        let e = p(Method::Suffix, &[".php", ".ASP"], true);
        assert!(e.matches(b"/x.PHP") && e.matches(b"/x.asp") && !e.matches(b"/php"));
    }

    #[test]
    fn domains_match_whole_labels() {
        let d = p(Method::Domain, &["example.com", ".internal.net"], false);
        for yes in [
            "example.com",
            "EXAMPLE.com",
            "a.example.com",
            "a.b.internal.net",
        ] {
            assert!(d.matches(yes.as_bytes()), "{yes}");
        }
        for no in ["badexample.com", "internal.net", "example.org", "com", ""] {
            assert!(!d.matches(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn regexes() {
        let r = p(Method::Regex, &["^/u/[0-9]+$", "\\.bak$"], false);
        assert!(r.matches(b"/u/42") && r.matches(b"/x.bak") && !r.matches(b"/u/x"));
        let ri = p(Method::Regex, &["^/ADMIN"], true);
        assert!(ri.matches(b"/admin/x"));
        assert!(r.matches(b"/u/1") && !r.matches(b"\xff/u/1"));
    }

    #[test]
    fn bad_lists() {
        let err = Patterns::new(Method::Regex, ["ok", "(unclosed"], false).expect_err("bad");
        assert!(err.to_string().contains("(unclosed"), "{err}");
        let huge = "^(a{1,1000}){1,1000}$";
        assert!(Patterns::new(Method::Regex, [huge], false).is_err());
        assert!(Patterns::new(Method::Exact, Vec::<&str>::new(), false).is_err());
        assert!(regex(&"a".repeat(REGEX_MAX_LEN + 1), false).is_err());
    }
}
