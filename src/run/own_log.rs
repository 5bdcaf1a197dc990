//! ringlb's own log lines at start-up: the `tracing` subscriber with its writers
//! (stderr, or a syslog writer thread; a second, filtered syslog copy).

use std::io::IsTerminal;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{Global, LogTarget};
use crate::logging::own::OwnLog;
use crate::logging::sink::{Sink, Target};
use crate::logging::syslog::Syslog;

/// ringlb's own log lines: on stderr, or through a syslog writer thread with
/// `global.log_target = "syslog"` (no time stamp of their own: syslog adds one); with
/// `global.syslog_copy`, also to that syslog target at its level and above.
pub fn init(global: &Global) {
    use tracing_subscriber::prelude::*;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&global.log_level));
    // The main writer first: its queue is the one drained at exit.
    let main = match &global.log_target {
        LogTarget::Syslog(s) => syslog_writer(s, "ringlb-log"),
        LogTarget::Stderr => None,
    };
    let copy = global.log_copy.as_ref().and_then(|(s, level)| {
        let level: LevelFilter = level.parse().unwrap_or(LevelFilter::INFO);
        syslog_writer(s, "ringlb-log-copy").map(|w| {
            fmt::layer()
                .with_writer(w)
                .with_ansi(false)
                .without_time()
                .with_filter(level)
        })
    });
    let registry = tracing_subscriber::registry().with(copy);
    match main {
        Some(w) => registry
            .with(
                fmt::layer()
                    .with_writer(w)
                    .with_ansi(false)
                    .without_time()
                    .with_filter(filter),
            )
            .init(),
        None => registry
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_filter(filter),
            )
            .init(),
    }
}

/// A writer of own lines to a syslog target, on a writer thread that lives as long
/// as the process; `None` (said on stderr) when it cannot start.
fn syslog_writer(s: &Syslog, thread: &str) -> Option<OwnLog> {
    match Sink::start(Target::Syslog(s.clone()), thread) {
        Ok(sink) => {
            let sink: &'static Sink = Box::leak(Box::new(sink));
            sink.sender().map(OwnLog::new)
        }
        Err(e) => {
            eprintln!("ringlb: cannot start the syslog writer: {e}; logging to stderr");
            None
        }
    }
}
