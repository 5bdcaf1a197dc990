//! Bulk transfers: both ways with either driver, fairness between sessions, a stalled reader and its bounds.

use super::*;

/// The byte at offset `i` of a test stream (a pattern that does not repeat on any
/// power-of-two boundary, so a lost, doubled or reordered block shows).
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// Write `n` pattern bytes to `w` in 64 KiB pieces.
fn send_pattern(w: &mut impl Write, n: u64) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    while at < n {
        let k = (n - at).min(buf.len() as u64) as usize;
        for (j, b) in buf[..k].iter_mut().enumerate() {
            *b = pattern(at + j as u64);
        }
        w.write_all(&buf[..k]).unwrap();
        at += k as u64;
    }
}

/// Read to EOF, checking every byte against the pattern; the count read.
fn check_pattern(r: &mut impl Read) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    loop {
        let k = r.read(&mut buf).expect("read");
        if k == 0 {
            return at;
        }
        for (j, &b) in buf[..k].iter().enumerate() {
            assert_eq!(b, pattern(at + j as u64), "byte {} altered", at + j as u64);
        }
        at += k as u64;
    }
}

/// A backend that, per connection, reads the client's stream to EOF (checking it),
/// then sends `reply` pattern bytes and closes: the reply crosses only after the
/// client's half-close. Each connection's byte count goes to `got`.
fn upload_then_reply(reply: u64) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let tx = tx.clone();
            thread::spawn(move || {
                let _ = tx.send(check_pattern(&mut s));
                send_pattern(&mut s, reply);
            });
        }
    });
    (addr, rx)
}

const DRIVERS: [&str; 2] = ["io_uring", "legacy"];

fn with_driver(cfg: String, driver: &str) -> String {
    cfg.replace(
        "[global]\n",
        &format!("[global]\nio_driver = \"{driver}\"\n"),
    )
}

#[test]
fn bulk_both_ways_at_once_arrives_byte_exact_with_either_driver() {
    // 64 MiB each way at the same time through an echo: both directions move bulk
    // (past the first full buffer: the splice path) while the other one does too.
    const N: u64 = 64 << 20;
    let echo = Echo::start();
    for driver in DRIVERS {
        let rl = Ringlb::start(&with_driver(tcp_config(1, &[(echo.addr, 1)], ""), driver));
        let c = connect(rl.addr());
        let mut w = c.try_clone().unwrap();
        let writer = thread::spawn(move || {
            send_pattern(&mut w, N);
            w.shutdown(Shutdown::Write).unwrap();
        });
        assert_eq!(check_pattern(&mut &c), N, "{driver}");
        writer.join().unwrap();
    }
}

#[test]
fn bulk_upload_half_closed_then_bulk_reply_with_either_driver() {
    // The client sends 32 MiB and half-closes; only then the server answers 32 MiB.
    // The FIN must cross after the last spliced byte, and the other way must go on.
    const N: u64 = 32 << 20;
    let (addr, got) = upload_then_reply(N);
    for driver in DRIVERS {
        let rl = Ringlb::start(&with_driver(tcp_config(1, &[(addr, 1)], ""), driver));
        let mut c = connect(rl.addr());
        send_pattern(&mut c, N);
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(check_pattern(&mut c), N, "{driver}: reply");
        assert_eq!(got.recv_timeout(PATIENCE).unwrap(), N, "{driver}: upload");
    }
}

