//! The http check, pure: the request it sends, and the verdict on the response. The
//! head is held to the rules the data path holds server responses to
//! ([`parse_response`]): what a client would get a 502 for fails the check, as does
//! any 1xx. The status must be in `expect_status`; with `expect_body`, the body
//! (read until it ends, the server closes, or [`MAX_BODY`]) must contain it. Over
//! HTTP/2 (`proto = "h2"`) the same request as a header block, the same verdict.

use http_types::{Method, Request};
use rustls::pki_types::ServerName;

use super::Failure;
use crate::config::{HealthCheck, Server, ServerTls};
use crate::http::{parse_response, BodyFraming};

/// Largest response head an HTTP check reads.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most body bytes searched for `expect_body`.
pub const MAX_BODY: usize = 64 * 1024;

/// `METHOD path HTTP/1.1`, `host`, the check's headers, `connection: close`.
pub fn request(check: &HealthCheck, server: &Server) -> Vec<u8> {
    let host = check.host.as_deref().unwrap_or(&server.address_text);
    let mut r = format!(
        "{} {} HTTP/1.1\r\nhost: {host}\r\nuser-agent: ringlb-health-check\r\n",
        check.method, check.path
    );
    for (name, value) in &check.headers {
        r.push_str(name);
        r.push_str(": ");
        r.push_str(value);
        r.push_str("\r\n");
    }
    r.push_str("connection: close\r\n\r\n");
    r.into_bytes()
}

/// The `:authority` of a check over HTTP/2: the check's `host`, else the name the
/// TLS handshake sends when it is a DNS name, else the server's address as written.
pub fn authority(check: &HealthCheck, server: &Server, tls: Option<&ServerTls>) -> String {
    match (&check.host, tls.map(|t| &t.server_name)) {
        (Some(h), _) => h.clone(),
        (None, Some(ServerName::DnsName(n))) => n.as_ref().to_string(),
        _ => server.address_text.clone(),
    }
}

/// The request over HTTP/2: `method path`, `:authority`, the check's headers (names
/// validated at load, connection-specific ones refused there).
pub fn h2_request(check: &HealthCheck, authority: &str, tls: bool) -> Result<Request<()>, Failure> {
    let scheme = if tls { "https" } else { "http" };
    let mut r = Request::builder()
        .method(Method::from_bytes(check.method.as_bytes()).unwrap_or(Method::GET))
        .uri(format!("{scheme}://{authority}{}", check.path))
        .header("user-agent", "ringlb-health-check");
    for (name, value) in &check.headers {
        r = r.header(name.as_str(), value.as_str());
    }
    r.body(()).map_err(|e| Failure::H2(format!("request: {e}")))
}

/// The answer over HTTP/2 judged as over HTTP/1.1: the status in `expect_status`,
/// then `expect_body` in the body (read whole, or up to [`MAX_BODY`]).
pub fn h2_verdict(status: u16, body: &[u8], check: &HealthCheck) -> Result<(), Failure> {
    if !check.expect_status.contains(status) {
        return Err(Failure::Status {
            got: status,
            want: check.expect_status.to_string(),
        });
    }
    match &check.expect_body {
        Some(want) => body_verdict(body, want, true).unwrap_or(Ok(())),
        None => Ok(()),
    }
}

/// The head judged: `None` while incomplete and shorter than [`MAX_HEAD`] (read
/// more); else the check's result, with where the body starts and how long it is.
pub fn head_verdict(
    buf: &[u8],
    check: &HealthCheck,
) -> Option<Result<(usize, Option<u64>), Failure>> {
    let head_request = check.method.eq_ignore_ascii_case("HEAD");
    let mut storage = [httparse::EMPTY_HEADER; 64];
    let response = match parse_response(buf, head_request, &mut storage) {
        Ok(Some(r)) => r,
        Ok(None) if buf.len() < MAX_HEAD => return None,
        Ok(None) | Err(_) => return Some(Err(Failure::BadResponse)),
    };
    let got = response.status;
    Some(if (100..200).contains(&got) {
        Err(Failure::BadResponse)
    } else if check.expect_status.contains(got) {
        let length = match response.framing {
            BodyFraming::Length(n) => Some(n),
            BodyFraming::Chunked | BodyFraming::UntilClose => None,
        };
        Ok((response.head_len, length))
    } else {
        Err(Failure::Status {
            got,
            want: check.expect_status.to_string(),
        })
    })
}

