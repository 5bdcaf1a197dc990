//! One directive of a proxy section (frontend, backend, listen, or a defaults section
//! they inherit) applied to the frontend and/or backend being built. Lines that come
//! from a defaults section and do not concern this side are left for the other side
//! to decide.

use crate::import::toml_out::Value;

use super::model::{Be, Cx, Fe};
use super::sections::Line;
use super::{
    bind, checks, compression, options, rules, rules_redirect, rules_response, rules_tcp, server,
    values,
};

/// What a directive applies to.
enum Side {
    Front,
    Back,
    Both,
}

pub fn apply(line: &Line, dflt: bool, fe: Option<&mut Fe>, be: Option<&mut Be>, cx: &mut Cx) {
    let w0 = line.word(0);
    if w0 == "stick-table" {
        // Translated before the proxies, so that every rule can name every table.
        return;
    }
    if w0 == "http-after-response" {
        return rules_response::after_response(line, dflt, fe, cx);
    }
    let side = match w0 {
        "bind" | "default_backend" | "use_backend" | "acl" | "http-request" | "http-response"
        | "tcp-request" | "redirect" | "errorfile" | "log-format" | "capture" | "monitor-uri"
        | "maxconn" | "rate-limit" => Side::Front,
        "balance" | "server" | "default-server" | "server-template" | "http-check"
        | "tcp-check" | "cookie" | "retries" | "http-reuse" | "hash-type" | "fullconn"
        | "stick" | "use-server" | "force-persist" | "ignore-persist" => Side::Back,
        "timeout" | "contimeout" | "clitimeout" | "srvtimeout" => {
            return timeout(line, dflt, fe, be, cx)
        }
        "compression" => return compression::apply(line, dflt, fe, be, cx),
        "option" => return options::option(line, dflt, fe, be, cx),
        "no" if line.word(1) == "option" => return options::option(line, dflt, fe, be, cx),
        _ => Side::Both,
    };
    match (side, fe, be) {
        (Side::Front, Some(fe), _) => {
            let http_only = matches!(w0, "http-request" | "http-response" | "redirect" | "errorfile");
            if !(dflt && http_only && fe.mode() == "tcp") {
                front(line, fe, cx)
            }
        }
        (Side::Back, _, Some(be)) => back(line, be, cx),
        (Side::Both, fe, _) => both(line, dflt, fe, cx),
        _ if dflt => {}
        (Side::Front, None, Some(be))
            if matches!(
                w0,
                "acl" | "http-request" | "http-response" | "tcp-request" | "redirect"
            ) =>
        {
            be.rule_lines.push(line.clone())
        }
        (Side::Front, None, _) => match w0 {
            "acl" | "http-request" | "http-response" | "tcp-request" | "redirect" => {
                cx.led.lost(&line.src, BACKEND_RULES)
            }
            "errorfile" => cx.led.lost(
                &line.src,
                "ringlb's error pages belong to frontends (set it on the frontends that use this backend)",
            ),
            _ => cx.led.lost(&line.src, "not valid in a backend"),
        },
        (Side::Back, _, None) => cx.led.lost(&line.src, "not valid in a frontend"),
    }
}

pub(super) fn front(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    let src = &line.src;
    match line.word(0) {
        "bind" => bind::bind(line, fe, cx),
        "default_backend" => {
            fe.main
                .set("default_backend", Value::str(line.word(1)), src.cite());
            fe.default_src = Some(src.clone());
            cx.led.done(src);
        }
        "use_backend" => fe.use_backend.push(line.clone()),
        "acl" => rules::acl_line(line, fe, cx),
        "http-request" => rules::http_request(line, fe, cx),
        "http-response" => rules_response::http_response(line, fe, cx),
        "tcp-request" => rules_tcp::tcp_request(line, fe, cx),
        "redirect" => rules_redirect::redirect(line, fe, cx),
        "errorfile" => rules_response::errorfile(line, fe, cx),
        "log-format" => {
            if line.word(1).contains("%[") {
                cx.led
                    .lost(src, "sample fetches in log-format are not supported");
            } else {
                fe.main
                    .set("access_log_format", Value::str(line.word(1)), src.cite());
                fe.http_log = true;
                cx.led.done(src);
            }
        }
        "capture" => cx
            .led
            .lost(src, "ringlb's access log captures no headers or cookies"),
        "monitor-uri" if fe.mode() == "http" => {
            let mut acl = crate::import::toml_out::Table::new("[[frontend.acl]]");
            acl.set("name", Value::str("monitor_uri"), src.cite());
            acl.set(
                "path",
                Value::Arr(vec![Value::str(line.word(1))]),
                src.cite(),
            );
            fe.acls
                .retain(|a| a.get("name") != Some(&Value::str("monitor_uri")));
            fe.acls.push(acl);
            fe.monitor = Some(src.clone());
            cx.led.done(src);
        }
        "monitor-uri" => cx.led.lost(src, "monitor-uri in a tcp-mode proxy"),
        "maxconn" => match line.word(1).parse::<i64>() {
            Ok(n) => fe.maxconn = Some((n, src.clone())),
            Err(_) => cx.led.lost(src, "not a number"),
        },
        _ => cx.led.lost(src, "no ringlb equivalent"),
    }
}

