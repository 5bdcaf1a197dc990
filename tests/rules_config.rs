//! Rule keys in the configuration (`[[table]]`, `[[frontend.acl]]`, `*_rule`,
//! `error_page`): what is accepted, and every error naming file, line and rule.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{TempConfig, BIN};
use ringlb::config::Config;
use ringlb::rules::{ReqAction, Verdict};

fn http(rules: &str) -> String {
    format!(
        "[[table]]\nname = \"per_ip\"\nkey = \"src\"\nperiod = \"10s\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\nmode = \"http\"\ndefault_backend = \"app\"\n{rules}\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9001\"\n\
         [[backend]]\nname = \"admin\"\n[[backend.server]]\nname = \"b1\"\naddress = \"127.0.0.1:9002\"\n"
    )
}

fn tcp(rules: &str) -> String {
    http(rules).replace("mode = \"http\"", "mode = \"tcp\"")
}

/// A directory for list and body files; the configuration is "parsed" from it.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringlb-rules-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn parse_in(d: &std::path::Path, text: &str) -> Result<Config, String> {
    let origin = d.join("t.toml").display().to_string();
    Config::parse(text, &origin).map_err(|e| e.to_string())
}

/// The single error of `text`, or panic.
fn only_error(text: &str) -> String {
    match Config::parse(text, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => {
            assert_eq!(errors.0.len(), 1, "expected one error, got:\n{errors}");
            errors.0[0].to_string()
        }
    }
}

/// 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect(needle) + 1
}

const RATE_LIMIT: &str = r#"[[frontend.tcp_rule]]
action = "track"
table = "per_ip"
[[frontend.acl]]
name = "too_fast"
counter = { table = "per_ip", name = "http_req_rate", above = 100 }
[[frontend.acl]]
name = "admin_path"
path_prefix = ["/admin"]
[[frontend.acl]]
name = "office"
src = ["10.0.0.0/8", "127.0.0.1"]
[[frontend.http_rule]]
action = "deny"
status = 429
if = "too_fast"
[[frontend.http_rule]]
action = "deny"
if = "admin_path !office"
[[frontend.http_rule]]
action = "use_backend"
backend = "admin"
if = "admin_path"
[[frontend.response_rule]]
action = "set_header"
name = "Strict-Transport-Security"
value = "max-age=31536000"
[[frontend.response_rule]]
action = "del_header"
name = "Server"
"#;

#[test]
fn a_rate_limit_with_acls_and_edits_is_accepted() {
    let c = Config::parse(&http(RATE_LIMIT), "t.toml").unwrap();
    assert_eq!(c.tables.len(), 1);
    assert_eq!(c.tables[0].config.rate_period_ms, 10_000);
    let fe = &c.frontends[0];
    let rules = fe.rules.as_ref().expect("rules");
    assert_eq!(rules.acls().len(), 3);
    assert_eq!(rules.connection_rules().len(), 1);
    assert_eq!(rules.request_rules().len(), 3);
    assert_eq!(rules.response_rules().len(), 2);
    match &rules.request_rules()[0].action {
        ReqAction::Deny(r) => {
            assert_eq!(r.status, 429);
            assert_eq!(&*r.headers[0].0, "Retry-After");
            assert_eq!(&*r.headers[0].1, b"10");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rules.request_rules()[2].action,
        ReqAction::UseBackend(1)
    ));
    assert_eq!(fe.rule_label(0), "tcp_rule 1");
    assert_eq!(fe.rule_label(3), "http_rule 3");
    assert_eq!(fe.rule_label(4), "response_rule 1");
    assert!(fe
        .rule_summary()
        .contains("3 acl(s), 1 tcp_rule(s), 3 http_rule(s), 2 response_rule(s)"));
    // "admin" is used by a use_backend rule: no "not used" warning.
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let _ = Verdict::Continue;
}

#[test]
fn unknown_acl_in_a_condition_names_the_line() {
    let text = http("[[frontend.http_rule]]\naction = \"deny\"\nif = \"admin_path\"\n");
    let e = only_error(&text);
    let line = line_of(&text, "if = \"admin_path\"");
    assert!(e.starts_with(&format!("t.toml:{line}:")), "{e}");
    assert!(
        e.contains("frontend \"web\": http_rule 1: unknown ACL \"admin_path\""),
        "{e}"
    );
}

