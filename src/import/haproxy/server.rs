//! `server`, `default-server` options, `server-template` and `cookie`: one
//! `[[backend.server]]` per server line, with the backend-wide check settings
//! (`inter`, `rise`...) moved to `[backend.check]`, where ringlb keeps them.

use crate::import::report::Src;
use crate::import::toml_out::{Table, Value};

use super::model::{Be, CheckProto, Cx};
use super::sections::Line;
use super::tls_opts::{self, TlsOpts};
use super::values;

/// Server options without an argument.
const FLAGS: &[&str] = &[
    "check",
    "no-check",
    "backup",
    "no-backup",
    "ssl",
    "no-ssl",
    "check-ssl",
    "no-check-ssl",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "no-send-proxy",
    "check-send-proxy",
    "agent-check",
    "no-agent-check",
    "disabled",
    "enabled",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "no-tls-tickets",
    "tfo",
    "non-stick",
    "stick",
    "no-verifyhost",
    "allow-0rtt",
    "no-ssl-reuse",
    "ssl-reuse",
    "check-via-socks4",
    "tls-tickets",
];

/// Server options ringlb cannot carry, and how it behaves instead.
const DIFFERS: &[(&str, &str)] = &[];

/// Options that need no key, and why: ringlb behaves so already, or the difference.
fn same(opt: &str, arg: &str) -> Option<&'static str> {
    Some(match (opt, arg) {
        ("id", _) => "HAProxy's numeric server id; ringlb names servers by name in its statistics, API and logs",
        ("init-addr", _) => "differs: ringlb resolves a server name when the configuration is loaded (with [resolvers]: the server takes no traffic until the first answer); HAProxy's order of sources (last, libc, none, an IP) is not kept",
        _ => return None,
    })
}

/// A temporary server key: the check protocol this server asks for, moved to
/// `be.check_protos` once the server line is read.
const CHECK_PROTO: &str = "check-proto";

/// `alpn h2` to a TLS server: HTTP/2 (ringlb offers `h2` alone then); a list with
/// `http/1.1`: what ringlb offers otherwise (HAProxy would let the server pick h2).
fn alpn(arg: &str, src: &Src, t: &mut Table, cx: &mut Cx) {
    let names: Vec<&str> = arg.split(',').collect();
    if names == ["h2"] {
        return t.set("proto", Value::str("h2"), src.cite());
    }
    if !names.contains(&"http/1.1") {
        return cx.led.lost_part(
            src,
            format!("server alpn {arg}"),
            "ringlb offers http/1.1 to TLS servers, or h2 alone with proto = \"h2\"",
        );
    }
    let why = if names.contains(&"h2") {
        "differs: ringlb offers http/1.1 alone, where HAProxy lets the server choose h2; set proto = \"h2\" for HTTP/2"
    } else {
        "what ringlb offers to TLS servers"
    };
    t.notes.push(format!("{} (alpn {arg}: {why})", src.cite()));
}

/// Why option `opt` is not carried, when ringlb's behaviour is known to differ.
fn differs(opt: &str) -> Option<&'static str> {
    DIFFERS.iter().find(|(k, _)| *k == opt).map(|(_, why)| *why)
}

pub fn server(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    be.server_lines += 1;
    let name = line.word(1);
    let addr = match values::server_addr(line.word(2)) {
        Ok(a) => a,
        Err(why) => return cx.led.lost(src, why),
    };
    let mut t = Table::new("[[backend.server]]");
    t.notes.push(src.cite());
    t.set("name", Value::str(name), src.cite());
    t.set("address", Value::str(&addr), src.cite());
    let defaults = be.default_server.clone();
    let mut opts = cx.g.tls_server.clone();
    for d in &defaults {
        options(&d.words[1..], &d.src, &mut t, &mut opts, be, cx);
    }
    options(&line.words[3..], src, &mut t, &mut opts, be, cx);
    if t.get("tls") == Some(&Value::Bool(true)) {
        tls_opts::apply(&opts, &mut t, "tls_", cx);
    }
    tls_defaults(&mut t, be, cx);
    check_proto(&mut t, be, src);
    if t.get("backup") == Some(&Value::Bool(true)) && !be.allbackups {
        let backups = be
            .servers
            .iter()
            .filter(|s| s.get("backup") == Some(&Value::Bool(true)))
            .count();
        if backups > 0 {
            t.cite("backup", src.differs("ringlb shares the load among all usable backups, as HAProxy does with option allbackups; without it HAProxy uses the first one"));
        }
    }
    be.servers.push(t);
    cx.led.done(src);
}

