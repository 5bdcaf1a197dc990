//! An access-log line in a configured format (`access_log_format`, HAProxy's
//! `log-format` aliases): the items parsed at load time (`logging::format`), rendered
//! here into the worker's reused buffer. No allocation: numbers and names are written
//! straight into the buffer.

use std::io::Write;
use std::time::Duration;

use super::access::{write_request, Record};
use crate::logging::date::Civil;
use crate::logging::format::{Field, Item};

/// Connection and queue counts at the time the line is written, as this worker sees
/// them (HAProxy's are process-wide).
#[derive(Debug, Clone, Copy, Default)]
pub struct Conns {
    /// `%ac`: connections open on this worker.
    pub active: u64,
    /// `%fc`: the frontend's open connections on this worker.
    pub frontend: u64,
    /// `%bc`: requests/connections in progress on the backend's servers.
    pub backend: u64,
    /// `%sc`: the same, on the server.
    pub server: u64,
    /// `%bq`: requests waiting for a server of the backend (`%sq` is always 0:
    /// ringlb queues per backend, not per server).
    pub backend_queue: u64,
}

/// Everything a line can say.
pub struct Values<'a> {
    pub rec: &'a Record,
    pub request: &'a [u8],
    pub frontend: &'a str,
    pub backend: Option<&'a str>,
    pub server: Option<&'a str>,
    pub conns: Conns,
    /// Unix time now (the line is written at the end of the request).
    pub now: Duration,
    /// Since the request (HTTP) or connection (TCP) began.
    pub elapsed: Duration,
    pub pid: u32,
}

/// Append the line (without its line feed).
pub fn render(b: &mut Vec<u8>, items: &[Item], v: &Values<'_>) {
    for item in items {
        match item {
            Item::Text(t) => b.extend_from_slice(t.as_bytes()),
            Item::Sep => {
                if !b.ends_with(b" ") {
                    b.push(b' ');
                }
            }
            Item::Field { field, quoted } => {
                if *quoted {
                    b.push(b'"');
                }
                field_value(b, *field, v);
                if *quoted {
                    b.push(b'"');
                }
            }
        }
    }
}

/// Milliseconds, or -1 for a phase never reached (as HAProxy writes them).
fn ms(b: &mut Vec<u8>, d: Option<Duration>) {
    let _ = match d {
        Some(d) => write!(b, "{}", d.as_millis()),
        None => write!(b, "-1"),
    };
}

fn name(b: &mut Vec<u8>, s: Option<&str>) {
    b.extend_from_slice(s.unwrap_or("-").as_bytes());
}

fn field_value(b: &mut Vec<u8>, field: Field, v: &Values<'_>) {
    let r = v.rec;
    let _ = match field {
        Field::ClientIp => write!(b, "{}", r.peer.ip()),
        Field::ClientPort => write!(b, "{}", r.peer.port()),
        Field::AcceptDate | Field::RequestDate => {
            date(b, v.now.saturating_sub(v.elapsed));
            Ok(())
        }
        Field::UnixTime => write!(b, "{}", v.now.as_secs()),
        Field::Frontend => write!(b, "{}", v.frontend),
        Field::Backend => {
            name(b, v.backend);
            Ok(())
        }
        Field::Server => {
            // HAProxy's marker for "no server was used".
            name(b, Some(v.server.unwrap_or("<NOSRV>")));
            Ok(())
        }
        Field::TimeRequest => {
            ms(b, r.t_request);
            Ok(())
        }
        Field::TimeQueue => {
            // The queue wait is part of the connect time (`%Tc`).
            ms(b, r.t_connect.map(|_| Duration::ZERO));
            Ok(())
        }
        Field::TimeConnect => {
            ms(b, r.t_connect);
            Ok(())
        }
        Field::TimeResponse => {
            ms(b, r.t_response);
            Ok(())
        }
        Field::TimeActive | Field::TimeTotal => {
            plus(b, r);
            ms(b, Some(v.elapsed));
            Ok(())
        }
        Field::Status => match r.status {
            Some(s) => write!(b, "{s}"),
            None => write!(b, "-1"),
        },
        Field::BytesOut => {
            plus(b, r);
            write!(b, "{}", r.bytes_out)
        }
        Field::BytesIn => write!(b, "{}", r.bytes_in),
        Field::CookieRequest | Field::CookieResponse => write!(b, "-"),
        Field::TermState => {
            b.extend_from_slice(&r.term);
            Ok(())
        }
        Field::TermStateCookie => {
            b.extend_from_slice(&r.term);
            b.extend_from_slice(b"--");
            Ok(())
        }
        Field::ActConn => write!(b, "{}", v.conns.active),
        Field::FeConn => write!(b, "{}", v.conns.frontend),
        Field::BeConn => write!(b, "{}", v.conns.backend),
        Field::SrvConn => write!(b, "{}", v.conns.server),
        Field::Retries => write!(b, "{}", r.retries),
        Field::SrvQueue => write!(b, "0"),
        Field::BeQueue => write!(b, "{}", v.conns.backend_queue),
        Field::HeadersRequest | Field::HeadersResponse => Ok(()),
        Field::Request => {
            if v.request.is_empty() {
                b.push(b'-');
            } else {
                write_request(b, v.request);
            }
            Ok(())
        }
        Field::Method => part(b, v.request, 0),
        Field::Uri => part(b, v.request, 1),
        Field::Version => part(b, v.request, 2),
        Field::TlsVersion => {
            name(b, r.tls.map(|t| t.0));
            Ok(())
        }
        Field::TlsCipher => {
            name(b, r.tls.map(|t| t.1));
            Ok(())
        }
        Field::Pid => write!(b, "{}", v.pid),
    };
}

