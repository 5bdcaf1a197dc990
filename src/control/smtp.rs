//! A small SMTP client (RFC 5321) for alert mails: the dialogue keepalived's and
//! HAProxy's mailers speak, plain text, no TLS, no authentication (`HELO`,
//! `MAIL FROM`, one `RCPT TO` per address, `DATA`, `QUIT`), every step bounded by
//! the configured timeout. The message text is built by pure functions.
//! Why not a crate: see docs/architecture.md ("Alert mails").

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime};

use crate::config::Mail;

/// The longest reply line read before giving up (RFC 5321 says 512 bytes).
const MAX_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot connect to {0}: {1}")]
    Connect(std::net::SocketAddr, std::io::Error),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("{0}: the server answered {1:?}")]
    Refused(&'static str, String),
}

/// One mail, as queued: the settings it was made with (a reload may change them
/// for the next one), its subject and body.
#[derive(Debug, Clone)]
pub struct Letter {
    pub settings: std::sync::Arc<Mail>,
    pub subject: String,
    pub body: String,
    pub at: SystemTime,
}

/// Deliver `letter` to its SMTP server.
pub fn send(letter: &Letter) -> Result<(), SmtpError> {
    let m = &letter.settings;
    let stream = TcpStream::connect_timeout(&m.server, m.timeout)
        .map_err(|e| SmtpError::Connect(m.server, e))?;
    let timeouts = stream
        .set_read_timeout(Some(m.timeout))
        .and_then(|()| stream.set_write_timeout(Some(m.timeout)));
    timeouts.map_err(|e| SmtpError::Io("socket", e))?;
    let mut writer = stream.try_clone().map_err(|e| SmtpError::Io("socket", e))?;
    let mut reader = BufReader::new(stream);
    expect(&mut reader, "greeting", 220)?;
    let mut step = |what: &'static str, line: String, code: u16| {
        writer
            .write_all(line.as_bytes())
            .map_err(|e| SmtpError::Io(what, e))?;
        expect(&mut reader, what, code)
    };
    step("HELO", format!("HELO {}\r\n", m.helo), 250)?;
    step("MAIL FROM", format!("MAIL FROM:<{}>\r\n", m.from), 250)?;
    for to in &m.to {
        step("RCPT TO", format!("RCPT TO:<{to}>\r\n"), 250)?;
    }
    step("DATA", "DATA\r\n".into(), 354)?;
    step("message", message(letter), 250)?;
    // The mail is accepted: a server that closes without answering QUIT is fine.
    let _ = step("QUIT", "QUIT\r\n".into(), 221);
    Ok(())
}

/// Read one reply (its continuation lines too) and check its code.
fn expect(reader: &mut impl BufRead, what: &'static str, code: u16) -> Result<(), SmtpError> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::Read::take(&mut *reader, MAX_LINE as u64)
            .read_line(&mut line)
            .map_err(|e| SmtpError::Io(what, e))?;
        if n == 0 {
            let closed = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(SmtpError::Io(what, closed));
        }
        match reply(&line) {
            Some((got, true)) if got == code => return Ok(()),
            Some((_, true)) | None => {
                return Err(SmtpError::Refused(what, line.trim_end().to_string()))
            }
            Some((_, false)) => continue,
        }
    }
}

/// A reply line's code and whether it is the last line (`250 ok`, not `250-...`).
pub fn reply(line: &str) -> Option<(u16, bool)> {
    let code = line.get(..3)?.parse::<u16>().ok()?;
    let last = !line[3..].starts_with('-');
    Some((code, last))
}

/// The DATA part: headers, body (lines starting with `.` doubled), the final `.`.
pub fn message(letter: &Letter) -> String {
    let m = &letter.settings;
    let mut text = format!(
        "Date: {}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nX-Mailer: ringlb\r\n\r\n",
        rfc5322_date(letter.at),
        m.from,
        m.to.join(", "),
        one_line(&letter.subject),
    );
    for line in letter.body.lines() {
        if line.starts_with('.') {
            text.push('.');
        }
        text.push_str(line);
        text.push_str("\r\n");
    }
    text.push_str(".\r\n");
    text
}

