//! One differential case: backends, both proxies, the script's steps, and the
//! differences found (each excused or not by the importer's report).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::named::NamedBackend;
use crate::common::PATIENCE;

use super::exchange::{client, compare, expectations, send, Observed};
use super::proxies::{
    entry_points, h2_front, import, ports_for, start_haproxy, start_ringlb, write_certificates,
    Haproxy, Imported,
};
use super::rewrite::{lines_with, shape, ServerLine};
use super::script::{load, names, Action, Script, Step};

/// A difference between the two proxies (or between HAProxy and the script).
pub struct Difference {
    pub step: String,
    pub what: String,
    /// The importer's report line that excuses it, if any.
    pub excused: Option<String>,
}

pub struct Outcome {
    pub name: String,
    pub description: String,
    /// `ringlb import`'s exit status and the number of lines it reported lost.
    pub import: Option<(i32, usize)>,
    pub steps: usize,
    pub differences: Vec<Difference>,
}

/// The case's file and script, read and checked against each other.
pub fn read(cfg: &Path) -> Result<(String, Script), String> {
    let text = std::fs::read_to_string(cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let toml = cfg.with_extension("toml");
    let script = std::fs::read_to_string(&toml)
        .map_err(|e| format!("{}: {e}", toml.display()))
        .and_then(|t| load(&t).map_err(|e| format!("{}: {e}", toml.display())))?;
    let sh = shape(&text);
    if sh.binds.is_empty() {
        return Err(format!("{}: no bind", cfg.display()));
    }
    for (i, st) in script.step.iter().enumerate() {
        if let Some(f) = &st.frontend {
            if !sh.binds.iter().any(|(n, _)| n == f) {
                return Err(format!(
                    "{}: {}: no frontend {f}",
                    toml.display(),
                    st.label(i)
                ));
            }
        }
        let named = [
            &st.kill,
            &st.revive,
            &st.settle,
            &st.wait_back,
            &st.expect_server,
        ];
        for n in named.into_iter().flatten().chain(&st.expect_servers) {
            if !sh.servers.iter().any(|s| names(&s.id, n)) {
                return Err(format!(
                    "{}: {}: no server {n}",
                    toml.display(),
                    st.label(i)
                ));
            }
        }
        for c in &st.covers {
            if lines_with(&text, std::slice::from_ref(c)).is_empty() {
                return Err(format!(
                    "{}: {}: no line has {c:?}",
                    toml.display(),
                    st.label(i)
                ));
            }
        }
    }
    Ok((text, script))
}

struct Run<'a> {
    text: &'a str,
    imp: Option<&'a Imported>,
    backends: Vec<NamedBackend>,
    haproxy: BTreeMap<String, Vec<SocketAddr>>,
    ringlb: BTreeMap<String, Vec<SocketAddr>>,
    default_frontend: String,
    differences: Vec<Difference>,
}

/// Which proxy stands against HAProxy: ringlb with the imported file, or (to check
/// the scripts and the harness itself) a second HAProxy with the same file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Other {
    Ringlb,
    Haproxy,
}

/// The map and pattern files beside the case (`*.map`, `*.lst`) that its text names, copied where both
/// proxies find them by the relative name: HAProxy runs in `dir`, and ringlb reads
/// them relative to its configuration there.
fn copy_maps(cfg: &Path, text: &str, dir: &Path) {
    let Some(Ok(entries)) = cfg.parent().map(std::fs::read_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if (name.ends_with(".map") || name.ends_with(".lst")) && text.contains(&name) {
            std::fs::copy(e.path(), dir.join(&name)).expect("copy map file");
            let _ = std::fs::create_dir_all(dir.join("second"));
            std::fs::copy(e.path(), dir.join("second").join(&name)).expect("copy map file");
        }
    }
}

