//! Active health checks, run by the control thread's own monoio runtime: one small
//! task per checked server, so a backend is probed once per interval whatever the
//! number of workers, and a hundred probes in flight cost a hundred sockets, not a
//! hundred threads. A probe is `tcp` (the connect succeeds) or `http` (a GET whose
//! response status must be `expect_status`), both within `timeout`. The response head
//! is parsed by the same strict codec as the data path's ([`parse_response`]): what a
//! client would get a 502 for fails the check.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

use super::health::jitter;
use super::plane::Control;
use crate::config::{CheckKind, HealthCheck, Server};
use crate::http::{parse_response, read_append};
use crate::listen::local_shortage;
use crate::tls::{connect_tls, ServerStream};

/// Why a check failed, as the log and the stats page say it.
#[derive(Debug)]
pub enum Failure {
    Refused,
    Timeout(Duration),
    Io(io::Error),
    Status {
        got: u16,
        want: u16,
    },
    BadResponse,
    Tls(String),
    /// ringlb itself was short of descriptors, buffers or ports: the check did not
    /// run, and says nothing about the server.
    Local(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused"),
            Failure::Timeout(t) => write!(f, "no answer within {t:?}"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Status { got, want } => write!(f, "HTTP status {got}, expected {want}"),
            Failure::BadResponse => f.write_str("invalid HTTP response"),
            Failure::Tls(e) => f.write_str(e),
            Failure::Local(e) => write!(f, "check not run: ringlb is short of resources ({e})"),
        }
    }
}

/// Largest response head an HTTP check reads.
const MAX_HEAD: usize = 8 * 1024;

/// Probe `server` once.
pub async fn probe(check: &HealthCheck, server: &Server) -> Result<(), Failure> {
    match monoio::time::timeout(check.timeout, probe_inner(check, server)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout(check.timeout)),
    }
}

async fn probe_inner(check: &HealthCheck, server: &Server) -> Result<(), Failure> {
    let tcp = TcpStream::connect_addr(server.address)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            _ if local_shortage(&e) => Failure::Local(e),
            _ => Failure::Io(e),
        })?;
    // A TLS server is checked over TLS: the handshake is part of the check.
    let mut stream = match &server.tls {
        None => ServerStream::Plain(tcp),
        Some(tls) => connect_tls(
            &tls.client_config,
            tls.server_name.clone(),
            tcp,
            check.timeout,
        )
        .await
        .map_err(|e| Failure::Tls(e.to_string()))?,
    };
    if check.kind == CheckKind::Tcp {
        return Ok(());
    }
    let request = format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\nuser-agent: ringlb-health-check\r\nconnection: close\r\n\r\n",
        check.path, server.address_text
    );
    let (res, _) = stream.write_all(request.into_bytes()).await;
    res.map_err(Failure::Io)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        if let Some(result) = verdict(&buf, check.expect_status) {
            return result;
        }
        let (res, b) = read_append(&mut stream, buf).await;
        buf = b;
        match res {
            Ok(0) => return Err(Failure::BadResponse),
            Ok(_) => {}
            Err(e) => return Err(Failure::Io(e)),
        }
    }
}

/// What the bytes of a check response read so far say: `None` while the head is
/// incomplete and shorter than [`MAX_HEAD`] (read more), else the check's result.
/// The head is held to the rules the data path holds server responses to
/// ([`parse_response`]): a response it would refuse as ambiguous (both
/// Content-Length and Transfer-Encoding, Content-Lengths that disagree, bare LF...)
/// fails the check as an invalid response, as does any 1xx.
fn verdict(buf: &[u8], expect_status: u16) -> Option<Result<(), Failure>> {
    let mut storage = [httparse::EMPTY_HEADER; 64];
    let response = match parse_response(buf, false, &mut storage) {
        Ok(Some(r)) => r,
        Ok(None) if buf.len() < MAX_HEAD => return None,
        Ok(None) | Err(_) => return Some(Err(Failure::BadResponse)),
    };
    let got = response.status;
    Some(if (100..200).contains(&got) {
        Err(Failure::BadResponse)
    } else if got == expect_status {
        Ok(())
    } else {
        Err(Failure::Status {
            got,
            want: expect_status,
        })
    })
}

/// Check one server until its generation changes (reload) or ringlb stops. The first
/// check waits `first`, so that the checks of many servers are spread over an interval.
pub async fn check_loop(
    control: Rc<Control>,
    backend: usize,
    server: usize,
    generation: u64,
    first: Duration,
) {
    monoio::time::sleep(first).await;
    loop {
        let Some((check, config)) = control.check_target(backend, server, generation) else {
            return;
        };
        let started = Instant::now();
        let result = probe(&check, &config).await;
        let Some(next) = control.check_done(backend, server, generation, result, started.elapsed())
        else {
            return;
        };
        monoio::time::sleep(jitter(next, control.random())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: Option<Result<(), Failure>>) -> bool {
        matches!(r, Some(Ok(())))
    }

    fn bad(r: Option<Result<(), Failure>>) -> bool {
        matches!(r, Some(Err(Failure::BadResponse)))
    }

    #[test]
    fn expected_status_passes() {
        assert!(ok(verdict(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            200
        )));
        assert!(ok(verdict(b"HTTP/1.0 204 No Content\r\n\r\n", 204)));
        // The body is not the check's business: no framing at all is fine.
        assert!(ok(verdict(b"HTTP/1.1 200 OK\r\n\r\n", 200)));
    }

    #[test]
    fn another_status_is_a_status_failure() {
        let r = verdict(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", 200);
        assert!(
            matches!(
                r,
                Some(Err(Failure::Status {
                    got: 503,
                    want: 200
                }))
            ),
            "{r:?}"
        );
        let r = verdict(b"HTTP/1.1 200 OK\r\n\r\n", 204);
        assert!(
            matches!(
                r,
                Some(Err(Failure::Status {
                    got: 200,
                    want: 204
                }))
            ),
            "{r:?}"
        );
        assert_eq!(
            r.unwrap().unwrap_err().to_string(),
            "HTTP status 200, expected 204"
        );
    }

    #[test]
    fn interim_responses_are_invalid() {
        for raw in [
            &b"HTTP/1.1 100 Continue\r\n\r\n"[..],
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(bad(verdict(raw, 200)), "{}", String::from_utf8_lossy(raw));
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
            let r = verdict(raw, 200);
            assert!(bad(r), "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(Failure::BadResponse.to_string(), "invalid HTTP response");
    }

    #[test]
    fn partial_head_needs_more_up_to_max_head() {
        assert!(verdict(b"", 200).is_none());
        assert!(verdict(b"HTTP/1.1 200 OK\r\n", 200).is_none());
        assert!(verdict(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n", 200).is_none());
        let mut long = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        long.resize(MAX_HEAD - 1, b'a');
        assert!(verdict(&long, 200).is_none());
        long.push(b'a');
        assert!(bad(verdict(&long, 200)));
    }
}
