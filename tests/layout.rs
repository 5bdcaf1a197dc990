//! The arrows between ringlb's top-level modules run one way: the supervisor on top,
//! then the admin API, the control thread and the workers, then the messages between
//! them, then the leaves (configuration, balancing, HTTP codec, TLS). A worker never
//! reaches into the control thread (they talk only through `msg`), the control thread
//! never into a worker, and nothing below reaches back up.
//!
//! This reads every `.rs` file under `src/`, finds the top-level modules each one
//! names through `crate::` (or `super::` chains that climb to the crate root), and
//! checks them against `ALLOWED`. Comments, doc comments, string and character
//! literals are blanked before scanning, so a `crate::worker` in prose is no arrow.
//! A failure prints every offending `file:line: X imports Y`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a module may import from the rest of the crate (itself is always allowed).
enum May {
    Anything,
    Only(&'static [&'static str]),
}

use May::{Anything, Only};

/// The intended layering: top may import below, never the reverse. `main` is the
/// binary (it imports the library as `ringlb::`), `lib` is the crate root (it only
/// declares the modules).
const ALLOWED: &[(&str, May)] = &[
    ("main", Anything),
    ("lib", Anything),
    ("run", Anything),
    ("demo", Only(&[])),
    // The importer is pure text → text; `ringlb import` (main) validates its output.
    // It asks the (pure) rule engine whether a header value's log-format is one
    // ringlb renders, so that a value it cannot carry is reported, not lost.
    ("import", Only(&["rules"])),
    (
        "admin",
        Only(&[
            "control",
            "msg",
            "announce",
            "vrrp",
            "config",
            "lb",
            "http",
            "tls",
            "logging",
            "rules",
            "proxy_protocol",
        ]),
    ),
    (
        "control",
        Only(&[
            "msg",
            "announce",
            "vrrp",
            "listen",
            "config",
            "lb",
            "http",
            "tls",
            "logging",
            "rules",
            "proxy_protocol",
        ]),
    ),
    (
        "worker",
        Only(&[
            "msg",
            "listen",
            "config",
            "lb",
            "http",
            "tls",
            "logging",
            "rules",
            "proxy_protocol",
        ]),
    ),
    ("vrrp", Only(&["config", "logging"])),
    // Announcing uses VRRP's netlink requests (addresses added and removed).
    ("announce", Only(&["vrrp", "config", "logging"])),
    ("logging", Only(&[])),
    (
        "msg",
        Only(&["config", "lb", "listen", "rules", "proxy_protocol"]),
    ),
    ("listen", Only(&["config"])),
    ("lb", Only(&["config"])),
    // The configuration holds loaded certificates and rustls configurations, so
    // config → tls; tls must therefore never need the configuration. It builds the
    // rule engine's rule sets and tables, so config → rules. Log settings and formats
    // are parsed by `logging` (which imports nothing), so config → logging.
    (
        "config",
        Only(&["tls", "rules", "logging", "proxy_protocol"]),
    ),
    ("tls", Only(&[])),
    // Pure PROXY protocol codecs: the worker, the control plane's checks and the
    // fuzz targets call them; they need nothing.
    ("proxy_protocol", Only(&[])),
    ("http", Only(&[])),
    ("rules", Only(&[])),
];

fn allowed(from: &str, to: &str) -> Option<bool> {
    let (_, may) = ALLOWED.iter().find(|(m, _)| *m == from)?;
    Some(
        from == to
            || match may {
                Anything => true,
                Only(list) => list.contains(&to),
            },
    )
}

/// One arrow: at `line` of a file, a path names top-level module `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Import {
    line: usize,
    target: String,
}

// ---------------------------------------------------------------------------------
// Scanner

