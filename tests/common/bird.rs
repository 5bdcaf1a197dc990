//! The BGP test network (tests/bgp.rs): a [`Lan`] whose host 0 is a router running
//! BIRD 2 with `configs/bird-router.conf`, hosts 1 and 2 ringlb nodes each running
//! BIRD with `configs/bird-node.conf`, host 3 a client routing the service address
//! through the router; backends that say who they are and which node reached them.
//! Needs root, iproute2 and `bird` (Debian package `bird2`): [`Fabric::new`] skips
//! with a reason without them, and panics instead under `RINGLB_REQUIRE_PRIVILEGED=1`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::netns::{skip, Lan};
use super::{Ringlb, TempConfig, BIN, PATIENCE};

pub const SVC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const ROUTER: usize = 0;
pub const A: usize = 1;
pub const B: usize = 2;
pub const CLIENT: usize = 3;
pub const SHARED: usize = 4;

pub fn svc() -> SocketAddr {
    SocketAddr::from((SVC, 8080))
}

pub fn admin_addr() -> SocketAddr {
    "127.0.0.1:9900".parse().unwrap()
}

pub fn example(name: &str) -> String {
    let path = format!("{}/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The test network, the BIRDs, and their files.
pub struct Fabric {
    pub lan: Lan,
    dir: PathBuf,
    pub birds: Vec<Child>,
}

impl Fabric {
    /// Router, two nodes, a client (and `extra` more hosts), each node's and the
    /// router's BIRD started from the shipped examples.
    pub fn new(test: &str, extra: usize) -> Option<Fabric> {
        let bird = Command::new("bird").arg("--version").output();
        if !bird.is_ok_and(|o| o.status.success() || !o.stderr.is_empty()) {
            skip(test, "bird is not installed (Debian package bird2)");
            return None;
        }
        let lan = Lan::new(test, 4 + extra)?;
        let r = lan.ns(ROUTER);
        run(Command::new("ip")
            .args(["netns", "exec", &r, "sysctl", "-qw"])
            .args([
                "net.ipv4.ip_forward=1",
                "net.ipv4.fib_multipath_hash_policy=1",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.eth0.send_redirects=0",
            ]));
        let svc = format!("{SVC}/32");
        run(Command::new("ip")
            .args(["-n", &lan.ns(CLIENT), "route", "add", &svc, "via"])
            .arg(Lan::ip(ROUTER).to_string()));
        let dir = std::env::temp_dir().join(format!("ringlb-bgp-{}", lan.ns(ROUTER)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut f = Fabric {
            lan,
            dir,
            birds: Vec::new(),
        };
        f.bird(ROUTER, example("bird-router.conf"));
        for node in [A, B] {
            let conf = example("bird-node.conf").replace("192.0.2.2", &Lan::ip(node).to_string());
            f.bird(node, conf);
        }
        Some(f)
    }

    /// `bird -f -c CONF -s SOCK -P PID` inside `host`.
    pub fn bird(&mut self, host: usize, conf: String) {
        let path = |ext: &str| self.dir.join(format!("h{host}.{ext}"));
        std::fs::write(path("conf"), conf).expect("write bird.conf");
        let child = self
            .lan
            .command(host, "bird")
            .arg("-f")
            .arg("-c")
            .arg(path("conf"))
            .arg("-s")
            .arg(path("ctl"))
            .arg("-P")
            .arg(path("pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bird");
        self.birds.push(child);
    }

    /// The nodes the router's route to the service address points at now.
    pub fn nexthops(&self) -> Vec<Ipv4Addr> {
        let out = Command::new("ip")
            .args([
                "-n",
                &self.lan.ns(ROUTER),
                "route",
                "show",
                &SVC.to_string(),
            ])
            .output()
            .expect("ip route show");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut via: Vec<Ipv4Addr> = text
            .split("via ")
            .skip(1)
            .filter_map(|r| r.split_whitespace().next()?.parse().ok())
            .collect();
        via.sort();
        via
    }

    /// Poll until the router's route points at exactly `nodes`; how long it took.
    pub fn wait_route(&self, nodes: &[usize], what: &str) -> Duration {
        let want: Vec<Ipv4Addr> = nodes.iter().map(|&n| Lan::ip(n)).collect();
        let start = Instant::now();
        loop {
            let now = self.nexthops();
            if now == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{what}: the router's route points at {now:?}, never at {want:?}; BIRD says:\n{}",
                self.birdc(ROUTER, "show protocols")
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// `birdc` in `host`, bounded (it hangs on a stopped BIRD).
    pub fn birdc(&self, host: usize, what: &str) -> String {
        let sock = self.dir.join(format!("h{host}.ctl"));
        let out = Command::new("timeout")
            .arg("5")
            .arg("birdc")
            .arg("-s")
            .arg(sock)
            .args(what.split(' '))
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_else(|e| e.to_string())
    }

    /// ringlb in `host`, once its workers are up.
    pub fn ringlb(&self, host: usize, config: &str) -> Ringlb {
        let cfg = TempConfig::new(config);
        let mut cmd = self.lan.command(host, BIN);
        cmd.arg("run").arg("-c").arg(&cfg.0);
        let mut r = Ringlb::spawn(cmd, Some(cfg));
        r.wait_for("ringlb ready");
        r
    }

    /// `n` new connections from `src` (the client's own address when `None`): the
    /// first line each one reads, or the error.
    pub fn ask(&self, src: Option<Ipv4Addr>, n: usize) -> Vec<Result<String, String>> {
        self.lan.enter(CLIENT, move || {
            (0..n).map(|_| open(src).map(|(line, _)| line)).collect()
        })
    }

    /// A connection from the client that stays open, with the first line it read.
    pub fn hold(&self) -> (String, TcpStream) {
        self.lan
            .enter(CLIENT, || open(None))
            .expect("a connection to the service address")
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        for b in &mut self.birds {
            let _ = b.kill();
            let _ = b.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Connect to the service (from `src`), read one line.
pub fn open(src: Option<Ipv4Addr>) -> Result<(String, TcpStream), String> {
    let s = match src {
        None => {
            TcpStream::connect_timeout(&svc(), Duration::from_secs(2)).map_err(|e| e.to_string())?
        }
        Some(ip) => {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .map_err(|e| e.to_string())?;
            sock.bind(&SocketAddr::from((ip, 0)).into())
                .map_err(|e| e.to_string())?;
            sock.connect_timeout(&svc().into(), Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            sock.into()
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Err("closed without a word".into());
    }
    Ok((line.trim_end().to_string(), s))
}

/// A backend inside a namespace: says `"{name} via {peer address}"`, then echoes
/// lines until the client closes. Stops listening on drop.
pub struct Backend {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Backend {
    pub fn start(lan: &Lan, host: usize, addr: SocketAddr, name: &'static str) -> Backend {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let handle = lan.spawn_in(host, move || {
            let listener = TcpListener::bind(addr).expect("backend bind");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, peer)) => {
                        thread::spawn(move || serve(s, name, peer.ip()));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ready.recv_timeout(PATIENCE).expect("backend ready");
        Backend {
            stop,
            handle: Some(handle),
        }
    }
}

pub fn serve(mut s: TcpStream, name: &str, peer: IpAddr) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(PATIENCE));
    if writeln!(s, "{name} via {peer}").is_err() {
        return;
    }
    let mut lines = BufReader::new(s.try_clone().expect("clone")).lines();
    while let Some(Ok(line)) = lines.next() {
        if writeln!(s, "{line}").is_err() {
            return;
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