/// The body so far judged against `expect_body`: `None` to read more. `complete`:
/// the body ended (its length reached, or the server closed).
pub fn body_verdict(body: &[u8], want: &str, complete: bool) -> Option<Result<(), Failure>> {
    if body.windows(want.len()).any(|w| w == want.as_bytes()) {
        return Some(Ok(()));
    }
    if complete || body.len() >= MAX_BODY {
        return Some(Err(Failure::Body {
            want: want.to_string(),
            got: body.len(),
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckKind, StatusSet};

    fn check(status: &str) -> HealthCheck {
        HealthCheck {
            kind: CheckKind::Http,
            expect_status: StatusSet::parse(status).unwrap(),
            ..HealthCheck::default()
        }
    }

    fn verdict(buf: &[u8], status: &str) -> Option<Result<(usize, Option<u64>), Failure>> {
        head_verdict(buf, &check(status))
    }

    fn ok(r: Option<Result<(usize, Option<u64>), Failure>>) -> bool {
        matches!(r, Some(Ok(_)))
    }

    fn bad(r: Option<Result<(usize, Option<u64>), Failure>>) -> bool {
        matches!(r, Some(Err(Failure::BadResponse)))
    }

    #[test]
    fn expected_status_passes() {
        let r = verdict(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", "200");
        assert!(matches!(r, Some(Ok((38, Some(2))))), "{r:?}");
        assert!(ok(verdict(b"HTTP/1.0 204 No Content\r\n\r\n", "204")));
        // The body is not the check's business unless expect_body: no framing is fine.
        assert!(ok(verdict(b"HTTP/1.1 200 OK\r\n\r\n", "200")));
        // Ranges and sets; the default is any 2xx or 3xx.
        assert!(ok(verdict(b"HTTP/1.1 302 Found\r\n\r\n", "200-399")));
        assert!(ok(verdict(b"HTTP/1.1 404 Not Found\r\n\r\n", "200,404")));
        let d = HealthCheck {
            kind: CheckKind::Http,
            ..HealthCheck::default()
        };
        assert!(matches!(
            head_verdict(b"HTTP/1.1 301 Moved\r\n\r\n", &d),
            Some(Ok(_))
        ));
        assert!(matches!(
            head_verdict(b"HTTP/1.1 400 Bad\r\n\r\n", &d),
            Some(Err(Failure::Status { got: 400, .. }))
        ));
    }

    #[test]
    fn another_status_is_a_status_failure() {
        let r = verdict(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", "200");
        assert!(
            matches!(&r, Some(Err(Failure::Status { got: 503, want })) if want == "200"),
            "{r:?}"
        );
        let r = verdict(b"HTTP/1.1 200 OK\r\n\r\n", "204,300-399");
        assert_eq!(
            r.unwrap().unwrap_err().to_string(),
            "HTTP status 200, expected 204,300-399"
        );
    }

    #[test]
    fn interim_responses_are_invalid() {
        for raw in [
            &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(
                bad(verdict(raw, "100-599")),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn garbage_and_ambiguous_responses_are_invalid() {
        for raw in [
            &b"garbage\r\n\r\n"[..],
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"HTTP/1.1 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert!(bad(verdict(raw, "200")), "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(Failure::BadResponse.to_string(), "invalid HTTP response");
    }

    #[test]
    fn partial_head_needs_more_up_to_max_head() {
        assert!(verdict(b"", "200").is_none());
        assert!(verdict(b"HTTP/1.1 200 OK\r\n", "200").is_none());
        assert!(verdict(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n", "200").is_none());
        let mut long = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        long.resize(MAX_HEAD - 1, b'a');
        assert!(verdict(&long, "200").is_none());
        long.push(b'a');
        assert!(bad(verdict(&long, "200")));
    }

    #[test]
    fn body_substring() {
        assert!(matches!(
            body_verdict(b"{\"role\":\"master\"}", "\"master\"", false),
            Some(Ok(()))
        ));
        assert!(body_verdict(b"{\"role\":\"mas", "\"master\"", false).is_none());
        let r = body_verdict(b"{\"role\":\"replica\"}", "\"master\"", true);
        assert_eq!(
            r.unwrap().unwrap_err().to_string(),
            "HTTP body (18 bytes) does not contain \"\\\"master\\\"\""
        );
        assert!(matches!(
            body_verdict(&vec![b'x'; MAX_BODY], "y", false),
            Some(Err(_))
        ));
    }

    #[test]
    fn the_request_carries_method_host_and_headers() {
        let mut c = check("200");
        c.method = "OPTIONS".into();
        c.path = "/primary".into();
        c.host = Some("db.internal".into());
        c.headers = vec![
            ("X-Check".into(), "ringlb".into()),
            ("Accept".into(), "*/*".into()),
        ];
        let server = server();
        assert_eq!(
            String::from_utf8(request(&c, &server)).unwrap(),
            "OPTIONS /primary HTTP/1.1\r\nhost: db.internal\r\nuser-agent: ringlb-health-check\r\nX-Check: ringlb\r\nAccept: */*\r\nconnection: close\r\n\r\n"
        );
        c.host = None;
        assert!(String::from_utf8(request(&c, &server))
            .unwrap()
            .contains("host: 10.0.0.1:5432\r\n"));
    }

    fn server() -> crate::config::Server {
        crate::config::Server {
            proto: crate::config::ServerProto::Http1,
            name: "a".into(),
            address_text: "10.0.0.1:5432".into(),
            address: "10.0.0.1:5432".parse().unwrap(),
            weight: 1,
            check: true,
            backup: false,
            max_connections: 0,
            min_connections: 0,
            slow_start: std::time::Duration::ZERO,
            tls: None,
            probe: Default::default(),
            cookie: String::new(),
            resolve: None,
            resolved: true,
            disabled: false,
            shutdown_on_down: false,
            send_proxy: None,
        }
    }

    #[test]
    fn authority_is_host_then_tls_name_then_address() {
        let tls = |name: &str| ServerTls {
            client_config: crate::tls::client_config(None, false).unwrap(),
            server_name: ServerName::try_from(name.to_string()).unwrap(),
            verify: false,
        };
        let (s, mut c) = (server(), check("200"));
        assert_eq!(authority(&c, &s, None), "10.0.0.1:5432");
        assert_eq!(authority(&c, &s, Some(&tls("grpc.test"))), "grpc.test");
        assert_eq!(authority(&c, &s, Some(&tls("10.0.0.1"))), "10.0.0.1:5432");
        c.host = Some("h:1".into());
        assert_eq!(authority(&c, &s, Some(&tls("grpc.test"))), "h:1");
    }

    #[test]
    fn the_h2_request_carries_method_path_authority_and_headers() {
        let mut c = check("200");
        c.method = "HEAD".into();
        c.path = "/ready?deep=1".into();
        c.headers = vec![("X-Check".into(), "ringlb".into())];
        let r = h2_request(&c, "app.internal:8443", true).unwrap();
        assert_eq!(r.method(), Method::HEAD);
        assert_eq!(
            r.uri().to_string(),
            "https://app.internal:8443/ready?deep=1"
        );
        assert_eq!(r.headers()["x-check"], "ringlb");
        assert_eq!(r.headers()["user-agent"], "ringlb-health-check");
        let r = h2_request(&c, "10.0.0.1:80", false).unwrap();
        assert_eq!(r.uri().scheme_str(), Some("http"));
        assert!(matches!(h2_request(&c, "a b", false), Err(Failure::H2(_))));
    }

    #[test]
    fn the_h2_verdict_is_the_h1_one() {
        let mut c = check("200-299");
        assert!(h2_verdict(204, b"", &c).is_ok());
        assert_eq!(
            h2_verdict(503, b"", &c).unwrap_err().to_string(),
            "HTTP status 503, expected 200-299"
        );
        c.expect_body = Some("\"up\"".into());
        assert!(h2_verdict(200, b"{\"status\": \"up\"}", &c).is_ok());
        assert_eq!(
            h2_verdict(200, b"{\"status\": \"down\"}", &c)
                .unwrap_err()
                .to_string(),
            "HTTP body (18 bytes) does not contain \"\\\"up\\\"\""
        );
    }
}
