//! Active-active over BGP/ECMP in real network namespaces: a router namespace runs
//! BIRD 2 with `configs/bird-router.conf` (multipath routes, `merge paths on`) and the
//! L4 multipath hash; two ringlb nodes each run BIRD with `configs/bird-node.conf`;
//! a client namespace reaches the service address 198.51.100.10 through the router.
//! Shown: flows spread over both nodes; a node whose backends all fail withdraws and
//! new flows go to the other without a client error; `kill -9` of a ringlb takes its
//! route off the router (the kernel deletes its TUN device); a drained node
//! (`POST /api/announce off`) gets no new flows and does not close its open
//! connections (though the router now sends their packets to the other node: the
//! ECMP limit `docs/scale-out.md` describes); both nodes pick the same server for a
//! client with `balance = "source"`; a frozen BIRD on a node is caught by BFD; a
//! stop withdraws before it stops accepting; a node whose backend is dead at start
//! is not announced until the backend comes and `hold_down` has passed.
//!
//! All hosts share one bridge (192.0.2.0/24: router .1, nodes .2 and .3, client .4,
//! shared backends .5); the client routes the service address via the router, which
//! forwards back out of the same interface (ICMP redirects off, so it stays in the
//! path). Root and `bird` only: skipped with a reason elsewhere, a failure in CI
//! (`RINGLB_REQUIRE_PRIVILEGED=1`). Readiness is the route at the router, polled.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::bird::{self, admin_addr, device_addrs, example, run, svc, Fabric, A, B, ROUTER, SVC};
use common::ecmp::{self, node_of, Backend};
use common::netns::Lan;
use common::{admin, Ringlb, TempConfig, BIN, PATIENCE};

/// A node: the service on 198.51.100.10:8080 in front of its own backend on
/// 127.0.0.1:9001, checked every 100 ms; announced while that backend is up.
/// `announce`: more keys for `[announce]`.
fn node_config(announce: &str) -> String {
    bird::node_config(&[svc()], announce)
}

/// Every connection answered; how many reached each node.
fn tally(answers: &[Result<String, String>]) -> (usize, usize) {
    let n = ecmp::tally(answers, &["a", "b"]);
    (n[0], n[1])
}

/// The router, two announced nodes with local backends "a" and "b", both routes up.
fn two_nodes(test: &str, announce: &str) -> Option<(Fabric, [Ringlb; 2], [Backend; 2])> {
    let f = Fabric::new(test, 0)?;
    let Ok(backends) = <[Backend; 2]>::try_from(f.local_backends()) else {
        unreachable!("two nodes, two backends")
    };
    let announced = f.announced(
        &node_config(announce),
        "198.51.100.10 added to svc0",
        &[IpAddr::V4(SVC)],
    );
    let Ok(nodes) = <[Ringlb; 2]>::try_from(announced) else {
        unreachable!("two nodes")
    };
    Some((f, nodes, backends))
}

#[test]
fn flows_spread_and_leave_a_node_whose_backend_fails_or_that_is_killed() {
    let test = "flows_spread_and_leave_a_node_whose_backend_fails_or_that_is_killed";
    let Some((f, [mut a, _b], [a_app, _b_app])) = two_nodes(test, "") else {
        return;
    };
    // ECMP with the L4 hash: different client ports reach both nodes.
    let (on_a, on_b) = tally(&f.ask(None, 40));
    assert!(on_a > 0 && on_b > 0, "40 flows: {on_a} on A, {on_b} on B");

    // A's only backend goes: its check fails, A withdraws, new flows go to B only.
    let lost = Instant::now();
    drop(a_app);
    f.wait_route(&[B], "A's backend is down");
    eprintln!(
        "backend loss on node A (checks every 100 ms, fall 1): its route left the router after {:?}",
        lost.elapsed()
    );
    a.wait_for("withdrawn from svc0: frontend web has no usable server");
    assert_eq!(tally(&f.ask(None, 20)), (0, 20));
    // Back: A announces again and takes flows again.
    let _a_app = Backend::start(&f.lan, A, "127.0.0.1:9001".parse().unwrap(), "a");
    a.wait_for("198.51.100.10 added to svc0");
    f.wait_route(&[A, B], "A's backend is back");
    let (on_a, _) = tally(&f.ask(None, 40));
    assert!(on_a > 0, "A takes flows again");

    // kill -9: the kernel deletes A's device, BIRD loses the address, BGP withdraws.
    let killed = Instant::now();
    a.child.kill().expect("kill -9");
    let took = f.wait_route(&[B], "A was killed");
    eprintln!(
        "kill -9 of node A: its route left the router after {:?}",
        killed.elapsed()
    );
    assert!(
        took <= Duration::from_secs(2),
        "the route stayed {took:?} after kill -9 (expected well under a second)"
    );
    assert_eq!(tally(&f.ask(None, 20)), (0, 20));
}