fn back(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    let w0 = line.word(0);
    be.pinned |= matches!(
        w0,
        "cookie" | "stick" | "use-server" | "force-persist" | "persist"
    );
    match w0 {
        "balance" => super::balance::balance(line, be, cx),
        "server" => server::server(line, be, cx),
        "default-server" => {
            be.default_server.push(line.clone());
            cx.led.done(src);
        }
        "server-template" => server::template(line, be, cx),
        "http-check" => checks::http_check(line, be, cx),
        "tcp-check" => checks::tcp_check(line, be, cx),
        "cookie" => server::cookie(line, be, cx),
        "retries" => match line.word(1).parse::<i64>() {
            Ok(n) => {
                be.main.set("retries", Value::Int(n), src.cite());
                cx.led.done(src);
            }
            Err(_) => cx.led.lost(src, "not a number"),
        },
        "http-reuse" => match line.word(1) {
            w @ ("never" | "safe" | "aggressive" | "always") => {
                if let Some(p) = be.prefer_last.take().filter(|_| w != "never") {
                    cx.led.lost(&p, options::prefer_last_lost(w));
                }
                be.main.set("http_reuse", Value::str(w), src.cite());
                cx.led.done(src);
            }
            other => cx
                .led
                .lost(src, format!("unknown http-reuse strategy {other:?}")),
        },
        // Translated with the backend's other rules (`backend_rules.rs`).
        "use-server" => be.rule_lines.push(line.clone()),
        "hash-type" => super::balance::hash_type(line, be, cx),
        "fullconn" => match line.word(1).parse::<i64>() {
            Ok(n) if n > 0 => {
                be.main.set("full_connections", Value::Int(n), src.cite());
                cx.led.done(src);
            }
            _ => cx.led.lost(src, "not a positive number"),
        },
        _ => cx.led.lost(
            src,
            "no ringlb equivalent (stick tables, persistence and fullconn are not carried over)",
        ),
    }
}

fn both(line: &Line, dflt: bool, fe: Option<&mut Fe>, cx: &mut Cx) {
    let src = &line.src;
    match line.word(0) {
        "mode" => {
            let m = line.word(1);
            if m != "http" && m != "tcp" {
                return cx
                    .led
                    .lost(src, format!("mode {m} has no ringlb equivalent"));
            }
            if let Some(fe) = fe {
                fe.main.set("mode", Value::str(m), src.cite());
                cx.led.done(src);
            } else if !dflt {
                cx.led.note(
                    src,
                    "a backend follows the mode of the frontend that uses it",
                );
            }
        }
        "log" => super::global::proxy_log(line, fe, cx),
        "no" if line.word(1) == "log" => super::global::proxy_log(line, fe, cx),
        "description" | "id" | "enabled" => cx.led.note(src, "naming only"),
        "disabled" => cx
            .led
            .lost(src, "a disabled proxy is not translated; remove it"),
        "stats" => cx.led.lost(
            src,
            "a stats page inside a traffic proxy: ringlb's is on global.admin_bind",
        ),
        "filter" if line.word(1) == "compression" => cx.led.note(
            src,
            "the compression filter is implied by ringlb's compression table (the `compression` lines)",
        ),
        "http-after-response"
        | "http-error"
        | "filter"
        | "declare"
        | "email-alert"
        | "unique-id-format"
        | "unique-id-header"
        | "tcp-response"
        | "persist"
        | "dispatch"
        | "source"
        | "bind-process"
        | "external-check"
        | "load-server-state-from-file"
        | "server-state-file-name"
        | "max-keep-alive-queue"
        | "http-send-name-header" => cx.led.lost(src, "no ringlb equivalent"),
        w if REMOVED_IN_2_1.contains(&w) => cx.led.lost(
            src,
            "removed in HAProxy 2.1 (HAProxy 2.6 refuses the file too): write it as http-request/http-response rules (set-header, add-header, replace-header, replace-path, deny...) and import again",
        ),
        _ if dflt => {}
        _ => cx.led.lost(src, "unknown to the importer"),
    }
}

