//! Tests of `[backend.check]` validation: good values resolve per server, bad ones
//! are refused with their line.

use super::*;

#[test]
fn headers_are_name_colon_value() {
    assert_eq!(
        parse_header("X-Check: ringlb").unwrap(),
        ("X-Check".into(), "ringlb".into())
    );
    assert_eq!(
        parse_header("x:  a b ").unwrap(),
        ("x".into(), "a b".into())
    );
    assert!(parse_header("no colon").is_err());
    assert!(parse_header("bad name: v").is_err());
    assert!(parse_header("x: a\r\nb").is_err());
    assert!(parse_header("Host: x")
        .unwrap_err()
        .contains("set by the check"));
}

fn config(check: &str, server: &str) -> Result<crate::config::Config, String> {
    let text = format!(
        "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
         [[backend]]\nname = \"b\"\n[backend.check]\n{check}\n\
         [[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:5432\"\ncheck = true\n{server}\n"
    );
    crate::config::Config::parse(&text, "f.toml").map_err(|e| e.to_string())
}

/// `line`: of the check's text (from 1), or of the server's text when `server` is
/// not empty.
fn refused(check: &str, server: &str, line: usize, want: &str) {
    let e = config(check, server)
        .err()
        .unwrap_or_else(|| panic!("accepted: {check} / {server}"));
    let line = if server.is_empty() {
        8 + line
    } else {
        8 + check.lines().count().max(1) + 4 + line
    };
    assert!(
        e.starts_with(&format!("f.toml:{line}:")) && e.contains(want),
        "{e}"
    );
}

#[test]
fn good_checks_resolve_per_server() {
    let c = config(
        "kind = \"http\"\npath = \"/primary\"\nport = 8008\nexpect_status = [200, \"300-302\"]\nmethod = \"HEAD\"\nhost = \"db\"\nheaders = [\"X-A: 1\"]\nagent_port = 9000\nagent_send = \"hi\\n\"",
        "agent_check = true\nagent_interval = \"300ms\"",
    )
    .unwrap();
    let b = &c.backends[0];
    assert_eq!(b.check.expect_status.to_string(), "200,300-302");
    assert_eq!(b.check.method, "HEAD");
    assert_eq!(b.check.headers, vec![("X-A".to_string(), "1".to_string())]);
    let s = &b.servers[0];
    assert_eq!(
        s.probe.check_target(s.address),
        "127.0.0.1:8008".parse().unwrap()
    );
    // Computed when the check runs: a server that moved (DNS) is checked where it is.
    assert_eq!(
        s.probe.check_target("10.0.0.7:5432".parse().unwrap()),
        "10.0.0.7:8008".parse().unwrap()
    );
    let a = s.probe.agent.as_ref().unwrap();
    assert_eq!(a.address(s.address), "127.0.0.1:9000".parse().unwrap());
    assert_eq!(
        (a.send.as_slice(), a.interval),
        (&b"hi\n"[..], Duration::from_millis(300))
    );
    // A server's own port and address win.
    let c = config(
        "port = 8008",
        "check_port = 8009\ncheck_addr = \"127.0.0.2\"",
    )
    .unwrap();
    let s = &c.backends[0].servers[0];
    assert_eq!(
        s.probe.check_target(s.address),
        "127.0.0.2:8009".parse().unwrap()
    );
    let c = config("kind = \"tcp\"", "").unwrap();
    let s = &c.backends[0].servers[0];
    assert_eq!(s.probe.check_target(s.address), s.address);
    // Steps.
    let c = config("[[backend.check.step]]\nsend = \"PING\\r\\n\"\n[[backend.check.step]]\nexpect = \"+PONG\"\n[[backend.check.step]]\nexpect_regex = \"role:(master)\"", "").unwrap();
    assert_eq!(c.backends[0].check.steps.len(), 3);
    assert_eq!(c.backends[0].check.kind_name(), "script");
    // The integer form keeps its meaning.
    let c = config("kind = \"http\"\nexpect_status = 204", "").unwrap();
    assert_eq!(c.backends[0].check.expect_status.to_string(), "204");
    let c = config("kind = \"http\"", "").unwrap();
    assert_eq!(c.backends[0].check.expect_status.to_string(), "200-399");
}

