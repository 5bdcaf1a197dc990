//! Reading a haproxy.cfg into sections as HAProxy does: a section keyword starts a
//! section that runs to the next one; every other line belongs to the section above
//! it (a directive before any section is a parse error, as in HAProxy). `setenv` and
//! `presetenv` in `global` change the environment for the lines after them. Lines
//! are tokenized by [`crate::import::lex`].

use std::collections::HashMap;

use crate::import::lex::{self, Words};
use crate::import::report::{Ledger, Src};
use crate::import::ImportError;

/// One meaningful line: where it is and its words.
#[derive(Debug, Clone)]
pub struct Line {
    pub src: Src,
    pub words: Vec<String>,
}

impl Line {
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    Resolvers,
    Userlist,
    /// peers, cache, mailers, program, http-errors, ring...: not carried.
    Other,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub kind: Kind,
    /// Empty for `global` and an unnamed `defaults`.
    pub name: String,
    /// `from NAME`: the defaults section this one inherits from.
    pub from: Option<String>,
    pub head: Line,
    pub body: Vec<Line>,
}

const SECTIONS: &[(&str, Kind)] = &[
    ("global", Kind::Global),
    ("defaults", Kind::Defaults),
    ("frontend", Kind::Frontend),
    ("backend", Kind::Backend),
    ("listen", Kind::Listen),
    ("resolvers", Kind::Resolvers),
    ("peers", Kind::Other),
    ("userlist", Kind::Userlist),
    ("cache", Kind::Other),
    ("mailers", Kind::Other),
    ("program", Kind::Other),
    ("http-errors", Kind::Other),
    ("ring", Kind::Other),
    ("fcgi-app", Kind::Other),
    ("crt-store", Kind::Other),
    ("log-forward", Kind::Other),
    ("traces", Kind::Other),
];

/// Directive words that take their first argument into the directive's name.
const TWO_WORD: &[&str] = &[
    "option",
    "timeout",
    "http-request",
    "http-response",
    "http-after-response",
    "tcp-request",
    "tcp-response",
    "http-check",
    "tcp-check",
    "stats",
];

/// The directive of a line: `server`, `option httpchk`, `no option redispatch`.
pub fn directive(words: &[String]) -> String {
    let n = match words.first().map(String::as_str) {
        Some("no") | Some("default") => 3,
        Some(w) if TWO_WORD.contains(&w) => 2,
        _ => 1,
    };
    words
        .iter()
        .take(n)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Split a file into sections; every meaningful line is registered in `ledger`.
pub fn read(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    ledger: &mut Ledger,
) -> Result<Vec<Section>, ImportError> {
    let mut sections: Vec<Section> = Vec::new();
    let mut local: HashMap<String, String> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let lookup = |name: &str| local.get(name).cloned().or_else(|| env(name));
        let mut w: Words = lex::split(raw, &lookup).map_err(|e| ImportError::Parse {
            file: file.to_string(),
            line: no,
            message: e.to_string(),
        })?;
        match w.words.first().map(String::as_str) {
            Some("bind") => address_vars(&mut w, 1, &lookup),
            Some("server") => address_vars(&mut w, 2, &lookup),
            _ => {}
        }
        if w.words.is_empty() {
            continue;
        }
        let line = to_line(file, no, raw, &w);
        ledger.add(&line.src);
        note_lexing(&line, &w, ledger);
        if let Some(&(_, kind)) = SECTIONS.iter().find(|(k, _)| *k == line.word(0)) {
            sections.push(section(kind, line)?);
            continue;
        }
        if line.word(0).starts_with('.') {
            ledger.lost(
                &line.src,
                "conditional blocks and dot directives are not evaluated by the importer",
            );
            continue;
        }
        let Some(current) = sections.last_mut() else {
            return Err(ImportError::Parse {
                file: file.to_string(),
                line: no,
                message: format!("unknown keyword '{}' out of section", line.word(0)),
            });
        };
        if current.kind == Kind::Global && matches!(line.word(0), "setenv" | "presetenv") {
            let keep = line.word(0) == "presetenv" && lookup(line.word(1)).is_some();
            if !keep && line.words.len() >= 3 {
                local.insert(line.word(1).to_string(), line.word(2).to_string());
            }
        }
        current.body.push(line);
    }
    Ok(sections)
}

/// HAProxy expands `$NAME` and `${NAME}` in an address once more, quoted or not
/// (bind and server addresses go through its address parser, which does: HAProxy 2.6
/// listens on 8080 for `bind :$PORT` with PORT=8080, and refuses it with PORT unset);
/// an unset one becomes nothing, as in quotes. Word `at` of `w`. In a `bind` address
/// an unset one stays `${NAME}`: ringlb expands it from its own environment at load.
fn address_vars(w: &mut Words, at: usize, lookup: &dyn Fn(&str) -> Option<String>) {
    let Some(word) = w.words.get(at).filter(|x| x.contains('$')) else {
        return;
    };
    let mut out = String::new();
    let mut rest = word.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(b) => match b.find('}') {
                Some(end) => (&b[..end], end + 2),
                None => ("", 0),
            },
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push('$');
            rest = after;
            continue;
        }
        let value = lookup(name);
        if value.is_none() && at == 1 && w.words[0] == "bind" {
            out.push_str(&format!("${{{name}}}"));
            rest = &after[len..];
            continue;
        }
        out.push_str(value.as_deref().unwrap_or(""));
        w.vars.push((name.to_string(), value));
        rest = &after[len..];
    }
    out.push_str(rest);
    w.words[at] = out;
}

