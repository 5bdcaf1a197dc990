//! The access-log format (`access_log_format`): HAProxy's `log-format` syntax, a
//! subset of its aliases (`%ci`, `%{+Q}r`, ...), and two presets that are HAProxy's
//! own formats, so that parsers written for HAProxy logs read ringlb's:
//!
//! - `httplog` (`option httplog`): `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`
//! - `tcplog` (`option tcplog`): `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`
//!
//! As in HAProxy, spaces are separators: a run of them writes one space, and none
//! after a space already written (so empty fields such as `%hr` leave no gap).
//! Parsed once, when the configuration is loaded; workers render the items.

/// HAProxy's `option httplog` format (HAProxy 2.x).
pub const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// HAProxy's `option tcplog` format.
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// One value of a request or connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ClientIp,
    ClientPort,
    /// `%t`: accept date, `10/Oct/2000:13:55:36.024` (UTC).
    AcceptDate,
    /// `%tr`: date the request began.
    RequestDate,
    /// `%Ts`: Unix seconds.
    UnixTime,
    Frontend,
    Backend,
    Server,
    /// `%TR`: ms to receive the request head.
    TimeRequest,
    /// `%Tw`: ms waiting in the queue.
    TimeQueue,
    /// `%Tc`: ms to connect to the server.
    TimeConnect,
    /// `%Tr`: ms for the server's response head.
    TimeResponse,
    /// `%Ta`: ms the request was active.
    TimeActive,
    /// `%Tt`: ms of the whole session (TCP) or request (HTTP).
    TimeTotal,
    Status,
    /// `%B`: bytes to the client.
    BytesOut,
    /// `%U`: bytes from the client.
    BytesIn,
    /// `%CC`, `%CS`: captured cookies (never captured: `-`).
    CookieRequest,
    CookieResponse,
    /// `%ts`: termination state, 2 characters.
    TermState,
    /// `%tsc`: termination state with cookie flags, 4 characters.
    TermStateCookie,
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BeQueue,
    /// `%hr`, `%hs`: captured headers (never captured: empty).
    HeadersRequest,
    HeadersResponse,
    /// `%r`: the request line.
    Request,
    /// `%HM`, `%HU`, `%HV`: method, URI, version.
    Method,
    Uri,
    Version,
    TlsVersion,
    TlsCipher,
    Pid,
}

const ALIASES: &[(&str, Field)] = &[
    ("ci", Field::ClientIp),
    ("cp", Field::ClientPort),
    ("t", Field::AcceptDate),
    ("tr", Field::RequestDate),
    ("Ts", Field::UnixTime),
    ("ft", Field::Frontend),
    ("f", Field::Frontend),
    ("b", Field::Backend),
    ("s", Field::Server),
    ("TR", Field::TimeRequest),
    ("Tq", Field::TimeRequest),
    ("Tw", Field::TimeQueue),
    ("Tc", Field::TimeConnect),
    ("Tr", Field::TimeResponse),
    ("Ta", Field::TimeActive),
    ("Tt", Field::TimeTotal),
    ("ST", Field::Status),
    ("B", Field::BytesOut),
    ("U", Field::BytesIn),
    ("CC", Field::CookieRequest),
    ("CS", Field::CookieResponse),
    ("ts", Field::TermState),
    ("tsc", Field::TermStateCookie),
    ("ac", Field::ActConn),
    ("fc", Field::FeConn),
    ("bc", Field::BeConn),
    ("sc", Field::SrvConn),
    ("rc", Field::Retries),
    ("sq", Field::SrvQueue),
    ("bq", Field::BeQueue),
    ("hr", Field::HeadersRequest),
    ("hs", Field::HeadersResponse),
    ("r", Field::Request),
    ("HM", Field::Method),
    ("HU", Field::Uri),
    ("HV", Field::Version),
    ("sslv", Field::TlsVersion),
    ("sslc", Field::TlsCipher),
    ("pid", Field::Pid),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Text(String),
    /// A run of spaces: one space, unless the line already ends with one.
    Sep,
    Field {
        field: Field,
        quoted: bool,
    },
}

/// A parsed access-log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    pub items: Vec<Item>,
}

impl LogFormat {
    /// A preset name (`httplog`, `tcplog`) or a format string.
    pub fn parse(text: &str) -> Result<LogFormat, String> {
        match text {
            "httplog" => return parse_items(HTTPLOG),
            "tcplog" => return parse_items(TCPLOG),
            _ => {}
        }
        if text.trim().is_empty() {
            return Err("empty format: use \"httplog\", \"tcplog\" or %-aliases".into());
        }
        parse_items(text)
    }
}

