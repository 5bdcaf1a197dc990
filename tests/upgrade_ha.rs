//! Binary upgrades of a node that holds a virtual IP (VRRP) or announces its service
//! address (BGP through BIRD), in real network namespaces: three upgrades in a row,
//! under client traffic, cause no failover and no withdrawal; and reloads that
//! change virtual routers, against keepalived. keepalived as the
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

use common::bird::{Fabric, A as NODE, CLIENT as BGP_CLIENT, SVC};
use common::ecmp::Backend;
use common::netns::Lan;
use common::vrrp::{api, have_keepalived, keepalived, start_ringlb};
use common::{Ringlb, BIN, PATIENCE};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;
const UPGRADES: usize = 3;

/// Sets the flag when dropped: threads polling it end even if the test panics
/// (a scope waits for its threads before it passes the panic on).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Watching and traffic loops end by this at the latest.
const LOOP_LIMIT: Duration = Duration::from_secs(90);

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

/// Connect to `addr` from inside `host` until `stop`, at most [`LOOP_LIMIT`]; every answer
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
        while !stop.load(Ordering::Relaxed) && start.elapsed() < LOOP_LIMIT {
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

/// What happened while a node was upgraded [`UPGRADES`] times.
struct Run {
    answered: usize,
    failed: Vec<String>,
    polls: usize,
    gaps: Vec<String>,
}

/// Upgrade `rl` [`UPGRADES`] times, `pause` apart, while a client in `host` connects
/// to `addr` and `check` (what is wrong now, if anything) is polled all along; each
/// upgrade waits for one more of each `done` line (the two processes' lines come in
/// either order).
fn upgrades_under_traffic(
    lan: &Lan,
    (host, addr): (usize, SocketAddr),
    (socket, rl): (&Path, &mut Ringlb),
    done: &[&str],
    pause: Duration,
    check: impl Fn() -> Option<String> + Sync,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let ((answered, failed), (polls, gaps)) = std::thread::scope(|scope| {
        let flag = Arc::clone(&stop);
        let client = scope.spawn(|| traffic(lan, host, addr, "a", flag));
        let _stop = StopOnDrop(Arc::clone(&stop));
        let watch = scope.spawn(|| {
            let (mut polls, mut gaps) = (0usize, Vec::new());
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < LOOP_LIMIT {
                polls += 1;
                gaps.extend(check());
                std::thread::sleep(Duration::from_millis(5));
            }
            (polls, gaps)
        });
        // Traffic and watch first, then the upgrades.
        std::thread::sleep(Duration::from_secs(1));
        for n in 1..=UPGRADES {
            upgrade(socket, rl);
            for line in done {
                rl.wait_count(&[line], n);
            }
            eprintln!("upgrade {n} done");
            std::thread::sleep(pause);
        }
        stop.store(true, Ordering::Relaxed);
        (client.join().unwrap(), watch.join().unwrap())
    });
    let _ = rl.logged("");
    Run {
        answered,
        failed,
        polls,
        gaps,
    }
}

/// One worker serving `bind`:8080 (TCP) in front of the host's backend on
/// 127.0.0.1:9001 (`server` adds keys to it, `backend` to its backend), the admin
/// API and the upgrade socket; `tail` follows (`[vrrp]`, `[announce]`).
fn node_config(socket: &Path, bind: Ipv4Addr, backend: &str, server: &str, tail: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\ngrace_period = \"2s\"\n\
         admin_bind = \"127.0.0.1:9900\"\nupgrade_socket = \"{}\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"{bind}:8080\"]\nmode = \"tcp\"\n\
         default_backend = \"app\"\n\n[[backend]]\nname = \"app\"\n{backend}\n\
         [[backend.server]]\nname = \"local\"\naddress = \"127.0.0.1:9001\"\n{server}\n{tail}",
        socket.display()
    )
}