/// `source` with comments, string literals and character literals replaced by spaces;
/// line breaks are kept so that line numbers still match.
fn blank(source: &str) -> String {
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
struct Token {
    text: String,
    line: usize,
}

/// Words (identifiers, keywords, numbers), `::`, and single punctuation characters.
fn tokens(clean: &str) -> Vec<Token> {
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

fn is_word(t: &Token) -> bool {
    t.text
        .chars()
        .next()
        .is_some_and(|ch| ch.is_alphabetic() || ch == '_')
}

/// The first segments of the path (tree) starting at `toks[j]`, right after a
/// `crate::`: `a::b` gives `a`, `{a::b, c::{d, e}, self}` gives `a` and `c`.
/// Macros (`crate::name!`) and globs are not modules and give nothing.
fn first_segments(toks: &[Token], j: usize) -> Vec<(usize, String)> {
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
fn scan(source: &str, module: &[&str]) -> Vec<Import> {
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

// ---------------------------------------------------------------------------------
// The crate

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Module path of a file relative to src/: `worker/http.rs` → `[worker, http]`,
/// `worker/mod.rs` → `[worker]`, `run.rs` → `[run]`, `lib.rs` → `[]`.
/// `main.rs` is a crate of its own: `[main]` stands for it.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.strip_suffix(".rs").expect("a .rs file");
    match (parts.is_empty(), stem) {
        (true, "lib") => {}
        (_, "mod") => {}
        _ => parts.push(stem.to_string()),
    }
    parts
}

struct Scanned {
    /// `src/worker/http.rs`
    file: String,
    /// Top-level module the file belongs to (`lib` for the crate root).
    from: String,
    imports: Vec<Import>,
}

fn scan_crate() -> Vec<Scanned> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(!files.is_empty(), "no .rs files under {}", src.display());
    files
        .iter()
        .map(|path| {
            let rel = path.strip_prefix(&src).unwrap();
            let module = module_path(rel);
            let from = module.first().cloned().unwrap_or_else(|| "lib".into());
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let module: Vec<&str> = module.iter().map(String::as_str).collect();
            Scanned {
                file: format!("src/{}", rel.display()),
                imports: if from == "main" {
                    // The binary's `crate::` is the binary, and it may use anything.
                    Vec::new()
                } else {
                    scan(&text, &module)
                },
                from,
            }
        })
        .collect()
}

/// The modules src/lib.rs declares (`pub mod x;`).
fn declared_modules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(src_dir().join("lib.rs")).expect("read src/lib.rs");
    let toks = tokens(&blank(&text));
    toks.windows(3)
        .filter(|w| w[0].text == "mod" && is_word(&w[1]) && w[2].text == ";")
        .map(|w| w[1].text.clone())
        .collect()
}

/// Arrows between different top-level modules: (from, to) → first place seen.
fn graph(scanned: &[Scanned]) -> BTreeMap<(String, String), String> {
    let mut edges = BTreeMap::new();
    for s in scanned {
        for imp in &s.imports {
            if imp.target != s.from {
                edges
                    .entry((s.from.clone(), imp.target.clone()))
                    .or_insert_with(|| format!("{}:{}", s.file, imp.line));
            }
        }
    }
    edges
}

/// A cycle in the directed graph, as a list of nodes with the first repeated last.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
        next.entry(b).or_default();
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    fn visit<'a>(
        n: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        colour: &mut BTreeMap<&'a str, Colour>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        colour.insert(n, Colour::Grey);
        stack.push(n);
        for &m in &next[n] {
            match colour[m] {
                Colour::Grey => {
                    let from = stack.iter().position(|&s| s == m).unwrap();
                    let mut cycle: Vec<String> =
                        stack[from..].iter().map(|s| s.to_string()).collect();
                    cycle.push(m.to_string());
                    return Some(cycle);
                }
                Colour::White => {
                    if let Some(c) = visit(m, next, colour, stack) {
                        return Some(c);
                    }
                }
                Colour::Black => {}
            }
        }
        stack.pop();
        colour.insert(n, Colour::Black);
        None
    }
    let mut colour: BTreeMap<&str, Colour> = next.keys().map(|&k| (k, Colour::White)).collect();
    let nodes: Vec<&str> = next.keys().copied().collect();
    for n in nodes {
        if colour[n] == Colour::White {
            if let Some(c) = visit(n, &next, &mut colour, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------
// Tests on the crate

#[test]
fn imports_follow_the_layering() {
    let scanned = scan_crate();
    let declared = declared_modules();
    let mut offences = Vec::new();
    for s in &scanned {
        if allowed(&s.from, &s.from).is_none() {
            offences.push(format!(
                "{}: module {} is not in tests/layout.rs's ALLOWED table",
                s.file, s.from
            ));
            continue;
        }
        for imp in &s.imports {
            if !declared.contains(&imp.target) {
                offences.push(format!(
                    "{}:{}: {} imports crate::{}, which src/lib.rs does not declare as a module",
                    s.file, imp.line, s.from, imp.target
                ));
            } else if allowed(&s.from, &imp.target) != Some(true) {
                offences.push(format!(
                    "{}:{}: {} imports {}",
                    s.file, imp.line, s.from, imp.target
                ));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "imports against the layering (see ALLOWED in tests/layout.rs):\n{}",
        offences.join("\n")
    );
    // Against a scanner that silently finds nothing: the channels between the
    // control thread and the workers are the crate's spine.
    let edges = graph(&scanned);
    for (a, b) in [("worker", "msg"), ("control", "msg"), ("run", "worker")] {
        assert!(
            edges.contains_key(&(a.to_string(), b.to_string())),
            "the scanner found no {a} → {b} import; found: {:?}",
            edges.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_module_graph_has_no_cycle() {
    let edges = graph(&scan_crate());
    let keys: BTreeSet<(String, String)> = edges.keys().cloned().collect();
    if let Some(cycle) = find_cycle(&keys) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let at = &edges[&(w[0].clone(), w[1].clone())];
                format!("{at}: {} imports {}", w[0], w[1])
            })
            .collect();
        panic!(
            "the modules import each other in a cycle {}:\n{}",
            cycle.join(" → "),
            steps.join("\n")
        );
    }
}

#[test]
fn the_table_names_every_module_and_is_itself_layered() {
    let declared = declared_modules();
    let mut named: BTreeSet<String> = ALLOWED.iter().map(|(m, _)| m.to_string()).collect();
    named.remove("main");
    named.remove("lib");
    assert_eq!(
        named, declared,
        "ALLOWED in tests/layout.rs must name exactly the modules src/lib.rs declares"
    );
    let mut edges = BTreeSet::new();
    for (from, may) in ALLOWED {
        if let Only(list) = may {
            for to in *list {
                assert!(declared.contains(*to), "{from} → {to}: no module {to}");
                edges.insert((from.to_string(), to.to_string()));
            }
        }
    }
    assert_eq!(find_cycle(&edges), None, "ALLOWED permits a cycle");
}

// ---------------------------------------------------------------------------------
// Tests of the scanner

fn targets(source: &str, module: &[&str]) -> Vec<(usize, String)> {
    scan(source, module)
        .into_iter()
        .map(|i| (i.line, i.target))
        .collect()
}

fn t(line: usize, target: &str) -> (usize, String) {
    (line, target.to_string())
}

#[test]
fn scanner_reads_single_and_grouped_imports_across_lines() {
    let src = "use crate::config::Config;\n\
               pub use crate::lb::Balancer;\n\
               pub(crate) use crate::{\n    msg::Update,\n    tls::{self, Cert},\n    self,\n    listen,\n};\n\
               fn f() { let _ = crate::http::parse(); }\n";
    assert_eq!(
        targets(src, &["worker"]),
        [
            t(1, "config"),
            t(2, "lb"),
            t(4, "msg"),
            t(5, "tls"),
            t(7, "listen"),
            t(9, "http"),
        ]
    );
}

#[test]
fn scanner_ignores_comments_strings_and_chars() {
    let src = "// use crate::control::Control;\n\
               /// See [`crate::admin`].\n\
               //! Talks to `crate::run`.\n\
               /* crate::vrrp /* nested crate::demo */ still crate::msg */\n\
               const A: &str = \"crate::worker \\\" crate::control\";\n\
               const B: &str = r#\"crate::admin \"quoted\" \"#;\n\
               const C: char = '\"'; const D: char = '\\''; fn e<'a>(x: &'a str) {}\n\
               use crate::config;\n\
               tracing::debug!(target: \"ringlb::apply\", \"x\");\n\
               crate::exported_macro!();\n";
    assert_eq!(targets(src, &["worker"]), [t(8, "config")]);
}

#[test]
fn scanner_resolves_super_chains_and_inline_modules() {
    // src/vrrp/wire.rs, in its `mod tests`: super::super is vrrp itself.
    let src = "mod tests {\n    use super::*;\n    fn f() { super::super::packet::sum(); }\n}\n";
    assert!(targets(src, &["vrrp", "wire"]).is_empty());
    // src/worker/mod.rs: `super::` is the crate root.
    let src = "use super::control::Control;\nmod tests { use super::super::admin; }\nfn g() {}\nuse super::msg;\n";
    assert_eq!(
        targets(src, &["worker"]),
        [t(1, "control"), t(2, "admin"), t(4, "msg")]
    );
}

#[test]
fn scanner_blames_the_right_module_and_line() {
    let imports = scan("\n\nuse crate::control::Control;\n", &["worker", "x"]);
    assert_eq!(
        imports,
        [Import {
            line: 3,
            target: "control".into()
        }]
    );
    assert_eq!(allowed("worker", "control"), Some(false));
    assert_eq!(allowed("control", "worker"), Some(false));
    assert_eq!(allowed("control", "msg"), Some(true));
    assert_eq!(allowed("tls", "config"), Some(false));
    assert_eq!(allowed("run", "worker"), Some(true));
    assert_eq!(allowed("nosuch", "config"), None);
    assert_eq!(module_path(Path::new("worker/http.rs")), ["worker", "http"]);
    assert_eq!(module_path(Path::new("worker/mod.rs")), ["worker"]);
    assert_eq!(
        module_path(Path::new("http/request/mod.rs")),
        ["http", "request"]
    );
    assert_eq!(module_path(Path::new("run.rs")), ["run"]);
    assert!(module_path(Path::new("lib.rs")).is_empty());
}

#[test]
fn cycle_finder_finds_cycles() {
    let e = |v: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(find_cycle(&e(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    let c = find_cycle(&e(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])).unwrap();
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4, "{c:?}");
}
