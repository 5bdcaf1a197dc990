//! Relaying and balancing: weights, payloads, half-close, retries, servers down, timeouts, limits, drivers.

use super::*;

#[test]
fn weighted_round_robin_spreads_300_connections_1_2_3() {
    let backends = [Echo::start(), Echo::start(), Echo::start()];
    let servers: Vec<_> = backends
        .iter()
        .zip([1, 2, 3])
        .map(|(b, w)| (b.addr, w))
        .collect();
    let rl = Ringlb::start(&tcp_config(2, &servers, ""));
    for i in 0..300u32 {
        let msg = i.to_be_bytes().to_vec();
        assert_eq!(echo_roundtrip(rl.addr(), msg.clone()), msg);
    }
    let counts: Vec<usize> = backends.iter().map(Echo::count).collect();
    assert_eq!(counts.iter().sum::<usize>(), 300);
    // Each of the 2 workers rotates on its own, so each may be up to a part of a
    // cycle (6 picks) off the exact 50/100/150.
    for (count, expected) in counts.iter().zip([50, 100, 150]) {
        assert!(
            count.abs_diff(expected) <= 8,
            "counts {counts:?} are not close to 50/100/150"
        );
    }
}

#[test]
fn relays_payloads_byte_exact_from_1_byte_to_8_mib() {
    let echo = Echo::start();
    let rl = Ringlb::start(&tcp_config(2, &[(echo.addr, 1)], ""));
    for size in [1usize, 100, 65_535, 65_536, 65_537, 1 << 20, 8 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let back = echo_roundtrip(rl.addr(), payload.clone());
        assert_eq!(back.len(), size, "size {size}");
        assert!(back == payload, "payload of {size} bytes came back altered");
    }
}

#[test]
fn half_close_reaches_the_server_and_the_reply_still_comes_back() {
    // This backend answers only after the client's FIN: it reads to EOF, then
    // replies with the number of bytes it got.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            thread::spawn(move || {
                let mut all = Vec::new();
                s.read_to_end(&mut all).unwrap();
                s.write_all(format!("got {} bytes", all.len()).as_bytes())
                    .unwrap();
            });
        }
    });
    let rl = Ringlb::start(&tcp_config(1, &[(addr, 1)], ""));
    let mut c = connect(rl.addr());
    c.write_all(&[7u8; 12_345]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "got 12345 bytes");
}

#[test]
fn refused_server_is_retried_then_redispatched() {
    let good = [Echo::start(), Echo::start()];
    let dead = closed_port();
    let servers = [(dead, 1), (good[0].addr, 1), (good[1].addr, 1)];
    let rl = Ringlb::start(&tcp_config(2, &servers, "retries = 2\nredispatch = true"));
    for i in 0..30u8 {
        assert_eq!(
            echo_roundtrip(rl.addr(), vec![i; 10]),
            vec![i; 10],
            "connection {i} failed"
        );
    }
    assert_eq!(good[0].count() + good[1].count(), 30);
}

#[test]
fn without_redispatch_a_refused_server_fails_the_connection() {
    let dead = closed_port();
    let rl = Ringlb::start(&tcp_config(
        1,
        &[(dead, 1)],
        "retries = 1\nredispatch = false",
    ));
    let mut c = connect(rl.addr());
    let mut buf = [0u8; 16];
    // The proxy closes the client: EOF or a reset, never data.
    match c.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn all_servers_down_closes_the_client_at_once() {
    let servers = [(closed_port(), 1), (closed_port(), 2)];
    let rl = Ringlb::start(&tcp_config(2, &servers, "retries = 3"));
    for _ in 0..5 {
        let mut c = connect(rl.addr());
        let _ = c.write_all(b"hello");
        let mut buf = [0u8; 16];
        match c.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        }
    }
}

