//! The probes' I/O, kept thin: connect to the check target (the traffic address, or
//! `port`/`addr`), the TLS handshake when the check talks TLS, then the http
//! exchange (over HTTP/2 in `h2_call.rs`, as is the gRPC call) or the script's steps, every step within
//! what is left of `timeout`; and the agent's one-line read. What the bytes mean is
//! judged in `http.rs`, `grpc.rs`, `script.rs` and `agent.rs`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::agent::MAX_ANSWER;
use super::h2_call::{self, with_h2_alpn};
use super::http::{body_verdict, head_verdict, request};
use super::script::{judge, timed_out, Judged};
use super::Failure;
use crate::config::{Agent, CheckKind, CheckTls, HealthCheck, Server, Step};
use crate::http::read_append;
use crate::listen::local_shortage;
use crate::proxy_protocol::{encode, Tlvs};
use crate::tls::{connect_tls, ServerStream};

/// Probe `server` once; the whole probe takes at most `check.timeout`.
pub async fn probe(check: &HealthCheck, server: &Server) -> Result<(), Failure> {
    let deadline = Instant::now() + check.timeout;
    let target = server.probe.check_target(server.address);
    let tcp = within(deadline, check.timeout, TcpStream::connect_addr(target))
        .await?
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            _ if local_shortage(&e) => Failure::Local(e),
            _ => Failure::Io(e),
        })?;
    // A server that wants PROXY protocol refuses a bare probe: send the header a
    // health check sends (v2 LOCAL, v1 UNKNOWN: "use the connection's addresses").
    let mut tcp = tcp;
    if let Some(version) = server.probe.proxy_header(server.send_proxy) {
        let mut header = Vec::with_capacity(32);
        encode(version, None, &Tlvs::default(), &mut header);
        let (res, _) = within(deadline, check.timeout, tcp.write_all(header)).await?;
        res.map_err(Failure::Io)?;
    }
    let tls = match &server.probe.check_tls {
        CheckTls::Traffic => server.tls.as_ref(),
        CheckTls::Plain => None,
        CheckTls::Tls(t) => Some(t),
    };
    // A check over TLS: the handshake is part of the check. Over HTTP/2, it offers h2.
    let mut stream = match tls {
        None => ServerStream::Plain(tcp),
        Some(tls) => {
            let h2;
            let config = match check.speaks_h2() {
                true => {
                    h2 = with_h2_alpn(&tls.client_config);
                    &h2
                }
                false => &tls.client_config,
            };
            connect_tls(config, tls.server_name.clone(), tcp, left(deadline))
                .await
                .map_err(|e| Failure::Tls(e.to_string()))?
        }
    };
    let h2_tls = tls.map(|t| &**t);
    match check.kind {
        CheckKind::Http if check.h2 => {
            within(
                deadline,
                check.timeout,
                h2_call::http(stream, check, server, h2_tls),
            )
            .await?
        }
        CheckKind::Http => {
            within(deadline, check.timeout, http(&mut stream, check, server)).await?
        }
        CheckKind::Grpc => {
            within(
                deadline,
                check.timeout,
                h2_call::grpc(stream, check, server, h2_tls),
            )
            .await?
        }
        CheckKind::Tcp if check.steps.is_empty() => Ok(()),
        CheckKind::Tcp => script(&mut stream, &check.steps, deadline, check.timeout).await,
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn within<T>(
    deadline: Instant,
    timeout: Duration,
    f: impl Future<Output = T>,
) -> Result<T, Failure> {
    monoio::time::timeout(left(deadline), f)
        .await
        .map_err(|_| Failure::Timeout(timeout))
}

/// Send the request; judge the head, then (with `expect_body`) the body.
async fn http(
    stream: &mut ServerStream,
    check: &HealthCheck,
    server: &Server,
) -> Result<(), Failure> {
    let (res, _) = stream.write_all(request(check, server)).await;
    res.map_err(Failure::Io)?;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut closed = false;
    let (start, length) = loop {
        if let Some(v) = head_verdict(&buf, check) {
            break v?;
        }
        if closed {
            return Err(Failure::BadResponse);
        }
        closed = read_more(stream, &mut buf).await?;
    };
    let Some(want) = &check.expect_body else {
        return Ok(());
    };
    loop {
        let body = &buf[start..];
        let complete = closed || length.is_some_and(|n| body.len() as u64 >= n);
        if let Some(v) = body_verdict(body, want, complete) {
            return v;
        }
        closed = read_more(stream, &mut buf).await?;
    }
}

/// Append what arrives; true when the server closed.
async fn read_more(stream: &mut ServerStream, buf: &mut Vec<u8>) -> Result<bool, Failure> {
    let (res, b) = read_append(stream, std::mem::take(buf)).await;
    *buf = b;
    match res {
        Ok(0) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(Failure::Io(e)),
    }
}

/// Run the steps in order. An expect step reads until what arrived since the last
/// match matches; a timeout names the step and shows what arrived.
async fn script(
    stream: &mut ServerStream,
    steps: &[Step],
    deadline: Instant,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut got: Vec<u8> = Vec::new();
    let mut spare: Vec<u8> = Vec::with_capacity(4096);
    let mut closed = false;
    for (i, step) in steps.iter().enumerate() {
        let fail = |detail: String| Failure::Step {
            index: i + 1,
            step: step.describe(),
            detail,
        };
        if let Step::Send(bytes) = step {
            match monoio::time::timeout(left(deadline), stream.write_all(bytes.clone())).await {
                Err(_) => return Err(fail(format!("could not send within {timeout:?}"))),
                Ok((Err(e), _)) => return Err(fail(e.to_string())),
                Ok((Ok(_), _)) => continue,
            }
        }
        loop {
            match judge(step, &got, closed) {
                Judged::Matched(n) => {
                    got.drain(..n);
                    break;
                }
                Judged::Failed(detail) => return Err(fail(detail)),
                Judged::More => {}
            }
            // A separate buffer: a read cut short by the deadline loses only it.
            let chunk = std::mem::take(&mut spare);
            match monoio::time::timeout(left(deadline), stream.read(chunk)).await {
                Err(_) => return Err(fail(timed_out(step, &got, timeout))),
                Ok((Err(e), _)) => return Err(fail(e.to_string())),
                Ok((Ok(n), mut c)) => {
                    closed = n == 0;
                    got.extend_from_slice(&c[..n]);
                    c.clear();
                    spare = c;
                }
            }
        }
    }
    Ok(())
}

/// Connect to the agent, send `agent_send`, read its answer: the first line, or all
/// until it closes (at most [`MAX_ANSWER`] bytes), within the agent's timeout.
pub async fn read_agent(agent: &Agent, address: SocketAddr) -> Result<Vec<u8>, String> {
    let exchange = async {
        let mut s = TcpStream::connect_addr(address)
            .await
            .map_err(|e| format!("agent unreachable: {e}"))?;
        if !agent.send.is_empty() {
            let (res, _) = s.write_all(agent.send.clone()).await;
            res.map_err(|e| format!("agent: {e}"))?;
        }
        let mut buf = Vec::with_capacity(128);
        loop {
            let (res, b) = read_append(&mut s, buf).await;
            buf = b;
            match res {
                Ok(0) => return Ok(buf),
                Ok(_) if buf.contains(&b'\n') || buf.len() >= MAX_ANSWER => return Ok(buf),
                Ok(_) => {}
                Err(e) if buf.is_empty() => return Err(format!("agent: {e}")),
                Err(_) => return Ok(buf),
            }
        }
    };
    monoio::time::timeout(agent.timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("agent: no answer within {:?}", agent.timeout)))
}
