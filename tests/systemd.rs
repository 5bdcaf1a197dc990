//! systemd's notification protocol, heard on a datagram socket this test creates
//! and hands to ringlb as `$NOTIFY_SOCKET` (as systemd does for `Type=notify`):
//! READY=1 once the frontend accepts, RELOADING=1 (with MONOTONIC_USEC) then READY=1
//! around a SIGHUP reload, WATCHDOG=1 at half of `$WATCHDOG_USEC`, STOPPING=1 on
//! SIGTERM.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The datagram socket ringlb notifies, and everything heard on it so far.
struct Listener {
    socket: UnixDatagram,
    heard: Vec<String>,
    path: Option<std::path::PathBuf>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Listener {
    fn bind(abstract_name: bool) -> (Listener, String) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("ringlb-test-notify-{}-{n}", std::process::id());
        let (socket, env, path) = if abstract_name {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            (
                UnixDatagram::bind_addr(&addr).unwrap(),
                format!("@{name}"),
                None,
            )
        } else {
            let path = std::env::temp_dir().join(name);
            let _ = std::fs::remove_file(&path);
            let s = UnixDatagram::bind(&path).unwrap();
            (s, path.to_string_lossy().into_owned(), Some(path))
        };
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        (
            Listener {
                socket,
                heard: Vec::new(),
                path,
            },
            env,
        )
    }

    /// Wait for a datagram whose first line is `first`; returns the whole datagram.
    fn wait(&mut self, first: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.heard.push(text.clone());
                if text.lines().next() == Some(first) {
                    return text;
                }
            }
        }
        panic!("no {first:?} notification; heard {:?}", self.heard);
    }

    /// Take in every datagram already queued (waiting at most one read timeout).
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            self.heard
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    fn count(&self, first: &str) -> usize {
        self.heard
            .iter()
            .filter(|t| t.lines().next() == Some(first))
            .count()
    }
}

fn start(echo: &Echo, abstract_name: bool, watchdog_usec: u64) -> (Listener, Ringlb) {
    let (listener, env) = Listener::bind(abstract_name);
    let cfg = TempConfig::new(&tcp_config(2, &[(echo.addr, 1)], ""));
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("-c")
        .arg(&cfg.0)
        .env("NOTIFY_SOCKET", env)
        .env("WATCHDOG_USEC", watchdog_usec.to_string());
    (listener, Ringlb::spawn(cmd, Some(cfg)))
}

#[test]
fn ready_reload_watchdog_and_stopping_are_notified() {
    let echo = Echo::start();
    let (mut notes, mut rl) = start(&echo, false, 400_000);

    let ready = notes.wait("READY=1");
    assert!(ready.contains("STATUS="), "{ready}");
    // Ready means serving: the frontend answers at once.
    rl.wait_for("ringlb ready");
    assert_eq!(
        echo_roundtrip(rl.addr(), b"ready".to_vec()),
        b"ready".to_vec()
    );

    // The watchdog is fed repeatedly (every 200 ms for WATCHDOG_USEC=400000).
    for _ in 0..3 {
        notes.wait("WATCHDOG=1");
    }

    let before = notify_monotonic_now();
    rl.signal(libc::SIGHUP);
    let reloading = notes.wait("RELOADING=1");
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("RELOADING=1 without MONOTONIC_USEC: {reloading:?}"));
    assert!(
        usec >= before,
        "MONOTONIC_USEC {usec} is before the signal ({before})"
    );
    let ready = notes.wait("READY=1");
    assert!(ready.contains("reloaded"), "{ready}");
    rl.wait_for("in use by every worker");

    rl.signal(libc::SIGTERM);
    notes.wait("STOPPING=1");
    assert!(rl.wait_exit().success());
    assert_eq!(notes.count("READY=1"), 2, "{:?}", notes.heard);
}