#[test]
fn a_drained_node_takes_no_new_flows_and_does_not_cut_its_connections() {
    let test = "a_drained_node_takes_no_new_flows_and_does_not_cut_its_connections";
    let Some((f, [mut a, _b], _apps)) = two_nodes(test, "") else {
        return;
    };
    // One open connection on each node.
    let mut held: Vec<(String, TcpStream)> = Vec::new();
    for _ in 0..64 {
        let (line, s) = f.hold();
        if !held.iter().any(|(l, _)| node_of(l) == node_of(&line)) {
            held.push((line, s));
        }
        if held.len() == 2 {
            break;
        }
    }
    assert_eq!(held.len(), 2, "64 flows never reached both nodes");

    let drain = |body: &str| {
        let body = body.to_string();
        f.lan.enter(A, move || {
            admin(admin_addr(), "POST", "/api/announce", &body, None)
        })
    };
    let (code, text) = drain("maybe");
    assert_eq!(code, 400, "{text}");
    let drained = Instant::now();
    let (code, text) = drain("off");
    assert_eq!(code, 200, "{text}");
    let state: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(state["announced"], false, "{state}");
    assert_eq!(state["operator"], "off", "{state}");
    a.wait_for("operator switched announcing off");
    f.wait_route(&[B], "A was drained");
    eprintln!(
        "POST /api/announce off on node A: its route left the router after {:?}",
        drained.elapsed()
    );
    assert_eq!(tally(&f.ask(None, 20)), (0, 20), "no new flow reaches A");
    // ringlb on A keeps its open connection (it closes nothing on a drain), and B's
    // connection goes on as before.
    let metrics = f
        .lan
        .enter(A, || admin(admin_addr(), "GET", "/metrics", "", None));
    for want in [
        "ringlb_announce_state{interface=\"svc0\"} 0",
        "ringlb_announce_operator_enabled{interface=\"svc0\"} 0",
        "ringlb_frontend_current_connections{frontend=\"web\"} 1",
    ] {
        assert!(
            metrics.1.lines().any(|l| l == want),
            "{want} not in\n{}",
            metrics.1
        );
    }
    let (_, servers) = f
        .lan
        .enter(A, || admin(admin_addr(), "GET", "/api/servers", "", None));
    let servers: serde_json::Value = serde_json::from_str(&servers).expect("json");
    assert_eq!(servers["announce"]["operator"], "off", "{servers}");
    let on_b = held
        .iter_mut()
        .find(|(l, _)| node_of(l) == "b")
        .expect("held on B");
    writeln!(on_b.1, "still there").expect("write");
    let mut echo = String::new();
    BufReader::new(&on_b.1).read_line(&mut echo).expect("echo");
    assert_eq!(echo, "still there\n");

    // The limit of a stateless ECMP router (docs/scale-out.md): it now sends every
    // packet for the service to B, those of A's open flow too, and B, which does
    // not know the flow, resets it. ringlb cannot keep such a flow on A.
    let on_a = held
        .iter_mut()
        .find(|(l, _)| node_of(l) == "a")
        .expect("held on A");
    writeln!(on_a.1, "hello A").expect("write");
    let mut echo = String::new();
    let after = BufReader::new(&on_a.1).read_line(&mut echo);
    assert!(
        after.is_err() || echo.is_empty(),
        "the router kept A's flow on A: {echo:?} (update docs/scale-out.md)"
    );

    // On again: announced as soon as healthy, and A takes new flows again.
    let (code, text) = drain("\"on\"");
    assert_eq!(code, 200, "{text}");
    f.wait_route(&[A, B], "A was undrained");
    let (on_a, _) = tally(&f.ask(None, 40));
    assert!(on_a > 0, "A takes flows again");
}

