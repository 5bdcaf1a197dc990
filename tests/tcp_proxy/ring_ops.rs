//! The io_uring operations a TCP connection costs, read from the kernel's
//! `io_uring:io_uring_submit_req` tracepoint (tracefs; root): a dropped socket's close
//! is not followed by a cancel (monoio's fourth patch, vendor/PATCHES.md). Skipped,
//! visibly, without tracefs or io_uring (a failure with RINGLB_REQUIRE_PRIVILEGED=1).

use super::*;

const TRACEFS: &str = "/sys/kernel/tracing";

/// A tracefs instance of its own, recording ring submissions of some threads; removed
/// on drop.
struct Trace(std::path::PathBuf);

impl Trace {
    /// Record `io_uring_submit_req` of every thread of `pid`; `None` without tracefs.
    fn start(pid: u32) -> Option<Trace> {
        let root = std::path::Path::new(TRACEFS);
        if !root.join("events/io_uring").is_dir() {
            // Containers often start without tracefs mounted (root may mount it).
            let _ = std::process::Command::new("mount")
                .args(["-t", "tracefs", "nodev", TRACEFS])
                .status();
        }
        let dir = root.join(format!("instances/ringlb-test-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let trace = Trace(dir);
        let tids: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        std::fs::write(trace.0.join("set_event_pid"), tids.join(" ")).ok()?;
        let event = trace.0.join("events/io_uring/io_uring_submit_req/enable");
        std::fs::write(event, "1").ok()?;
        Some(trace)
    }

    /// Submissions recorded so far with this opcode.
    fn count(&self, opcode: &str) -> usize {
        let text = std::fs::read_to_string(self.0.join("trace")).unwrap_or_default();
        let needle = format!("opcode {opcode},");
        text.lines().filter(|l| l.contains(&needle)).count()
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.0.join("events/io_uring/io_uring_submit_req/enable"),
            "0",
        );
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn skip(why: &str) {
    if std::env::var("RINGLB_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
        panic!("{why}, and RINGLB_REQUIRE_PRIVILEGED=1 forbids skipping");
    }
    say_skipped("a_tcp_connection_closes_its_sockets_without_a_cancel", why);
}

#[test]
fn a_tcp_connection_closes_its_sockets_without_a_cancel() {
    let echo = Echo::start();
    let mut rl = Ringlb::start(&tcp_config(1, &[(echo.addr, 1)], ""));
    if rl
        .log
        .iter()
        .any(|l| l.contains("using the legacy epoll driver"))
    {
        return skip("io_uring is unavailable here");
    }
    let Some(trace) = Trace::start(rl.child.id()) else {
        return skip("no tracefs with io_uring events (needs root)");
    };
    const N: usize = 20;
    for i in 0..N {
        assert_eq!(
            echo_roundtrip(rl.addr(), vec![i as u8; 64]),
            vec![i as u8; 64]
        );
    }
    // Both sockets of every connection are closed through the ring, after the client
    // saw its EOF: wait for the closes, then look for cancels.
    let deadline = std::time::Instant::now() + PATIENCE;
    while trace.count("CLOSE") < 2 * N && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    // "ringlb ready" comes once the workers run, not once each listener's first accept
    // has reached the kernel: that one may fall on either side of the trace's start.
    // After it, each connection's accept submits exactly the next one.
    let accepts = trace.count("ACCEPT");
    assert!(
        (N..=N + 1).contains(&accepts),
        "one accept per connection (and the first, if traced): {accepts} for {N}"
    );
    assert_eq!(
        trace.count("CLOSE"),
        2 * N,
        "client and server sockets closed"
    );
    assert_eq!(
        trace.count("ASYNC_CANCEL"),
        0,
        "a close was followed by a cancel"
    );
    drop(trace);
    rl.signal(libc::SIGTERM);
    assert!(rl.wait_exit().success());
}
