//! Tests of ACL translation (`acl.rs`).

use super::*;

fn t(line: &str) -> Result<Acl, String> {
    let w: Vec<String> = line.split(' ').map(String::from).collect();
    translate("a", &w, "n")
}

fn key_value(line: &str) -> (String, Value) {
    match t(line).unwrap() {
        Acl::Table(t) => {
            let i = &t.items[1];
            (i.key.clone(), i.value.clone())
        }
        Acl::Sni(_) => panic!("sni"),
    }
}

#[test]
fn paths_hosts_and_sources() {
    assert_eq!(key_value("path_beg /api /v1").0, "path_prefix");
    assert_eq!(key_value("path -m beg /api").0, "path_prefix");
    // The whole field, port included, as HAProxy compares it.
    assert_eq!(
        key_value("hdr(host) -i example.com"),
        (
            "header".to_string(),
            Value::Inline(vec![
                ("name".into(), Value::str("Host")),
                ("equals".into(), Value::Arr(vec![Value::str("example.com")])),
            ])
        )
    );
    assert_eq!(
        key_value("req.hdr(Host) -m end .example.com").1,
        Value::Inline(vec![
            ("name".into(), Value::str("Host")),
            (
                "regex".into(),
                Value::Arr(vec![Value::str("\\.example\\.com$")])
            ),
        ])
    );
    assert_eq!(
        key_value("hdr_dom(host) -i example.com").1,
        Value::Arr(vec![Value::str("(^|\\.)example\\.com$")])
    );
    assert_eq!(key_value("src 10.0.0.0/8").0, "src");
    assert_eq!(key_value("src -f /etc/haproxy/allow.lst").0, "src_file");
    assert_eq!(key_value("ssl_fc").0, "tls_version");
    assert_eq!(
        key_value("path_sub a.b").1,
        Value::Arr(vec![Value::str("a\\.b")])
    );
}

#[test]
fn headers_and_queries() {
    let (k, v) = key_value("hdr_beg(User-Agent) curl/");
    assert_eq!(k, "header");
    assert_eq!(
        v,
        Value::Inline(vec![
            ("name".into(), Value::str("User-Agent")),
            ("prefix".into(), Value::Arr(vec![Value::str("curl/")]))
        ])
    );
    assert_eq!(key_value("url_param(debug) 1").0, "query");
    assert_eq!(key_value("req.cook(beta) -m found").0, "cookie");
}

#[test]
fn sni_routes_and_refusals() {
    assert_eq!(
        t("req.ssl_sni -i a.example.com"),
        Ok(Acl::Sni(vec!["a.example.com".into()]))
    );
    assert_eq!(
        t("req_ssl_sni -m end .example.com"),
        Ok(Acl::Sni(vec!["*.example.com".into()]))
    );
    assert!(t("nbsrv() lt 1").is_err());
    assert!(t("nbsrv(app) ne 1").is_err());
    assert!(t("nbsrv(app) ge 0").is_err());
    assert!(t("hdr_cnt(host) gt 1").is_err());
}

/// `-f FILE` with a string match: the list keeps its inline values and ringlb reads
/// the file's lines into it (`values_file`), unless the translation rewrites values.
#[test]
fn pattern_files_become_values_file() {
    let items = |line: &str| match t(line).unwrap() {
        Acl::Table(t) => t
            .items
            .iter()
            .map(|i| (i.key.clone(), i.value.clone()))
            .collect::<Vec<_>>(),
        Acl::Sni(_) => panic!("sni"),
    };
    let it = items("path_beg -f /etc/haproxy/static.lst /extra");
    assert_eq!(
        it[1],
        ("path_prefix".into(), Value::Arr(vec![Value::str("/extra")]))
    );
    assert_eq!(
        it[2],
        ("values_file".into(), Value::str("/etc/haproxy/static.lst"))
    );
    let it = items("hdr_beg(user-agent) -i -f bots.lst");
    assert_eq!(
        it[1].1,
        Value::Inline(vec![
            ("name".into(), Value::str("user-agent")),
            ("prefix".into(), Value::Arr(vec![])),
        ])
    );
    assert_eq!(it[2].0, "values_file");
    assert!(it
        .iter()
        .any(|(k, v)| k == "ignore_case" && *v == Value::Bool(true)));
    assert_eq!(key_value("path -f list").0, "path");
    for rewritten in [
        "path_sub -f list",
        "hdr_dom(host) -f list",
        "req_ssl_sni -f list",
    ] {
        let err = t(rewritten).unwrap_err();
        assert!(
            err.contains("-f pattern files are not supported"),
            "{rewritten}: {err}"
        );
    }
}

#[test]
fn nbsrv_comparisons() {
    let nb = |line: &str| match key_value(line) {
        (k, Value::Inline(kv)) if k == "nbsrv" => kv,
        other => panic!("{other:?}"),
    };
    let kv = |b: &str, k: &str, n: i64| {
        vec![
            ("backend".to_string(), Value::str(b)),
            (k.to_string(), Value::Int(n)),
        ]
    };
    assert_eq!(nb("nbsrv(app) lt 1"), kv("app", "below", 1));
    assert_eq!(nb("nbsrv(app) le 1"), kv("app", "below", 2));
    assert_eq!(nb("nbsrv(be2) ge 2"), kv("be2", "above", 1));
    assert_eq!(nb("nbsrv(app) gt 0"), kv("app", "above", 0));
    assert_eq!(nb("nbsrv(app) eq 3"), kv("app", "equals", 3));
    assert_eq!(nb("nbsrv(app) 0"), kv("app", "equals", 0));
}

#[test]
fn predefined_acls() {
    assert_eq!(predefined("METH_POST").unwrap(), ["method", "POST"]);
    assert!(predefined("WAIT_END").is_none());
}
