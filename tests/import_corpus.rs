//! The importer (issue 19) against a corpus of real-world HAProxy and keepalived
//! configurations (tests/corpus/, each file naming its source): every file must parse
//! (or be listed below as known not to, with the reason), every line reported as not
//! translated must be `FILE:LINE: directive: not translated: why` naming a real,
//! meaningful line, partial output is written only with `--allow-partial`, and what is
//! written must pass `ringlb check`. A summary table (complete / partial / failed, the
//! most frequent untranslated directives) is printed to the test's stdout.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::import::{
    environmental, parse_lost, require_import_command, run_check, run_import, same_file, ImportRun,
    EXIT_COMPLETE, EXIT_PARSE, EXIT_PARTIAL,
};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// Corpus files the importer may refuse (exit 1), with the reason. A file listed
/// here that does parse is reported too, so the list does not go stale.
const KNOWN_UNPARSEABLE: &[(&str, &str)] = &[];

/// Outputs known not to pass `ringlb check` for a reason other than this machine,
/// with the reason (reported bugs of the importer). Shown as "KNOWN" in the table;
/// an entry whose output passes is reported, so the list does not go stale.
const KNOWN_CHECK_FAILURES: &[(&str, &str)] = &[
    (
        "haproxytech-ingress-base.cfg",
        "every frontend is left out (dynamic use_backend %[var()]): the output has no [[frontend]], which ringlb check refuses",
    ),
    (
        "jitsi-meet-gcp.cfg",
        "its only frontend binds with crt-list /etc/ssl/jitsi-meet, not readable at import time (left out): the output has no [[frontend]], which ringlb check refuses",
    ),
];