pub fn run(cfg: &Path, dir: &Path, other: Other) -> Outcome {
    let name = cfg.file_stem().unwrap().to_string_lossy().into_owned();
    let (text, script) = read(cfg).unwrap_or_else(|e| panic!("{e}"));
    let sh = shape(&text);
    let backends: Vec<NamedBackend> = sh
        .servers
        .iter()
        .map(|s| NamedBackend::start(&s.id))
        .collect();
    let mut servers: BTreeMap<String, SocketAddr> =
        backends.iter().map(|b| (b.name.clone(), b.addr)).collect();
    let _h2_fronts = h2_fronts(&text, &sh.servers, dir, &mut servers);
    let (ports_h, ports_r) = (ports_for(&sh), ports_for(&sh));
    let mut out = Outcome {
        name,
        description: script.description.clone(),
        import: None,
        steps: 0,
        differences: Vec::new(),
    };
    write_certificates(dir, &sh.crts);
    copy_maps(cfg, &text, dir);
    let haproxy = start_haproxy(dir, &text, &ports_h, &servers);
    let (imp, _second, _ringlb) = match other {
        Other::Haproxy => {
            let d = dir.join("second");
            std::fs::create_dir_all(&d).unwrap();
            write_certificates(&d, &sh.crts);
            (
                None,
                Some(start_haproxy(&d, &text, &ports_r, &servers)),
                None,
            )
        }
        Other::Ringlb => {
            let imp = import(dir, &text, &ports_r, &servers);
            out.import = Some((imp.run.code, imp.run.lost.len()));
            match start_ringlb(&imp) {
                Ok(r) => (Some(imp), None, Some(r)),
                Err(e) => {
                    out.differences.push(Difference {
                        step: "start".into(),
                        what: e,
                        excused: None,
                    });
                    return out;
                }
            }
        }
    };
    let mut run = Run {
        text: &text,
        imp: imp.as_ref(),
        backends,
        haproxy: entry_points(&ports_h),
        ringlb: entry_points(&ports_r),
        default_frontend: sh.binds[0].0.clone(),
        differences: Vec::new(),
    };
    for (i, st) in script.step.iter().enumerate() {
        run.step(&st.label(i), st);
        out.steps += 1;
    }
    if run.differences.iter().any(|d| d.excused.is_none()) {
        run.differences.push(Difference {
            step: "haproxy log".into(),
            what: haproxy.log_text(),
            excused: Some("(context)".into()),
        });
    }
    out.differences = run.differences;
    out
}

/// Servers the case reaches over HTTP/2 (`proto h2` on their line) get an HTTP/2
/// server in front of their test backend; both proxies are pointed at it.
fn h2_fronts(
    text: &str,
    lines: &[ServerLine],
    dir: &Path,
    servers: &mut BTreeMap<String, SocketAddr>,
) -> Vec<Haproxy> {
    let mut fronts = Vec::new();
    for s in lines {
        let line = text.lines().nth(s.line - 1).unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.windows(2).any(|w| w == ["proto", "h2"]) {
            let d = dir.join(format!("h2-{}", s.id.replace('/', "-")));
            let (h, addr) = h2_front(&d, servers[&s.id]);
            servers.insert(s.id.clone(), addr);
            fronts.push(h);
        }
    }
    fronts
}