fn parse_items(text: &str) -> Result<LogFormat, String> {
    let mut items = Vec::new();
    let mut lit = String::new();
    let mut chars = text.char_indices().peekable();
    let flush = |lit: &mut String, items: &mut Vec<Item>| {
        if !lit.is_empty() {
            items.push(Item::Text(std::mem::take(lit)));
        }
    };
    while let Some((at, c)) = chars.next() {
        match c {
            ' ' => {
                flush(&mut lit, &mut items);
                while chars.peek().is_some_and(|&(_, c)| c == ' ') {
                    chars.next();
                }
                items.push(Item::Sep);
            }
            '%' if chars.peek().is_some_and(|&(_, c)| c == '%') => {
                chars.next();
                lit.push('%');
            }
            '%' => {
                flush(&mut lit, &mut items);
                let rest = &text[at + 1..];
                let (quoted, used, name) = alias(rest)?;
                let field = ALIASES
                    .iter()
                    .find(|(a, _)| *a == name)
                    .map(|(_, f)| *f)
                    .ok_or_else(|| unknown(name))?;
                items.push(Item::Field { field, quoted });
                for _ in 0..used {
                    chars.next();
                }
            }
            c if c.is_control() => return Err("control characters are not allowed".into()),
            c => lit.push(c),
        }
    }
    flush(&mut lit, &mut items);
    Ok(LogFormat { items })
}

/// After a `%`: `{+Q}` flags (only `+Q`, quote, is known) and the alias name.
/// Returns (quoted, characters used, name).
fn alias(rest: &str) -> Result<(bool, usize, &str), String> {
    let mut quoted = false;
    let mut used = 0;
    let mut s = rest;
    if let Some(after) = s.strip_prefix('{') {
        let end = after
            .find('}')
            .ok_or("unclosed `%{` in the format".to_string())?;
        for flag in after[..end].split(',') {
            match flag {
                "+Q" => quoted = true,
                "-Q" => quoted = false,
                other => return Err(format!("unknown flag {other:?} (ringlb knows +Q)")),
            }
        }
        used += end + 2;
        s = &after[end + 1..];
    }
    if s.starts_with('[') {
        return Err("sample fetches (`%[...]`) are not supported; use the aliases".into());
    }
    let len = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    if len == 0 {
        return Err("`%` must be followed by an alias (write `%%` for a percent sign)".into());
    }
    Ok((quoted, used + len, &s[..len]))
}

fn unknown(name: &str) -> String {
    let known: Vec<String> = ALIASES.iter().map(|(a, _)| format!("%{a}")).collect();
    format!("unknown alias %{name} (known: {})", known.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_haproxys_formats() {
        let http = LogFormat::parse("httplog").unwrap();
        assert_eq!(http, LogFormat::parse(HTTPLOG).unwrap());
        assert_eq!(
            http.items[..4],
            [
                Item::Field {
                    field: Field::ClientIp,
                    quoted: false
                },
                Item::Text(":".into()),
                Item::Field {
                    field: Field::ClientPort,
                    quoted: false
                },
                Item::Sep,
            ]
        );
        assert_eq!(
            http.items.last(),
            Some(&Item::Field {
                field: Field::Request,
                quoted: true
            })
        );
        let tcp = LogFormat::parse("tcplog").unwrap();
        assert!(tcp.items.contains(&Item::Field {
            field: Field::TermState,
            quoted: false
        }));
    }

    #[test]
    fn custom_formats_percent_signs_and_separators() {
        let f = LogFormat::parse("%ci   %ST 100%% [%tsc]").unwrap();
        assert_eq!(
            f.items,
            [
                Item::Field {
                    field: Field::ClientIp,
                    quoted: false
                },
                Item::Sep,
                Item::Field {
                    field: Field::Status,
                    quoted: false
                },
                Item::Sep,
                Item::Text("100%".into()),
                Item::Sep,
                Item::Text("[".into()),
                Item::Field {
                    field: Field::TermStateCookie,
                    quoted: false
                },
                Item::Text("]".into()),
            ]
        );
    }

    #[test]
    fn bad_formats_say_why() {
        assert!(LogFormat::parse("%zz")
            .unwrap_err()
            .contains("unknown alias %zz"));
        assert!(LogFormat::parse("%[src]")
            .unwrap_err()
            .contains("sample fetches"));
        assert!(LogFormat::parse("%{+X}Ts").unwrap_err().contains("+X"));
        assert!(LogFormat::parse("%{+Q").unwrap_err().contains("unclosed"));
        assert!(LogFormat::parse("50%").unwrap_err().contains("%%"));
        assert!(LogFormat::parse("").is_err());
        assert!(LogFormat::parse("a\tb").is_err());
    }
}
