//! The writer thread behind a log: callers hand it buffers of whole lines (each
//! ending in `\n`) with a non-blocking `try_send`; it writes them to stdout, stderr
//! or syslog (one frame per line). A syslog socket that fails is dropped and opened
//! again at most once per `RETRY`; lines that cannot be delivered meanwhile are
//! counted in [`dropped`], never waited for. A TCP peer that stops reading blocks
//! this thread (up to `WRITE_TIMEOUT` per write), never a worker: the hand-over
//! queue fills and the workers count what they could not hand over.

use std::io::{self, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::syslog::{self, Address, Origin, Syslog};

/// Buffers waiting for the writer, at most.
pub const QUEUE: usize = 64;
/// How long the exit waits for the writer to write what was handed over.
const EXIT_WAIT: Duration = Duration::from_secs(2);
/// A failed syslog socket is opened again at most this often.
const RETRY: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A TCP syslog peer that takes nothing for this long is dropped (and reconnected).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Lines the writer threads could not deliver (syslog unreachable), since start.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines the writer threads could not deliver (for `ringlb_log_lines_dropped_total`,
/// with what workers could not hand over).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Count `n` lines that could not be delivered.
pub fn count_dropped(n: u64) {
    DROPPED.fetch_add(n, Ordering::Relaxed);
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
    Syslog(Syslog),
}

/// Whole lines of one severity (syslog numbering: 6 is info).
pub struct Batch {
    pub severity: u8,
    pub lines: Vec<u8>,
}

/// A writer thread and the sending end callers clone.
pub struct Sink {
    tx: Option<Sender<Batch>>,
    /// Closed (disconnected) when the writer thread ends.
    done: Receiver<()>,
}

impl Sink {
    pub fn start(target: Target, name: &str) -> io::Result<Sink> {
        let (tx, rx) = bounded::<Batch>(QUEUE);
        let (ended, done) = bounded::<()>(0);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ended = ended;
                match target {
                    Target::Stdout => write_stream(&rx, &mut io::stdout()),
                    Target::Stderr => write_stream(&rx, &mut io::stderr()),
                    Target::Syslog(s) => write_syslog(&rx, &s),
                }
            })?;
        Ok(Sink { tx: Some(tx), done })
    }

    pub fn sender(&self) -> Option<Sender<Batch>> {
        self.tx.clone()
    }

    /// At exit, once every other sender is gone: write what was handed over,
    /// waiting at most `EXIT_WAIT`.
    pub fn finish(mut self) {
        self.tx = None;
        let _ = self.done.recv_timeout(EXIT_WAIT);
    }
}

fn write_stream(rx: &Receiver<Batch>, out: &mut impl Write) {
    for batch in rx {
        if out
            .write_all(&batch.lines)
            .and_then(|()| out.flush())
            .is_err()
        {
            return; // the stream is gone: nothing more can be written
        }
    }
}

/// An open syslog socket.
enum Conn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

fn open(address: &Address) -> io::Result<Conn> {
    Ok(match address {
        Address::Unix(path) => {
            let s = UnixDatagram::unbound()?;
            s.connect(path)?;
            Conn::Unix(s)
        }
        Address::Udp(addr) => {
            let local = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(local)?;
            s.connect(addr)?;
            Conn::Udp(s)
        }
        Address::Tcp(addr) => {
            let s = TcpStream::connect_timeout(addr, CONNECT_TIMEOUT)?;
            s.set_write_timeout(Some(WRITE_TIMEOUT))?;
            s.set_nodelay(true)?;
            Conn::Tcp(s)
        }
    })
}

/// Send one frame (a datagram, or part of the TCP stream).
fn send(conn: &mut Conn, frame: &[u8]) -> io::Result<()> {
    match conn {
        Conn::Unix(s) => s.send(frame).map(drop),
        Conn::Udp(s) => s.send(frame).map(drop),
        Conn::Tcp(s) => s.write_all(frame),
    }
}