/// Apply server options (`check inter 2s weight 10 ...`) from one line.
fn options(
    words: &[String],
    src: &Src,
    t: &mut Table,
    opts: &mut TlsOpts,
    be: &mut Be,
    cx: &mut Cx,
) {
    let mut i = 0;
    while i < words.len() {
        let opt = words[i].as_str();
        let arg = words.get(i + 1).map(String::as_str).unwrap_or("");
        i += if FLAGS.contains(&opt) { 1 } else { 2 };
        let int = arg.parse::<i64>().ok();
        if tls_opts::OPTIONS.contains(&opt) {
            if let Some(why) = tls_opts::option(opts, opt, arg, src, "server", cx) {
                t.notes.push(format!("{} ({opt}: {why})", src.cite()));
            }
        } else if let Some((key, value)) = server_key(opt, arg, int, cx) {
            t.set(key, value, src.cite());
        } else {
            other_option(opt, arg, int, src, t, be, cx);
        }
    }
}

/// The key and value of the server's table that option `opt` (its argument `arg`,
/// `int` if a number) sets, when that is all it does.
fn server_key(opt: &str, arg: &str, int: Option<i64>, cx: &Cx) -> Option<(&'static str, Value)> {
    Some(match (opt, int) {
        ("check", _) => ("check", Value::Bool(true)),
        ("no-check", _) => ("check", Value::Bool(false)),
        ("backup", _) => ("backup", Value::Bool(true)),
        ("disabled", _) => ("disabled", Value::Bool(true)),
        ("enabled", _) => ("disabled", Value::Bool(false)),
        ("no-backup", _) => ("backup", Value::Bool(false)),
        ("weight", Some(n)) => ("weight", Value::Int(n)),
        ("maxconn", Some(n)) => ("max_connections", Value::Int(n)),
        ("minconn", Some(n)) => ("min_connections", Value::Int(n)),
        ("ssl", _) => ("tls", Value::Bool(true)),
        ("no-ssl", _) => ("tls", Value::Bool(false)),
        ("verify", _) if arg == "none" => ("verify", Value::Bool(false)),
        ("verify", _) if arg == "required" => ("verify", Value::Bool(true)),
        ("ca-file", _) => (
            "ca_file",
            Value::str(values::under(cx.g.ca_base.as_deref(), arg)),
        ),
        ("sni", _) if arg.starts_with("str(") && arg.ends_with(')') => {
            ("sni", Value::str(&arg[4..arg.len() - 1]))
        }
        ("check-ssl", _) => ("check_tls", Value::Bool(true)),
        ("no-check-ssl", _) => ("check_tls", Value::Bool(false)),
        ("check-sni", _) => ("check_sni", Value::str(arg)),
        ("port", Some(n)) => ("check_port", Value::Int(n)),
        ("addr", _) => ("check_addr", Value::str(arg)),
        ("send-proxy", _) => ("send_proxy", Value::str("v1")),
        ("send-proxy-v2" | "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn", _) => {
            ("send_proxy", Value::str("v2"))
        }
        ("no-send-proxy", _) => ("send_proxy", Value::str("none")),
        ("check-send-proxy", _) => ("check_send_proxy", Value::Bool(true)),
        ("cookie", _) => ("cookie", Value::str(arg)),
        ("agent-check", _) => ("agent_check", Value::Bool(true)),
        ("no-agent-check", _) => ("agent_check", Value::Bool(false)),
        ("agent-port", Some(n)) => ("agent_port", Value::Int(n)),
        ("agent-addr", _) => ("agent_addr", Value::str(arg)),
        ("agent-send", _) => ("agent_send", Value::str(arg)),
        ("resolve-prefer", _) => ("resolve_prefer", Value::str(arg)),
        ("proto", _) if arg == "h2" || arg == "h1" => ("proto", Value::str(arg)),
        ("check-proto", _) if arg == "h2" || arg == "h1" => (CHECK_PROTO, Value::str(arg)),
        _ => return None,
    })
}

