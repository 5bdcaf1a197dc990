//! Health checks: `option httpchk` (and its old `HTTP/1.1\r\nHost:\ x` form),
//! `http-check send|expect`, `option tcp-check` with `tcp-check connect|send|expect`,
//! `option redis-check`, into `[backend.check]` and its steps.

use crate::import::report::Src;
use crate::import::toml_out::{Table, Value};

use super::model::{Be, CheckProto, Cx};
use super::sections::Line;

pub fn option(line: &Line, name: &str, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    match name {
        "httpchk" => httpchk(line, be, cx),
        "tcp-check" => {
            be.check.set("kind", Value::str("tcp"), src.cite());
            cx.led.done(src);
        }
        "redis-check" => {
            be.check.set("kind", Value::str("tcp"), src.cite());
            for (k, v) in [("send", "PING\r\n"), ("expect", "+PONG")] {
                let mut t = Table::new("[[backend.check.step]]");
                t.set(k, Value::str(v), src.cite());
                be.steps.push(t);
            }
            cx.led.done(src);
        }
        "ssl-hello-chk" => {
            // The last check option wins in HAProxy: forget an earlier httpchk.
            for k in [
                "method",
                "path",
                "host",
                "headers",
                "expect_status",
                "expect_body",
            ] {
                be.check.remove(k);
            }
            be.steps.clear();
            let how = "ringlb completes a TLS handshake (certificate not verified) where HAProxy only checks that the server answers its hello";
            be.check.set("kind", Value::str("tcp"), src.differs(how));
            be.check.set("tls", Value::Bool(true), src.cite());
            be.check.set("verify", Value::Bool(false), src.cite());
            cx.led.done(src);
        }
        _ => cx.led.lost(
            src,
            format!("option {name}: ringlb checks are tcp (with send/expect steps) or http"),
        ),
    }
}

/// `option httpchk [METHOD] [URI] [VERSION[\r\nHeader: value...]]`.
fn httpchk(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    let args = &line.words[2..];
    let (method, uri, version) = match args.len() {
        0 => ("OPTIONS", "/", ""),
        1 => ("OPTIONS", args[0].as_str(), ""),
        2 => (args[0].as_str(), args[1].as_str(), ""),
        _ => (args[0].as_str(), args[1].as_str(), args[2].as_str()),
    };
    let c = &mut be.check;
    let note = src.differs("any 2xx or 3xx passes, as with HAProxy's default; ringlb sends HTTP/1.1 with a Host header (HTTP/2 with :authority when proto = \"h2\")");
    c.set("kind", Value::str("http"), note);
    c.set("method", Value::str(method), src.cite());
    c.set("path", Value::str(uri), src.cite());
    let mut headers = Vec::new();
    for h in version.split("\r\n").skip(1).filter(|h| !h.is_empty()) {
        match h.split_once(':') {
            Some((n, v)) if n.eq_ignore_ascii_case("host") => {
                c.set("host", Value::str(v.trim()), src.cite())
            }
            Some((n, v)) => headers.push(Value::str(format!("{}: {}", n.trim(), v.trim()))),
            None => cx.led.lost_part(
                src,
                "option httpchk header",
                format!("{h:?} is not a header line"),
            ),
        }
    }
    if !headers.is_empty() {
        c.set("headers", Value::Arr(headers), src.cite());
    }
    cx.led.done(src);
}

pub fn http_check(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    let c = &mut be.check;
    match line.word(1) {
        "expect" => {
            let (what, arg) = (line.word(2), line.word(3));
            let status = match what {
                "status" => Some(arg.to_string()),
                "rstatus" => match arg {
                    "^2" | "^2.." | "^2[0-9][0-9]" => Some("200-299".into()),
                    "^3" => Some("300-399".into()),
                    "^[23]" | "^(2|3)" | "^(2|3)[0-9][0-9]" | "^[23][0-9][0-9]" => {
                        Some("200-399".into())
                    }
                    _ => None,
                },
                _ => None,
            };
            match (what, status) {
                (_, Some(s)) => {
                    let v = s.parse::<i64>().map(Value::Int).unwrap_or(Value::Str(s));
                    c.set("expect_status", v, src.cite());
                }
                ("string", None) => c.set("expect_body", Value::str(arg), src.cite()),
                _ => {
                    return cx.led.lost(
                        src,
                        "ringlb expects a status, statuses and ranges, or a string in the body",
                    )
                }
            }
            cx.led.done(src);
        }
        "send" => {
            let mut headers = Vec::new();
            let mut i = 2;
            while i < line.words.len() {
                let (k, v) = (line.word(i), line.word(i + 1));
                match k {
                    "meth" => c.set("method", Value::str(v), src.cite()),
                    "uri" => c.set("path", Value::str(v), src.cite()),
                    "ver" => {}
                    "hdr" if v.eq_ignore_ascii_case("host") => {
                        c.set("host", Value::str(line.word(i + 2)), src.cite());
                        i += 1;
                    }
                    "hdr" => {
                        headers.push(Value::str(format!("{v}: {}", line.word(i + 2))));
                        i += 1;
                    }
                    _ => cx.led.lost_part(
                        src,
                        format!("http-check send {k}"),
                        "no ringlb equivalent",
                    ),
                }
                i += 2;
            }
            if !headers.is_empty() {
                c.set("headers", Value::Arr(headers), src.cite());
            }
            cx.led.done(src);
        }
        "connect" => connect(line, be, cx),
        "comment" => cx.led.note(src, "a comment"),
        _ => cx.led.lost(src, "no ringlb equivalent"),
    }
}

