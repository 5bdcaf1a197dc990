//! Test networks made of network namespaces: one "switch" namespace holding a
//! bridge, and one namespace per host with `eth0` = 192.0.2.N/24 (host 0 is .1) on
//! that bridge. Only addresses inside these namespaces are used. Needs root and
//! iproute2: [`Lan::new`] returns `None` with a printed reason when they are missing,
//! and panics instead when `RINGLB_REQUIRE_PRIVILEGED=1` (CI).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::PATIENCE;

pub struct Lan {
    prefix: String,
    hosts: usize,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Skip (print why) or, in CI, fail.
pub fn skip(test: &str, why: &str) {
    if std::env::var("RINGLB_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and RINGLB_REQUIRE_PRIVILEGED=1 forbids skipping");
    }
    super::say_skipped(
        test,
        &format!("{why} (needs root and iproute2; CI runs it)"),
    );
}

impl Lan {
    /// `hosts` namespaces on one bridge, or `None` when this machine cannot.
    pub fn new(test: &str, hosts: usize) -> Option<Lan> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            skip(test, "not running as root");
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "rl{}x{}",
            std::process::id() % 100_000,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let lan = Lan { prefix, hosts };
        if let Err(e) = lan.build() {
            skip(test, &format!("cannot build the test network: {e}"));
            return None;
        }
        Some(lan)
    }

    fn build(&self) -> Result<(), String> {
        let sw = self.switch();
        ip(&["netns", "add", &sw])?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for h in 0..self.hosts {
            let ns = self.ns(h);
            let (inner, outer) = (
                format!("{}h{h}", self.prefix),
                format!("{}p{h}", self.prefix),
            );
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &inner, "type", "veth", "peer", "name", &outer,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &outer, "netns", &sw])?;
            ip(&["-n", &ns, "link", "set", &inner, "name", "eth0"])?;
            let addr = format!("{}/24", Lan::ip(h));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &sw, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", &sw, "link", "set", &outer, "up"])?;
        }
        Ok(())
    }

    fn switch(&self) -> String {
        format!("{}sw", self.prefix)
    }

    /// How many hosts the network has.
    pub fn hosts(&self) -> usize {
        self.hosts
    }

    pub fn ns(&self, host: usize) -> String {
        format!("{}n{host}", self.prefix)
    }

    /// The address of `host` on the LAN.
    pub fn ip(host: usize) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, host as u8 + 1)
    }

    /// `program` run inside `host`'s namespace (`ip netns exec` execs it, so the
    /// child's pid is the program's own).
    pub fn command(&self, host: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Set `host`'s eth0 up or down.
    pub fn set_link(&self, host: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns(host), "link", "set", "eth0", state]).expect("ip link set");
    }

    /// What `ip -n <host's namespace> ARGS... dev eth0` prints.
    pub fn show(&self, host: usize, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.ns(host)])
            .args(args)
            .args(["dev", "eth0"])
            .output()
            .expect("ip ... show");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Whether `addr` (IPv4 or IPv6) is on `host`'s eth0 now.
    pub fn has_addr(&self, host: usize, addr: impl Into<IpAddr>) -> bool {
        let (family, inet) = match addr.into() {
            IpAddr::V4(a) => ("-4", format!("inet {a}/")),
            IpAddr::V6(a) => ("-6", format!("inet6 {a}/")),
        };
        self.show(host, &[family, "-o", "addr", "show"])
            .contains(&inet)
    }

    /// The Ethernet address of `host`'s eth0.
    pub fn mac(&self, host: usize) -> String {
        let text = self.show(host, &["-o", "link", "show"]);
        let mac = text
            .split("link/ether ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        mac.unwrap_or_else(|| panic!("no MAC in {text:?}"))
            .to_string()
    }

    /// The Ethernet address `host`'s neighbour table holds for `ip`, if any.
    pub fn neighbour(&self, host: usize, ip: impl Into<IpAddr>) -> Option<String> {
        let ip = ip.into();
        let family = if ip.is_ipv6() { "-6" } else { "-4" };
        let text = self.show(host, &[family, "neigh", "show", &ip.to_string()]);
        text.split("lladdr ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    }

    /// Poll until `addr` is (or is no longer) on `host`, up to `limit`; how long it
    /// took, or `None`.
    pub fn wait_addr(
        &self,
        host: usize,
        addr: impl Into<IpAddr>,
        present: bool,
        limit: Duration,
    ) -> Option<Duration> {
        let addr = addr.into();
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.has_addr(host, addr) == present {
                return Some(start.elapsed());
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Run `f` on a thread inside `host`'s namespace (sockets it makes live there).
    pub fn enter<T: Send + 'static>(
        &self,
        host: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        self.spawn_in(host, f)
            .join()
            .expect("thread inside the namespace")
    }

    pub fn spawn_in<T: Send + 'static>(
        &self,
        host: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/var/run/netns/{}", self.ns(host));
        thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace");
            // SAFETY: a valid namespace descriptor; setns only affects this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
    }

    /// A TCP server inside `host` on `addr` that writes `reply` to every client and
    /// closes. Stops (and frees the port) on drop.
    pub fn reply_server(&self, host: usize, addr: SocketAddr, reply: &'static str) -> NsServer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let flag = Arc::clone(&stop);
        let handle = self.spawn_in(host, move || {
            let listener = TcpListener::bind(addr).expect("bind inside the namespace");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        use std::io::Write;
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(reply.as_bytes());
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ready
            .recv_timeout(PATIENCE)
            .expect("server inside the namespace");
        NsServer {
            stop,
            handle: Some(handle),
        }
    }
}

/// Connect from `host` to `addr` until a server answers or `limit` passes; the
/// answer (what the server wrote before closing).
pub fn fetch_from(lan: &Lan, host: usize, addr: SocketAddr, limit: Duration) -> Option<String> {
    lan.enter(host, move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(mut s) =
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))
            {
                use std::io::Read;
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut out = String::new();
                if s.read_to_string(&mut out).is_ok() && !out.is_empty() {
                    return Some(out);
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        None
    })
}

pub struct NsServer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for NsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in 0..self.hosts {
            let ns = self.ns(h);
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = pid.parse::<i32>() {
                        // SAFETY: kill has no memory preconditions.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
            let _ = ip(&["netns", "del", &ns]);
        }
        let _ = ip(&["netns", "del", &self.switch()]);
    }
}

/// The admin API of a ringlb in a test network (one per namespace, so always the
/// same address).
pub fn admin_addr() -> SocketAddr {
    "127.0.0.1:9900".parse().unwrap()
}

/// A ringlb configuration for one host of a test network: a TCP frontend `web` on
/// `binds` in front of the host's own backend on 127.0.0.1:9001 (checked every
/// 100 ms with rise and fall 1 when `checked`), the admin API on [`admin_addr`],
/// then `tail` (a `[vrrp]` or `[announce]` section).
pub fn local_service(binds: &[SocketAddr], checked: bool, tail: &str) -> String {
    let binds: Vec<String> = binds.iter().map(|b| format!("\"{b}\"")).collect();
    let check = if checked {
        "[backend.check]\nkind = \"tcp\"\ninterval = \"100ms\"\nfast_interval = \"50ms\"\ntimeout = \"2s\"\nrise = 1\nfall = 1\n"
    } else {
        ""
    };
    format!(
        r#"[global]
workers = 1
pin_workers = false
admin_bind = "{admin}"

[[frontend]]
name = "web"
bind = [{binds}]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"
{check}
[[backend.server]]
name = "local"
address = "127.0.0.1:9001"
check = {checked}

{tail}
"#,
        admin = admin_addr(),
        binds = binds.join(", "),
    )
}