#[test]
fn a_bulk_transfer_that_never_waits_leaves_its_worker_to_other_sessions() {
    // One worker. A client streams into an echo and reads it back as fast as it can
    // (both directions on the splice path); meanwhile short echo exchanges on other
    // connections of the same worker must still be served, before the stream stops on
    // its own (after PATIENCE, when it is never told to). (On loopback the relay
    // waits for a socket often enough that this passes even without the yield after a
    // pipe-full moved without a wait; the yield covers peers faster than the proxy.)
    for driver in DRIVERS {
        let echo = Echo::start();
        let rl = Ringlb::start(&with_driver(tcp_config(1, &[(echo.addr, 1)], ""), driver));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let c = connect(rl.addr());
        let mut w = c.try_clone().unwrap();
        let told = std::sync::Arc::clone(&stop);
        let writer = thread::spawn(move || {
            let chunk = vec![7u8; 1 << 20];
            let until = std::time::Instant::now() + PATIENCE;
            while !told.load(std::sync::atomic::Ordering::SeqCst) {
                if std::time::Instant::now() > until {
                    return false;
                }
                w.write_all(&chunk).unwrap();
            }
            w.shutdown(Shutdown::Write).unwrap();
            true
        });
        let reader = thread::spawn(move || std::io::copy(&mut &c, &mut std::io::sink()).unwrap());
        // Past the first full buffer: the stream is on the splice path.
        thread::sleep(Duration::from_millis(200));
        for i in 0..20u8 {
            assert_eq!(
                echo_roundtrip(rl.addr(), vec![i; 10]),
                vec![i; 10],
                "{driver}"
            );
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(
            writer.join().unwrap(),
            "{driver}: the short exchanges waited for the stream to end"
        );
        assert!(reader.join().unwrap() > 1 << 20, "{driver}");
    }
}

/// Resident memory of a process, in KiB.

#[test]
fn a_reader_that_stops_holds_the_sender_back_and_then_gets_every_byte() {
    // The server has 256 MiB to send; the client reads nothing for a while. ringlb
    // must stop reading from the server once its own pipe (1 MiB) or buffer is full:
    // what the server manages to write is then bounded by the sockets' buffers (the
    // kernel's limits, `tcp_wmem` and `tcp_rmem`'s maximums: two sockets' worth of
    // each) plus that pipe, far below 256 MiB, and ringlb's memory does not grow
    // with it. Then the client reads it all.
    for driver in DRIVERS {
        stalled_reader(driver);
    }
}

fn stalled_reader(driver: &str) {
    const N: u64 = 256 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&written);
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = 0u64;
        while at < N {
            for (j, b) in buf.iter_mut().enumerate() {
                *b = pattern(at + j as u64);
            }
            s.write_all(&buf).unwrap();
            at += buf.len() as u64;
            counter.store(at, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let rl = Ringlb::start(&with_driver(tcp_config(1, &[(addr, 1)], ""), driver));
    let before = rss_kib(rl.child.id());
    let pipes_before = pipe_fds(rl.child.id());
    let mut c = connect(rl.addr());
    // Wait until the server's writes stop moving (bounded by PATIENCE).
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut last = u64::MAX;
    loop {
        thread::sleep(Duration::from_millis(300));
        let now = written.load(std::sync::atomic::Ordering::SeqCst);
        if now == last {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never stalled"
        );
        last = now;
    }
    let bound = stalled_bound();
    assert!(
        last <= bound,
        "{driver}: {last} bytes went out to a client reading none (bound {bound})"
    );
    let grown = rss_kib(rl.child.id()).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "{driver}: ringlb grew by {grown} KiB holding a stalled transfer"
    );
    // The bulk direction moves by splice: ringlb holds one pipe (two descriptors) for it.
    assert_eq!(
        pipes(rl.child.id()),
        pipes_before.len() + 2,
        "{driver}: no splice pipe"
    );
    // Grown past the default 64 KiB: 1 MiB, or the system's maximum if lower.
    let max: usize = sysctl("fs/pipe-max-size").parse().unwrap();
    let want = max.clamp(64 << 10, 1 << 20);
    let sizes: Vec<usize> = pipe_fds(rl.child.id())
        .iter()
        .filter(|p| !pipes_before.contains(p))
        .map(|p| pipe_size(p))
        .collect();
    assert_eq!(sizes, [want, want], "{driver}");
    assert_eq!(check_pattern(&mut c), N, "{driver}");
    drop(c);
    // The pipe is closed with the session.
    let deadline = std::time::Instant::now() + PATIENCE;
    while pipes(rl.child.id()) != pipes_before.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "{driver}: the pipe outlived its session"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A value under /proc/sys, trimmed.
fn sysctl(name: &str) -> String {
    let v = std::fs::read_to_string(format!("/proc/sys/{name}")).unwrap();
    v.trim().to_string()
}

/// The most bytes a sender can have written into a relay whose reader reads nothing:
/// the sender's send buffer, ringlb's receive buffer, its pipe (1 MiB), its send
/// buffer and the reader's receive buffer, at the kernel's maximums, plus the
/// sender's last write (64 KiB) and as much again for rounding.
fn stalled_bound() -> u64 {
    let max = |name: &str| -> u64 {
        let v = sysctl(name);
        v.split_whitespace().last().unwrap().parse().unwrap()
    };
    let (wmem, rmem) = (max("net/ipv4/tcp_wmem"), max("net/ipv4/tcp_rmem"));
    2 * (wmem + rmem) + (1 << 20) + 2 * (64 << 10)
}

/// The pipe descriptors a process holds (their /proc paths).
fn pipe_fds(pid: u32) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|path| {
            std::fs::read_link(path).is_ok_and(|t| t.to_string_lossy().starts_with("pipe:"))
        })
        .collect()
}

/// Pipe descriptors a process holds.
fn pipes(pid: u32) -> usize {
    pipe_fds(pid).len()
}

/// The capacity of a pipe (F_GETPIPE_SZ on it opened again through /proc, for
/// reading, non-blocking: a pipe opened that way is a FIFO, and nothing is read).
fn pipe_size(path: &std::path::Path) -> usize {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap();
    // SAFETY: fcntl with integer arguments on a descriptor we own.
    let size = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(size > 0, "F_GETPIPE_SZ on {path:?}");
    size as usize
}