#[test]
fn a_stop_withdraws_first_and_accepts_for_withdraw_grace() {
    let test = "a_stop_withdraws_first_and_accepts_for_withdraw_grace";
    let Some((f, [mut a, _b], _apps)) = two_nodes(test, "withdraw_grace = \"1s\"") else {
        return;
    };
    let asked = Instant::now();
    a.signal(libc::SIGTERM);
    f.wait_route(&[B], "A is stopping");
    eprintln!(
        "SIGTERM of node A: its route left the router after {:?}",
        asked.elapsed()
    );
    // Routers converge while A still runs and listens; then it stops as usual.
    assert!(
        a.child.try_wait().expect("try_wait").is_none(),
        "A exited before its routes were gone"
    );
    a.wait_for("still accepting for 1s while routers converge");
    assert!(a.wait_exit().success());
    assert!(
        asked.elapsed() >= Duration::from_secs(1),
        "A stopped accepting before withdraw_grace"
    );
    assert_eq!(tally(&f.ask(None, 20)), (0, 20));
}

#[test]
fn a_frozen_bird_on_a_node_is_caught_by_bfd() {
    let test = "a_frozen_bird_on_a_node_is_caught_by_bfd";
    let Some((f, _nodes, _apps)) = two_nodes(test, "") else {
        return;
    };
    // BIRDs were started router, A, B: A's is the second. SIGSTOP: its TCP session
    // stays open, so only BFD (100 ms x 3) or the hold timer (3 s) can tell.
    let pid = f.birds[1].id() as i32;
    let frozen = Instant::now();
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    f.wait_route(&[B], "A's BIRD is frozen");
    eprintln!(
        "SIGSTOP of node A's BIRD: its route left the router after {:?}",
        frozen.elapsed()
    );
    let said = f.birdc(ROUTER, "show protocols all node_a");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert!(
        said.contains("BFD session down"),
        "not BFD's doing:\n{said}"
    );
    assert_eq!(tally(&f.ask(None, 20)), (0, 20));
}

