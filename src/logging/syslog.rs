//! Syslog: where to send (`/dev/log`, `udp://host:port`, `tcp://host:port`), in which
//! format (RFC 5424 or RFC 3164), with which facility and tag, and the frames
//! themselves. Pure: the writer thread (`sink.rs`) does the I/O.
//!
//! Written by hand rather than with a syslog crate: a header is a few dozen bytes
//! formatted into a reused buffer on the writer thread, and the crates we looked at
//! own their socket and write synchronously from the logging call, which would put a
//! blocking send (or a lock) in a worker. Here workers only hand buffers over.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::date::Civil;

/// Where syslog lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A local datagram socket, e.g. `/dev/log`.
    Unix(PathBuf),
    Udp(SocketAddr),
    /// Octet-counted frames (RFC 6587 section 3.4.1) on a stream that reconnects.
    Tcp(SocketAddr),
}

impl Address {
    /// `/path`, `udp://ip:port` or `tcp://ip:port`.
    pub fn parse(s: &str) -> Result<Address, String> {
        if s.starts_with('/') {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("{s:?} is not a socket path (`/dev/log`), `udp://ip:port` or `tcp://ip:port`")
        })?;
        let addr: SocketAddr = rest
            .parse()
            .map_err(|_| format!("{rest:?} is not an ip:port (e.g. 127.0.0.1:514)"))?;
        match scheme {
            "udp" => Ok(Address::Udp(addr)),
            "tcp" => Ok(Address::Tcp(addr)),
            other => Err(format!("unknown scheme {other:?}: use udp:// or tcp://")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc {
    /// `<PRI>1 TIMESTAMP HOST APP PID - - MSG`
    R5424,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG` (the host left out on a local socket,
    /// as glibc's `syslog()` does)
    R3164,
}

/// Syslog settings (`global.syslog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    pub address: Address,
    pub rfc: Rfc,
    /// 0..=23 (`local0` is 16).
    pub facility: u8,
    pub tag: String,
}

impl Default for Syslog {
    fn default() -> Self {
        Syslog {
            address: Address::Unix(PathBuf::from("/dev/log")),
            rfc: Rfc::R3164,
            facility: 16,
            tag: "ringlb".into(),
        }
    }
}

pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// A facility's number by name (`local0` is 16).
pub fn facility(name: &str) -> Option<u8> {
    FACILITIES.iter().position(|f| *f == name).map(|i| i as u8)
}

pub const ERR: u8 = 3;
pub const WARNING: u8 = 4;
pub const INFO: u8 = 6;
pub const DEBUG: u8 = 7;

/// What a frame's header says besides the settings.
pub struct Origin<'a> {
    pub hostname: &'a str,
    pub pid: u32,
}

/// Append one frame (header and `msg`, no line feed) to `out`; with TCP the frame is
/// prefixed by its length and a space (octet counting). `now` is Unix time.
pub fn frame(out: &mut Vec<u8>, s: &Syslog, o: &Origin, severity: u8, now: Duration, msg: &[u8]) {
    let start = out.len();
    let pri = u32::from(s.facility) * 8 + u32::from(severity.min(7));
    let c = Civil::from_unix(now.as_secs());
    let _ = match s.rfc {
        Rfc::R5424 => write!(
            out,
            "<{pri}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {} {} - - ",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            now.subsec_millis(),
            nil_or(o.hostname),
            nil_or(&s.tag),
            o.pid
        ),
        Rfc::R3164 => {
            let _ = write!(
                out,
                "<{pri}>{} {:>2} {:02}:{:02}:{:02} ",
                c.month_name(),
                c.day,
                c.hour,
                c.minute,
                c.second
            );
            if !matches!(s.address, Address::Unix(_)) {
                let _ = write!(out, "{} ", nil_or(o.hostname));
            }
            write!(out, "{}[{}]: ", s.tag, o.pid)
        }
    };
    out.extend_from_slice(msg);
    if matches!(s.address, Address::Tcp(_)) {
        let len = (out.len() - start).to_string();
        out.splice(start..start, len.bytes().chain([b' ']));
    }
}

fn nil_or(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// This host's name (for frame headers), `-` when it cannot be had.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "-".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if name.is_empty() || name.contains(' ') {
        "-".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(address: &str, rfc: Rfc) -> Syslog {
        Syslog {
            address: Address::parse(address).unwrap(),
            rfc,
            facility: facility("local3").unwrap(),
            tag: "ringlb".into(),
        }
    }

    const NOW: Duration = Duration::from_millis(1_795_390_204_123);
    const ORIGIN: Origin = Origin {
        hostname: "lb1",
        pid: 42,
    };

    #[test]
    fn addresses_parse_or_say_why_not() {
        assert_eq!(
            Address::parse("/dev/log"),
            Ok(Address::Unix("/dev/log".into()))
        );
        assert_eq!(
            Address::parse("udp://127.0.0.1:514"),
            Ok(Address::Udp("127.0.0.1:514".parse().unwrap()))
        );
        assert!(matches!(
            Address::parse("tcp://[::1]:601"),
            Ok(Address::Tcp(_))
        ));
        assert!(Address::parse("127.0.0.1:514").is_err());
        assert!(Address::parse("sctp://127.0.0.1:514").is_err());
        assert!(Address::parse("udp://localhost").is_err());
    }

    #[test]
    fn rfc5424_frames_carry_priority_time_host_app_and_pid() {
        let mut out = Vec::new();
        let s = settings("udp://127.0.0.1:514", Rfc::R5424);
        frame(&mut out, &s, &ORIGIN, INFO, NOW, b"hello");
        // local3 = 19: 19 * 8 + 6 = 158
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<158>1 2026-11-22T23:30:04.123Z lb1 ringlb 42 - - hello"
        );
    }

    #[test]
    fn rfc3164_frames_leave_the_host_out_on_a_local_socket() {
        let mut out = Vec::new();
        frame(
            &mut out,
            &settings("udp://127.0.0.1:514", Rfc::R3164),
            &ORIGIN,
            ERR,
            NOW,
            b"x",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<155>Nov 22 23:30:04 lb1 ringlb[42]: x"
        );
        let mut out = Vec::new();
        let early = Duration::from_secs(1_796_083_200); // 2026-12-01
        frame(
            &mut out,
            &settings("/dev/log", Rfc::R3164),
            &ORIGIN,
            INFO,
            early,
            b"y",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<158>Dec  1 00:00:00 ringlb[42]: y"
        );
    }

    #[test]
    fn tcp_frames_are_octet_counted() {
        let mut out = b"previous".to_vec();
        frame(
            &mut out,
            &settings("tcp://127.0.0.1:601", Rfc::R5424),
            &ORIGIN,
            INFO,
            NOW,
            b"hello",
        );
        let text = String::from_utf8(out).unwrap();
        let rest = text.strip_prefix("previous").unwrap();
        let (len, frame) = rest.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), frame.len());
        assert!(frame.starts_with("<158>1 ") && frame.ends_with(" hello"));
    }

    #[test]
    fn facilities_by_name() {
        assert_eq!(facility("kern"), Some(0));
        assert_eq!(facility("local0"), Some(16));
        assert_eq!(facility("local7"), Some(23));
        assert_eq!(facility("local8"), None);
    }
}
