//! ringlb's logging: where lines go (stderr, stdout, or syslog) and what shape they
//! have. Everything here is either pure (formats, frames, dates) or runs on a writer
//! thread of its own: no worker ever waits for a log line.
//!
//! - `every.rs`: repeated log lines at most once per period, with a count of the rest
//! - `date.rs`: civil dates and times from Unix time, without a date library
//! - `syslog.rs`: syslog settings and frames (RFC 5424, RFC 3164, RFC 6587 octet counting)
//! - `format.rs`: the access-log format (HAProxy `log-format` aliases, `httplog`/`tcplog` presets)
//! - `sink.rs`: the writer thread: stdout/stderr or a syslog socket, reconnects, drops counted
//! - `own.rs`: ringlb's own lines (`tracing`) through a sink, with syslog severities

pub mod date;
mod every;
pub mod format;
pub mod own;
pub mod sink;
pub mod syslog;

pub use every::{LogEvery, EVERY};
