//! Active health checks, run by the control thread's own monoio runtime: one small
//! task per checked server, so a backend is probed once per interval whatever the
//! number of workers, and a hundred probes in flight cost a hundred sockets, not a
//! hundred threads. A probe is `tcp` (the connect succeeds) or `http` (a GET whose
//! response status must be `expect_status`), both within `timeout`.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;

use super::health::jitter;
use super::plane::Control;
use crate::config::{CheckKind, HealthCheck, Server};
use crate::http::read_append;
use crate::tls::{connect_tls, ServerStream};

/// Why a check failed, as the log and the stats page say it.
#[derive(Debug)]
pub enum Failure {
    Refused,
    Timeout(Duration),
    Io(io::Error),
    Status { got: u16, want: u16 },
    BadResponse,
    Tls(String),
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
            _ => Failure::Io(e),
        })?;
    // A TLS server is checked over TLS: the handshake is part of the check.
    let mut stream = match &server.tls {
        None => ServerStream::Plain(tcp),
        Some(tls) => connect_tls(&tls.client_config, tls.server_name.clone(), tcp, check.timeout)
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
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let got = response.code.ok_or(Failure::BadResponse)?;
                if (100..200).contains(&got) {
                    return Err(Failure::BadResponse);
                }
                return if got == check.expect_status {
                    Ok(())
                } else {
                    Err(Failure::Status {
                        got,
                        want: check.expect_status,
                    })
                };
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err(Failure::BadResponse),
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
