//! TCP mode: aborted connections interleaved with victims.

use super::*;

// ---------------------------------------------------------------------------------
// TCP mode.

/// A TCP poison: 20 KB (more than one relay buffer) then an abrupt end.
fn tcp_poison(addr: SocketAddr, kind: usize, round: usize) -> io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let payload = format!("POISON-{round}-{kind};").repeat(20_000 / 12);
    s.write_all(payload.as_bytes())?;
    match kind {
        0 => reset(s),
        1 => {
            s.shutdown(Shutdown::Write)?;
            let mut some = [0u8; 100];
            let _ = s.read(&mut some);
            reset(s);
        }
        _ => drop(s), // unread echo in the receive queue: the kernel resets
    }
    Ok(())
}

/// A victim: its own bytes, a half-close, and exactly those bytes back.
fn tcp_victim(addr: SocketAddr, id: usize, after: &str, v: &mut Violations) {
    let payload = format!("victim-{id};").repeat(200).into_bytes();
    let result = (|| -> io::Result<Vec<u8>> {
        let mut w = plain(addr)?;
        w.send(&payload)?;
        w.s.shutdown(Shutdown::Write)?;
        w.rest_until_eof().map_err(io::Error::other)
    })();
    match result {
        Ok(back) if back == payload => {}
        Ok(back) => {
            let kind = if back.windows(7).any(|w| w == b"POISON-") {
                "tcp victim: echo holds a poison connection's bytes"
            } else {
                "tcp victim: echo differs from what it sent"
            };
            let detail = format!(
                "victim-{id} after {after}: sent {} bytes, got {} bytes: {}",
                payload.len(),
                back.len(),
                show(&back)
            );
            v.add(kind, detail);
        }
        Err(e) => v.add(
            "tcp victim: failed",
            format!("victim-{id} after {after}: {e}"),
        ),
    }
}

#[test]
fn tcp_aborted_connections_never_leak_into_other_connections() {
    let echo = Echo::start();
    let rl = Ringlb::start(&tcp_config(2, &[(echo.addr, 1)], ""));
    let addr = rl.addr();
    let mut v = Violations::default();
    let (mut id, mut poisons) = (0, 0);
    let start = Instant::now();
    'rounds: for round in 0..ROUNDS {
        for kind in 0..3 {
            if start.elapsed() > BUDGET {
                eprintln!("time budget used up in round {round}: stopping early");
                break 'rounds;
            }
            for _ in 0..BURST {
                poisons += 1;
                if let Err(e) = tcp_poison(addr, kind, round) {
                    eprintln!("tcp poison {kind} in round {round}: {e}");
                }
                thread::sleep(SETTLE);
            }
            for _ in 0..VICTIMS {
                id += 1;
                tcp_victim(addr, id, &format!("poison {kind} (round {round})"), &mut v);
            }
        }
    }
    eprintln!(
        "{poisons} poison and {id} victim connections in {:?}: {} violations",
        start.elapsed(),
        v.total()
    );
    assert!(
        v.total() == 0,
        "{} violations ({poisons} poison connections, {id} victims):{}",
        v.total(),
        v.report()
    );
}
