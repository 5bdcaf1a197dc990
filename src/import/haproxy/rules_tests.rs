//! Tests of ACL lines, conditions and rules (`rules.rs`).

use super::super::model::Global;
use super::*;
use crate::import::haproxy::rules_response::{after_response, http_response};
use crate::import::haproxy::rules_tcp::tcp_request;
use crate::import::report::{Ledger, Src};

fn line(text: &str) -> Line {
    at(7, text)
}

/// A line at line number `n` (the ledger keeps one fate per line).
fn at(n: usize, text: &str) -> Line {
    Line {
        src: Src {
            file: "h.cfg".into(),
            line: n,
            text: text.into(),
            directive: String::new(),
        },
        words: text.split(' ').map(String::from).collect(),
    }
}

/// A frontend and the ledger and global state a `Cx` borrows.
fn plain_fe() -> (Fe, Ledger, Global) {
    let fe = Fe::new("f", &line("frontend f").src);
    (fe, Ledger::default(), Global::default())
}

/// The same, in mode http.
fn http_fe() -> (Fe, Ledger, Global) {
    let (mut fe, led, g) = plain_fe();
    fe.main.set("mode", Value::str("http"), String::new());
    fe.final_mode = "http".into();
    (fe, led, g)
}

#[test]
fn conditions_with_anonymous_and_predefined_acls() {
    let mut fe = Fe::new("f", &line("frontend f").src);
    fe.main.set("mode", Value::str("http"), String::new());
    fe.final_mode = "http".into();
    let l = line("acl api path_beg /api");
    let mut led = crate::import::report::Ledger::default();
    let mut g = super::super::model::Global::default();
    let mut cx = Cx {
        led: &mut led,
        g: &mut g,
    };
    acl_line(&l, &mut fe, &mut cx);
    let l = line("http-request deny if api !{ src 10.0.0.0/8 } || METH_POST");
    http_request(&l, &mut fe, &mut cx);
    let rule = &fe.http_rules[0];
    assert_eq!(
        rule.get("if"),
        Some(&Value::str("api !anon_7_1 || haproxy_METH_POST"))
    );
    assert_eq!(fe.acls.len(), 3);
    let l = line("http-request deny if nope");
    http_request(&l, &mut fe, &mut cx);
    assert_eq!(fe.http_rules.len(), 1);
    assert!(led.lost_list()[0].why.contains("nope"));
}

#[test]
fn same_name_acls_or_their_values() {
    let (mut fe, mut led, mut g) = plain_fe();
    let mut cx = Cx {
        led: &mut led,
        g: &mut g,
    };
    acl_line(&line("acl st path_beg /static"), &mut fe, &mut cx);
    acl_line(&line("acl st path_beg /img"), &mut fe, &mut cx);
    assert_eq!(fe.acls.len(), 1);
    assert_eq!(
        fe.acls[0].get("path_prefix"),
        Some(&Value::Arr(vec![Value::str("/static"), Value::str("/img")]))
    );
    acl_line(&line("acl st src 10.0.0.1"), &mut fe, &mut cx);
    assert_eq!(led.lost_list().len(), 1);
}

