//! The BGP test network (tests/bgp*.rs): a [`Lan`] whose host 0 is a router running
//! BIRD 2 with `configs/bird-router.conf`, hosts 1 and 2 (and 5, with three nodes)
//! ringlb nodes each running BIRD with `configs/bird-node.conf`, host 3 a client
//! routing the service addresses (IPv4 and IPv6) through the router (its clients
//! and the backends that say who they are: `ecmp.rs`). Every host also has an IPv6
//! address on the LAN (2001:db8:0:2::N, the IPv4 one's last number). Needs root,
//! iproute2 and `bird` (Debian package `bird2`): [`Fabric::new`] skips with a
//! reason without them, and panics instead under `RINGLB_REQUIRE_PRIVILEGED=1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::ecmp::{open, open_to, Backend};
pub use super::netns::admin_addr;
use super::netns::{local_service, skip, Lan};
use super::{admin, Ringlb, TempConfig, BIN, PATIENCE};

pub const SVC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const SVC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x10);
pub const ROUTER: usize = 0;
pub const A: usize = 1;
pub const B: usize = 2;
pub const CLIENT: usize = 3;
pub const SHARED: usize = 4;
/// The third node, when there is one.
pub const C: usize = 5;
/// The name each node's local backend answers with, by host.
pub const NAMES: [(usize, &str); 3] = [(A, "a"), (B, "b"), (C, "c")];

pub fn svc() -> SocketAddr {
    SocketAddr::from((SVC, 8080))
}

pub fn svc6() -> SocketAddr {
    SocketAddr::from((SVC6, 8080))
}

/// The IPv6 address of `host` on the LAN.
pub fn ip6(host: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, host as u16 + 1)
}

/// The address of `host` on the LAN in the family of `like`.
pub fn lan_ip(host: usize, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Lan::ip(host)),
        IpAddr::V6(_) => IpAddr::V6(ip6(host)),
    }
}