#[test]
fn a_node_whose_backend_is_dead_at_start_is_announced_after_it_comes_and_hold_down() {
    let test = "a_node_whose_backend_is_dead_at_start_is_announced_after_it_comes_and_hold_down";
    let Some(lan) = Lan::new(test, 1) else {
        return;
    };
    // As `nobody` after start-up: adding the address later needs the CAP_NET_ADMIN
    // ringlb keeps.
    let config = node_config("hold_down = \"1s\"").replace(
        "pin_workers = false\n",
        "pin_workers = false\nuser = \"nobody\"\n",
    );
    let cfg = TempConfig::new(&config);
    let mut cmd = lan.command(0, BIN);
    cmd.arg("run").arg("-c").arg(&cfg.0);
    let mut node = Ringlb::spawn(cmd, Some(cfg));
    node.wait_logged(
        "running as user nobody (65534), group nogroup (65534); capabilities kept: CAP_NET_ADMIN",
    );
    node.wait_for("app/local DOWN");
    assert!(
        !node.logged("added to svc0"),
        "announced before its first check"
    );
    assert_eq!(
        device_addrs(&lan, 0, "-4").as_deref(),
        Some(""),
        "the device is up, empty"
    );
    let status = || {
        let (code, body) = lan.enter(0, || admin(admin_addr(), "GET", "/api/announce", "", None));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).expect("json")
    };
    let state = status();
    assert_eq!(state["announced"], false, "{state}");
    assert_eq!(
        state["reason"], "frontend web has no usable server",
        "{state}"
    );
    // Its backend comes: healthy, then held down for 1 s, then announced.
    let came = Instant::now();
    let _app = Backend::start(&lan, 0, "127.0.0.1:9001".parse().unwrap(), "a");
    let held = loop {
        let state = status();
        let reason = state["reason"].as_str().unwrap_or("").to_string();
        if reason.starts_with("healthy again, holding down") {
            break state;
        }
        assert!(came.elapsed() < PATIENCE, "never held down: {state}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(held["announced"], false, "{held}");
    node.wait_for("198.51.100.10 added to svc0");
    assert!(
        came.elapsed() >= Duration::from_secs(1),
        "announced within hold_down"
    );
    assert!(device_addrs(&lan, 0, "-4").is_some_and(|a| a.contains("inet 198.51.100.10/32")));
    // And the device goes with the process.
    node.child.kill().expect("kill -9");
    node.child.wait().expect("wait");
    assert_eq!(device_addrs(&lan, 0, "-4"), None, "the kernel deleted svc0");
}

#[test]
fn a_persistent_device_of_that_name_is_refused() {
    let test = "a_persistent_device_of_that_name_is_refused";
    let Some(lan) = Lan::new(test, 1) else {
        return;
    };
    // A persistent device would outlive ringlb, and so would its announcement.
    run(Command::new("ip").args([
        "-n",
        &lan.ns(0),
        "tuntap",
        "add",
        "dev",
        "svc0",
        "mode",
        "tun",
    ]));
    let cfg = TempConfig::new(&node_config(""));
    let mut cmd = lan.command(0, BIN);
    cmd.arg("run").arg("-c").arg(&cfg.0);
    let mut node = Ringlb::spawn(cmd, Some(cfg));
    assert!(
        !node.wait_exit().success(),
        "started on a persistent device"
    );
    assert!(
        node.logged("svc0 is a persistent TUN device"),
        "{}",
        node.log.join("\n")
    );
}

/// The server a `balance = "source"` backend picks for each client address, as one
/// node's balancer sees it (`seed` differs per worker and per node).
fn picks(config: &ringlb::config::Config, seed: u64, clients: &[IpAddr]) -> Vec<Option<usize>> {
    let backend = &config.backends[0];
    let servers: Vec<ringlb::lb::ServerState> = backend
        .servers
        .iter()
        .map(|s| ringlb::lb::ServerState::new(s.weight, s.backup))
        .collect();
    let mut lb = ringlb::lb::new_balancer(backend.balance, servers.len(), seed);
    clients
        .iter()
        .map(|&c| {
            lb.pick(
                &servers,
                &ringlb::lb::Pick {
                    avoid: None,
                    client: Some(c),
                    hash: None,
                    now: Instant::now(),
                    epoch: 1,
                },
            )
        })
        .collect()
}

#[test]
fn every_node_builds_the_same_source_table_from_the_same_file() {
    let text = example("bgp-node.toml");
    let a = ringlb::config::Config::parse(&text, "node-a.toml").expect("valid");
    let b = ringlb::config::Config::parse(&text, "node-b.toml").expect("valid");
    assert_eq!(a.backends[0].balance, ringlb::config::Balance::Source);
    let clients: Vec<IpAddr> = (0..5_000u32)
        .map(|i| IpAddr::from(Ipv4Addr::from(0x0a00_0000 + i * 7_919)))
        .collect();
    let on_a = picks(&a, 1, &clients);
    assert_eq!(on_a, picks(&b, 0xdead_beef, &clients));
    for server in 0..3 {
        let n = on_a.iter().filter(|p| **p == Some(server)).count();
        assert!(n > 1_000, "server {server} has {n} of 5000 clients");
    }
}

#[test]
fn a_client_keeps_its_server_whichever_node_ecmp_picks() {
    let test = "a_client_keeps_its_server_whichever_node_ecmp_picks";
    let Some(f) = Fabric::new(test, 1) else {
        return;
    };
    let (config, _servers) = f.source_hash_example();
    let _nodes = f.announced(&config, "198.51.100.10 added to svc0", &[IpAddr::V4(SVC)]);
    // Eight client addresses, eight connections (eight source ports) each.
    let seen = f.stickiness(8, 8);
    assert!(
        seen.spread_clients > 0,
        "no client address was spread over both nodes"
    );
}
