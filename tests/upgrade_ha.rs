//! Binary upgrades of a node that holds a virtual IP (VRRP) or announces its service
//! address (BGP through BIRD), in real network namespaces: three upgrades in a row,
//! under client traffic, cause no failover and no withdrawal. keepalived as the
//! backup never becomes master and the VIP never leaves the ringlb node; the
//! router's route to the node never disappears; no client request fails. Root,
//! keepalived and bird only: skipped with a reason elsewhere, a failure in CI
//! (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bird::{Backend, Fabric, A as NODE, CLIENT as BGP_CLIENT, SVC};
use common::netns::Lan;
use common::vrrp::{have_keepalived, keepalived, start_ringlb};
use common::{Ringlb, BIN};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;
const UPGRADES: usize = 3;

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-upgha-{}-{tag}.sock", std::process::id()))
}

/// `ringlb upgrade` through `socket`; panics with its words and the log if refused.
fn upgrade(socket: &Path, rl: &mut Ringlb) {
    let out = Command::new(BIN)
        .arg("upgrade")
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .output()
        .expect("run ringlb upgrade");
    if !out.status.success() {
        let _ = rl.logged("");
        panic!(
            "upgrade failed: {}{}\nlog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            rl.log.join("\n")
        );
    }
}

/// Connect to `addr` from inside `host` until `stop`, at most 60 s; every answer
/// (its first line) must start with `want`. (answered, failures with what went wrong).
fn traffic(
    lan: &Lan,
    host: usize,
    addr: SocketAddr,
    want: &'static str,
    stop: Arc<AtomicBool>,
) -> (usize, Vec<String>) {
    lan.enter(host, move || {
        let (mut ok, mut failed) = (0, Vec::new());
        let start = Instant::now();
        while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
            let got = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| format!("connect: {e}"))
                .and_then(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    // The first line, or all until the server closes.
                    let mut out = String::new();
                    BufReader::new(s)
                        .read_line(&mut out)
                        .map_err(|e| format!("read: {e}"))?;
                    Ok(out)
                });
            match got {
                Ok(text) if text.starts_with(want) => ok += 1,
                Ok(text) => failed.push(format!("answered {text:?}")),
                Err(e) => failed.push(e),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (ok, failed)
    })
}

