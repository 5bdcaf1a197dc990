//! The crate: files under src/, their modules, the modules lib.rs declares, the graph and its cycles.

use super::*;

// ---------------------------------------------------------------------------------
// The crate

pub(super) fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

pub(super) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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
pub(super) fn module_path(rel: &Path) -> Vec<String> {
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

pub(super) struct Scanned {
    /// `src/worker/http.rs`
    pub(super) file: String,
    /// Top-level module the file belongs to (`lib` for the crate root).
    pub(super) from: String,
    pub(super) imports: Vec<Import>,
}

pub(super) fn scan_crate() -> Vec<Scanned> {
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
pub(super) fn declared_modules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(src_dir().join("lib.rs")).expect("read src/lib.rs");
    let toks = tokens(&blank(&text));
    toks.windows(3)
        .filter(|w| w[0].text == "mod" && is_word(&w[1]) && w[2].text == ";")
        .map(|w| w[1].text.clone())
        .collect()
}

/// Arrows between different top-level modules: (from, to) → first place seen.
pub(super) fn graph(scanned: &[Scanned]) -> BTreeMap<(String, String), String> {
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
pub(super) fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
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