#[test]
fn bad_cidr_inline_names_the_value() {
    let text = http("[[frontend.acl]]\nname = \"x\"\nsrc = [\"10.0.0.0/8\", \"10.0.0.300/8\"]\n");
    let e = only_error(&text);
    assert!(
        e.starts_with(&format!("t.toml:{}:", line_of(&text, "10.0.0.300"))),
        "{e}"
    );
    assert!(
        e.contains("frontend \"web\": acl \"x\": src: \"10.0.0.300/8\""),
        "{e}"
    );
}

#[test]
fn bad_cidr_in_a_list_file_names_the_file_line() {
    let d = dir("cidr");
    std::fs::write(
        d.join("ok.lst"),
        "# office\n10.0.0.0/8\n\n192.168.0.0/16 # lab\n",
    )
    .unwrap();
    std::fs::write(d.join("bad.lst"), "# office\n10.0.0.0/8\nnot-an-ip\n").unwrap();
    let ok = http("[[frontend.acl]]\nname = \"x\"\nsrc_file = \"ok.lst\"\n");
    parse_in(&d, &ok).unwrap();
    let bad = ok.replace("ok.lst", "bad.lst");
    let e = parse_in(&d, &bad).unwrap_err();
    assert!(
        e.contains(&format!("t.toml:{}:", line_of(&bad, "bad.lst"))),
        "{e}"
    );
    assert!(
        e.contains("acl \"x\": src_file: bad.lst:3: \"not-an-ip\""),
        "{e}"
    );
    let missing = ok.replace("ok.lst", "nope.lst");
    let e = parse_in(&d, &missing).unwrap_err();
    assert!(
        e.contains("src_file: cannot read") && e.contains("nope.lst"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_regex_is_refused() {
    let text = http("[[frontend.acl]]\nname = \"x\"\npath_regex = [\"^/(a\"]\n");
    let e = only_error(&text);
    assert!(
        e.starts_with(&format!("t.toml:{}:", line_of(&text, "path_regex"))),
        "{e}"
    );
    assert!(e.contains("acl \"x\": regex \"^/(a\""), "{e}");
    let text = http(
        "[[frontend.http_rule]]\naction = \"replace_path\"\nregex = \"(\"\nreplacement = \"/\"\n",
    );
    assert!(only_error(&text).contains("http_rule 1: regex"));
}

#[test]
fn http_rules_and_acls_on_a_tcp_frontend_are_refused() {
    let e = only_error(&tcp("[[frontend.http_rule]]\naction = \"deny\"\n"));
    assert!(
        e.contains("http_rule 1: http_rule is only allowed in mode \"http\""),
        "{e}"
    );
    let e = only_error(&tcp(
        "[[frontend.response_rule]]\naction = \"del_header\"\nname = \"Server\"\n",
    ));
    assert!(
        e.contains("response_rule 1: response_rule is only allowed"),
        "{e}"
    );
    let e = only_error(&tcp("[[frontend.acl]]\nname = \"p\"\npath = [\"/x\"]\n"));
    assert!(
        e.contains("acl \"p\": an HTTP condition on a mode \"tcp\" frontend"),
        "{e}"
    );
    // Connection rules are fine in tcp mode.
    let ok = tcp("[[frontend.acl]]\nname = \"bad\"\nsrc = [\"192.0.2.0/24\"]\n[[frontend.tcp_rule]]\naction = \"reject\"\nif = \"bad\"\n");
    Config::parse(&ok, "t.toml").unwrap();
}

#[test]
fn unknown_table_or_backend_is_refused() {
    let e = only_error(&http(
        "[[frontend.tcp_rule]]\naction = \"track\"\ntable = \"nope\"\n",
    ));
    assert!(
        e.contains("tcp_rule 1: table \"nope\" is not a defined [[table]]"),
        "{e}"
    );
    let e = only_error(&http(
        "[[frontend.http_rule]]\naction = \"use_backend\"\nbackend = \"nope\"\n",
    ));
    assert!(
        e.contains("http_rule 1: backend \"nope\" is not a defined backend"),
        "{e}"
    );
    let e = only_error(&http("[[frontend.acl]]\nname = \"c\"\ncounter = { table = \"per_ip\", name = \"conn_cur\", above = 5 }\n"));
    assert!(
        e.contains("is not tracked by any rule of this frontend"),
        "{e}"
    );
}

#[test]
fn acls_need_exactly_one_kind_and_rules_their_keys() {
    let e = only_error(&http(
        "[[frontend.acl]]\nname = \"x\"\npath = [\"/a\"]\nhost = [\"a\"]\n",
    ));
    assert!(
        e.contains("exactly one condition kind") && e.contains("found host, path"),
        "{e}"
    );
    let e = only_error(&http("[[frontend.http_rule]]\naction = \"redirect\"\n"));
    assert!(e.contains("exactly one of location, prefix, scheme"), "{e}");
    let e = only_error(&http(
        "[[frontend.http_rule]]\naction = \"deny\"\nlocation = \"/x\"\n",
    ));
    assert!(
        e.contains("location does not apply to action \"deny\""),
        "{e}"
    );
    let e = only_error(&http("[[frontend.http_rule]]\naction = \"explode\"\n"));
    assert!(e.contains("action \"explode\" is not one of"), "{e}");
    let e = only_error(&http(
        "[[frontend.acl]]\nname = \"x\"\nmethod = [\"GET\"]\nbogus = 1\n",
    ));
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn body_and_error_page_files_are_read() {
    let d = dir("files");
    std::fs::write(
        d.join("403.http"),
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno",
    )
    .unwrap();
    std::fs::write(d.join("maint.html"), "<p>maintenance</p>").unwrap();
    std::fs::write(d.join("junk.txt"), "hello").unwrap();
    let ok = http("[[frontend.error_page]]\nstatus = 403\nfile = \"403.http\"\n[[frontend.http_rule]]\naction = \"return\"\nstatus = 503\ncontent_type = \"text/html\"\nbody_file = \"maint.html\"\n");
    let c = parse_in(&d, &ok).unwrap();
    assert_eq!(c.frontends[0].error_pages[0].status, 403);
    let e = parse_in(&d, &ok.replace("403.http", "junk.txt")).unwrap_err();
    assert!(e.contains("is not a raw HTTP response"), "{e}");
    let e = parse_in(&d, &ok.replace("403.http", "missing.http")).unwrap_err();
    assert!(e.contains("error_page: file: cannot read"), "{e}");
    let e = parse_in(&d, &ok.replace("maint.html", "missing.html")).unwrap_err();
    assert!(e.contains("http_rule 1: body_file: cannot read"), "{e}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn tables_are_validated() {
    let text = http("").replace("key = \"src\"", "key = \"dst\"");
    let e = only_error(&text);
    assert!(e.contains("table \"per_ip\": key \"dst\""), "{e}");
    let text = http("").replace(
        "key = \"src\"",
        "key = \"hdr(X-Api-Key)\"\nsize = 10\nexpire = \"5m\"",
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.tables[0].config.max_entries, 10);
    assert_eq!(c.tables[0].config.expire_ms, 300_000);
}

#[test]
fn check_prints_a_rule_summary_per_frontend() {
    let cfg = TempConfig::new(&http(RATE_LIMIT));
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("frontend \"web\": 3 acl(s), 1 tcp_rule(s), 3 http_rule(s), 2 response_rule(s), 0 error_page(s)"),
        "{stdout}"
    );
}

#[test]
fn edits_of_framing_headers_are_refused_naming_the_line() {
    for (kind, action, name) in [
        ("http_rule", "set_header", "Content-Length"),
        ("http_rule", "del_header", "transfer-encoding"),
        ("http_rule", "add_header", "Connection"),
        ("http_rule", "del_header", "Host"),
        ("response_rule", "set_header", "Content-Length"),
        ("response_rule", "del_header", "Transfer-Encoding"),
        ("response_rule", "add_header", "connection"),
    ] {
        let value = if action == "del_header" {
            ""
        } else {
            "value = \"1\"\n"
        };
        let text = http(&format!(
            "[[frontend.{kind}]]\naction = \"{action}\"\nname = \"{name}\"\n{value}"
        ));
        let e = only_error(&text);
        let line = line_of(&text, &format!("name = \"{name}\""));
        assert!(e.starts_with(&format!("t.toml:{line}:")), "{e}");
        assert!(e.contains(&format!("{kind} 1: header \"{name}\"")), "{e}");
    }
    let ok = http(
        "[[frontend.http_rule]]\naction = \"set_header\"\nname = \"Host\"\nvalue = \"internal\"\n",
    );
    Config::parse(&ok, "t.toml").unwrap();
    // CR/LF in a value cannot split a head.
    let e = only_error(&http(
        "[[frontend.http_rule]]\naction = \"add_header\"\nname = \"X\"\nvalue = \"a\\r\\nInjected: 1\"\n",
    ));
    assert!(e.contains("holds CR, LF or NUL"), "{e}");
}

// configs/rules.toml is checked with every other example (with the certificate its
// comment says to make) by tests/config_check/, every_example_in_configs_passes_check.

#[test]
fn a_frontend_that_tracks_clients_is_steered_by_source_unless_told_otherwise() {
    let cfg = |extra: &str| {
        format!(
            "[[table]]\nname = \"t\"\nkey = \"src\"\n\
             [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\nmode = \"http\"\ndefault_backend = \"app\"\n{extra}\
             [[frontend.tcp_rule]]\naction = \"track\"\ntable = \"t\"\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9001\"\n"
        )
    };
    let c = ringlb::config::Config::parse(&cfg(""), "t.toml").expect("valid");
    assert_eq!(c.frontends[0].steering, ringlb::config::Steering::Source);
    let c =
        ringlb::config::Config::parse(&cfg("steering = \"kernel\"\n"), "t.toml").expect("valid");
    assert_eq!(c.frontends[0].steering, ringlb::config::Steering::Kernel);
}

#[test]
fn http_version_takes_http2_and_names_a_bad_value() {
    let acl = |v: &str| {
        http(&format!("[[frontend.acl]]\nname = \"v\"\nhttp_version = {v}\n[[frontend.http_rule]]\naction = \"deny\"\nif = \"v\"\n"))
    };
    for ok in [
        r#"["2"]"#,
        r#"["HTTP/2"]"#,
        r#"["HTTP/1.1", "2.0"]"#,
        r#"["1.0"]"#,
    ] {
        let c = Config::parse(&acl(ok), "t.toml");
        assert!(c.is_ok(), "{ok}: {:?}", c.err().map(|e| e.to_string()));
    }
    let text = acl(r#"["HTTP/3"]"#);
    let e = only_error(&text);
    assert!(
        e.starts_with(&format!("t.toml:{}:", line_of(&text, "HTTP/3"))),
        "{e}"
    );
    assert!(
        e.contains("acl \"v\": http_version \"HTTP/3\": \"1.0\", \"1.1\" or \"2\""),
        "{e}"
    );
}

#[test]
fn header_formats_and_nbsrv_are_checked_naming_the_line() {
    let ok = http(
        "[[frontend.acl]]\nname = \"dead\"\nnbsrv = { backend = \"app\", below = 1 }\n\
         [[frontend.http_rule]]\naction = \"return\"\nstatus = 503\nif = \"dead\"\n\
         [[frontend.http_rule]]\naction = \"set_header\"\nname = \"X-Client\"\nformat = \"%[src]:%[dst_port] %[req.hdr(host),lower]\"\n\
         [[frontend.response_rule]]\naction = \"add_header\"\nname = \"X-Status\"\nformat = \"%ST\"\n",
    );
    let c = Config::parse(&ok, "t.toml").unwrap();
    let rules = c.frontends[0].rules.as_ref().unwrap();
    assert_eq!(rules.request_rules().len(), 2);
    match &rules.request_rules()[1].action {
        ReqAction::Header(e) => assert!(e.format.is_some()),
        other => panic!("{other:?}"),
    }
    let bad_fetch = http(
        "[[frontend.http_rule]]\naction = \"set_header\"\nname = \"X\"\nformat = \"%[var(txn.x)]\"\n",
    );
    let e = only_error(&bad_fetch);
    assert!(
        e.contains(&format!("t.toml:{}:", line_of(&bad_fetch, "format ="))) && e.contains("var"),
        "{e}"
    );
    let both = http(
        "[[frontend.http_rule]]\naction = \"add_header\"\nname = \"X\"\nvalue = \"a\"\nformat = \"%[src]\"\n",
    );
    assert!(only_error(&both).contains("not both"));
    let in_response = http(
        "[[frontend.response_rule]]\naction = \"set_header\"\nname = \"X\"\nformat = \"%[req.hdr(host)]\"\n",
    );
    assert!(only_error(&in_response).contains("cannot read the request head"));
    let no_backend =
        http("[[frontend.acl]]\nname = \"d\"\nnbsrv = { backend = \"nope\", below = 1 }\n");
    assert!(only_error(&no_backend).contains("nbsrv backend \"nope\""));
    let two = http(
        "[[frontend.acl]]\nname = \"d\"\nnbsrv = { backend = \"app\", below = 1, above = 2 }\n",
    );
    assert!(only_error(&two).contains("exactly one of below, above, equals"));
}