fn vrrp_config(socket: &Path) -> String {
    format!(
        r#"[global]
workers = 1
pin_workers = false
grace_period = "2s"
admin_bind = "127.0.0.1:9900"
upgrade_socket = "{}"

[[frontend]]
name = "web"
bind = ["{VIP}:8080"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "local"
address = "127.0.0.1:9001"

[vrrp]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_interval = "1s"
virtual_ips = ["{VIP}/24"]
"#,
        socket.display()
    )
}

/// ringlb master, keepalived backup: three upgrades of ringlb while a client
/// connects to the VIP all along. keepalived never becomes master, the VIP never
/// leaves ringlb's host nor shows up on keepalived's, and every request is answered.
#[test]
fn upgrades_of_a_vrrp_master_cause_no_failover() {
    let test = "upgrades_of_a_vrrp_master_cause_no_failover";
    let Some(lan) = Lan::new(test, 3) else {
        return;
    };
    if !have_keepalived() {
        return;
    }
    let _app = lan.reply_server(A, "127.0.0.1:9001".parse().unwrap(), "a");
    let socket = socket_path("vrrp");
    let mut rl = start_ringlb(&lan, A, &vrrp_config(&socket), 51);
    rl.wait_for("vrrp: entering MASTER state (priority 150)");
    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    );
    let (mut k, _conf) = keepalived(&lan, B, &conf, "Entering BACKUP STATE");
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, gaps) = std::thread::scope(|scope| {
        let flag = Arc::clone(&stop);
        let client =
            scope.spawn(|| traffic(&lan, CLIENT, SocketAddr::from((VIP, 8080)), "a", flag));
        let watch = scope.spawn(|| {
            let mut gaps = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if !lan.has_addr(A, VIP) {
                    gaps.push("the VIP left ringlb's host");
                }
                if lan.has_addr(B, VIP) {
                    gaps.push("the VIP is on keepalived's host");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            gaps
        });
        // Traffic and watch first, then the upgrades, spaced by more than the
        // master-down interval keepalived would wait (3 × 1 s + skew).
        std::thread::sleep(Duration::from_secs(1));
        for n in 1..=UPGRADES {
            upgrade(&socket, &mut rl);
            rl.wait_for("carried over from the old process in MASTER state");
            rl.wait_for("handed over to the new process in MASTER state");
            eprintln!("upgrade {n} done");
            std::thread::sleep(Duration::from_secs(4));
        }
        stop.store(true, Ordering::Relaxed);
        (client.join().unwrap(), watch.join().unwrap())
    });
    let (ok, failed) = answers;
    eprintln!(
        "{UPGRADES} upgrades of the VRRP master: {ok} requests answered, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(ok > 100, "only {ok} requests");
    assert!(gaps.is_empty(), "{:?}", &gaps[..gaps.len().min(5)]);
    assert!(
        !k.logged("Entering MASTER STATE"),
        "keepalived became master:\n{}",
        k.log.join("\n")
    );
    // Backup once at start, master once before the first upgrade, never again.
    let _ = rl.logged("");
    let states = |what: &str| rl.log.iter().filter(|l| l.contains(what)).count();
    assert_eq!(
        (
            states("vrrp: entering BACKUP"),
            states("vrrp: entering MASTER")
        ),
        (1, 1),
        "{}",
        rl.log.join("\n")
    );
    let _ = std::fs::remove_file(&socket);
}

fn announce_config(socket: &Path) -> String {
    format!(
        r#"[global]
workers = 1
pin_workers = false
grace_period = "2s"
admin_bind = "127.0.0.1:9900"
upgrade_socket = "{}"

[[frontend]]
name = "web"
bind = ["{SVC}:8080"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"
[backend.check]
kind = "tcp"
interval = "100ms"
fast_interval = "50ms"
timeout = "200ms"
rise = 1
fall = 1

[[backend.server]]
name = "local"
address = "127.0.0.1:9001"
check = true

[announce]
interface = "svc0"
addresses = ["{SVC}/32"]
"#,
        socket.display()
    )
}

/// A node announced over BGP, upgraded three times: the router's route to it never
/// disappears (the new process adopts the TUN device), and the client, routed
/// through the router, is answered throughout.
#[test]
fn upgrades_of_an_announced_node_keep_its_route() {
    let test = "upgrades_of_an_announced_node_keep_its_route";
    let Some(f) = Fabric::new(test, 0) else {
        return;
    };
    let _app = Backend::start(&f.lan, NODE, "127.0.0.1:9001".parse().unwrap(), "a");
    let socket = socket_path("bgp");
    let mut rl = f.ringlb(NODE, &announce_config(&socket));
    rl.wait_logged("198.51.100.10 added to svc0");
    f.wait_route(&[NODE], "start-up");
    let want = vec![Lan::ip(NODE)];

    let stop = Arc::new(AtomicBool::new(false));
    let (answers, (polls, gaps)) = std::thread::scope(|scope| {
        let flag = Arc::clone(&stop);
        let client =
            scope.spawn(|| traffic(&f.lan, BGP_CLIENT, SocketAddr::from((SVC, 8080)), "a", flag));
        let watch = scope.spawn(|| {
            let (mut polls, mut gaps) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let now = f.nexthops();
                polls += 1;
                if now != want {
                    gaps.push(format!("the route points at {now:?}"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (polls, gaps)
        });
        std::thread::sleep(Duration::from_secs(1));
        for n in 1..=UPGRADES {
            upgrade(&socket, &mut rl);
            rl.wait_for("announce: device svc0 adopted from the old process (announced)");
            rl.wait_for("announce: svc0 handed over to the new process");
            eprintln!("upgrade {n} done");
            // Past the old process's grace period: it has exited, its descriptor closed.
            std::thread::sleep(Duration::from_secs(3));
        }
        stop.store(true, Ordering::Relaxed);
        (client.join().unwrap(), watch.join().unwrap())
    });
    let (ok, failed) = answers;
    eprintln!(
        "{UPGRADES} upgrades of the announced node: route polled {polls} times, {ok} requests answered, {} failed",
        failed.len()
    );
    assert!(gaps.is_empty(), "{:?}", &gaps[..gaps.len().min(5)]);
    assert!(polls > 100, "only {polls} polls");
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(ok > 50, "only {ok} requests");
    assert!(!rl.logged("withdrawn from svc0"), "{}", rl.log.join("\n"));
    let _ = std::fs::remove_file(&socket);
}