/// HAProxy files imported together with the keepalived file of the same setup.
const PAIRS: &[(&str, &str)] = &[
    ("kubeadm-ha.cfg", "kubeadm-ha.conf"),
    (
        "patroni-postgresql-cluster.cfg",
        "patroni-postgresql-cluster.conf",
    ),
    ("kolla-openstack.cfg", "kolla-openstack.conf"),
    ("galera-mariadb-cluster.cfg", "galera-mariadb-cluster.conf"),
    ("kubesphere-ha-k8s.cfg", "kubesphere-ha-k8s.conf"),
    ("k8s-api-loadbalancer.cfg", "k8s-api-loadbalancer.conf"),
    ("nextcloud-swarm.cfg", "nextcloud-swarm.conf"),
    ("ceph-ingress-rgw.cfg", "ceph-ingress.conf"),
];

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(CORPUS).join(dir))
        .unwrap_or_else(|e| panic!("read {CORPUS}/{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The corpus itself: enough files, each naming its source on its first line and
/// listed in the corpus README.
#[test]
fn corpus_files_name_their_source() {
    let cfgs = files("haproxy", "cfg");
    let confs = files("keepalived", "conf");
    assert!(cfgs.len() >= 20, "only {} haproxy files", cfgs.len());
    assert!(confs.len() >= 10, "only {} keepalived files", confs.len());
    let readme = std::fs::read_to_string(Path::new(CORPUS).join("README.md")).unwrap();
    for f in cfgs.iter().chain(&confs) {
        let text = std::fs::read_to_string(f).unwrap();
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("# source: github.com/") && first.contains("/blob/"),
            "{}: the first line must be `# source: github.com/OWNER/REPO/blob/COMMIT/PATH (license)`",
            f.display()
        );
        assert!(
            readme.contains(&name(f)),
            "{} is not listed in tests/corpus/README.md",
            name(f)
        );
    }
    for (cfg, conf) in PAIRS {
        assert!(
            Path::new(CORPUS).join("haproxy").join(cfg).exists(),
            "{cfg}"
        );
        assert!(
            Path::new(CORPUS).join("keepalived").join(conf).exists(),
            "{conf}"
        );
    }
}

/// The report parser the corpus test relies on.
#[test]
fn not_translated_lines_are_read() {
    let l = parse_lost("/tmp/a.cfg:12: option httpchk: not translated: why: because").unwrap();
    assert_eq!((l.file.as_str(), l.line), ("/tmp/a.cfg", 12));
    assert_eq!(l.directive, "option httpchk");
    assert_eq!(l.why, "why: because");
    assert!(parse_lost("a.cfg: option: not translated: x").is_none());
    assert!(parse_lost("a.cfg:x: y: not translated: z").is_none());
}

/// What became of one import.
struct Row {
    what: String,
    result: &'static str,
    lost: usize,
    check: String,
}

struct Tally {
    rows: Vec<Row>,
    problems: Vec<String>,
    /// directive -> (lines, files)
    directives: BTreeMap<String, (usize, usize)>,
}

#[test]
fn corpus_imports() {
    require_import_command();
    let dir = std::env::temp_dir().join(format!("ringlb-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut t = Tally {
        rows: Vec::new(),
        problems: Vec::new(),
        directives: BTreeMap::new(),
    };
    for f in files("haproxy", "cfg") {
        one(&mut t, &dir, "haproxy", &[&f], &[]);
    }
    for f in files("keepalived", "conf") {
        one(&mut t, &dir, "keepalived", &[&f], &[]);
    }
    for (cfg, conf) in PAIRS {
        let h = Path::new(CORPUS).join("haproxy").join(cfg);
        let k = Path::new(CORPUS).join("keepalived").join(conf);
        let ks = k.to_string_lossy().into_owned();
        one(&mut t, &dir, "haproxy", &[&h, &k], &["--keepalived", &ks]);
    }
    for (f, why) in KNOWN_CHECK_FAILURES {
        if !t
            .rows
            .iter()
            .any(|r| &r.what == f && r.check.starts_with("KNOWN"))
        {
            t.problems.push(format!(
                "{f} is listed as failing ringlb check ({why}) but does not: unlist it"
            ));
        }
    }
    for (f, why) in KNOWN_UNPARSEABLE {
        if !t.rows.iter().any(|r| &r.what == f && r.result == "refused") {
            t.problems.push(format!(
                "{f} is listed as unparseable ({why}) but parses: unlist it"
            ));
        }
    }
    summary(&t);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        t.problems.is_empty(),
        "{} problem(s):\n{}",
        t.problems.len(),
        t.problems.join("\n")
    );
}

/// Import `inputs[0]` (with `args`), check the report, the exit status contract and
/// the output.
fn one(t: &mut Tally, dir: &Path, kind: &str, inputs: &[&Path], args: &[&str]) {
    let what = inputs
        .iter()
        .map(|p| name(p))
        .collect::<Vec<_>>()
        .join(" + ");
    let stem = what.replace([' ', '+'], "_");
    let out = dir.join(format!("{stem}.toml"));
    let os = out.to_string_lossy().into_owned();
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["-o", &os, "--allow-partial"]);
    let run = run_import(kind, inputs[0], &a);
    let mut problems = Vec::new();
    let result = match run.code {
        EXIT_COMPLETE => "complete",
        EXIT_PARTIAL => "partial",
        EXIT_PARSE => {
            parse_error_names_line(&run, inputs, &mut problems);
            match KNOWN_UNPARSEABLE.iter().find(|(f, _)| *f == what) {
                Some(_) => "refused",
                None => {
                    problems.push(format!("does not parse: {}", run.stderr.trim()));
                    "FAILED"
                }
            }
        }
        c => {
            problems.push(format!("exit status {c}: {}", run.stderr.trim()));
            "FAILED"
        }
    };
    report_lines(&run, inputs, &mut problems);
    if run.code == EXIT_COMPLETE && !run.lost.is_empty() {
        problems.push(format!(
            "exit 0 but {} line(s) reported lost",
            run.lost.len()
        ));
    }
    if run.code == EXIT_PARTIAL && run.lost.is_empty() {
        problems.push("exit 3 (partial) but no line reported as not translated".into());
    }
    let mut files_seen = std::collections::BTreeSet::new();
    for l in &run.lost {
        let e = t.directives.entry(l.directive.clone()).or_default();
        e.0 += 1;
        if files_seen.insert(l.directive.clone()) {
            e.1 += 1;
        }
    }
    let check = if matches!(run.code, EXIT_COMPLETE | EXIT_PARTIAL) {
        without_allow_partial(kind, inputs, args, dir, &stem, run.code, &mut problems);
        if kind == "keepalived" {
            in_base_config(&out);
        }
        checked(
            &out,
            KNOWN_CHECK_FAILURES.iter().any(|(f, _)| *f == what),
            &mut problems,
        )
    } else {
        "-".to_string()
    };
    t.problems
        .extend(problems.into_iter().map(|p| format!("{what}: {p}")));
    t.rows.push(Row {
        what,
        result,
        lost: run.lost.len(),
        check,
    });
}

