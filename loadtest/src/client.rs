//! The load: thread-per-core monoio runtimes, each running its share of the
//! connections. A connection sends one request at a time (keep-alive), on its open-loop
//! schedule or, in closed loop, as soon as the previous response is in. When the
//! server closes after a response (`Connection: close`, as `--close` asks for every
//! request), the next request goes on a new connection; the old one is closed after
//! the server's own close, so that its TIME_WAIT stays on the server's side and a
//! one-request-per-connection load does not run out of local ports.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::http1::{frame_response, Framed};
use crate::schedule::{latency_start, Schedule};
use crate::stats::{ErrorClass, Percentiles, Stats};

const READ_BUF: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub enum Target {
    /// HTTP/1.1 GET; `request` is the full request head (with `Connection: close`
    /// for one request per connection).
    Http { addr: SocketAddr, request: Vec<u8> },
    /// Send `payload` bytes, expect the same number back (an echo server).
    Tcp { addr: SocketAddr, payload: usize },
}

impl Target {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Http { addr, .. } | Target::Tcp { addr, .. } => *addr,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub threads: usize,
    pub connections: usize,
    /// Requests per second in total (open loop); `None` = closed loop.
    pub rate: Option<f64>,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    /// Print a live progress line (only when stderr is a terminal).
    pub progress: bool,
}

/// The measured window of a run.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    measure_from: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.measure_from && t < self.end
    }
}

/// Run the plan to completion and return what was measured in the window.
pub fn run(plan: &Plan) -> anyhow::Result<Stats> {
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    let plan = Arc::new(Plan {
        threads,
        ..plan.clone()
    });
    // Give every connection time to connect before the first intended send.
    let start = Instant::now() + Duration::from_millis(200);
    let window = Window {
        start,
        measure_from: start + plan.warmup,
        end: start + plan.warmup + plan.duration,
    };
    let (progress_tx, progress_rx) = mpsc::channel::<Stats>();
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let indexes: Vec<usize> = (t..plan.connections).step_by(threads).collect();
        let plan = Arc::clone(&plan);
        let tx = progress_tx.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn(move || thread_main(&plan, indexes, window, tx))?,
        );
    }
    drop(progress_tx);
    show_progress(&plan, window, progress_rx);
    let mut total = Stats::default();
    for h in handles {
        let stats = h
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        total.merge(&stats);
    }
    Ok(total)
}

/// Print rate, errors and p99 so far once a second, on a terminal only.
fn show_progress(plan: &Plan, window: Window, rx: mpsc::Receiver<Stats>) {
    let live = plan.progress && std::io::stderr().is_terminal();
    let mut so_far = Stats::default();
    let mut last_print = Instant::now();
    while let Ok(delta) = rx.recv() {
        if !live {
            continue;
        }
        so_far.merge(&delta);
        if last_print.elapsed() >= Duration::from_millis(900) {
            last_print = Instant::now();
            let secs = Instant::now()
                .saturating_duration_since(window.measure_from)
                .as_secs_f64();
            let p99 = Percentiles::of(&so_far.corrected).p99_us as f64 / 1000.0;
            let rate = if secs > 0.0 {
                so_far.ok as f64 / secs
            } else {
                0.0
            };
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r[{secs:6.1}s] {rate:10.0} req/s  errors {:<8} p99 {p99:.3} ms   ",
                so_far.errors()
            );
            let _ = err.flush();
        }
    }
    if live {
        eprintln!();
    }
}

fn thread_main(
    plan: &Plan,
    indexes: Vec<usize>,
    window: Window,
    progress: mpsc::Sender<Stats>,
) -> anyhow::Result<Stats> {
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    let stats = rt.block_on(async move {
        let stats = Rc::new(RefCell::new(Stats::default()));
        let delta = Rc::new(RefCell::new(Stats::default()));
        let mut tasks = Vec::new();
        for index in indexes {
            let plan = plan.clone();
            let (stats, delta) = (Rc::clone(&stats), Rc::clone(&delta));
            tasks.push(monoio::spawn(async move {
                connection(plan, index, window, stats, delta).await
            }));
        }
        // Progress is sent from this future, not from a spawned task: monoio does not
        // drop tasks still pending when the runtime goes, and the channel must close.
        let all = std::pin::pin!(async move {
            for t in tasks {
                t.await;
            }
        });
        let mut all = all;
        loop {
            monoio::select! {
                _ = &mut all => break,
                _ = monoio::time::sleep(Duration::from_secs(1)) => {
                    let d = std::mem::take(&mut *delta.borrow_mut());
                    let _ = progress.send(d);
                }
            }
        }
        let s = stats.borrow().clone();
        s
    });
    Ok(stats)
}

