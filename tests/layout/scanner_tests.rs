//! The scanner and the cycle finder on small inputs.

use super::*;

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