/// `timeout NAME VALUE` (and the old `contimeout` spellings).
fn timeout(line: &Line, dflt: bool, fe: Option<&mut Fe>, be: Option<&mut Be>, cx: &mut Cx) {
    let src = &line.src;
    let (name, value) = match line.word(0) {
        "contimeout" => ("connect", line.word(1)),
        "clitimeout" => ("client", line.word(1)),
        "srvtimeout" => ("server", line.word(1)),
        _ => (line.word(1), line.word(2)),
    };
    let Some(d) = values::duration(value) else {
        return cx.led.lost(src, format!("{value:?} is not a time"));
    };
    let (fkey, bkey) = match name {
        "client" => (Some("timeout_client"), None),
        "http-request" => (Some("timeout_http_request"), None),
        "http-keep-alive" => (Some("timeout_http_keep_alive"), None),
        "tunnel" => (Some("timeout_tunnel"), Some("timeout_tunnel")),
        "connect" => (None, Some("timeout_connect")),
        "server" => (None, Some("timeout_server")),
        "queue" => (None, Some("timeout_queue")),
        "check" => (None, Some("check")),
        "tarpit" => {
            if let Some(fe) = fe {
                fe.tarpit = Some(d);
                cx.led.note(src, "used as the delay of tarpit rules");
            }
            return;
        }
        "client-fin" => (Some("timeout_client_fin"), None),
        "server-fin" => (None, Some("timeout_server_fin")),
        _ => {
            return cx
                .led
                .lost(src, format!("timeout {name} has no ringlb equivalent"))
        }
    };
    let mut used = false;
    let front = fe.is_some();
    if let (Some(k), Some(fe)) = (fkey, fe) {
        fe.main
            .set(k, Value::str(&d), fin_note(name, src, fe.mode()));
        used = true;
    }
    if let (Some(k), Some(be)) = (bkey, be) {
        if k == "check" {
            let note = src.differs("ringlb's check timeout covers connect and response together");
            be.check.set("timeout", Value::str(&d), note);
        } else {
            be.main.set(k, Value::str(&d), fin_note(name, src, "tcp"));
        }
        used = true;
    }
    if used {
        cx.led.done(src);
    } else if name == "http-request" && !front && !dflt {
        // HAProxy reads a backend's only in its wait for a body buffered by `option
        // http-buffer-request` (the request head is timed by the frontend's).
        cx.led.note(src, "no key needed: a backend's timeout http-request only bounds HAProxy's wait for a request body buffered by option http-buffer-request (not carried: reported where it appears)");
    } else if !dflt {
        cx.led.lost(
            src,
            format!("timeout {name} does not apply to this kind of proxy"),
        );
    }
}

/// The citation of a timeout line; the half-closed ones say where ringlb applies them
/// (HAProxy applies them to HTTP connections too).
fn fin_note(name: &str, src: &crate::import::report::Src, mode: &str) -> String {
    match name {
        "client-fin" | "server-fin" if mode == "http" => src.differs(
            "ringlb applies it to TCP relays and tunnels (WebSocket, CONNECT); an HTTP exchange keeps timeout_client/timeout_server",
        ),
        "server-fin" => src.differs(
            "ringlb applies it to TCP relays and tunnels; in an HTTP backend an exchange keeps timeout_server",
        ),
        _ => src.cite(),
    }
}

/// Directives HAProxy 2.1 removed (in favour of http-request/http-response rules).
const REMOVED_IN_2_1: &[&str] = &[
    "reqadd",
    "reqrep",
    "reqirep",
    "reqdel",
    "reqidel",
    "reqallow",
    "reqiallow",
    "reqdeny",
    "reqideny",
    "reqpass",
    "reqipass",
    "reqtarpit",
    "reqitarpit",
    "rspadd",
    "rsprep",
    "rspirep",
    "rspdel",
    "rspidel",
    "rspdeny",
    "rspideny",
    "block",
];

/// Why a backend's rules stay behind: HAProxy runs them after the backend is chosen.
pub(super) const BACKEND_RULES: &str =
    "rules in a backend run after the backend is chosen; ringlb's rules belong to frontends";
