//! The clients' and backends' side of the BGP test network (`bird.rs`): a backend
//! that names itself and the node that reached it, connections from the client
//! (from chosen source addresses), tallies of who answered, and the source-hash
//! stickiness check over every node.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::bird::{example, ip_in, svc, Fabric, CLIENT, SHARED};
use super::netns::Lan;
use super::PATIENCE;

/// Which node (or server) answered: the first word of the backend's line.
pub fn node_of(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

/// Every connection answered; how many answers came from each of `names`.
pub fn tally(answers: &[Result<String, String>], names: &[&str]) -> Vec<usize> {
    let mut n = vec![0; names.len()];
    for a in answers {
        let who = a.as_deref().map(node_of);
        match who.ok().and_then(|w| names.iter().position(|n| *n == w)) {
            Some(i) => n[i] += 1,
            None => panic!("a client failed: {who:?} (all: {answers:?})"),
        }
    }
    n
}

/// What the clients of [`Fabric::stickiness`] saw.
pub struct Stickiness {
    /// The nodes (their LAN addresses) that served some client, sorted.
    pub nodes: Vec<String>,
    /// The distinct servers clients were sent to.
    pub servers: usize,
    /// Clients whose connections were served by more than one node.
    pub spread_clients: usize,
}

impl Fabric {
    /// The shipped `configs/bgp-node.toml` (a `balance = "source"` backend), made
    /// fit for the test network: port 8080, one worker, checks every 100 ms, and its
    /// three servers on the [`SHARED`] host, started here ("s1".."s3").
    pub fn source_hash_example(&self) -> (String, Vec<Backend>) {
        let shared = Lan::ip(SHARED);
        let names = ["s1", "s2", "s3"];
        let servers = (0..3)
            .map(|i| {
                let addr = SocketAddr::from((shared, 9001 + i as u16));
                Backend::start(&self.lan, SHARED, addr, names[i])
            })
            .collect();
        let mut text = example("bgp-node.toml")
            .replace("workers = 0", "workers = 1")
            .replace("pin_workers = true", "pin_workers = false")
            .replace("198.51.100.10:80\"", "198.51.100.10:8080\"")
            .replace("interval = \"1s\"", "interval = \"100ms\"");
        for i in 0..3 {
            text = text.replace(
                &format!("10.0.1.1{}:8080", i + 1),
                &format!("{shared}:{}", 9001 + i),
            );
        }
        (text, servers)
    }

    /// `clients` more client addresses (192.0.2.100...), `per` connections (as
    /// many source ports) from each to the source-hash example; panics unless
    /// every connection of a client reached the same server.
    pub fn stickiness(&self, clients: u8, per: usize) -> Stickiness {
        let sources: Vec<Ipv4Addr> = (0..clients)
            .map(|i| Ipv4Addr::new(192, 0, 2, 100 + i))
            .collect();
        for s in &sources {
            ip_in(
                &self.lan,
                CLIENT,
                &["addr", "add", &format!("{s}/24"), "dev", "eth0"],
            );
        }
        let (mut nodes, mut servers) = (Vec::new(), Vec::new());
        let mut spread_clients = 0;
        for &src in &sources {
            let answers = self.ask(Some(src), per);
            let lines: Vec<&str> = answers
                .iter()
                .map(|a| a.as_deref().unwrap_or_else(|e| panic!("{src}: {e}")))
                .collect();
            // "s2 via 192.0.2.3": the server, and the node that connected to it.
            let server = node_of(lines[0]);
            assert!(
                lines.iter().all(|l| node_of(l) == server),
                "client {src} reached different servers: {lines:?}"
            );
            servers.push(server.to_string());
            let mut via: Vec<String> = lines
                .iter()
                .filter_map(|l| l.split(" via ").nth(1))
                .map(str::to_string)
                .collect();
            via.sort();
            via.dedup();
            spread_clients += usize::from(via.len() > 1);
            nodes.extend(via);
        }
        nodes.sort();
        nodes.dedup();
        servers.sort();
        servers.dedup();
        Stickiness {
            nodes,
            servers: servers.len(),
            spread_clients,
        }
    }
}

/// Connect to the IPv4 service (from `src`), read one line.
pub fn open(src: Option<Ipv4Addr>) -> Result<(String, TcpStream), String> {
    open_to(svc(), src.map(IpAddr::V4))
}

/// Connect to `target` (from `src`), read one line.
pub fn open_to(target: SocketAddr, src: Option<IpAddr>) -> Result<(String, TcpStream), String> {
    let s = match src {
        None => TcpStream::connect_timeout(&target, Duration::from_secs(2))
            .map_err(|e| e.to_string())?,
        Some(ip) => {
            let sock = socket2::Socket::new(
                socket2::Domain::for_address(target),
                socket2::Type::STREAM,
                None,
            )
            .map_err(|e| e.to_string())?;
            sock.bind(&SocketAddr::from((ip, 0)).into())
                .map_err(|e| e.to_string())?;
            sock.connect_timeout(&target.into(), Duration::from_secs(2))
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
