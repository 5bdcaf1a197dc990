//! The parser the syslog tests check ringlb's lines against: logstash's published
//! grok patterns for HAProxy logs, translated to the `regex` crate.
#![allow(dead_code)]

use std::collections::HashMap;

use regex::{Captures, Regex};

// From logstash-plugins/logstash-patterns-core, `patterns/legacy/haproxy` (HAPROXYTIME,
// HAPROXYDATE, HAPROXYHTTPBASE, HAPROXYHTTP, HAPROXYTCP) and `patterns/legacy/grok-patterns`
// (the building blocks), copied as published. One change: the `regex` crate has no
// look-around, so HAPROXYTIME's `(?!<[0-9])` and `(?![0-9])` guards are left out.
// `%{NAME:field}` becomes a named group, `%{NAME}` a plain one.
const GROK: &[(&str, &str)] = &[
    ("INT", r"(?:[+-]?(?:[0-9]+))"),
    ("POSINT", r"\b(?:[1-9][0-9]*)\b"),
    ("NONNEGINT", r"\b(?:[0-9]+)\b"),
    (
        "NUMBER",
        r"(?:[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))",
    ),
    ("WORD", r"\b\w+\b"),
    ("NOTSPACE", r"\S+"),
    ("DATA", r".*?"),
    ("USER", r"[a-zA-Z0-9._-]+"),
    (
        "IPV4",
        r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)",
    ),
    ("IPV6", r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"),
    ("IP", r"(?:%{IPV6}|%{IPV4})"),
    (
        "HOSTNAME",
        r"\b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*(?:\.?|\b)",
    ),
    ("IPORHOST", r"(?:%{IP}|%{HOSTNAME})"),
    ("URIPROTO", r"[A-Za-z](?:[A-Za-z0-9+\-.]+)+"),
    ("URIHOST", r"%{IPORHOST}(?::%{POSINT})?"),
    ("URIPATH", r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+"),
    ("URIPARAM", r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*"),
    ("URIPATHPARAM", r"%{URIPATH}(?:%{URIPARAM})?"),
    (
        "MONTH",
        r"\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|[Jj]un(?:e|i)?|[Jj]ul(?:y|i)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b",
    ),
    ("MONTHNUM", r"(?:0?[1-9]|1[0-2])"),
    ("MONTHDAY", r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"),
    ("YEAR", r"(?:\d\d){1,2}"),
    ("HOUR", r"(?:2[0123]|[01]?[0-9])"),
    ("MINUTE", r"(?:[0-5][0-9])"),
    ("SECOND", r"(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)"),
    ("TIME", r"%{HOUR}:%{MINUTE}(?::%{SECOND})"),
    ("ISO8601_TIMEZONE", r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE}))"),
    (
        "TIMESTAMP_ISO8601",
        r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    ),
    ("SYSLOGTIMESTAMP", r"%{MONTH} +%{MONTHDAY} %{TIME}"),
    ("PROG", r"[\x21-\x5a\x5c\x5e-\x7e]+"),
    ("SYSLOGPROG", r"%{PROG:program}(?:\[%{POSINT:pid}\])?"),
    (
        "HAPROXYTIME",
        r"%{HOUR:haproxy_hour}:%{MINUTE:haproxy_minute}(?::%{SECOND:haproxy_second})",
    ),
    (
        "HAPROXYDATE",
        r"%{MONTHDAY:haproxy_monthday}/%{MONTH:haproxy_month}/%{YEAR:haproxy_year}:%{HAPROXYTIME:haproxy_time}.%{INT:haproxy_milliseconds}",
    ),
    (
        "HAPROXYCAPTUREDREQUESTHEADERS",
        r"%{DATA:captured_request_headers}",
    ),
    (
        "HAPROXYCAPTUREDRESPONSEHEADERS",
        r"%{DATA:captured_response_headers}",
    ),
    (
        "HAPROXYHTTPBASE",
        r#"%{IP:client_ip}:%{INT:client_port} \[%{HAPROXYDATE:accept_date}\] %{NOTSPACE:frontend_name} %{NOTSPACE:backend_name}/%{NOTSPACE:server_name} %{INT:time_request}/%{INT:time_queue}/%{INT:time_backend_connect}/%{INT:time_backend_response}/%{NOTSPACE:time_duration} %{INT:http_status_code} %{NOTSPACE:bytes_read} %{DATA:captured_request_cookie} %{DATA:captured_response_cookie} %{NOTSPACE:termination_state} %{INT:actconn}/%{INT:feconn}/%{INT:beconn}/%{INT:srvconn}/%{NOTSPACE:retries} %{INT:srv_queue}/%{INT:backend_queue} (\{%{HAPROXYCAPTUREDREQUESTHEADERS}\})?( )?(\{%{HAPROXYCAPTUREDRESPONSEHEADERS}\})?( )?"(<BADREQ>|(%{WORD:http_verb} (%{URIPROTO:http_proto}://)?(?:%{USER:http_user}(?::[^@]*)?@)?(?:%{URIHOST:http_host})?(?:%{URIPATHPARAM:http_request})?( HTTP/%{NUMBER:http_version})?))?""#,
    ),
    (
        "HAPROXYTCP",
        r"(?:%{SYSLOGTIMESTAMP:syslog_timestamp}|%{TIMESTAMP_ISO8601:timestamp8601}) %{IPORHOST:syslog_server} %{SYSLOGPROG}: %{IP:client_ip}:%{INT:client_port} \[%{HAPROXYDATE:accept_date}\] %{NOTSPACE:frontend_name} %{NOTSPACE:backend_name}/%{NOTSPACE:server_name} %{INT:time_queue}/%{INT:time_backend_connect}/%{NOTSPACE:time_duration} %{NOTSPACE:bytes_read} %{NOTSPACE:termination_state} %{INT:actconn}/%{INT:feconn}/%{INT:beconn}/%{INT:srvconn}/%{NOTSPACE:retries} %{INT:srv_queue}/%{INT:backend_queue}",
    ),
    // RFC 5424 frames: SYSLOG5424LINE, simplified to the header ringlb writes.
    ("SYSLOG5424PRINTASCII", r"[!-~]+"),
    (
        "SYSLOG5424LINE",
        r"<%{NONNEGINT:syslog5424_pri}>%{NONNEGINT:syslog5424_ver} +(?:%{TIMESTAMP_ISO8601:syslog5424_ts}|-) +(?:%{IPORHOST:syslog5424_host}|-) +(-|%{SYSLOG5424PRINTASCII:syslog5424_app}) +(-|%{SYSLOG5424PRINTASCII:syslog5424_proc}) +(-|%{SYSLOG5424PRINTASCII:syslog5424_msgid}) +(?:-|) +%{GREEDYDATA:syslog5424_msg}",
    ),
    ("GREEDYDATA", r".*"),
];

/// A grok expression as an anchored regex.
pub fn grok(name: &str) -> Regex {
    let defs: HashMap<&str, &str> = GROK.iter().copied().collect();
    let reference = Regex::new(r"%\{(\w+)(?::(\w+))?\}").unwrap();
    let mut text = format!("%{{{name}}}");
    while reference.is_match(&text) {
        text = reference
            .replace_all(&text, |c: &Captures| {
                let body = defs[&c[1]];
                match c.get(2) {
                    Some(field) => format!("(?P<{}>{body})", field.as_str()),
                    None => format!("(?:{body})"),
                }
            })
            .into_owned();
    }
    Regex::new(&format!("^{text}$")).unwrap()
}

pub fn field<'a>(c: &'a Captures, name: &str) -> &'a str {
    c.name(name).map_or("", |m| m.as_str())
}
