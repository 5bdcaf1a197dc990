//! `option ...` and `no option ...` lines of a proxy (or of a defaults section it
//! inherits): each becomes a key of the frontend or backend, a note when ringlb
//! already behaves so, or a report saying why not.

use crate::import::report::Src;
use crate::import::toml_out::Value;

use super::model::{Be, Cx, Fe};
use super::sections::Line;
use super::{checks, tcpka};

/// `option forwardfor [except NET] [header NAME] [if-none]` on an http frontend:
/// X-Forwarded-For alone, as HAProxy adds it.
fn forwardfor(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    let src = &line.src;
    let only_for = Value::Arr(vec![Value::str("x-forwarded-for")]);
    fe.main.set("forwarded_for", Value::Bool(true), src.cite());
    fe.main.set("forwarded_headers", only_for, src.cite());
    let mut i = 2;
    while i < line.words.len() {
        match (line.word(i), line.words.get(i + 1)) {
            ("except", Some(net)) => {
                let nets = Value::Arr(vec![Value::str(net)]);
                fe.main.set("forwarded_for_except", nets, src.cite());
                i += 2;
            }
            ("header", Some(name)) => {
                fe.main
                    .set("forwarded_for_header", Value::str(name), src.cite());
                i += 2;
            }
            ("if-none", _) => {
                fe.main
                    .set("forwarded_for_if_none", Value::Bool(true), src.cite());
                i += 1;
            }
            (other, _) => {
                let what = format!("option forwardfor {other}");
                cx.led
                    .lost_part(src, what, "unknown option (or its value is missing)");
                break;
            }
        }
    }
    cx.led.done(src);
}

pub(super) fn option(
    line: &Line,
    dflt: bool,
    fe: Option<&mut Fe>,
    be: Option<&mut Be>,
    cx: &mut Cx,
) {
    let src = &line.src;
    let negated = line.word(0) == "no";
    let name = if negated { line.word(2) } else { line.word(1) };
    if negated && line.word(1) != "option" {
        return cx.led.lost(src, "unknown to the importer");
    }
    match (name, fe, be) {
        ("redispatch", _, Some(be)) => {
            be.main.set("redispatch", Value::Bool(!negated), src.cite());
            cx.led.done(src);
        }
        ("forwardfor", None, Some(be)) if !negated && !dflt && line.words.len() == 2 => {
            be.forwardfor = Some(src.clone());
        }
        // HAProxy ignores forwardfor in tcp mode (httplog falls back to tcplog there).
        ("forwardfor", Some(fe), _) if dflt && fe.mode() == "tcp" => {
            cx.led.note(src, "no key needed: no effect on a tcp frontend, in HAProxy either")
        }
        ("httplog", Some(fe), _) if dflt && fe.mode() == "tcp" => {}
        ("forwardfor", Some(fe), _) if !negated => forwardfor(line, fe, cx),
        ("httplog" | "tcplog", Some(fe), _) if !negated => {
            fe.main.set("access_log_format", Value::str(name), src.cite());
            fe.http_log = true;
            cx.led.done(src);
            if line.words.len() > 2 {
                cx.led.lost_part(src, "option httplog clf", "the CLF variant is not supported");
            }
        }
        ("httpchk" | "tcp-check" | "redis-check" | "ssl-hello-chk" | "mysql-check"
        | "pgsql-check" | "smtpchk" | "ldap-check" | "spop-check" | "external-check", _, Some(be)) => {
            checks::option(line, name, be, cx)
        }
        ("tcpka" | "clitcpka" | "srvtcpka", fe, be) => tcpka::option(line, dflt, fe, be, cx),
        ("allbackups", _, Some(be)) => {
            be.allbackups = true;
            cx.led.note(src, "ringlb always shares the load among all usable backup servers");
        }
        ("http-server-close" | "http-keep-alive" | "http-pretend-keepalive" | "http-use-htx"
        | "contstats" | "splice-auto" | "splice-request" | "splice-response" | "tcp-smart-accept"
        | "tcp-smart-connect" | "socket-stats" | "log-health-checks", _, _) => cx.led.note(
            src,
            "no effect on traffic in ringlb (it keeps client and server connections alive, pools server connections, and logs every health transition)",
        ),
        ("dontlognull" | "log-separate-errors" | "logasap" | "dontlog-normal", _, _) if !cx.g.logs => {
            cx.led.note(src, "there is no log target: nothing is logged either way")
        }
        ("dontlognull", Some(fe), _) => dontlognull(src, fe, negated, cx),
        ("dontlognull", None, Some(_)) if !dflt => {
            cx.led.note(src, "log options of a backend have no effect in HAProxy either")
        }
        ("logasap" | "log-separate-errors", Some(fe), _) => {
            let key = if name == "logasap" { "log_asap" } else { "log_separate_errors" };
            fe.main.set(key, Value::Bool(!negated), src.cite());
            cx.led.done(src);
        }
        ("httpclose", Some(fe), _) if !negated && fe.mode() == "http" => {
            fe.main.set("http_close", Value::Bool(true), src.differs(HTTP_CLOSE));
            cx.led.done(src);
        }
        ("prefer-last-server", _, Some(be)) if !negated => prefer_last(src, be, cx),
        ("abortonclose", _, _) if negated => {
            cx.led.note(src, format!("no key needed: {ABORT_DEFAULT}"))
        }
        ("http-ignore-probes", Some(fe), _) if !negated && fe.mode() == "http" => cx.led.note(
            src,
            "no key needed: an HTTP client connection that closes or times out before sending a byte gets no 408, no log line and no error count in ringlb (src/worker/http_heads.rs)",
        ),
        _ if dflt => {}
        ("abortonclose", _, _) => cx.led.lost(src, format!("{ABORT_DEFAULT}; ringlb cannot drop a request whose client left")),
        ("httpclose", None, Some(be)) if !negated => be.httpclose = Some(src.clone()),
        ("httplog" | "tcplog" | "logasap" | "log-separate-errors", None, Some(_)) => {
            cx.led.note(src, "log options of a backend have no effect in HAProxy either")
        }
        _ => cx.led.lost(src, format!("option {name} has no ringlb equivalent")),
    }
}