/// `http-check connect` / `tcp-check connect [port N] [ssl] [sni X]`: the first one only.
fn connect(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    let first = be.steps.is_empty();
    if !first {
        return cx.led.lost(
            src,
            "a connect in the middle of a check script is not supported",
        );
    }
    let mut proto = Some("h1".to_string());
    let mut i = 2;
    while i < line.words.len() {
        let (k, v) = (line.word(i), line.word(i + 1));
        match k {
            // `default`: the check connects with the server's settings, its proto too.
            "default" => {
                proto = None;
                i -= 1;
            }
            "proto" if v == "h1" || v == "h2" => proto = Some(v.to_string()),
            "port" => match v.parse::<i64>() {
                Ok(p) => be.check.set("port", Value::Int(p), src.cite()),
                Err(_) => cx.led.lost_part(src, "connect port", "not a number"),
            },
            "addr" => be.check.set("addr", Value::str(v), src.cite()),
            "ssl" => {
                be.check.set("tls", Value::Bool(true), src.cite());
                i -= 1;
            }
            "sni" => be.check.set("sni", Value::str(v), src.cite()),
            "send-proxy" => {
                cx.led.lost_part(
                    src,
                    "connect send-proxy",
                    "set check_send_proxy on the servers",
                );
                i -= 1;
            }
            _ => cx
                .led
                .lost_part(src, format!("connect {k}"), "no ringlb equivalent"),
        }
        i += 2;
    }
    if line.word(0) == "http-check" {
        be.check_connect = proto.map(|p| (p, src.clone()));
    }
    cx.led.done(src);
}

pub fn tcp_check(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    let step = |k: &str, v: &str| {
        let mut t = Table::new("[[backend.check.step]]");
        t.set(k, Value::str(v), src.cite());
        t
    };
    match (line.word(1), line.word(2)) {
        ("connect", _) => return connect(line, be, cx),
        ("comment", _) => return cx.led.note(src, "a comment"),
        ("send", v) if line.words.len() == 3 => be.steps.push(step("send", v)),
        ("send-binary", hex) if line.words.len() == 3 => match decode_hex(hex) {
            Some(text) => be.steps.push(step("send", &text)),
            None => {
                return cx.led.lost(
                    src,
                    "binary that is not UTF-8 text cannot be written as a step",
                )
            }
        },
        ("expect", "string") if line.words.len() == 4 => {
            be.steps.push(step("expect", line.word(3)))
        }
        ("expect", "rstring") if line.words.len() == 4 => {
            be.steps.push(step("expect_regex", line.word(3)))
        }
        _ => {
            return cx.led.lost(
                src,
                "ringlb check steps are send, expect string and expect rstring (without options)",
            )
        }
    }
    be.check.set("kind", Value::str("tcp"), src.cite());
    cx.led.done(src);
}

fn decode_hex(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// `[backend.check] proto`: HAProxy checks each server over its `check-proto`, else its
/// `proto` (so `proto h2` with `option httpchk` checks over HTTP/2); ringlb has one
/// setting per backend, taken from the first checked server.
pub fn proto(be: &mut Be, cx: &mut Cx) {
    let checked: Vec<CheckProto> = be
        .servers
        .iter()
        .zip(&be.check_protos)
        .filter(|(s, _)| s.get("check") == Some(&Value::Bool(true)))
        .map(|(_, p)| p.clone())
        .collect();
    let http = be.check.get("kind") == Some(&Value::str("http"));
    if !http {
        for p in checked
            .iter()
            .filter(|p| p.asked.is_some() && p.proto == "h2")
        {
            cx.led.lost_part(
                &p.src,
                "server check-proto h2",
                "ringlb's check proto applies to http checks (option httpchk) only",
            );
        }
        return;
    }
    if let Some((p, src)) = be.check_connect.clone() {
        return connect_proto(&p, &src, &checked, be);
    }
    let Some(first) = checked.first() else {
        return;
    };
    for p in checked.iter().filter(|p| p.proto != first.proto) {
        let why = format!(
            "ringlb has one check proto per backend: this server would be checked over {}",
            first.proto
        );
        cx.led
            .lost_part(&p.src, format!("server check over {}", p.proto), why);
    }
    if first.proto == "h1" {
        for note in checked
            .iter()
            .filter(|p| p.proto == "h1")
            .filter_map(|p| p.asked.as_ref())
        {
            be.check.notes.push(format!(
                "{note} (check-proto h1: ringlb's default check proto)"
            ));
        }
    } else {
        for p in checked.iter().filter(|p| p.proto == "h2") {
            let note = p.asked.clone().unwrap_or_else(|| {
                format!(
                    "{} (proto h2: HAProxy checks the server over HTTP/2 too without check-proto)",
                    p.src.cite()
                )
            });
            match be.check.get("proto") {
                None => be.check.set("proto", Value::str("h2"), note),
                Some(_) => be.check.cite("proto", note),
            }
        }
    }
}

/// An `http-check connect` without `default` opens the check's own connection: over
/// its `proto`, else HTTP/1.1, whatever the servers' `proto` and `check-proto`.
fn connect_proto(p: &str, src: &Src, checked: &[CheckProto], be: &mut Be) {
    if p == "h2" {
        be.check.set("proto", Value::str("h2"), src.cite());
        return;
    }
    if checked.iter().any(|c| c.proto == "h2" || c.asked.is_some()) {
        be.check.notes.push(format!("{} (http-check connect without default or proto: HAProxy checks over HTTP/1.1 whatever the servers' proto or check-proto, so does ringlb by default)", src.cite()));
    }
}