fn write_syslog(rx: &Receiver<Batch>, s: &Syslog) {
    let host = syslog::hostname();
    let origin = Origin {
        hostname: &host,
        pid: std::process::id(),
    };
    let tcp = matches!(s.address, Address::Tcp(_));
    let mut conn: Option<Conn> = None;
    let mut next_try = Instant::now();
    let mut said = false;
    let mut frame = Vec::with_capacity(2048);
    for batch in rx {
        if conn.is_none() && Instant::now() >= next_try {
            match open(&s.address) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    next_try = Instant::now() + RETRY;
                    if !said {
                        // Once: the lines themselves cannot go anywhere else.
                        eprintln!("ringlb: cannot open syslog {:?}: {e} (retrying every {RETRY:?}; lines are dropped meanwhile and counted)", s.address);
                        said = true;
                    }
                }
            }
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let lines = batch.lines.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        frame.clear();
        let mut count = 0u64;
        for line in lines {
            count += 1;
            let Some(c) = conn.as_mut() else { continue };
            if !tcp {
                frame.clear();
            }
            syslog::frame(&mut frame, s, &origin, batch.severity, now, line);
            if !tcp {
                match send(c, &frame) {
                    Ok(()) => count -= 1,
                    Err(_) if matches!(c, Conn::Udp(_)) => {} // e.g. nobody listens (yet)
                    Err(_) => {
                        conn = None;
                        next_try = Instant::now() + RETRY;
                    }
                }
            }
        }
        if let (true, Some(c)) = (tcp, conn.as_mut()) {
            // One write for the whole batch; on failure the connection restarts clean.
            match send(c, &frame) {
                Ok(()) => count = 0,
                Err(_) => {
                    conn = None;
                    next_try = Instant::now() + RETRY;
                }
            }
        }
        if count > 0 {
            count_dropped(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn lines_reach_a_udp_peer_one_datagram_each() {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let s = Syslog {
            address: Address::Udp(peer.local_addr().unwrap()),
            ..Syslog::default()
        };
        let sink = Sink::start(Target::Syslog(s), "test-log").unwrap();
        let tx = sink.sender().unwrap();
        tx.send(Batch {
            severity: syslog::WARNING,
            lines: b"one\ntwo\n".to_vec(),
        })
        .unwrap();
        drop(tx);
        sink.finish();
        let mut buf = [0u8; 512];
        let n = peer.recv(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            first.starts_with("<132>") && first.ends_with("]: one"),
            "{first}"
        );
        let n = peer.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("]: two"));
    }

    #[test]
    fn tcp_frames_are_counted_and_come_back_after_the_peer_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = Syslog {
            address: Address::Tcp(listener.local_addr().unwrap()),
            rfc: syslog::Rfc::R5424,
            ..Syslog::default()
        };
        let sink = Sink::start(Target::Syslog(s), "test-log").unwrap();
        let tx = sink.sender().unwrap();
        let send = |text: &str| {
            tx.send(Batch {
                severity: syslog::INFO,
                lines: format!("{text}\n").into_bytes(),
            })
            .unwrap();
        };
        let first_frame = |c: &mut TcpStream| -> String {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 512];
            let n = c.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        };
        send("a");
        let (mut c, _) = listener.accept().unwrap();
        let text = first_frame(&mut c);
        let (len, frame) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), frame.len(), "{text}");
        assert!(frame.ends_with(" - - a"), "{text}");
        // The peer goes away: writes fail, the writer reconnects (at most once a
        // second) and later lines arrive on the new connection.
        drop(c);
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut again = None;
        let mut i = 0;
        while again.is_none() && Instant::now() < deadline {
            i += 1;
            send(&format!("after {i}"));
            std::thread::sleep(Duration::from_millis(50));
            again = listener.accept().ok();
        }
        let (mut c, _) = again.expect("the writer reconnected");
        c.set_nonblocking(false).unwrap();
        assert!(first_frame(&mut c).contains(" - - after "));
        assert!(
            dropped() > 0,
            "lines sent while the peer was gone are counted"
        );
        drop(tx);
        sink.finish();
    }
}
