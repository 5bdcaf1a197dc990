//! `ringlb-load serve`: a fast benchmark backend. Thread-per-core monoio, keep-alive,
//! a fixed response body, optional delay, jitter and periodic latency spikes to play a
//! slow server; `/health` always answers at once. `--echo` makes it a TCP echo server.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

use crate::http1::frame_request;

/// Every `every`, add `extra` to each response for `length`.
#[derive(Debug, Clone, Copy)]
pub struct Spike {
    pub every: Duration,
    pub extra: Duration,
    pub length: Duration,
}

#[derive(Debug, Clone)]
pub struct ServeOpts {
    pub listen: SocketAddr,
    pub threads: usize,
    pub body_size: usize,
    pub status: u16,
    pub delay: Duration,
    pub jitter: Duration,
    pub spike: Option<Spike>,
    pub echo: bool,
}

/// Bind one SO_REUSEPORT socket per thread (port 0 resolves once), print the address,
/// serve forever.
pub fn serve(opts: ServeOpts) -> anyhow::Result<()> {
    let mut addr = opts.listen;
    let mut sockets = Vec::new();
    for _ in 0..opts.threads.max(1) {
        let s = bind(addr)?;
        addr = s.local_addr()?;
        sockets.push(s);
    }
    println!("ringlb-load serve: listening on {addr}");
    let started = Instant::now();
    let mut handles = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let opts = opts.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("serve-{i}"))
                .spawn(move || -> anyhow::Result<()> {
                    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                        .enable_timer()
                        .build()?;
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(socket)?;
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            let _ = stream.set_nodelay(true);
                            let opts = opts.clone();
                            monoio::spawn(async move {
                                if opts.echo {
                                    echo(stream).await
                                } else {
                                    http(stream, &opts, started).await
                                }
                            });
                        }
                    })
                })?,
        );
    }
    for h in handles {
        h.join()
            .map_err(|_| anyhow::anyhow!("a serve thread panicked"))??;
    }
    Ok(())
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn response(status: u16, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

async fn echo(mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let (res, b) = stream.read(buf).await;
        buf = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return;
        }
    }
}

async fn http(mut stream: TcpStream, opts: &ServeOpts, started: Instant) {
    // Built once per connection and passed back and forth: no allocation per request.
    let mut resp = response(opts.status, &vec![b'x'; opts.body_size]);
    let mut health = response(200, b"ok\n");
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut rng = (stream.peer_addr().map(|a| a.port() as u64).unwrap_or(1) << 17) | 1;
    loop {
        // Answer every complete request in the buffer.
        loop {
            let (len, is_health, close) = match frame_request(&buf) {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(()) => {
                    let (_, _) = stream.write_all(response(400, b"bad request\n")).await;
                    return;
                }
            };
            buf.drain(..len);
            let out = if is_health {
                std::mem::take(&mut health)
            } else {
                let wait = delay(opts, started, &mut rng);
                if !wait.is_zero() {
                    monoio::time::sleep(wait).await;
                }
                std::mem::take(&mut resp)
            };
            let (res, out) = stream.write_all(out).await;
            if is_health {
                health = out;
            } else {
                resp = out;
            }
            if res.is_err() || close {
                return;
            }
        }
        if buf.len() == buf.capacity() {
            if buf.len() >= 1 << 20 {
                return; // a request this large is not a benchmark
            }
            buf.reserve(buf.capacity());
        }
        let len = buf.len();
        let (res, slice) = stream.read(buf.slice_mut(len..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// This request's delay: base + uniform jitter + the spike's extra while one is on.
fn delay(opts: &ServeOpts, started: Instant, rng: &mut u64) -> Duration {
    let mut d = opts.delay;
    if !opts.jitter.is_zero() {
        // xorshift64: cheap, and reproducible per connection.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        d += opts.jitter.mul_f64((*rng % 10_000) as f64 / 10_000.0);
    }
    if let Some(s) = opts.spike {
        let period = s.every.as_nanos().max(1);
        if started.elapsed().as_nanos() % period < s.length.as_nanos() {
            d += s.extra;
        }
    }
    d
}