/// A refusal must say where: `FILE:LINE`.
fn parse_error_names_line(run: &ImportRun, inputs: &[&Path], problems: &mut Vec<String>) {
    let named = inputs.iter().any(|p| {
        let n = name(p);
        run.stderr.match_indices(&n).any(|(i, _)| {
            run.stderr[i + n.len()..]
                .strip_prefix(':')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
    });
    if !named {
        problems.push(format!(
            "exit 1 without a FILE:LINE in its error: {}",
            run.stderr.trim()
        ));
    }
}

/// Every `not translated` line names an input file and a line of it that says
/// something (not blank, not a comment).
fn report_lines(run: &ImportRun, inputs: &[&Path], problems: &mut Vec<String>) {
    for m in &run.malformed {
        problems.push(format!(
            "report line not of the form FILE:LINE: directive: not translated: why: {m:?}"
        ));
    }
    for l in &run.lost {
        let Some(file) = inputs.iter().find(|p| same_file(&l.file, p)) else {
            problems.push(format!("report names {:?}, not an input file", l.file));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        match text.lines().nth(l.line.wrapping_sub(1)) {
            None => problems.push(format!(
                "report names line {} of {} which has {} lines",
                l.line,
                name(file),
                text.lines().count()
            )),
            Some(s) if s.trim().is_empty() || s.trim_start().starts_with(['#', '!']) => problems
                .push(format!(
                    "report names line {} of {} which is blank or a comment: {s:?}",
                    l.line,
                    name(file)
                )),
            Some(_) => {}
        }
    }
}

/// Without `--allow-partial` the status is the same, and a partial translation
/// writes nothing.
fn without_allow_partial(
    kind: &str,
    inputs: &[&Path],
    args: &[&str],
    dir: &Path,
    stem: &str,
    code: i32,
    problems: &mut Vec<String>,
) {
    let out = dir.join(format!("{stem}.strict.toml"));
    let os = out.to_string_lossy().into_owned();
    let mut a: Vec<&str> = args.to_vec();
    a.extend(["-o", &os]);
    let run = run_import(kind, inputs[0], &a);
    if run.code != code {
        problems.push(format!(
            "exit {} without --allow-partial but {code} with it",
            run.code
        ));
    }
    match (code, out.exists()) {
        (EXIT_PARTIAL, true) => {
            problems.push("partial translation written without --allow-partial".into())
        }
        (EXIT_COMPLETE, false) => problems.push("complete translation not written".into()),
        _ => {}
    }
}

/// `ringlb import keepalived` writes the `[vrrp]` table to add to a ringlb
/// configuration: it is checked added to a minimal one.
fn in_base_config(out: &Path) {
    let Ok(vrrp) = std::fs::read_to_string(out) else {
        return;
    };
    let base = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"b\"\n\n\
                [[backend]]\nname = \"b\"\n\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:9\"\n\n";
    std::fs::write(out, format!("{base}{vrrp}")).unwrap();
}

/// `ringlb check` on the output: "ok", "ok (env)" when every error comes from this
/// machine (a host name or file of the original site), "KNOWN" for a listed
/// failure, else a problem.
fn checked(out: &Path, known: bool, problems: &mut Vec<String>) -> String {
    if !out.exists() {
        problems.push(format!("no output written to {}", out.display()));
        return "no output".into();
    }
    match run_check(out) {
        Ok(()) => "ok".into(),
        Err(errors) if errors.iter().all(|e| environmental(e)) => {
            format!("ok (env: {})", errors.len())
        }
        Err(errors) if known => format!(
            "KNOWN ({} error(s), see KNOWN_CHECK_FAILURES)",
            errors.len()
        ),
        Err(errors) => {
            let text = std::fs::read_to_string(out).unwrap_or_default();
            problems.push(format!(
                "the output does not pass `ringlb check`:\n  {}\n--- output ---\n{text}--------------",
                errors.join("\n  ")
            ));
            "FAILED".into()
        }
    }
}

/// The table, written where `cargo test` shows it (the harness captures print!).
fn summary(t: &Tally) {
    let mut s = String::from("\nimport corpus summary\n");
    s.push_str(&format!(
        "{:<58} {:<9} {:>5}  {}\n",
        "file", "result", "lost", "ringlb check"
    ));
    for r in &t.rows {
        s.push_str(&format!(
            "{:<58} {:<9} {:>5}  {}\n",
            r.what, r.result, r.lost, r.check
        ));
    }
    for kind in ["cfg", "conf", " + "] {
        let rows: Vec<&Row> = t.rows.iter().filter(|r| kind_of(&r.what) == kind).collect();
        let n = |x: &str| rows.iter().filter(|r| r.result == x).count();
        s.push_str(&format!(
            "{}: {} files: {} complete, {} partial, {} failed, {} refused (known)\n",
            match kind {
                "cfg" => "haproxy",
                "conf" => "keepalived",
                _ => "pairs",
            },
            rows.len(),
            n("complete"),
            n("partial"),
            n("FAILED"),
            n("refused")
        ));
    }
    let mut top: Vec<(&String, &(usize, usize))> = t.directives.iter().collect();
    top.sort_by(|a, b| b.1 .1.cmp(&a.1 .1).then(b.1 .0.cmp(&a.1 .0)));
    s.push_str("most frequent untranslated directives (files, lines):\n");
    for (d, (lines, files)) in top.iter().take(15) {
        s.push_str(&format!("  {files:>3} {lines:>4}  {d}\n"));
    }
    let _ = std::io::stdout().lock().write_all(s.as_bytes());
}

fn kind_of(what: &str) -> &'static str {
    if what.contains(" + ") {
        " + "
    } else if what.ends_with(".cfg") {
        "cfg"
    } else {
        "conf"
    }
}