/// A server option that is more than one key of the server's table: a time to
/// convert, a key of the backend or of its check, a note, or what ringlb lacks.
fn other_option(
    opt: &str,
    arg: &str,
    int: Option<i64>,
    src: &Src,
    t: &mut Table,
    be: &mut Be,
    cx: &mut Cx,
) {
    let note = src.cite();
    match (opt, int) {
        ("slowstart", _) | ("agent-inter", _) => match values::duration(arg) {
            Some(d) => t.set(
                if opt == "slowstart" {
                    "slow_start"
                } else {
                    "agent_interval"
                },
                Value::str(d),
                note,
            ),
            None => cx.led.lost_part(
                src,
                format!("server {opt}"),
                format!("{arg:?} is not a time"),
            ),
        },
        ("resolvers", _) => resolvers(arg, src, t, cx),
        ("inter" | "fastinter" | "downinter", _) => {
            let key = match opt {
                "inter" => "interval",
                "fastinter" => "fast_interval",
                _ => "down_interval",
            };
            match values::duration(arg) {
                Some(d) => check_key(be, key, Value::str(d), src, opt, cx),
                None => cx.led.lost_part(
                    src,
                    format!("server {opt}"),
                    format!("{arg:?} is not a time"),
                ),
            }
        }
        ("rise" | "fall", Some(n)) => check_key(be, opt, Value::Int(n), src, opt, cx),
        ("observe", _) => be.observe = true,
        ("error-limit", Some(n)) => be.main.set("error_limit", Value::Int(n), note),
        ("alpn", _) => alpn(arg, src, t, cx),
        ("on-marked-down", _) if arg == "shutdown-sessions" => t.set(
            "on_marked_down",
            Value::str("shutdown_sessions"),
            src.differs("ringlb ends the server's TCP-mode sessions; in HTTP mode a request in flight finishes, and idle connections to the server close"),
        ),
        ("on-error", _) if arg == "mark-down" => match be.main.get("error_limit") {
            Some(_) => be.main.cite("error_limit", note),
            None => t.notes.push(format!("{note} (on-error mark-down: what ringlb's backend error_limit does when errors reach it)")),
        },
        ("id" | "init-addr", _) => {
            match same(opt, arg) {
                Some(why) => t.notes.push(format!("{note} ({opt}: {why})")),
                None => cx.led.lost_part(src, format!("server {opt} {arg}"), "no ringlb equivalent"),
            }
        }
        ("maxqueue", _) => be.maxqueue.push(src.clone()),
        _ => {
            let why = differs(opt).unwrap_or("no ringlb equivalent");
            cx.led.lost_part(src, format!("server {opt}"), why)
        }
    }
}

/// `verify none` (or global `ssl-server-verify none`) covers the server's checks too
/// in HAProxy; ringlb keeps the check's `verify` in `[backend.check]`.
fn tls_defaults(t: &mut Table, be: &mut Be, cx: &mut Cx) {
    let tls = t.get("tls") == Some(&Value::Bool(true));
    if let Some(src) =
        cx.g.verify_none
            .clone()
            .filter(|_| tls && t.get("verify").is_none())
    {
        t.set("verify", Value::Bool(false), src.cite());
        cx.led.done(&src);
    }
    let check_tls = t.get("check_tls") == Some(&Value::Bool(true)) || tls;
    if check_tls && t.get("verify") == Some(&Value::Bool(false)) {
        let note = t
            .items
            .iter()
            .find(|i| i.key == "verify")
            .map(|i| i.notes[0].clone())
            .unwrap_or_default();
        be.check.set("verify", Value::Bool(false), note);
    }
}

/// HAProxy checks a server over its own `proto` unless `check-proto` says otherwise.
fn check_proto(t: &mut Table, be: &mut Be, src: &Src) {
    let asked = t.remove(CHECK_PROTO);
    let proto = match (&asked, t.get("proto")) {
        (Some(item), _) => item.value.as_str(),
        (None, Some(p)) => p.as_str(),
        (None, None) => None,
    };
    be.check_protos.push(CheckProto {
        proto: proto.unwrap_or("h1").to_string(),
        asked: asked.and_then(|i| i.notes.last().cloned()),
        src: src.clone(),
    });
}

/// Check settings live on the backend in ringlb: servers that disagree cannot all be
/// carried.
fn check_key(be: &mut Be, key: &str, v: Value, src: &Src, opt: &str, cx: &mut Cx) {
    match be.check.get(key) {
        Some(old) if *old != v => cx.led.lost_part(
            src,
            format!("server {opt}"),
            "ringlb has one check setting per backend; another server's value was kept",
        ),
        Some(_) => be.check.cite(key, src.cite()),
        None => be.check.set(key, v, src.cite()),
    }
}