fn to_line(file: &str, no: usize, raw: &str, w: &Words) -> Line {
    let mut text = raw.trim().to_string();
    for (name, value) in &w.vars {
        if let Some(v) = value {
            text.push_str(&format!(" [${name}={v} at import]"));
        }
    }
    Line {
        src: Src {
            file: file.to_string(),
            line: no,
            text,
            directive: directive(&w.words),
        },
        words: w.words.clone(),
    }
}

/// What the tokenizer met that the output cannot keep: unset variables, a trailing
/// backslash.
fn note_lexing(line: &Line, w: &Words, ledger: &mut Ledger) {
    for (name, value) in &w.vars {
        if value.is_none() {
            ledger.lost_part(
                &line.src,
                format!("${{{name}}}"),
                "environment variable not set at import time (HAProxy expands it to nothing); set it and import again",
            );
        }
    }
    if w.trailing_backslash {
        ledger.lost_part(
            &line.src,
            "\\",
            "a backslash at the end of a line is not a continuation in HAProxy: it stays in the last word and the next line is a directive of its own",
        );
    }
}

fn section(kind: Kind, head: Line) -> Result<Section, ImportError> {
    let mut name = head.word(1).to_string();
    let mut from = None;
    if name == "from" && kind == Kind::Defaults {
        name.clear();
        from = Some(head.word(2).to_string());
    } else if head.word(2) == "from" {
        from = Some(head.word(3).to_string());
    }
    if name.is_empty() && matches!(kind, Kind::Frontend | Kind::Backend | Kind::Listen) {
        return Err(ImportError::Parse {
            file: head.src.file.clone(),
            line: head.src.line,
            message: format!("'{}' needs a name", head.word(0)),
        });
    }
    Ok(Section {
        kind,
        name,
        from,
        head,
        body: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sections_and_their_lines() {
        let text = "# c\nglobal\n  maxconn 10\n\ndefaults base\n  mode http\nfrontend f from base\n bind :80\nlisten l\n";
        let mut l = Ledger::default();
        let s = read("h.cfg", text, &env, &mut l).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].kind, Kind::Global);
        assert_eq!(s[0].body[0].src.line, 3);
        assert_eq!(s[1].name, "base");
        assert_eq!(s[2].from.as_deref(), Some("base"));
        assert_eq!(s[3].kind, Kind::Listen);
    }

    #[test]
    fn directive_outside_a_section_is_a_parse_error() {
        let mut l = Ledger::default();
        let e = read("h.cfg", "\n  maxconn 10\n", &env, &mut l).unwrap_err();
        assert_eq!(
            e.to_string(),
            "h.cfg:2: unknown keyword 'maxconn' out of section"
        );
        let e = read("h.cfg", "global\n log \"x\n", &env, &mut l).unwrap_err();
        assert_eq!(e.to_string(), "h.cfg:2: unmatched double quote");
    }

    #[test]
    fn setenv_applies_to_later_lines() {
        let text = "global\n setenv P 81\nfrontend f\n bind \":$P\"\n";
        let mut l = Ledger::default();
        let s = read("h.cfg", text, &env, &mut l).unwrap();
        assert_eq!(s[1].body[0].words, ["bind", ":81"]);
        assert!(s[1].body[0].src.text.contains("[$P=81 at import]"));
    }

    #[test]
    fn bind_and_server_addresses_expand_unquoted_variables_as_haproxy_does() {
        let env = |n: &str| (n == "PORT").then(|| "8080".to_string());
        let text = "frontend f\n bind 0.0.0.0:$PORT\n bind :${PORT},:${NOPE}1\n bind :81 name $PORT\nbackend b\n server s 10.0.0.1:$PORT\n";
        let mut l = Ledger::default();
        let s = read("h.cfg", text, &env, &mut l).unwrap();
        assert_eq!(s[0].body[0].words, ["bind", "0.0.0.0:8080"]);
        assert!(s[0].body[0].src.text.contains("[$PORT=8080 at import]"));
        // Unset in a bind address: kept for ringlb to expand from its environment.
        assert_eq!(s[0].body[1].words, ["bind", ":8080,:${NOPE}1"]);
        assert!(l.lost_list().is_empty(), "{:?}", l.lost_list());
        // Only the address: other words keep their `$` (as HAProxy's lexer does).
        assert_eq!(s[0].body[2].words, ["bind", ":81", "name", "$PORT"]);
        assert_eq!(s[1].body[0].words, ["server", "s", "10.0.0.1:8080"]);
    }

    #[test]
    fn directive_names() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(directive(&w("option httpchk GET /")), "option httpchk");
        assert_eq!(
            directive(&w("no option redispatch")),
            "no option redispatch"
        );
        assert_eq!(directive(&w("server a b")), "server");
    }
}
