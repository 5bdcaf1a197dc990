//! What became of every input line: translated (cited in a TOML comment), noted (no
//! effect to carry, said in the output's header) or lost (`FILE:LINE: directive: not
//! translated: why` on stderr). A line can also lose some of its options while the
//! rest is translated. The exit status follows from the lost list.

use std::collections::BTreeMap;
use std::fmt;

/// Exit status: everything translated.
pub const EXIT_COMPLETE: u8 = 0;
/// Exit status: the input does not parse (the error names `FILE:LINE`).
pub const EXIT_PARSE: u8 = 1;
/// Exit status: translated in part; the lost lines are listed on stderr.
pub const EXIT_PARTIAL: u8 = 3;

/// One input line: where it is and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Src {
    pub file: String,
    pub line: usize,
    /// The line as written, trimmed.
    pub text: String,
    /// Its directive (`server`, `option httpchk`, `timeout client`...).
    pub directive: String,
}

impl Src {
    /// `haproxy.cfg:42: server web1 10.0.0.1:80 check`
    pub fn cite(&self) -> String {
        format!("{}:{}: {}", self.file, self.line, self.text)
    }

    /// The citation and how ringlb's behaviour differs.
    pub fn differs(&self, how: &str) -> String {
        format!("{} (differs: {how})", self.cite())
    }
}

/// A line, or an option of a line, that was not translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub file: String,
    pub line: usize,
    pub directive: String,
    pub why: String,
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: not translated: {}",
            self.file, self.line, self.directive, self.why
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Note(String),
    Done,
    Lost(String),
}

#[derive(Debug)]
struct Entry {
    src: Src,
    outcome: Option<Outcome>,
    parts: Vec<(String, String)>,
}

/// Every line's outcome, keyed by file order and line number.
#[derive(Debug, Default)]
pub struct Ledger {
    files: Vec<String>,
    entries: BTreeMap<(usize, usize), Entry>,
}

impl Ledger {
    /// Register a line (every meaningful input line must be registered).
    pub fn add(&mut self, src: &Src) {
        let f = match self.files.iter().position(|f| *f == src.file) {
            Some(i) => i,
            None => {
                self.files.push(src.file.clone());
                self.files.len() - 1
            }
        };
        self.entries.entry((f, src.line)).or_insert_with(|| Entry {
            src: src.clone(),
            outcome: None,
            parts: Vec::new(),
        });
    }

    fn entry(&mut self, src: &Src) -> &mut Entry {
        self.add(src);
        let f = self.files.iter().position(|f| *f == src.file).unwrap_or(0);
        self.entries
            .get_mut(&(f, src.line))
            .expect("entry was just added")
    }

    fn set(&mut self, src: &Src, new: Outcome) {
        let e = self.entry(src);
        let rank = |o: &Option<Outcome>| match o {
            None => 0,
            Some(Outcome::Note(_)) => 1,
            Some(Outcome::Done) => 2,
            Some(Outcome::Lost(_)) => 3,
        };
        let new = Some(new);
        if rank(&new) >= rank(&e.outcome) && !matches!(e.outcome, Some(Outcome::Lost(_))) {
            e.outcome = new;
        }
    }

    /// Translated: the output cites the line.
    pub fn done(&mut self, src: &Src) {
        self.set(src, Outcome::Done);
    }

    /// Nothing to carry over (said once in the output's header, with why).
    pub fn note(&mut self, src: &Src, why: impl Into<String>) {
        self.set(src, Outcome::Note(why.into()));
    }

    /// Not translated.
    pub fn lost(&mut self, src: &Src, why: impl Into<String>) {
        self.set(src, Outcome::Lost(why.into()));
    }

    /// One option of a line not translated (the line itself may be).
    pub fn lost_part(&mut self, src: &Src, directive: impl Into<String>, why: impl Into<String>) {
        let part = (directive.into(), why.into());
        let e = self.entry(src);
        if !e.parts.contains(&part) {
            e.parts.push(part);
        }
    }

    /// Whether a line was given an outcome.
    pub fn decided(&self, src: &Src) -> bool {
        let Some(f) = self.files.iter().position(|f| *f == src.file) else {
            return false;
        };
        self.entries
            .get(&(f, src.line))
            .is_some_and(|e| e.outcome.is_some())
    }

    /// Lines registered but never decided: lost, so that nothing is dropped silently.
    pub fn close(&mut self) {
        for e in self.entries.values_mut() {
            if e.outcome.is_none() {
                e.outcome = Some(Outcome::Lost(
                    "no ringlb equivalent is known to the importer".into(),
                ));
            }
        }
    }

    /// Every lost line and option, in file and line order.
    pub fn lost_list(&self) -> Vec<Lost> {
        let mut out = Vec::new();
        for e in self.entries.values() {
            if let Some(Outcome::Lost(why)) = &e.outcome {
                out.push(Lost {
                    file: e.src.file.clone(),
                    line: e.src.line,
                    directive: e.src.directive.clone(),
                    why: why.clone(),
                });
            }
            for (directive, why) in &e.parts {
                out.push(Lost {
                    file: e.src.file.clone(),
                    line: e.src.line,
                    directive: directive.clone(),
                    why: why.clone(),
                });
            }
        }
        out
    }

    /// Comment lines for the lines noted as having nothing to carry over.
    pub fn notes(&self) -> Vec<String> {
        self.entries
            .values()
            .filter_map(|e| match &e.outcome {
                Some(Outcome::Note(why)) => Some(format!("{}: {why}", e.src.cite())),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(line: usize) -> Src {
        Src {
            file: "h.cfg".into(),
            line,
            text: "x y".into(),
            directive: "x".into(),
        }
    }

    #[test]
    fn lost_wins_and_undecided_lines_are_lost() {
        let mut l = Ledger::default();
        l.done(&src(1));
        l.lost(&src(1), "no");
        l.done(&src(1));
        l.note(&src(2), "harmless");
        l.done(&src(2));
        l.add(&src(3));
        l.close();
        let lost = l.lost_list();
        assert_eq!(lost.len(), 2);
        assert_eq!(lost[0].to_string(), "h.cfg:1: x: not translated: no");
        assert_eq!(lost[1].line, 3);
        assert!(l.notes().is_empty());
    }

    #[test]
    fn parts_are_listed_under_their_line() {
        let mut l = Ledger::default();
        l.done(&src(4));
        l.lost_part(&src(4), "server a maxqueue", "per-backend queue");
        l.note(&src(5), "harmless");
        assert_eq!(
            l.lost_list()[0].to_string(),
            "h.cfg:4: server a maxqueue: not translated: per-backend queue"
        );
        assert_eq!(l.notes(), ["h.cfg:5: x y: harmless"]);
    }
}