/// A node: the service on `binds` (port 8080) in front of its own backend on
/// 127.0.0.1:9001, checked every 100 ms; `addresses` announced (on svc0) while that
/// backend is up; `announce`: more keys for `[announce]`.
pub fn node_config(binds: &[SocketAddr], announce: &str) -> String {
    let addresses: Vec<String> = binds.iter().map(|b| format!("\"{}\"", b.ip())).collect();
    local_service(
        binds,
        true,
        &format!(
            "[announce]\ninterface = \"svc0\"\naddresses = [{}]\n{announce}",
            addresses.join(", ")
        ),
    )
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

/// The addresses of `family` ("-4" or "-6") on `host`'s announce device svc0, as
/// `ip -o addr show` prints them (`None`: no such device).
pub fn device_addrs(lan: &Lan, host: usize, family: &str) -> Option<String> {
    let out = Command::new("ip")
        .args([
            "-n",
            &lan.ns(host),
            family,
            "-o",
            "addr",
            "show",
            "dev",
            "svc0",
        ])
        .output()
        .expect("ip addr show");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// `ip -n NS ARGS...` (must succeed).
pub fn ip_in(lan: &Lan, host: usize, args: &[&str]) {
    run(Command::new("ip").args(["-n", &lan.ns(host)]).args(args));
}

/// The test network, the BIRDs, and their files.
pub struct Fabric {
    pub lan: Lan,
    dir: PathBuf,
    pub birds: Vec<Child>,
    /// The ringlb nodes' hosts: [A, B] or [A, B, C].
    pub nodes: Vec<usize>,
}

impl Fabric {
    /// Router, two nodes, a client (and `extra` more hosts), each node's and the
    /// router's BIRD started from the shipped examples.
    pub fn new(test: &str, extra: usize) -> Option<Fabric> {
        Fabric::with_nodes(test, 2, extra)
    }

    /// As [`Fabric::new`] with 2 or 3 nodes (the third is host [`C`], after the
    /// [`SHARED`] host, which always exists then).
    pub fn with_nodes(test: &str, nodes: usize, extra: usize) -> Option<Fabric> {
        assert!((2..=3).contains(&nodes), "2 or 3 nodes");
        let bird = Command::new("bird").arg("--version").output();
        if !bird.is_ok_and(|o| o.status.success() || !o.stderr.is_empty()) {
            skip(test, "bird is not installed (Debian package bird2)");
            return None;
        }
        let hosts = if nodes == 3 {
            (4 + extra).max(C + 1)
        } else {
            4 + extra
        };
        let lan = Lan::new(test, hosts)?;
        let nodes: Vec<usize> = NAMES[..nodes].iter().map(|(h, _)| *h).collect();
        for h in 0..hosts {
            // No duplicate address detection: usable at once, as on the service device.
            let addr = format!("{}/64", ip6(h));
            ip_in(&lan, h, &["addr", "add", &addr, "dev", "eth0", "nodad"]);
        }
        run(Command::new("ip")
            .args(["netns", "exec", &lan.ns(ROUTER), "sysctl", "-qw"])
            .args([
                "net.ipv4.ip_forward=1",
                "net.ipv4.fib_multipath_hash_policy=1",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.eth0.send_redirects=0",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.fib_multipath_hash_policy=1",
            ]));
        // IPv6 has no send_redirects: the client ignores redirects instead, or the
        // router would send it straight to one node and out of the ECMP path.
        run(Command::new("ip")
            .args(["netns", "exec", &lan.ns(CLIENT), "sysctl", "-qw"])
            .args([
                "net.ipv6.conf.all.accept_redirects=0",
                "net.ipv6.conf.eth0.accept_redirects=0",
            ]));
        for (svc, via) in [
            (format!("{SVC}/32"), Lan::ip(ROUTER).to_string()),
            (format!("{SVC6}/128"), ip6(ROUTER).to_string()),
        ] {
            ip_in(&lan, CLIENT, &["route", "add", &svc, "via", &via]);
        }
        let dir = std::env::temp_dir().join(format!("ringlb-bgp-{}", lan.ns(ROUTER)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut f = Fabric {
            lan,
            dir,
            birds: Vec::new(),
            nodes,
        };
        let mut router = example("bird-router.conf");
        for &node in &f.nodes[2..] {
            router.push_str(&format!(
                "\nprotocol bgp node_{} from ringlb_node {{\n\tneighbor {} as 65001;\n}}\n",
                name_of(node),
                Lan::ip(node)
            ));
        }
        f.bird(ROUTER, router);
        for node in f.nodes.clone() {
            let conf = example("bird-node.conf")
                .replace("192.0.2.2", &Lan::ip(node).to_string())
                .replace("2001:db8:0:2::2", &ip6(node).to_string());
            f.bird(node, conf);
        }
        f.wait_ipv6_settled();
        Some(f)
    }

    /// Wait until no host's eth0 has a tentative IPv6 address (its link-local one
    /// is, until duplicate address detection ends, a second or two after the link
    /// came up): before, the first IPv6 flows through the router can be reset.
    fn wait_ipv6_settled(&self) {
        let start = Instant::now();
        for h in 0..self.lan.hosts() {
            loop {
                let out = Command::new("ip")
                    .args([
                        "-n",
                        &self.lan.ns(h),
                        "-6",
                        "addr",
                        "show",
                        "dev",
                        "eth0",
                        "tentative",
                    ])
                    .output()
                    .expect("ip addr show");
                if out.status.success() && out.stdout.is_empty() {
                    break;
                }
                assert!(
                    start.elapsed() < PATIENCE,
                    "host {h}: IPv6 addresses stay tentative"
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
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

    /// The nodes the router's route to `dest` points at now.
    pub fn nexthops(&self, dest: IpAddr) -> Vec<IpAddr> {
        let family = if dest.is_ipv4() { "-4" } else { "-6" };
        let out = Command::new("ip")
            .args(["-n", &self.lan.ns(ROUTER), family, "route", "show"])
            .arg(dest.to_string())
            .output()
            .expect("ip route show");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut via: Vec<IpAddr> = text
            .split("via ")
            .skip(1)
            .filter_map(|r| r.split_whitespace().next()?.parse().ok())
            .collect();
        via.sort();
        via
    }

    /// Poll until the router's route to 198.51.100.10 points at exactly `nodes`;
    /// how long it took.
    pub fn wait_route(&self, nodes: &[usize], what: &str) -> Duration {
        self.wait_route_to(IpAddr::V4(SVC), nodes, what)
    }

    /// Poll until the router's route to `dest` points at exactly `nodes` (by their
    /// address in `dest`'s family); how long it took.
    pub fn wait_route_to(&self, dest: IpAddr, nodes: &[usize], what: &str) -> Duration {
        let mut want: Vec<IpAddr> = nodes.iter().map(|&n| lan_ip(n, dest)).collect();
        want.sort();
        let start = Instant::now();
        loop {
            let now = self.nexthops(dest);
            if now == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "{what}: the router's route to {dest} points at {now:?}, never at {want:?}; BIRD says:\n{}",
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

    /// `n` new connections to 198.51.100.10:8080 from `src` (the client's own
    /// address when `None`): the first line each one reads, or the error.
    pub fn ask(&self, src: Option<Ipv4Addr>, n: usize) -> Vec<Result<String, String>> {
        self.ask_to(svc(), src.map(IpAddr::V4), n)
    }

    /// `n` new connections to `target` from `src`.
    pub fn ask_to(
        &self,
        target: SocketAddr,
        src: Option<IpAddr>,
        n: usize,
    ) -> Vec<Result<String, String>> {
        self.lan.enter(CLIENT, move || {
            (0..n)
                .map(|_| open_to(target, src).map(|(line, _)| line))
                .collect()
        })
    }

    /// A connection from the client that stays open, with the first line it read.
    pub fn hold(&self) -> (String, TcpStream) {
        self.lan
            .enter(CLIENT, || open(None))
            .expect("a connection to the service address")
    }

    /// Each node's own backend on 127.0.0.1:9001, answering with the node's name.
    pub fn local_backends(&self) -> Vec<Backend> {
        let local: SocketAddr = "127.0.0.1:9001".parse().unwrap();
        let nodes = self.nodes.clone();
        nodes
            .into_iter()
            .map(|n| Backend::start(&self.lan, n, local, name_of(n)))
            .collect()
    }

    /// ringlb with `config` on every node, each once it logged `added` (its
    /// addresses are on svc0), and the router's routes to every address of
    /// `routes` through all of them.
    pub fn announced(&self, config: &str, added: &str, routes: &[IpAddr]) -> Vec<Ringlb> {
        let mut nodes: Vec<Ringlb> = self.nodes.iter().map(|&n| self.ringlb(n, config)).collect();
        for n in &mut nodes {
            n.wait_logged(added);
        }
        for &dest in routes {
            self.wait_route_to(dest, &self.nodes, "start-up");
        }
        nodes
    }

    /// A request to the admin API of the ringlb on `host`: status and body.
    pub fn admin(
        &self,
        host: usize,
        method: &'static str,
        path: &'static str,
        body: &str,
    ) -> (u16, String) {
        let body = body.to_string();
        self.lan
            .enter(host, move || admin(admin_addr(), method, path, &body, None))
    }
}

/// The name of node `host`'s local backend ("a", "b", "c").
pub fn name_of(host: usize) -> &'static str {
    NAMES
        .iter()
        .find(|(h, _)| *h == host)
        .map_or_else(|| panic!("host {host} is no node"), |(_, n)| *n)
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
