//! ringlb's own log lines (`tracing`) through a [`Sink`](super::sink::Sink): each
//! event is formatted by `tracing_subscriber` into a small buffer and handed to the
//! writer thread with its syslog severity (error 3, warn 4, info 6, debug/trace 7).
//! A full queue drops the line and counts it; the logging call never blocks.

use std::io;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use super::sink::Batch;
use super::syslog::{DEBUG, ERR, INFO, WARNING};

/// Makes one [`LineWriter`] per event.
#[derive(Clone)]
pub struct OwnLog {
    tx: Sender<Batch>,
}

/// The queue of the process's own-line writer, for [`drain`].
static QUEUE: OnceLock<Sender<Batch>> = OnceLock::new();

impl OwnLog {
    /// The process's own lines go to `tx` (the first call is the one [`drain`] waits for).
    pub fn new(tx: Sender<Batch>) -> OwnLog {
        let _ = QUEUE.set(tx.clone());
        OwnLog { tx }
    }
}

/// At exit: give the writer up to `max` to take what is queued (the last lines, e.g.
/// "stopped"), so that they are not lost with the process.
pub fn drain(max: Duration) {
    let Some(q) = QUEUE.get() else { return };
    let until = Instant::now() + max;
    while !q.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    // The batch taken last may still be on its way out.
    std::thread::sleep(Duration::from_millis(20).min(max));
}

/// Gathers one event's text; hands it over when dropped.
pub struct LineWriter {
    tx: Sender<Batch>,
    severity: u8,
    buf: Vec<u8>,
}

impl io::Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if !self.buf.ends_with(b"\n") {
            self.buf.push(b'\n');
        }
        let lines = std::mem::take(&mut self.buf);
        let n = lines.iter().filter(|&&b| b == b'\n').count() as u64;
        let batch = Batch {
            severity: self.severity,
            lines,
        };
        if self.tx.try_send(batch).is_err() {
            super::sink::count_dropped(n);
        }
    }
}

pub fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => ERR,
        Level::WARN => WARNING,
        Level::INFO => INFO,
        _ => DEBUG,
    }
}

impl<'a> MakeWriter<'a> for OwnLog {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            tx: self.tx.clone(),
            severity: INFO,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter {
        LineWriter {
            tx: self.tx.clone(),
            severity: severity(meta.level()),
            buf: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_event_is_one_batch_with_its_severity() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let own = OwnLog::new(tx);
        let meta_level = Level::WARN;
        {
            let mut w = own.make_writer();
            w.severity = severity(&meta_level);
            w.write_all(b"worker 0: accept failed").unwrap();
        }
        let b = rx.try_recv().unwrap();
        assert_eq!(b.severity, WARNING);
        assert_eq!(b.lines, b"worker 0: accept failed\n");
        // Queue full: dropped and counted, never waited for.
        let before = super::super::sink::dropped();
        for _ in 0..2 {
            let mut w = own.make_writer();
            w.write_all(b"x\n").unwrap();
        }
        assert!(super::super::sink::dropped() > before);
    }
}