/// One connection's life: connect, then request after request until the window ends.
async fn connection(
    plan: Plan,
    index: usize,
    window: Window,
    stats: Rc<RefCell<Stats>>,
    delta: Rc<RefCell<Stats>>,
) {
    let schedule = plan
        .rate
        .map(|r| Schedule::for_connection(window.start, r, plan.connections, index));
    let (mut request, head) = match &plan.target {
        Target::Http { request, .. } => (request.clone(), request.starts_with(b"HEAD ")),
        Target::Tcp { payload, .. } => (vec![b'x'; *payload], false),
    };
    // Asked to close: a server may close without saying so in its response.
    let one_shot = request
        .windows(19)
        .any(|w| w.eq_ignore_ascii_case(b"connection: close\r\n"));
    let mut buf = Vec::with_capacity(READ_BUF);
    let mut stream: Option<TcpStream> = None;
    let mut free_since = Instant::now();
    let record = |intended: Instant, f: &dyn Fn(&mut Stats)| {
        if window.contains(intended) {
            f(&mut stats.borrow_mut());
            if plan.progress {
                f(&mut delta.borrow_mut());
            }
        }
    };
    let mut k = 0u64;
    loop {
        let intended = match &schedule {
            Some(s) => s.intended(k),
            None => Instant::now().max(window.start),
        };
        if intended >= window.end {
            break;
        }
        k += 1;
        if intended > Instant::now() {
            monoio::time::sleep_until(intended.into()).await;
        }
        if stream.is_none() {
            match monoio::time::timeout(plan.timeout, TcpStream::connect_addr(plan.target.addr()))
                .await
            {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                    free_since = free_since.max(Instant::now());
                }
                Ok(Err(_)) | Err(_) => {
                    record(intended, &|s| s.error(ErrorClass::Connect));
                    free_since = Instant::now();
                    if schedule.is_none() {
                        monoio::time::sleep(Duration::from_millis(10)).await;
                    }
                    continue;
                }
            }
        }
        let Some(conn) = stream.as_mut() else {
            continue;
        };
        let sent = Instant::now();
        let result = match monoio::time::timeout(
            plan.timeout,
            exchange(conn, &plan.target, request, buf, head),
        )
        .await
        {
            Ok((result, req, b)) => {
                request = req;
                buf = b;
                result
            }
            Err(_) => {
                // The buffers went with the abandoned exchange.
                request = match &plan.target {
                    Target::Http { request, .. } => request.clone(),
                    Target::Tcp { payload, .. } => vec![b'x'; *payload],
                };
                buf = Vec::with_capacity(READ_BUF);
                Err(ErrorClass::Timeout)
            }
        };
        let done = Instant::now();
        let from = latency_start(intended, sent, free_since);
        free_since = done;
        match result {
            Ok(Exchange { status, close }) => {
                if status >= 500 {
                    record(intended, &|s| s.error(ErrorClass::Status5xx));
                } else {
                    record(intended, &|s| s.record(done - from, done - sent));
                }
                if close || one_shot {
                    if let Some(conn) = stream.take() {
                        buf = wait_eof(conn, buf, plan.timeout).await;
                    }
                }
            }
            Err(class) => {
                record(intended, &|s| s.error(class));
                stream = None;
            }
        }
    }
}

struct Exchange {
    status: u16,
    close: bool,
}

/// Read until the server's close (bounded by `timeout`), then close. Hands the buffer
/// back.
async fn wait_eof(mut conn: TcpStream, mut buf: Vec<u8>, timeout: Duration) -> Vec<u8> {
    let eof = async move {
        loop {
            buf.clear();
            let (res, b) = conn.read(buf).await;
            buf = b;
            if !matches!(res, Ok(n) if n > 0) {
                return buf;
            }
        }
    };
    match monoio::time::timeout(timeout, eof).await {
        Ok(buf) => buf,
        // The buffer went with the abandoned read.
        Err(_) => Vec::with_capacity(READ_BUF),
    }
}

/// Send one request and read its whole response. Buffers are passed in and handed back
/// so that nothing is allocated per request.
async fn exchange(
    conn: &mut TcpStream,
    target: &Target,
    request: Vec<u8>,
    mut buf: Vec<u8>,
    head: bool,
) -> (Result<Exchange, ErrorClass>, Vec<u8>, Vec<u8>) {
    let (res, request) = conn.write_all(request).await;
    if res.is_err() {
        return (Err(ErrorClass::Other), request, buf);
    }
    buf.clear();
    let expect = match target {
        Target::Tcp { payload, .. } => Some(*payload),
        Target::Http { .. } => None,
    };
    let mut until_close: Option<u16> = None;
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(READ_BUF));
        }
        let len = buf.len();
        let (res, slice) = conn.read(buf.slice_mut(len..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let r = match until_close {
                    Some(status) => Ok(Exchange {
                        status,
                        close: true,
                    }),
                    None => Err(ErrorClass::Other),
                };
                return (r, request, buf);
            }
            Ok(_) => {}
            Err(_) => return (Err(ErrorClass::Other), request, buf),
        }
        if let Some(n) = expect {
            if buf.len() >= n {
                let r = if buf.len() == n {
                    Ok(Exchange {
                        status: 0,
                        close: false,
                    })
                } else {
                    Err(ErrorClass::Other)
                };
                return (r, request, buf);
            }
            continue;
        }
        if until_close.is_some() {
            continue;
        }
        match frame_response(&buf, head) {
            Framed::Partial => {}
            Framed::Complete { status, close, .. } => {
                return (Ok(Exchange { status, close }), request, buf)
            }
            Framed::UntilClose { status } => until_close = Some(status),
            Framed::Invalid => return (Err(ErrorClass::Other), request, buf),
        }
    }
}