#[test]
fn idle_client_is_closed_after_timeout_client() {
    let echo = Echo::start();
    let rl = Ringlb::start(&tcp_config(
        1,
        &[(echo.addr, 1)],
        "timeout_client = \"300ms\"\ntimeout_server = \"30s\"",
    ));
    let mut c = connect(rl.addr());
    ping(&mut c, b"still here");
    // Then say nothing: the proxy must close the connection (EOF), without any data.
    let mut buf = [0u8; 16];
    match c.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn a_busy_connection_is_not_closed_by_the_inactivity_timeout() {
    let echo = Echo::start();
    let rl = Ringlb::start(&tcp_config(
        1,
        &[(echo.addr, 1)],
        "timeout_client = \"200ms\"\ntimeout_server = \"200ms\"",
    ));
    let mut c = connect(rl.addr());
    // Keep talking for longer than the timeout, never pausing as long as it.
    for i in 0..20u8 {
        ping(&mut c, &[i; 8]);
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn at_max_connections_accepting_pauses_until_a_connection_ends() {
    let echo = Echo::start();
    let mut cfg = tcp_config(1, &[(echo.addr, 1)], "");
    cfg = cfg.replace("workers = 1\n", "workers = 1\nmax_connections = 2\n");
    let rl = Ringlb::start(&cfg);
    let mut a = connect(rl.addr());
    let mut b = connect(rl.addr());
    ping(&mut a, b"a");
    ping(&mut b, b"b");
    // The third connection completes in the kernel's backlog but is not served yet.
    let mut c = connect(rl.addr());
    c.write_all(b"c").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut one = [0u8; 1];
    assert!(
        c.read(&mut one).is_err(),
        "third connection was served above the limit"
    );
    assert_eq!(echo.count(), 2);
    // One ends: the third is taken and served.
    drop(a);
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"c");
    ping(&mut b, b"b still works");
}

#[test]
fn legacy_epoll_driver_proxies_too() {
    let echo = Echo::start();
    let cfg = tcp_config(2, &[(echo.addr, 1)], "")
        .replace("[global]\n", "[global]\nio_driver = \"legacy\"\n");
    let mut rl = Ringlb::start(&cfg);
    assert!(
        rl.log.iter().any(|l| l.contains("legacy (epoll)")),
        "log does not say which driver"
    );
    for size in [1usize, 300_000] {
        assert_eq!(echo_roundtrip(rl.addr(), vec![9; size]).len(), size);
    }
    rl.signal(libc::SIGTERM);
    assert!(rl.wait_exit().success());
}

#[test]
fn source_hash_keeps_a_client_on_one_server_across_workers() {
    let backends = [Echo::start(), Echo::start(), Echo::start()];
    let servers: Vec<_> = backends.iter().map(|b| (b.addr, 1)).collect();
    let cfg =
        tcp_config(2, &servers, "").replace("balance = \"roundrobin\"", "balance = \"source\"");
    let rl = Ringlb::start(&cfg);
    for i in 0..30u8 {
        assert_eq!(echo_roundtrip(rl.addr(), vec![i; 3]), vec![i; 3]);
    }
    // Every connection came from 127.0.0.1: one server took them all, whichever worker
    // accepted each.
    let counts: Vec<usize> = backends.iter().map(Echo::count).collect();
    assert_eq!(counts.iter().filter(|&&c| c > 0).count(), 1, "{counts:?}");
}

#[test]
fn leastconn_sends_new_connections_away_from_a_busy_server() {
    let backends = [Echo::start(), Echo::start()];
    let servers: Vec<_> = backends.iter().map(|b| (b.addr, 1)).collect();
    let cfg =
        tcp_config(1, &servers, "").replace("balance = \"roundrobin\"", "balance = \"leastconn\"");
    let rl = Ringlb::start(&cfg);
    let mut held = connect(rl.addr());
    ping(&mut held, b"hold");
    let busy = if backends[0].count() == 1 { 0 } else { 1 };
    for i in 0..6u8 {
        assert_eq!(echo_roundtrip(rl.addr(), vec![i; 3]), vec![i; 3]);
    }
    assert_eq!(
        backends[busy].count(),
        1,
        "a new connection went to the server with an open one"
    );
    assert_eq!(backends[1 - busy].count(), 6);
}