/// HAProxy's mark of a value that may still grow: the line was written early
/// (`option logasap`) and more may come.
fn plus(b: &mut Vec<u8>, r: &Record) {
    if r.asap {
        b.push(b'+');
    }
}

/// Word `i` of the request line (`-` when absent), cleaned like the request line.
fn part(b: &mut Vec<u8>, request: &[u8], i: usize) -> std::io::Result<()> {
    match request
        .split(|&c| c == b' ')
        .filter(|w| !w.is_empty())
        .nth(i)
    {
        Some(w) => write_request(b, w),
        None => b.push(b'-'),
    }
    Ok(())
}

/// HAProxy's date: `10/Oct/2000:13:55:36.024` (here UTC).
fn date(b: &mut Vec<u8>, unix: Duration) {
    let c = Civil::from_unix(unix.as_secs());
    let _ = write!(
        b,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
        c.day,
        c.month_name(),
        c.year,
        c.hour,
        c.minute,
        c.second,
        unix.subsec_millis()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::format::LogFormat;

    fn values<'a>(rec: &'a Record, request: &'a [u8]) -> Values<'a> {
        Values {
            rec,
            request,
            frontend: "http-in",
            backend: Some("static"),
            server: Some("srv1"),
            conns: Conns {
                active: 1,
                frontend: 1,
                backend: 1,
                server: 1,
                backend_queue: 0,
            },
            now: Duration::from_millis(1_233_922_454_764),
            elapsed: Duration::from_millis(109),
            pid: 7,
        }
    }

    fn rec() -> Record {
        let mut r = Record::new("10.0.1.2:33317".parse().unwrap(), 0, None, false);
        r.status = Some(200);
        r.bytes_out = 2750;
        r.t_request = Some(Duration::from_millis(10));
        r.t_connect = Some(Duration::from_millis(30));
        r.t_response = Some(Duration::from_millis(69));
        r
    }

    fn line(format: &str, r: &Record, request: &[u8]) -> String {
        let f = LogFormat::parse(format).unwrap();
        let mut b = Vec::new();
        render(&mut b, &f.items, &values(r, request));
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn httplog_is_haproxys_example_line() {
        // HAProxy's documentation example (section 8.2.3), without captures.
        assert_eq!(
            line("httplog", &rec(), b"GET /index.html HTTP/1.1"),
            "10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 \"GET /index.html HTTP/1.1\""
        );
    }

    #[test]
    fn tcplog_and_phases_never_reached() {
        let mut r = rec();
        r.t_connect = None;
        r.term = *b"SC";
        assert_eq!(
            line("tcplog", &r, b""),
            "10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 -1/-1/109 2750 SC 1/1/1/1/0 0/0"
        );
    }

    #[test]
    fn an_early_line_marks_bytes_and_total_time_with_plus() {
        let mut r = rec();
        r.asap = true;
        assert_eq!(
            line("%Tt %Ta %B %U %Tr", &r, b"GET / HTTP/1.1"),
            "+109 +109 +2750 0 69"
        );
    }

    #[test]
    fn request_parts_and_quotes() {
        let r = rec();
        assert_eq!(
            line("%HM %HU %HV %{+Q}sslv %pid", &r, b"GET /a\"b HTTP/1.1"),
            "GET /a?b HTTP/1.1 \"-\" 7"
        );
    }
}
