//! Binary upgrade (`ringlb upgrade`, SIGUSR2): the running process starts the new
//! binary, hands it the very listening sockets, and drains once it is ready. Under
//! an open-loop load of 2,000 req/s, five upgrades in a row lose no request and
//! refuse no connection; a new process that cannot start, exits, or reads an invalid
//! file leaves the old one serving; operators' server states carry over; systemd
//! hears MAINPID= and READY=1; a process running as `global.user` upgrades too.
//!
//! Files (one test binary, `cargo test --test upgrade`):
//! - `main.rs`: the shared helpers: `Serving` (a running ringlb), its config, start, upgrade, requests.
//! - `handover.rs`: the hand-over itself: under load, back to back, at the hand-over, on a kept-alive connection, and the failures that leave the old process serving.
//! - `process.rs`: the new process: systemd's main PID, running as nobody, other worker counts and drivers.
//! - `state.rs`: state carried over: server states (API and checks), rate-limit counters, tracking caps.

#[path = "../common/mod.rs"]
mod common;

use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::http::Backend;
use common::*;

mod handover;
mod process;
mod state;

/// A ringlb that may have been replaced: the process that serves now is killed when
/// the test ends (the first one is the `Ringlb`'s child; later ones are not).
struct Serving {
    rl: Ringlb,
    socket: PathBuf,
    pid: u32,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.pid != self.rl.child.id() {
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
        // And any generation the test did not hear of (an answer that never came).
        for pid in running_with(self.rl.config_path()) {
            if pid != self.rl.child.id() {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The processes whose command line names `config` (every generation runs `-c` it).
fn running_with(config: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want = config.as_os_str().as_encoded_bytes();
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        cmdline.split(|&b| b == 0).any(|a| a == want).then_some(pid)
    })
    .collect()
}

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-upgrade-{}-{tag}.sock", std::process::id()))
}

/// HTTP mode, `workers` workers, two servers, the admin API and the upgrade socket.
fn config(workers: usize, backends: &[SocketAddr], socket: &Path, extra_global: &str) -> String {
    let mut s = format!(
        "[global]\nworkers = {workers}\npin_workers = false\ngrace_period = \"5s\"\n\
         admin_bind = \"127.0.0.1:0\"\nupgrade_socket = \"{}\"\n{extra_global}\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n",
        socket.display()
    );
    for (i, b) in backends.iter().enumerate() {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"s{i}\"\naddress = \"{b}\"\n"
        ));
    }
    s
}

fn start(workers: usize, backends: &[SocketAddr], tag: &str) -> Serving {
    let socket = socket_path(tag);
    let rl = Ringlb::start(&config(workers, backends, &socket, ""));
    let pid = rl.child.id();
    Serving { rl, socket, pid }
}

/// `ringlb upgrade --socket S [--binary B]`.
fn upgrade(socket: &Path, binary: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("upgrade").arg("--socket").arg(socket);
    if let Some(b) = binary {
        cmd.arg("--binary").arg(b);
    }
    cmd.stdin(Stdio::null())
        .output()
        .expect("run ringlb upgrade")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Serving {
    /// Upgrade to the same binary; the new process's pid.
    fn upgrade_ok(&mut self) -> u32 {
        let out = upgrade(&self.socket, None);
        let said = text(&out);
        assert!(
            out.status.success(),
            "upgrade failed: {said}\nlog:\n{}",
            self.rl.log.join("\n")
        );
        let pid = said
            .split("process ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {said:?}"));
        assert_ne!(pid, self.pid);
        self.pid = pid;
        pid
    }
}

/// One GET through the proxy on a new connection: its status, or what went wrong.
fn get(addr: SocketAddr) -> Result<u16, String> {
    get_from("127.0.0.1", addr)
}

/// [`get`] from source address `src` (any of 127.0.0.0/8).
fn get_from(src: &str, addr: SocketAddr) -> Result<u16, String> {
    use std::io::{Read, Write};
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| format!("socket: {e}"))?;
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&from.into()).map_err(|e| format!("bind: {e}"))?;
    sock.connect(&addr.into())
        .map_err(|e| format!("connect: {e}"))?;
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("read: {e} after {:?}", String::from_utf8_lossy(&out)))?;
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("no status in {text:?}"))
}

fn get_ok(addr: SocketAddr) {
    assert_eq!(get(addr), Ok(200));
}

impl Serving {
    /// [`get_ok`], with the log when it fails.
    fn get_ok(&mut self, addr: SocketAddr) {
        let got = get(addr);
        if got != Ok(200) {
            let _ = self.rl.logged("");
            panic!("GET: {got:?}; log:\n{}", self.rl.log.join("\n"));
        }
    }
}

/// The load generator, built next to the ringlb binary by `cargo test --workspace`
/// (or `cargo build -p loadtest`); skipped visibly when missing.
fn load_binary(test: &str) -> Option<PathBuf> {
    let path = Path::new(BIN).with_file_name("ringlb-load");
    if path.exists() {
        return Some(path);
    }
    let why = format!("{} is not built (cargo build -p loadtest)", path.display());
    if std::env::var("RINGLB_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and RINGLB_REQUIRE_TOOLS=1 forbids skipping");
    }
    say_skipped(test, &why);
    None
}