/// A header value stays on its line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `Tue, 01 Dec 2026 14:05:09 +0000` (UTC).
pub fn rfc5322_date(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return "Thu, 01 Jan 1970 00:00:00 +0000".into();
    };
    let weekday = &t.weekday().to_string()[..3];
    let month = &t.month().to_string()[..3];
    format!(
        "{weekday}, {:02} {month} {} {:02}:{:02}:{:02} +0000",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Settings for tests: two recipients, a 2 s timeout.
#[cfg(test)]
pub(super) fn test_settings(server: std::net::SocketAddr) -> Mail {
    Mail {
        server,
        from: "lb@example.org".into(),
        to: vec!["a@example.org".into(), "b@example.org".into()],
        timeout: Duration::from_secs(2),
        helo: "lb1".into(),
        router_id: Some("LB1".into()),
        level: Some(1),
        backends: None,
        vrrp_routers: Vec::new(),
        vrrp_groups: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;

    fn letter(server: std::net::SocketAddr, body: &str) -> Letter {
        Letter {
            settings: Arc::new(test_settings(server)),
            subject: "a\r\nBcc: x".into(),
            body: body.into(),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_133_909),
        }
    }

    #[test]
    fn replies_continue_with_a_dash() {
        assert_eq!(reply("250-first\r\n"), Some((250, false)));
        assert_eq!(reply("250 last\r\n"), Some((250, true)));
        assert_eq!(reply("250\r\n"), Some((250, true)));
        assert_eq!(reply("xyz\r\n"), None);
    }

    #[test]
    fn the_message_has_keepalived_headers_and_dots_doubled() {
        let at: std::net::SocketAddr = "127.0.0.1:25".parse().unwrap();
        let text = message(&letter(at, "one\n.two\n"));
        assert_eq!(
            text,
            "Date: Tue, 01 Dec 2026 14:05:09 +0000\r\nFrom: lb@example.org\r\n\
             To: a@example.org, b@example.org\r\nSubject: a  Bcc: x\r\nX-Mailer: ringlb\r\n\r\n\
             one\r\n..two\r\n.\r\n"
        );
    }

    /// A scripted server: answers each command with the next reply, records them.
    fn server(
        replies: &'static [&'static str],
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut seen = String::new();
            s.write_all(b"220 hello\r\n").unwrap();
            for reply in replies {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                if line == "DATA\r\n" {
                    seen.push_str(&line);
                    s.write_all(b"354 go\r\n").unwrap();
                    line.clear();
                    while line != ".\r\n" {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        seen.push_str(&line);
                    }
                    line.clear();
                }
                seen.push_str(&line);
                s.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        (addr, handle)
    }

    #[test]
    fn a_mail_goes_through_the_whole_dialogue() {
        let (addr, seen) = server(&[
            "250-hi\r\n250 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "250 ok\r\n",
            "250 queued\r\n",
            "221 bye\r\n",
        ]);
        send(&letter(addr, "body")).unwrap();
        let seen = seen.join().unwrap();
        assert!(seen.starts_with("HELO lb1\r\nMAIL FROM:<lb@example.org>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"), "{seen}");
        assert!(seen.ends_with("body\r\n.\r\nQUIT\r\n"), "{seen}");
    }

    #[test]
    fn a_refused_recipient_stops_the_mail() {
        let (addr, seen) = server(&["250 ok\r\n", "250 ok\r\n", "550 no such user\r\n"]);
        let e = send(&letter(addr, "body")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "RCPT TO: the server answered \"550 no such user\""
        );
        drop(seen.join());
    }

    #[test]
    fn nobody_listening_is_a_connect_error() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = send(&letter(addr, "body")).unwrap_err();
        assert!(matches!(e, SmtpError::Connect(..)), "{e}");
    }
}
