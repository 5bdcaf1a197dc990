//! Shared test helpers: start the real `ringlb` binary on free ports, wait for its
//! readiness lines, and real echo backends on loopback.
#![allow(dead_code)]

pub mod bird;
pub mod ecmp;
pub mod h2peer;
pub mod http;
pub mod import;
pub mod mail;
pub mod named;
pub mod netns;
pub mod peers;
pub mod pp_peers;
pub mod switch;
pub mod tls;
pub mod vrrp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ringlb");
/// Upper bound for waiting on anything in tests: a bound against hangs, not a timing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A configuration file in the temp dir, removed on drop.
pub struct TempConfig(pub PathBuf);

impl TempConfig {
    pub fn new(text: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ringlb-test-{}-{}.toml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).expect("write temp config");
        TempConfig(path)
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running ringlb process. Killed on drop.
pub struct Ringlb {
    pub child: Child,
    lines: Receiver<String>,
    pub log: Vec<String>,
    /// Bound addresses in the order of the "listening on" lines.
    pub addrs: Vec<SocketAddr>,
    config: Option<TempConfig>,
}

impl Ringlb {
    /// `ringlb run -c <config>`; returns once every worker is up ("ringlb ready").
    pub fn start(config: &str) -> Ringlb {
        let cfg = TempConfig::new(config);
        let mut cmd = Command::new(BIN);
        cmd.arg("run").arg("-c").arg(&cfg.0);
        let mut r = Ringlb::spawn(cmd, Some(cfg));
        r.wait_for("ringlb ready");
        r
    }

    pub fn spawn(mut cmd: Command, config: Option<TempConfig>) -> Ringlb {
        // `ringlb::apply` says when each worker applied a change: tests wait on it.
        let log =
            std::env::var("RINGLB_TEST_LOG").unwrap_or_else(|_| "info,ringlb::apply=debug".into());
        cmd.env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start ringlb");
        let (tx, rx) = channel();
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx2.send(line);
            }
        });
        Ringlb {
            child,
            lines: rx,
            log: Vec::new(),
            addrs: Vec::new(),
            config,
        }
    }

    /// Wait for a log line containing `needle`; panics with the log so far if it never comes.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.note(&line);
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?}; log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Wait until `n` more lines containing `needle` have been seen.
    pub fn wait_for_n(&mut self, needle: &str, n: usize) {
        for _ in 0..n {
            self.wait_for(needle);
        }
    }

    fn note(&mut self, line: &str) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            let token = rest.split_whitespace().next().unwrap_or("");
            if let Ok(a) = token.parse() {
                self.addrs.push(a);
            }
        }
        self.log.push(line.to_string());
    }

    pub fn addr(&self) -> SocketAddr {
        *self
            .addrs
            .first()
            .expect("ringlb printed no listening address")
    }

    /// The admin API's address, from its "admin API listening on" line.
    pub fn admin_addr(&self) -> SocketAddr {
        self.log
            .iter()
            .find_map(|l| l.split("admin API listening on ").nth(1))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .expect("ringlb printed no admin address")
    }

    /// The configuration file this ringlb runs (tests rewrite it before a reload).
    pub fn config_path(&self) -> &std::path::Path {
        &self.config.as_ref().expect("started from a file").0
    }

    /// Wait for a line containing `needle` unless one was already logged.
    pub fn wait_logged(&mut self, needle: &str) {
        if !self.logged(needle) {
            self.wait_for(needle);
        }
    }

    /// Wait until at least `n` lines containing every one of `needles` were logged.
    pub fn wait_count(&mut self, needles: &[&str], n: usize) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let count = self
                .log
                .iter()
                .filter(|l| needles.iter().all(|x| l.contains(x)))
                .count();
            if count >= n {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.note(&line),
                Err(_) => panic!(
                    "only {count} of {n} lines with {needles:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Wait until every one of `workers` workers applied a state change of server slot
    /// `server` whose state shows `what` (e.g. `oper: Down`).
    pub fn wait_applied(&mut self, workers: usize, server: usize, what: &str) {
        let s = format!("server={server}");
        self.wait_count(&["server state applied", &s, what], workers);
    }

    /// After a SIGHUP: wait until the reload is applied by every worker (one more
    /// "in use by every worker" line than before).
    pub fn reload_and_wait(&mut self) {
        let done = "the new configuration is in use by every worker";
        let before = self.log.iter().filter(|l| l.contains(done)).count();
        self.signal(libc::SIGHUP);
        self.wait_count(&[done], before + 1);
    }

    /// Whether a line containing `needle` has been logged so far (no waiting).
    pub fn logged(&mut self, needle: &str) -> bool {
        while let Ok(line) = self.lines.try_recv() {
            self.note(&line);
        }
        self.log.iter().any(|l| l.contains(needle))
    }

    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Wait for the process to exit (bounded), collecting the rest of its log.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.note(&line);
                }
                return status;
            }
            if Instant::now() > deadline {
                panic!("ringlb did not exit; log:\n{}", self.log.join("\n"));
            }
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(20)) {
                self.note(&line);
            }
        }
    }
}