impl Run<'_> {
    fn step(&mut self, label: &str, st: &Step) {
        let fe = st.frontend.clone().unwrap_or(self.default_frontend.clone());
        let b = st.bind.unwrap_or(1) - 1;
        let (h, r) = (self.haproxy[&fe][b], self.ringlb[&fe][b]);
        match st.action().expect("checked at load") {
            Action::Request => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for i in 0..st.repeat() {
                    // Interleaved, so that both see the servers in the same state.
                    a.push(send(st, &client(st, i), h));
                    b.push(send(st, &client(st, i), r));
                }
                for e in expectations(st, &a) {
                    self.differ(label, format!("script: {e}"), None);
                }
                let diffs = compare(st, &a, &b);
                self.known(label, st, diffs.is_empty());
                for d in diffs {
                    let excuse = self.excuse(st);
                    self.differ(label, d, excuse);
                }
            }
            Action::Kill(s) => self.each(s, NamedBackend::kill),
            Action::Revive(s) => self.each(s, NamedBackend::revive),
            Action::Sicken(s) => self.each(s, NamedBackend::sicken),
            Action::Heal(s) => self.each(s, NamedBackend::heal),
            Action::Settle(s) => {
                for (who, to) in [("haproxy", h), ("ringlb", r)] {
                    let res = until(st, to, 5, |o| o.ok() && !on(o, s));
                    if who == "ringlb" {
                        self.known(label, st, res.is_ok());
                    }
                    if let Err(e) = res {
                        let excuse = self.excuse(st);
                        self.differ(label, format!("{who} still sends to {s}: {e}"), excuse);
                    }
                }
            }
            Action::WaitBack(s) => {
                for (who, to) in [("haproxy", h), ("ringlb", r)] {
                    let res = until(st, to, 1, |o| on(o, s));
                    if who == "ringlb" {
                        self.known(label, st, res.is_ok());
                    }
                    if let Err(e) = res {
                        let excuse = self.excuse(st);
                        self.differ(
                            label,
                            format!("{who} does not send to {s} again: {e}"),
                            excuse,
                        );
                    }
                }
            }
        }
    }

    fn each(&self, s: &str, f: fn(&NamedBackend)) {
        for b in self.backends.iter().filter(|b| names(&b.name, s)) {
            f(b);
        }
    }

    fn differ(&mut self, step: &str, what: String, excused: Option<String>) {
        self.differences.push(Difference {
            step: step.to_string(),
            what,
            excused,
        });
    }

    /// A step marked `known` that shows no difference any more fails, so that the
    /// marker goes (only against ringlb: the marker is about ringlb).
    fn known(&mut self, label: &str, st: &Step, agree: bool) {
        if let (Some(k), true, true) = (&st.known, agree, self.imp.is_some()) {
            let what =
                format!("marked known ({k}) but HAProxy and ringlb agree now: remove `known`");
            self.differ(label, what, None);
        }
    }

    /// Why a difference of this step does not fail: a line it covers was reported
    /// not translated, or the step marks it as known.
    fn excuse(&self, st: &Step) -> Option<String> {
        let imp = self.imp?;
        if let Some(k) = &st.known {
            return Some(format!("KNOWN: {k}"));
        }
        let input: PathBuf = imp.input.clone();
        lines_with(self.text, &st.covers).into_iter().find_map(|l| {
            imp.run
                .lost
                .iter()
                .find(|x| x.line == l && crate::common::import::same_file(&x.file, &input))
                .map(|x| {
                    format!(
                        "{}:{}: {}: not translated: {}",
                        x.file, x.line, x.directive, x.why
                    )
                })
        })
    }
}

fn on(o: &Observed, server: &str) -> bool {
    o.server.as_deref().is_some_and(|x| names(x, server))
}

/// Send the step's request until `k` answers in a row satisfy `good`; bounded by
/// PATIENCE (a guard against hangs: health transitions take a few check intervals).
fn until(
    st: &Step,
    to: SocketAddr,
    k: usize,
    good: impl Fn(&Observed) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    let (mut run, mut sent, mut last) = (0, 0, None);
    while Instant::now() < deadline {
        let o = send(st, &client(st, sent), to);
        sent += 1;
        if good(&o) {
            run += 1;
            if run >= k {
                return Ok(());
            }
        } else {
            run = 0;
            last = Some(o);
            // A proxy's health check decides at its own pace: do not flood it.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    Err(format!(
        "{sent} requests in {}s, last unwanted answer: {:?}",
        PATIENCE.as_secs(),
        last.map(|o| (o.status, o.server))
    ))
}
