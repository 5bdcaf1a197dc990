//! The scanner: comments and literals blanked, tokens, the `crate::`/`super::` paths a file names.

/// One arrow: at `line` of a file, a path names top-level module `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Import {
    pub(super) line: usize,
    pub(super) target: String,
}

// ---------------------------------------------------------------------------------
// Scanner

/// `source` with comments, string literals and character literals replaced by spaces;
/// line breaks are kept so that line numbers still match.
pub(super) fn blank(source: &str) -> String {
    let c: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let n = c.len();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    // Push `c[from..to]` as spaces, keeping line breaks.
    let spaces = |out: &mut String, from: usize, to: usize| {
        for &ch in &c[from..to.min(n)] {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < n {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            let end = (i..n).find(|&j| c[j] == '\n').unwrap_or(n);
            spaces(&mut out, i, end);
            i = end;
        } else if ch == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0usize, i);
            while j < n {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            spaces(&mut out, i, j);
            i = j;
        } else if ch == 'r'
            && (i == 0
                || !ident(c[i - 1])
                || ((c[i - 1] == 'b' || c[i - 1] == 'c') && (i < 2 || !ident(c[i - 2]))))
            && {
                let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
                c.get(i + 1 + hashes) == Some(&'"')
            }
        {
            // Raw string r"…", r#"…"#, br#"…"#: ends at a quote followed by as many #.
            let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
            let body = i + 2 + hashes;
            let closing = vec!['#'; hashes];
            let mut j = body;
            let end = loop {
                if j >= n {
                    break n;
                }
                if c[j] == '"' && c[j + 1..].starts_with(&closing) {
                    break j + 1 + hashes;
                }
                j += 1;
            };
            out.push('r');
            spaces(&mut out, i + 1, end);
            i = end;
        } else if ch == '"' {
            let mut j = i + 1;
            while j < n && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(n);
            spaces(&mut out, i, end);
            i = end;
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{1F600}', '\'') or a lifetime/label
            // ('a, 'static), which is left alone.
            if next == Some('\\') {
                let mut j = i + 3;
                while j < n && c[j] != '\'' {
                    j += 1;
                }
                let end = (j + 1).min(n);
                spaces(&mut out, i, end);
                i = end;
            } else if c.get(i + 2) == Some(&'\'') {
                spaces(&mut out, i, i + 3);
                i += 3;
            } else {
                out.push(ch);
                i += 1;
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

#[derive(Debug)]
pub(super) struct Token {
    pub(super) text: String,
    pub(super) line: usize,
}

/// Words (identifiers, keywords, numbers), `::`, and single punctuation characters.
pub(super) fn tokens(clean: &str) -> Vec<Token> {
    let c: Vec<char> = clean.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token {
                text: c[start..i].iter().collect(),
                line,
            });
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Token {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Token {
                text: ch.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

pub(super) fn is_word(t: &Token) -> bool {
    t.text
        .chars()
        .next()
        .is_some_and(|ch| ch.is_alphabetic() || ch == '_')
}

/// The first segments of the path (tree) starting at `toks[j]`, right after a
/// `crate::`: `a::b` gives `a`, `{a::b, c::{d, e}, self}` gives `a` and `c`.
/// Macros (`crate::name!`) and globs are not modules and give nothing.
pub(super) fn first_segments(toks: &[Token], j: usize) -> Vec<(usize, String)> {
    let Some(t) = toks.get(j) else {
        return Vec::new();
    };
    let keep = |k: usize| {
        let t = &toks[k];
        is_word(t) && t.text != "self" && toks.get(k + 1).is_none_or(|n| n.text != "!")
    };
    if t.text == "{" {
        let mut out = Vec::new();
        let (mut depth, mut item_start, mut k) = (1usize, true, j + 1);
        while k < toks.len() && depth > 0 {
            match toks[k].text.as_str() {
                "{" => depth += 1,
                "}" => depth -= 1,
                "," if depth == 1 => item_start = true,
                _ if depth == 1 && item_start => {
                    if keep(k) {
                        out.push((toks[k].line, toks[k].text.clone()));
                    }
                    item_start = false;
                }
                _ => {}
            }
            k += 1;
        }
        out
    } else if keep(j) {
        vec![(t.line, t.text.clone())]
    } else {
        Vec::new()
    }
}

/// The top-level modules `source` names. `module` is the file's own module path
/// (`["worker", "http"]` for src/worker/http.rs, empty for the crate root), needed
/// to resolve `super::` chains.
pub(super) fn scan(source: &str, module: &[&str]) -> Vec<Import> {
    let toks = tokens(&blank(source));
    let mut out = Vec::new();
    // Inline `mod name { … }` blocks: (name, brace depth outside the block).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut push = |found: Vec<(usize, String)>| {
        out.extend(
            found
                .into_iter()
                .map(|(line, target)| Import { line, target }),
        )
    };
    for i in 0..toks.len() {
        let text = toks[i].text.as_str();
        let after_path_sep = i > 0 && toks[i - 1].text == "::";
        let next_is_sep = toks.get(i + 1).is_some_and(|t| t.text == "::");
        match text {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" => {
                if let (Some(name), Some(open)) = (toks.get(i + 1), toks.get(i + 2)) {
                    if is_word(name) && open.text == "{" {
                        inline.push((name.text.clone(), depth));
                    }
                }
            }
            "crate" if next_is_sep && !after_path_sep => push(first_segments(&toks, i + 2)),
            "super" if next_is_sep && !after_path_sep => {
                let mut climbs = 0;
                let mut j = i;
                while toks.get(j).is_some_and(|t| t.text == "super")
                    && toks.get(j + 1).is_some_and(|t| t.text == "::")
                {
                    climbs += 1;
                    j += 2;
                }
                let here = module.len() + inline.len();
                // Climbing to the crate root names a top-level module next; a shorter
                // climb stays inside the file's own top-level module.
                if climbs == here {
                    push(first_segments(&toks, j));
                }
            }
            _ => {}
        }
    }
    out
}