/// `option prefer-last-server`: ringlb keeps a client connection on the server its
/// previous request went to, while that connection is open, with `http_reuse =
/// "never"` (each server connection stays with its client connection); with another
/// `http-reuse` it balances every request.
fn prefer_last(src: &Src, be: &mut Be, cx: &mut Cx) {
    match be.main.get("http_reuse").and_then(Value::as_str) {
        None | Some("never") => {
            let note = src.differs("http_reuse = \"never\" keeps a client on its last server while their connection is open, as prefer-last-server does; idle server connections are not shared between clients either");
            be.main.set("http_reuse", Value::str("never"), note);
            be.prefer_last = Some(src.clone());
            cx.led.done(src);
        }
        Some(other) => cx.led.lost(src, prefer_last_lost(other)),
    }
}

pub(super) fn prefer_last_lost(reuse: &str) -> String {
    format!("ringlb keeps a client on its last server only with http_reuse = \"never\"; with http-reuse {reuse} it balances every request")
}

/// How ringlb's `http_close` differs from HAProxy's `option httpclose`.
pub(super) const HTTP_CLOSE: &str = "the request sent to the server does not carry Connection: close (ringlb closes that connection once the response is in)";

/// HAProxy's default without `option abortonclose`, which ringlb's behaviour is.
const ABORT_DEFAULT: &str = "ringlb does not watch the client while its request waits in the queue or for the server: a request whose client closed is still sent and its response read (HAProxy's default, no abortonclose)";

/// `[no] option dontlognull`: ringlb's HTTP frontends never log a connection that
/// ends before a request arrives (src/worker/http_heads.rs: `Ok(None)`); its TCP
/// frontends log one whose client sent no byte unless `log_empty_connections = false`.
fn dontlognull(src: &Src, fe: &mut Fe, negated: bool, cx: &mut Cx) {
    const HTTP: &str =
        "ringlb does not log a connection that closes or times out before sending a byte";
    match (fe.mode() == "http", negated) {
        (true, false) => cx.led.note(src, format!("no key needed: {HTTP}")),
        (true, true) => cx
            .led
            .lost(src, format!("{HTTP} (HAProxy logs it without dontlognull)")),
        (false, _) => {
            fe.main
                .set("log_empty_connections", Value::Bool(negated), src.cite());
            cx.led.done(src);
        }
    }
}