fn resolvers(name: &str, src: &Src, t: &mut Table, cx: &mut Cx) {
    if cx.g.resolvers_name.as_deref() != Some(name) {
        return cx.led.lost_part(
            src,
            "server resolvers",
            format!("resolvers section {name:?} is not the one translated to [resolvers]"),
        );
    }
    let every =
        cx.g.resolve_every
            .clone()
            .map(|(d, s)| {
                cx.led.done(&s);
                d
            })
            .unwrap_or_else(|| "1s".to_string());
    t.set(
        "resolve_interval",
        Value::str(every),
        src.differs("ringlb re-resolves sooner when the records' TTL is shorter, and the server takes no traffic until the first answer"),
    );
}

/// `server-template PREFIX COUNT ADDRESS [options]`.
pub fn template(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    be.server_lines += 1;
    let count = match line.word(2).split_once('-') {
        Some(("1", n)) => n.parse::<i64>().ok(),
        Some(_) => None,
        None => line.word(2).parse::<i64>().ok(),
    };
    let Some(count) = count else {
        return cx
            .led
            .lost(src, "only counts and ranges starting at 1 are supported");
    };
    let address = line.word(3);
    let address = if address.starts_with('_') && !address.contains(':') {
        address.to_string()
    } else {
        match values::server_addr(address) {
            Ok(a) => a,
            Err(why) => return cx.led.lost(src, why),
        }
    };
    let mut t = Table::new("[[backend.server_template]]");
    t.notes.push(src.cite());
    t.set("prefix", Value::str(line.word(1)), src.cite());
    t.set("count", Value::Int(count), src.cite());
    t.set("address", Value::str(address), src.cite());
    let mut s = Table::new("x");
    let defaults = be.default_server.clone();
    // TLS is not supported on templates (`ssl` is reported below): its options too.
    let mut opts = TlsOpts::default();
    for d in &defaults {
        options(&d.words[1..], &d.src, &mut s, &mut opts, be, cx);
    }
    options(&line.words[4..], src, &mut s, &mut opts, be, cx);
    for item in s.items {
        match item.key.as_str() {
            "weight" | "check" | "backup" | "max_connections" | "resolve_interval"
            | "resolve_prefer" => t.items.push(item),
            other => cx.led.lost_part(
                src,
                format!("server-template {other}"),
                "not supported on server templates",
            ),
        }
    }
    if t.get("resolve_interval").is_none() {
        cx.led.lost_part(
            src,
            "server-template",
            "no resolvers: ringlb resolves templates through [resolvers]; interval 10s assumed",
        );
    }
    be.templates.push(t);
    cx.led.done(src);
}

/// `cookie NAME insert|prefix|rewrite [indirect] [nocache] ...`.
pub fn cookie(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    let mut t = Table::new("[backend.cookie]");
    t.set("name", Value::str(line.word(1)), src.cite());
    let mut mode = None;
    let mut attrs = Vec::new();
    let mut i = 2;
    while i < line.words.len() {
        let w = line.word(i);
        let arg = line.word(i + 1);
        match w {
            "insert" | "prefix" | "rewrite" => mode = Some(w),
            "indirect" | "nocache" | "preserve" | "httponly" | "secure" => {
                t.set(w, Value::Bool(true), src.cite())
            }
            "domain" => {
                t.set("domain", Value::str(arg), src.cite());
                i += 1;
            }
            "attr" => {
                attrs.push(Value::str(arg));
                i += 1;
            }
            "maxidle" | "maxlife" => {
                cx.led.lost_part(
                    src,
                    format!("cookie {w}"),
                    "dates inside the cookie are not supported",
                );
                i += 1;
            }
            _ => cx
                .led
                .lost_part(src, format!("cookie {w}"), "no ringlb equivalent"),
        }
        i += 1;
    }
    let Some(mode) = mode else {
        return cx.led.lost(
            src,
            "a cookie without insert, prefix or rewrite (passive) is not supported",
        );
    };
    t.set("mode", Value::str(mode), src.cite());
    if !attrs.is_empty() {
        t.set("attr", Value::Arr(attrs), src.cite());
    }
    be.cookie = Some(t);
    cx.led.done(src);
}
