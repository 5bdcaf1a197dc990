//! A backend whose behaviour a test changes while ringlb runs: answer health checks
//! (`/health`) and requests with chosen statuses, hang, alternate, or stop listening
//! (connections refused). It counts health probes and requests separately, and names
//! itself in every body (`name path`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::http::read_message;
use super::PATIENCE;

/// Status that means "accept, read the request, never answer".
pub const HANG: u16 = 0;
/// Health status that means "alternate: 200, 503, 200, 503, ...".
pub const ALTERNATE: u16 = 1;
/// Status that means "read the request, then close without answering".
pub const CLOSE: u16 = 2;

#[derive(Default)]
pub struct State {
    pub health_status: AtomicU16,
    pub request_status: AtomicU16,
    pub probes: AtomicUsize,
    /// Connections accepted (TCP checks are connections that send nothing).
    pub accepted: AtomicUsize,
    pub requests: AtomicUsize,
    /// Time of every probe, since start.
    pub probe_times: Mutex<Vec<Duration>>,
    /// Requests being answered now, and the most seen at once.
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Delay before answering a request (not a probe), in ms.
    pub delay_ms: AtomicUsize,
    stopped: AtomicBool,
    probe_signal: (Mutex<()>, Condvar),
}

pub struct Switch {
    pub addr: SocketAddr,
    pub name: String,
    pub state: Arc<State>,
    listener_fd: i32,
    _listener: Arc<TcpListener>,
}

impl Switch {
    pub fn start(name: &str) -> Switch {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").expect("bind switch backend"));
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        state.health_status.store(200, Ordering::SeqCst);
        state.request_status.store(200, Ordering::SeqCst);
        let (l, s, n) = (Arc::clone(&listener), Arc::clone(&state), name.to_string());
        let started = Instant::now();
        thread::spawn(move || {
            for stream in l.incoming() {
                if s.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                {
                    let _g = s.probe_signal.0.lock().unwrap();
                    s.accepted.fetch_add(1, Ordering::SeqCst);
                    s.probe_signal.1.notify_all();
                }
                let (s, n) = (Arc::clone(&s), n.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &s, &n, started);
                });
            }
        });
        Switch {
            addr,
            name: name.to_string(),
            listener_fd: listener.as_raw_fd(),
            state,
            _listener: listener,
        }
    }

    pub fn set_health(&self, status: u16) {
        self.state.health_status.store(status, Ordering::SeqCst);
    }

    pub fn set_requests(&self, status: u16) {
        self.state.request_status.store(status, Ordering::SeqCst);
    }

    pub fn set_delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as usize, Ordering::SeqCst);
    }

    pub fn probes(&self) -> usize {
        self.state.probes.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Stop listening: new connections are refused from now on.
    pub fn stop(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // SAFETY: shutdown of a listening socket we own; wakes the accepting thread.
        unsafe { libc::shutdown(self.listener_fd, libc::SHUT_RDWR) };
    }

    /// Wait (bounded) until the backend has seen `n` probes in all.
    pub fn wait_probes(&self, n: usize) {
        self.wait_until(&self.state.probes, n, "probes");
    }

    /// Wait (bounded) until the backend has accepted `n` connections in all.
    pub fn wait_accepted(&self, n: usize) {
        self.wait_until(&self.state.accepted, n, "connections");
    }

    /// Wait (bounded) until the backend has received `n` requests (not probes) in all.
    pub fn wait_requests(&self, n: usize) {
        self.wait_until(&self.state.requests, n, "requests");
    }

    fn wait_until(&self, counter: &AtomicUsize, n: usize, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        let (lock, cv) = &self.state.probe_signal;
        let mut guard = lock.lock().unwrap();
        while counter.load(Ordering::SeqCst) < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = counter.load(Ordering::SeqCst);
            assert!(
                !left.is_zero(),
                "{}: only {got} of {n} {what} arrived",
                self.name
            );
            guard = cv.wait_timeout(guard, left).unwrap().0;
        }
    }
}

fn serve(stream: TcpStream, s: &State, name: &str, started: Instant) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    loop {
        let Some((head, _)) = read_message(&mut reader)? else {
            return Ok(());
        };
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        let status = if path == "/health" {
            s.probe_times.lock().unwrap().push(started.elapsed());
            let n = {
                let _g = s.probe_signal.0.lock().unwrap();
                let n = s.probes.fetch_add(1, Ordering::SeqCst);
                s.probe_signal.1.notify_all();
                n
            };
            match s.health_status.load(Ordering::SeqCst) {
                ALTERNATE if n % 2 == 0 => 200,
                ALTERNATE => 503,
                other => other,
            }
        } else {
            {
                let _g = s.probe_signal.0.lock().unwrap();
                s.requests.fetch_add(1, Ordering::SeqCst);
                s.probe_signal.1.notify_all();
            }
            let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            s.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let delay = s.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                thread::sleep(Duration::from_millis(delay as u64));
            }
            s.in_flight.fetch_sub(1, Ordering::SeqCst);
            s.request_status.load(Ordering::SeqCst)
        };
        if status == CLOSE {
            return Ok(());
        }
        if status == HANG {
            // Keep the connection open without answering until the peer gives up.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            return Ok(());
        }
        let body = format!("{name} {path}");
        write!(
            w,
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )?;
        if head.to_ascii_lowercase().contains("connection: close") {
            return Ok(());
        }
    }
}

/// A configuration: one HTTP frontend, backend "app" with `servers` (name, address),
/// `check = true` on each, and `check` lines for `[backend.check]`.
pub fn checked_config(
    workers: usize,
    servers: &[&Switch],
    check: &str,
    backend_extra: &str,
    global_extra: &str,
) -> String {
    let mut s = format!(
        "[global]\nworkers = {workers}\npin_workers = false\ngrace_period = \"2s\"\n{global_extra}\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n{backend_extra}\n\n[backend.check]\n{check}\n"
    );
    for sw in servers {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"{}\"\naddress = \"{}\"\ncheck = true\n",
            sw.name, sw.addr
        ));
    }
    s
}

fn server_of(status: u16, body: &[u8]) -> String {
    if status == 200 {
        let body = String::from_utf8_lossy(body);
        body.split(' ').next().unwrap_or("").to_string()
    } else {
        format!("status {status}")
    }
}

/// `n` requests through `addr`, a new connection each: how many each server answered
/// (by the name in its body), and `status N` for answers other than 200.
pub fn spread(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for i in 0..n {
        let (status, _, body) = super::http::Client::connect(addr).get(&format!("/s{i}"));
        *seen.entry(server_of(status, &body)).or_insert(0) += 1;
    }
    seen
}

/// [`spread`] on one keep-alive connection.
pub fn spread_keepalive(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut c = super::http::Client::connect(addr);
    let mut seen = HashMap::new();
    for i in 0..n {
        let (status, _, body) = c.get(&format!("/k{i}"));
        *seen.entry(server_of(status, &body)).or_insert(0) += 1;
    }
    seen
}

/// Backend "app" with servers a and b (no checks), admin on a free loopback port.
pub fn admin_config(workers: usize, a: &Switch, b: &Switch, global: &str) -> String {
    format!(
        "[global]\nworkers = {workers}\npin_workers = false\ngrace_period = \"5s\"\nadmin_bind = \"127.0.0.1:0\"\n{global}\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [[backend.server]]\nname = \"a\"\naddress = \"{}\"\n\
         [[backend.server]]\nname = \"b\"\naddress = \"{}\"\n",
        a.addr, b.addr
    )
}