#[test]
fn bad_values_are_refused_with_their_line() {
    refused(
        "kind = \"http\"\nexpect_status = true",
        "",
        2,
        "expected a status (200), a string of statuses and ranges",
    );
    refused(
        "kind = \"http\"\nexpect_status = \"200-99\"",
        "",
        2,
        "expect_status",
    );
    refused(
        "kind = \"http\"\nexpect_status = \"2xx\"",
        "",
        2,
        "is not an HTTP status",
    );
    refused(
        "kind = \"http\"\nexpect_status = 700",
        "",
        2,
        "is not an HTTP status",
    );
    refused("port = 0", "", 1, "port 0 is out of range 1..=65535");
    refused(
        "",
        "check_port = 70000",
        1,
        "check_port 70000 is out of range",
    );
    refused(
        "[[backend.check.step]]\nsend = \"a\"\nexpect = \"b\"",
        "",
        1,
        "give exactly one of send, expect, expect_regex",
    );
    refused(
        "[[backend.check.step]]\nexpect_regex = \"(unclosed\"",
        "",
        2,
        "expect_regex",
    );
    refused(
        "kind = \"http\"\n[[backend.check.step]]\nsend = \"a\"",
        "",
        2,
        "steps are a tcp check's script",
    );
    refused(
        "",
        "agent_check = true",
        1,
        "agent_check = true needs agent_port",
    );
    refused(
        "",
        "agent_check = true\nagent_port = 0",
        2,
        "agent_port 0 is out of range",
    );
    refused(
        "kind = \"http\"\nmethod = \"GE T\"",
        "",
        2,
        "is not an HTTP method",
    );
    refused(
        "kind = \"http\"\nheaders = [\"nocolon\"]",
        "",
        2,
        "Name: value",
    );
    refused(
        "kind = \"http\"\nmethod = \"HEAD\"\nexpect_body = \"x\"",
        "",
        3,
        "HEAD response has no body",
    );
    refused("tls = true", "", 1, "needs ca_file");
    refused(
        "",
        "check_addr = \"10.0.0.1:80\"",
        1,
        "is not an IP address or host name",
    );
    refused(
        "agent_interval = \"0s\"",
        "",
        1,
        "agent_interval must be greater than zero",
    );
}

#[test]
fn regexes_are_bounded() {
    assert!(compile_regex("role:(master|primary)").is_ok());
    assert!(compile_regex("(").is_err());
    assert!(compile_regex(&"a".repeat(5000))
        .unwrap_err()
        .contains("longer"));
    assert!(compile_regex("(\\w{100}){100}").is_err());
}

#[test]
fn grpc_checks_take_a_service_and_an_authority() {
    let c = config(
        "kind = \"grpc\"\ngrpc_service = \"app.Orders\"\nhost = \"orders.internal:50051\"",
        "",
    )
    .unwrap();
    let check = &c.backends[0].check;
    assert_eq!(
        (check.kind_name(), check.grpc_service.as_str()),
        ("grpc", "app.Orders")
    );
    assert_eq!(check.host.as_deref(), Some("orders.internal:50051"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The default service is the server as a whole.
    let c = config("kind = \"grpc\"", "").unwrap();
    assert_eq!(c.backends[0].check.grpc_service, "");
    // http-only keys are ignored, with a warning naming the line.
    let c = config("kind = \"grpc\"\npath = \"/health\"", "").unwrap();
    assert!(
        c.warnings[0].starts_with("f.toml:10:")
            && c.warnings[0].contains("path only applies to kind = \"http\""),
        "{:?}",
        c.warnings
    );
}

#[test]
fn bad_grpc_keys_are_refused_with_their_line() {
    refused(
        "kind = \"http\"\ngrpc_service = \"x\"",
        "",
        2,
        "grpc_service needs kind = \"grpc\"",
    );
    refused(
        "grpc_service = \"\"",
        "",
        1,
        "grpc_service needs kind = \"grpc\"",
    );
    refused(
        "kind = \"grpc\"\ngrpc_service = \"a\\nb\"",
        "",
        2,
        "without control characters",
    );
    refused(
        "kind = \"grpc\"\nhost = \"a/b\"",
        "",
        2,
        "is not an HTTP/2 :authority",
    );
    refused(
        "kind = \"grpc\"\n[[backend.check.step]]\nsend = \"a\"",
        "",
        2,
        "steps are a tcp check's script",
    );
    refused("kind = \"gprc\"", "", 1, "unknown variant");
}

#[test]
fn proto_h2_makes_an_http_check_speak_http2() {
    let c = config("kind = \"http\"\nproto = \"h2\"", "").unwrap();
    assert!(c.backends[0].check.h2 && c.backends[0].check.speaks_h2());
    let c = config("kind = \"http\"\nproto = \"h1\"", "").unwrap();
    assert!(!c.backends[0].check.speaks_h2());
    let c = config("kind = \"grpc\"\nproto = \"h2\"", "").unwrap();
    assert!(c.backends[0].check.speaks_h2());
    refused(
        "kind = \"http\"\nproto = \"h3\"",
        "",
        2,
        "write \"h1\" or \"h2\"",
    );
    refused("proto = \"h2\"", "", 1, "proto applies to kind = \"http\"");
    refused("kind = \"grpc\"\nproto = \"h1\"", "", 2, "always speaks h2");
    refused(
        "kind = \"http\"\nheaders = [\"Upgrade: x\"]\nproto = \"h2\"",
        "",
        3,
        "Upgrade is connection-specific",
    );
    // Over HTTP/1.1 the same header is the operator's business.
    assert!(config("kind = \"http\"\nheaders = [\"Upgrade: x\"]", "").is_ok());
}