/// An abstract socket name (`@...`), and a refused reload: READY=1 all the same,
/// with the reason in STATUS=.
#[test]
fn abstract_socket_and_a_refused_reload() {
    let echo = Echo::start();
    let (mut notes, mut rl) = start(&echo, true, 200_000);
    notes.wait("READY=1");
    rl.wait_for("ringlb ready");
    notes.wait("WATCHDOG=1");

    std::fs::write(rl.config_path(), "[global]\nworkers = \"many\"\n").unwrap();
    rl.signal(libc::SIGHUP);
    notes.wait("RELOADING=1");
    let ready = notes.wait("READY=1");
    assert!(ready.contains("reload refused"), "{ready}");
    assert_eq!(
        echo_roundtrip(rl.addr(), b"still".to_vec()),
        b"still".to_vec()
    );
    rl.signal(libc::SIGTERM);
    notes.wait("STOPPING=1");
    assert!(rl.wait_exit().success());
}

/// `WATCHDOG_PID` naming another process: the watchdog is not ours to feed. (An
/// absence can only be observed over some time: here ten watchdog periods.)
#[test]
fn no_watchdog_for_another_pid() {
    let echo = Echo::start();
    let (mut notes, env) = Listener::bind(false);
    let cfg = TempConfig::new(&tcp_config(1, &[(echo.addr, 1)], ""));
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("-c")
        .arg(&cfg.0)
        .env("NOTIFY_SOCKET", &env)
        .env("WATCHDOG_USEC", "100000")
        .env("WATCHDOG_PID", "1");
    let mut rl = Ringlb::spawn(cmd, Some(cfg));
    notes.wait("READY=1");
    rl.wait_for("ringlb ready");
    // Ten watchdog periods with nothing but silence.
    std::thread::sleep(Duration::from_millis(500));
    rl.signal(libc::SIGTERM);
    notes.wait("STOPPING=1");
    assert!(rl.wait_exit().success());
    assert_eq!(notes.count("WATCHDOG=1"), 0, "{:?}", notes.heard);
}

/// CLOCK_MONOTONIC in µs, as ringlb reads it.
fn notify_monotonic_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// A worker whose thread is stopped (ptrace: that thread only, the others run on)
/// starves the watchdog once it has been silent for 3 s; feeding resumes when it
/// runs again.
#[test]
fn a_stuck_worker_starves_the_watchdog() {
    const NAME: &str = "systemd::a_stuck_worker_starves_the_watchdog";
    let echo = Echo::start();
    let (mut notes, mut rl) = start(&echo, false, 400_000);
    notes.wait("READY=1");
    rl.wait_for("ringlb ready");
    notes.wait("WATCHDOG=1");

    let pid = rl.child.id();
    let tid = worker_tid(pid, 1);
    // SAFETY: ptrace on a thread of our own child; no memory is passed.
    let seized = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) } == 0;
    if !seized {
        let why = format!("ptrace(PTRACE_SEIZE): {}", std::io::Error::last_os_error());
        return common::netns::skip(NAME, &why);
    }
    let stopped = Stopped(tid);
    let mut status = 0;
    unsafe {
        assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0), 0);
        assert_eq!(libc::waitpid(tid, &mut status, libc::__WALL), tid);
    }

    // The control thread says when it stops feeding; what it sent before is queued
    // already, so drain that, then listen for a while: silence.
    rl.wait_for("not feeding systemd's watchdog");
    assert!(rl.logged("worker 1 is not answering"));
    notes.drain();
    let before = notes.count("WATCHDOG=1");
    std::thread::sleep(Duration::from_millis(1_000)); // 5 watchdog periods
    notes.drain();
    assert_eq!(
        notes.count("WATCHDOG=1"),
        before,
        "fed while a worker is stuck"
    );

    drop(stopped);
    notes.drain();
    let before = notes.count("WATCHDOG=1");
    notes.wait("WATCHDOG=1");
    assert!(notes.count("WATCHDOG=1") > before);
    rl.signal(libc::SIGTERM);
    assert!(rl.wait_exit().success());
}

/// A thread stopped under ptrace; resumed (detached) on drop, also when the test
/// fails (otherwise the process could not even be reaped).
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: ptrace on the thread this test seized.
        unsafe { libc::ptrace(libc::PTRACE_DETACH, self.0, 0, 0) };
    }
}

/// The thread id of worker `id` of process `pid`, by its name.
fn worker_tid(pid: u32, id: usize) -> i32 {
    let want = format!("ringlb-worker-{id}");
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == want))
        .and_then(|t| t.file_name().to_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no thread named {want} in process {pid}"))
}
