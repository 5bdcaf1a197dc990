//! Accepting at the connection limit, with either driver (io_uring takes connections
//! with one multishot accept, epoll one at a time): a burst far above the limit is
//! served in turn with none lost, and a stop serves the connections that wait.

use super::*;

/// The configuration of these tests: one worker, `max_connections = limit`, `driver`.
fn limited(echo: &Echo, limit: usize, driver: &str) -> String {
    tcp_config(1, &[(echo.addr, 1)], "").replace(
        "workers = 1\n",
        &format!("workers = 1\nmax_connections = {limit}\nio_driver = \"{driver}\"\n"),
    )
}

#[test]
fn a_burst_far_above_max_connections_is_served_in_turn_with_none_lost() {
    const CLIENTS: usize = 40;
    for driver in ["io_uring", "legacy"] {
        let echo = Echo::start();
        let rl = Ringlb::start(&limited(&echo, 2, driver));
        let addr = rl.addr();
        // All connect at once; each is served once two before it have ended.
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                thread::spawn(move || {
                    let mut c = connect(addr);
                    let msg = format!("client {i}");
                    ping(&mut c, msg.as_bytes());
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            assert!(c.join().is_ok(), "{driver}: client {i} was not served");
        }
        assert_eq!(echo.count(), CLIENTS, "{driver}: server connections");
    }
}

#[test]
fn a_stop_at_max_connections_serves_the_connections_that_wait() {
    for driver in ["io_uring", "legacy"] {
        let echo = Echo::start();
        let mut rl = Ringlb::start(&limited(&echo, 1, driver));
        let mut held = connect(rl.addr());
        ping(&mut held, b"held");
        // Three more complete in the kernel (or were taken by a multishot accept before
        // it was cancelled) but wait: the limit is reached.
        let mut waiting: Vec<_> = (0..3u8)
            .map(|i| {
                let mut c = connect(rl.addr());
                c.write_all(&[b'0' + i]).unwrap();
                c
            })
            .collect();
        waiting[0]
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut one = [0u8; 1];
        assert!(
            waiting[0].read(&mut one).is_err(),
            "{driver}: served above the limit"
        );
        waiting[0].set_read_timeout(Some(PATIENCE)).unwrap();
        // A stop: accepting ends, and the waiting connections are served, not dropped.
        rl.signal(libc::SIGTERM);
        for (i, c) in waiting.iter_mut().enumerate() {
            c.read_exact(&mut one)
                .unwrap_or_else(|e| panic!("{driver}: waiting client {i}: {e}"));
            assert_eq!(one[0], b'0' + i as u8);
            c.shutdown(Shutdown::Write).unwrap();
        }
        ping(&mut held, b"still served");
        drop(held);
        drop(waiting);
        assert!(rl.wait_exit().success(), "{driver}: exit status");
        assert_eq!(echo.count(), 4, "{driver}: server connections");
    }
}
