//! Line-preserving rewrite of a HAProxy configuration for a test: every `bind`
//! address becomes a free loopback port, every `server` address the address of the
//! named test backend standing in for it. Nothing else changes, so a line number of
//! the rewritten file is the line number of the case file (the importer's report
//! and the script's `covers` refer to the same lines).

use std::collections::BTreeMap;
use std::net::SocketAddr;

const SECTIONS: [&str; 13] = [
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "cache",
    "program",
    "http-errors",
    "ring",
    "mailers",
];

/// A server line of the case: `backend/server` and its line number (1-based).
#[derive(Debug, Clone)]
pub struct ServerLine {
    pub id: String,
    pub line: usize,
}

/// The shape of a case file: its servers and, per section, how many binds it has.
#[derive(Debug, Default)]
pub struct Shape {
    pub servers: Vec<ServerLine>,
    /// Sections with binds, in file order: (name, number of binds).
    pub binds: Vec<(String, usize)>,
    /// Certificate files named by `crt` on bind lines.
    pub crts: Vec<String>,
}

/// Where each piece of the rewritten file points.
pub struct Targets<'a> {
    /// Ports for each bind of each section, in the order of `Shape::binds`.
    pub ports: &'a BTreeMap<String, Vec<u16>>,
    pub servers: &'a BTreeMap<String, SocketAddr>,
}

/// The whitespace-separated words of a line with their byte ranges.
fn words(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, line.len()));
    }
    out
}

/// Walk the file: call `f(section keyword, section name, line index, words)` for
/// each non-comment line inside a section.
fn walk(text: &str, mut f: impl FnMut(&str, &str, usize, &str, &[(usize, usize)])) {
    let (mut kw, mut name) = (String::new(), String::new());
    for (i, line) in text.lines().enumerate() {
        let w = words(line);
        let Some(&(a, b)) = w.first() else { continue };
        let first = &line[a..b];
        if first.starts_with('#') {
            continue;
        }
        if SECTIONS.contains(&first) {
            kw = first.to_string();
            name = w
                .get(1)
                .map_or(String::new(), |&(a, b)| line[a..b].to_string());
            continue;
        }
        f(&kw, &name, i, line, &w);
    }
}

pub fn shape(text: &str) -> Shape {
    let mut s = Shape::default();
    walk(text, |kw, name, i, line, w| {
        let first = &line[w[0].0..w[0].1];
        if first == "bind" && matches!(kw, "frontend" | "listen") {
            match s.binds.iter_mut().find(|(n, _)| n == name) {
                Some((_, k)) => *k += 1,
                None => s.binds.push((name.to_string(), 1)),
            }
            let ws: Vec<&str> = w.iter().map(|&(a, b)| &line[a..b]).collect();
            for pair in ws.windows(2).filter(|p| p[0] == "crt") {
                s.crts.push(pair[1].to_string());
            }
        }
        if first == "server" && matches!(kw, "backend" | "listen") && w.len() >= 3 {
            s.servers.push(ServerLine {
                id: format!("{name}/{}", &line[w[1].0..w[1].1]),
                line: i + 1,
            });
        }
    });
    s
}

/// The file with its bind and server addresses replaced.
pub fn rewrite(text: &str, t: &Targets) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    walk(text, |kw, name, i, line, w| {
        let first = &line[w[0].0..w[0].1];
        let replace =
            |(a, b): (usize, usize), with: &str| format!("{}{with}{}", &line[..a], &line[b..]);
        if first == "bind" && matches!(kw, "frontend" | "listen") && w.len() >= 2 {
            let k = seen.entry(name.to_string()).or_default();
            let port = t.ports[name][*k];
            *k += 1;
            lines[i] = replace(w[1], &format!("127.0.0.1:{port}"));
        }
        if first == "server" && matches!(kw, "backend" | "listen") && w.len() >= 3 {
            let id = format!("{name}/{}", &line[w[1].0..w[1].1]);
            lines[i] = replace(w[2], &t.servers[&id].to_string());
        }
    });
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Line numbers (1-based) of the lines containing any of `needles`.
pub fn lines_with(text: &str, needles: &[String]) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| needles.iter().any(|n| l.contains(n.as_str())))
        .map(|(i, _)| i + 1)
        .collect()
}