fn vrrp_config(socket: &Path) -> String {
    let vrrp = format!(
        "[vrrp]\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = 150\n\
         advert_interval = \"1s\"\nvirtual_ips = [\"{VIP}/24\"]\n"
    );
    node_config(socket, VIP, "", "", &vrrp)
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

    // Upgrades spaced by more than the master-down interval keepalived would wait
    // (3 × 1 s + skew).
    let run = upgrades_under_traffic(
        &lan,
        (CLIENT, SocketAddr::from((VIP, 8080))),
        (&socket, &mut rl),
        &[
            "carried over from the old process in MASTER state",
            "handed over to the new process in MASTER state",
        ],
        Duration::from_secs(4),
        || match (lan.has_addr(A, VIP), lan.has_addr(B, VIP)) {
            (true, false) => None,
            (a, b) => Some(format!(
                "the VIP on ringlb's host: {a}, on keepalived's: {b}"
            )),
        },
    );
    eprintln!(
        "{UPGRADES} upgrades of the VRRP master: {} requests answered, {} failed; VIPs checked {} times",
        run.answered,
        run.failed.len(),
        run.polls
    );
    assert!(run.failed.is_empty(), "failed requests: {:?}", run.failed);
    assert!(run.answered > 100, "only {} requests", run.answered);
    assert!(run.polls > 100, "only {} checks", run.polls);
    assert!(
        run.gaps.is_empty(),
        "{:?}",
        &run.gaps[..run.gaps.len().min(5)]
    );
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

/// Announced while its backend passes a TCP check every 100 ms (a timeout with
/// margin: a check that is merely slow on a loaded machine must not withdraw).
fn announce_config(socket: &Path) -> String {
    let check = "[backend.check]\nkind = \"tcp\"\ninterval = \"100ms\"\nfast_interval = \"50ms\"\n\
                 timeout = \"2s\"\nrise = 1\nfall = 1\n";
    let announce = format!("[announce]\ninterface = \"svc0\"\naddresses = [\"{SVC}/32\"]\n");
    node_config(socket, SVC, check, "check = true", &announce)
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
    let want = vec![std::net::IpAddr::V4(Lan::ip(NODE))];

    // Each upgrade waits past the old process's grace period: it has exited, its
    // descriptor of the device closed.
    let run = upgrades_under_traffic(
        &f.lan,
        (BGP_CLIENT, SocketAddr::from((SVC, 8080))),
        (&socket, &mut rl),
        &[
            "device svc0 adopted from the old process (announced)",
            "announce: svc0 handed over to the new process",
        ],
        Duration::from_secs(3),
        || {
            let now = f.nexthops(SVC.into());
            (now != want).then(|| format!("the route points at {now:?}"))
        },
    );
    eprintln!(
        "{UPGRADES} upgrades of the announced node: route polled {} times, {} requests answered, {} failed",
        run.polls,
        run.answered,
        run.failed.len()
    );
    assert!(
        run.gaps.is_empty(),
        "{:?}\nlog:\n{}",
        &run.gaps[..run.gaps.len().min(5)],
        rl.log.join("\n")
    );
    assert!(run.polls > 100, "only {} polls", run.polls);
    assert!(run.failed.is_empty(), "failed requests: {:?}", run.failed);
    assert!(run.answered > 50, "only {} requests", run.answered);
    assert!(!rl.logged("withdrawn from svc0"), "{}", rl.log.join("\n"));
    let _ = std::fs::remove_file(&socket);
}

/// A reload changes virtual routers in place, through the same hand-over: virtual
/// A router added by a reload starts as from boot (backup, then master: no peer for
/// its id), the running one is left alone; removed again, it gives up.
fn a_router_comes_and_goes(lan: &Lan, rl: &mut Ringlb, text: &str, path: &std::path::Path) {
    let vip3 = Ipv4Addr::new(192, 0, 2, 102);
    let two = format!(
        "{}\n[[vrrp]]\ninterface = \"eth0\"\nvirtual_router_id = 52\npriority = 150\n\
         advert_interval = \"1s\"\nvirtual_ips = [\"{vip3}/24\"]\n",
        text.replace("[vrrp]", "[[vrrp]]")
    );
    let replaced = |rl: &mut Ringlb| {
        let _ = rl.logged("");
        rl.log
            .iter()
            .filter(|l| l.contains("VI_51 replaced"))
            .count()
    };
    let before = replaced(rl);
    std::fs::write(path, &two).unwrap();
    rl.reload_and_wait();
    rl.wait_logged("vrrp: VI_52 entering BACKUP state (priority 150)");
    rl.wait_for("vrrp: VI_52 entering MASTER state (priority 150)");
    assert!(lan.wait_addr(A, vip3, true, PATIENCE).is_some());
    assert_eq!(replaced(rl), before, "VI_51 is left alone");
    std::fs::write(path, text).unwrap();
    rl.reload_and_wait();
    rl.wait_logged("vrrp: VI_52 is no longer in the file: giving it up");
    assert!(
        lan.wait_addr(A, vip3, false, PATIENCE).is_some(),
        "VI_52's VIP goes"
    );
    assert!(lan.has_addr(A, VIP));
    let _ = rl.logged("");
    let masters_51 = rl
        .log
        .iter()
        .filter(|l| l.contains("entering MASTER") && !l.contains("VI_52"))
        .count();
    assert_eq!(masters_51, 1, "{}", rl.log.join("\n"));
}

/// IPs added and removed without a state change; a router added starts as from boot
/// and, removed, gives up, while the other is left alone; a priority still above the
/// peer's keeps the master (keepalived stays backup), one below it lets keepalived
/// preempt, and a backup changed stays backup knowing its master; an unchanged file
/// leaves the router untouched.
#[test]
fn a_reload_changes_a_virtual_router_in_place() {
    let test = "a_reload_changes_a_virtual_router_in_place";
    let Some(lan) = Lan::new(test, 2) else {
        return;
    };
    if !have_keepalived() {
        return;
    }
    let vip2 = Ipv4Addr::new(192, 0, 2, 101);
    let socket = socket_path("reload");
    let text = vrrp_config(&socket);
    let mut rl = start_ringlb(&lan, A, &text, 51);
    rl.wait_for("vrrp: entering MASTER state (priority 150)");
    let path = rl.config_path().to_path_buf();
    let masters = |rl: &mut Ringlb| {
        let _ = rl.logged("");
        rl.log
            .iter()
            .filter(|l| l.contains("vrrp: entering MASTER"))
            .count()
    };

    rl.reload_and_wait();
    assert!(
        !rl.logged("replaced by its new settings"),
        "an unchanged router is left alone"
    );

    let both = text.replace(
        &format!("virtual_ips = [\"{VIP}/24\"]"),
        &format!("virtual_ips = [\"{VIP}/24\", \"{vip2}/24\"]"),
    );
    std::fs::write(&path, &both).unwrap();
    rl.reload_and_wait();
    rl.wait_logged("carried over from the running configuration in MASTER state (priority 150");
    assert!(
        lan.wait_addr(A, vip2, true, PATIENCE).is_some(),
        "the new VIP is added"
    );
    assert!(lan.has_addr(A, VIP));
    std::fs::write(&path, &text).unwrap();
    rl.reload_and_wait();
    rl.wait_logged("removed from eth0: no longer in the file");
    assert!(
        lan.wait_addr(A, vip2, false, PATIENCE).is_some(),
        "the dropped VIP goes"
    );
    assert!(lan.has_addr(A, VIP));
    assert_eq!(masters(&mut rl), 1, "{}", rl.log.join("\n"));

    a_router_comes_and_goes(&lan, &mut rl, &text, &path);

    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    );
    let (mut k, _conf) = keepalived(&lan, B, &conf, "Entering BACKUP STATE");
    std::fs::write(&path, text.replace("priority = 150", "priority = 120")).unwrap();
    rl.reload_and_wait();
    rl.wait_logged("carried over from the running configuration in MASTER state (priority 120");
    // Longer than keepalived's master-down interval: it hears the new adverts.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!k.logged("Entering MASTER STATE"), "{}", k.log.join("\n"));
    assert_eq!(masters(&mut rl), 1, "{}", rl.log.join("\n"));

    std::fs::write(&path, text.replace("priority = 150", "priority = 50")).unwrap();
    rl.reload_and_wait();
    k.wait_for("Entering MASTER STATE");
    rl.wait_logged("vrrp: entering BACKUP state (priority 50)");
    assert!(lan.wait_addr(B, VIP, true, PATIENCE).is_some());
    assert!(lan.wait_addr(A, VIP, false, PATIENCE).is_some());

    // A backup changed by a reload stays backup and remembers the master it heard.
    std::fs::write(&path, text.replace("priority = 150", "priority = 60")).unwrap();
    rl.reload_and_wait();
    rl.wait_logged("carried over from the running configuration in BACKUP state (priority 60");
    let s = api(&lan, A, "/api/vrrp");
    let keepalived_ip = Lan::ip(B).to_string();
    assert_eq!(s["state"], "BACKUP", "{s}");
    assert_eq!(s["master"], keepalived_ip.as_str(), "{s}");
    assert_eq!(s["peers"][0]["address"], keepalived_ip.as_str(), "{s}");
    let _ = k.logged("");
    let backups = k
        .log
        .iter()
        .filter(|l| l.contains("Entering BACKUP STATE"))
        .count();
    assert_eq!(backups, 1, "keepalived stays master:\n{}", k.log.join("\n"));
    assert!(lan.has_addr(B, VIP) && !lan.has_addr(A, VIP));
    let _ = std::fs::remove_file(&socket);
}