impl Drop for Ringlb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An echo backend: echoes everything until the client's FIN, then closes. Counts
/// the connections it accepted.
pub struct Echo {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind echo");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if stream.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = stream.shutdown(Shutdown::Write);
                });
            }
        });
        Echo { addr, accepted }
    }

    pub fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The resident memory of process `pid`, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// A loopback port with nothing listening on it (connections are refused).
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to ringlb");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Send `payload` through `addr`, half-close, and return everything read back until EOF.
/// Writing happens on another thread so that large payloads cannot deadlock.
pub fn echo_roundtrip(addr: SocketAddr, payload: Vec<u8>) -> Vec<u8> {
    let stream = connect(addr);
    let mut writer = stream.try_clone().unwrap();
    let w = thread::spawn(move || {
        writer.write_all(&payload).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut out = Vec::new();
    let mut reader = stream;
    reader.read_to_end(&mut out).expect("read echo");
    w.join().unwrap();
    out
}

/// One round trip of a small message on an open connection.
pub fn ping(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// A frontend + one backend configuration in TCP mode.
pub fn tcp_config(workers: usize, servers: &[(SocketAddr, u32)], extra_defaults: &str) -> String {
    let mut s = format!(
        "[global]\nworkers = {workers}\npin_workers = false\ngrace_period = \"5s\"\n\n[defaults]\n{extra_defaults}\n\n\
         [[frontend]]\nname = \"front\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"back\"\n\n\
         [[backend]]\nname = \"back\"\nbalance = \"roundrobin\"\n"
    );
    for (i, (addr, weight)) in servers.iter().enumerate() {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"s{i}\"\naddress = \"{addr}\"\nweight = {weight}\n"
        ));
    }
    s
}

/// One request to the admin API (which closes after each): status and body.
pub fn admin(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut s = connect(addr);
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: admin\r\n{auth}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read admin response");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad admin response: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Whether python3 imports `modules` (`"h2, hpack"`: PyPI packages `.ci/run`
/// installs); when it does not, the skip is said, and fails the test with
/// `RINGLB_REQUIRE_TOOLS=1`.
pub fn have_python(test: &str, modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "python3 with {modules} is required"
        );
        say_skipped(
            test,
            &format!(
                "python3 cannot import {modules} (RINGLB_REQUIRE_TOOLS=1 makes this a failure)"
            ),
        );
    }
    ok
}

/// Say that a test skipped, where the test command's output shows it: `eprintln!`
/// is captured by the test harness (seen only with `--nocapture`), a write to the
/// process's stderr is not.
pub fn say_skipped(test: &str, why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether the command-line tool `name` runs; when not, the test is skipped visibly
/// (a failure with RINGLB_REQUIRE_TOOLS=1).
pub fn tool_installed(test: &str, name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "{name} is required"
        );
        say_skipped(
            test,
            &format!("{name} not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)"),
        );
    }
    found
}