#[test]
fn header_values_with_samples_become_formats() {
    let (mut fe, mut led, mut g) = http_fe();
    let mut cx = Cx {
        led: &mut led,
        g: &mut g,
    };
    let req = [
        "http-request set-header X-Port %[dst_port]",
        "http-request add-header X-Host %[req.hdr(host),lower]",
        "http-request set-header X-Pct 100%%",
        "http-request set-header X-Var %[var(txn.x)]",
    ];
    for (n, l) in req.iter().enumerate() {
        http_request(&at(n, l), &mut fe, &mut cx);
    }
    let rd = "http-request redirect location https://%[hdr(host)]%[capture.req.uri] code 301";
    http_request(&at(5, rd), &mut fe, &mut cx);
    let rd = fe.http_rules.last().expect("translated");
    assert_eq!(
        rd.get("location_format"),
        Some(&Value::str("https://%[hdr(host)]%[capture.req.uri]"))
    );
    fe.http_rules.pop();
    let st = at(10, "http-response set-header X-St %[status]");
    http_response(&st, &mut fe, &mut cx);
    http_response(
        &at(11, "http-response set-header X-H %[hdr(x)]"),
        &mut fe,
        &mut cx,
    );
    let got: Vec<_> = fe
        .http_rules
        .iter()
        .chain(&fe.response_rules)
        .map(|t| (t.get("value").cloned(), t.get("format").cloned()))
        .collect();
    assert_eq!(
        got,
        [
            (None, Some(Value::str("%[dst_port]"))),
            (None, Some(Value::str("%[req.hdr(host),lower]"))),
            (Some(Value::str("100%")), None),
            (None, Some(Value::str("%[status]"))),
        ]
    );
    let lost = led.lost_list();
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost[0].why.contains("var"), "{}", lost[0].why);
    assert!(lost[1].why.contains("read the response"), "{}", lost[1].why);
}

#[test]
fn content_reject_on_addresses_becomes_a_connection_rule() {
    let (mut fe, mut led, mut g) = plain_fe();
    let mut cx = Cx {
        led: &mut led,
        g: &mut g,
    };
    acl_line(
        &at(1, "acl internal src 10.0.0.0/8 127.0.0.1"),
        &mut fe,
        &mut cx,
    );
    acl_line(&at(2, "acl api path_beg /api"), &mut fe, &mut cx);
    tcp_request(
        &at(3, "tcp-request content reject if ! internal"),
        &mut fe,
        &mut cx,
    );
    tcp_request(
        &at(4, "tcp-request content reject if api"),
        &mut fe,
        &mut cx,
    );
    tcp_request(
        &at(5, "tcp-request content reject if { dst_port 25 }"),
        &mut fe,
        &mut cx,
    );
    let got: Vec<_> = fe.tcp_rules.iter().map(|t| t.get("if").cloned()).collect();
    assert_eq!(
        got,
        [Some(Value::str("!internal")), Some(Value::str("anon_5_1"))]
    );
    let lost = led.lost_list();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].why.contains("\"api\""), "{}", lost[0].why);
}

#[test]
fn literal_values_only() {
    assert_eq!(literal("a%%b").unwrap(), "a%b");
    assert!(literal("%[src]").is_err());
}

#[test]
fn after_response_rules_come_last_and_say_how_they_differ() {
    let (mut fe, mut led, mut g) = http_fe();
    let mut cx = Cx {
        led: &mut led,
        g: &mut g,
    };
    let sts = at(
        1,
        "http-after-response set-header Strict-Transport-Security max-age=1",
    );
    after_response(&sts, false, Some(&mut fe), &mut cx);
    http_response(&at(2, "http-response del-header Server"), &mut fe, &mut cx);
    let cache = at(
        3,
        "http-after-response del-header Set-Cookie if { res.cache_hit }",
    );
    after_response(&cache, false, Some(&mut fe), &mut cx);
    after_response(
        &at(4, "http-after-response replace-header A b c"),
        false,
        Some(&mut fe),
        &mut cx,
    );
    after_response(
        &at(5, "http-after-response del-header X"),
        false,
        None,
        &mut cx,
    );
    let names: Vec<_> = fe
        .response_rules
        .iter()
        .map(|t| t.get("name").cloned())
        .collect();
    assert_eq!(
        names,
        [
            Some(Value::str("Server")),
            Some(Value::str("Strict-Transport-Security"))
        ]
    );
    assert!(fe.response_rules[1].notes[0].contains("differs: ringlb edits servers' responses only"));
    let lost: Vec<usize> = led.lost_list().iter().map(|l| l.line).collect();
    assert_eq!(lost, [3, 4, 5]);
}
