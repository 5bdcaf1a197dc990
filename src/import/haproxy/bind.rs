//! `bind ADDR[,ADDR...] [options]`: listening addresses, TLS termination (`ssl crt`,
//! `alpn`, `strict-sni`, `crt-list`), `accept-proxy` and `defer-accept`. Options ringlb has no
//! equivalent for are reported one by one; the address is still translated. A
//! `crt-list` file is read at import time (the one file the importer reads besides
//! its input: its lines are what HAProxy would load).

use crate::import::toml_out::{Table, Value};

use super::model::{Bind, Cx, Fe};
use super::sections::Line;
use super::{tls_opts, values};
use crate::import::report::Src;

/// Options without an argument.
const FLAGS: &[&str] = &[
    "ssl",
    "accept-proxy",
    "v4v6",
    "v6only",
    "strict-sni",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "transparent",
    "defer-accept",
    "tfo",
    "allow-0rtt",
    "no-tls-tickets",
    "tls-tickets",
    "prefer-client-ciphers",
    "no-ca-names",
    "generate-certificates",
    "quic-force-retry",
    "ssl-dhparam-file",
];

pub fn bind(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    let src = &line.src;
    let mut tls: Option<Table> = None;
    let mut certs: Vec<Value> = Vec::new();
    let mut proxy = false;
    let mut h2 = false;
    let mut defer = false;
    let mut opts = cx.g.tls_bind.clone();
    let mut unreadable: Option<String> = None;
    let mut i = 2;
    while i < line.words.len() {
        let opt = line.word(i);
        let arg = line.word(i + 1);
        let takes_arg = !FLAGS.contains(&opt);
        let part = |cx: &mut Cx, why: &str| {
            cx.led
                .lost_part(src, format!("bind {opt}"), why.to_string())
        };
        match opt {
            _ if tls_opts::OPTIONS.contains(&opt) => {
                tls_opts::option(&mut opts, opt, arg, src, "bind", cx);
            }
            "ssl" => {
                tls.get_or_insert_with(|| Table::new("[frontend.tls]"));
            }
            "crt" => certs.push(cert(&values::under(cx.g.crt_base.as_deref(), arg))),
            "alpn" => {
                let t = tls.get_or_insert_with(|| Table::new("[frontend.tls]"));
                let list = arg.split(',').map(Value::str).collect();
                t.set("alpn", Value::Arr(list), src.cite());
            }
            "strict-sni" => {
                let t = tls.get_or_insert_with(|| Table::new("[frontend.tls]"));
                t.set("strict_sni", Value::Bool(true), src.cite());
            }
            "accept-proxy" => proxy = true,
            "defer-accept" => defer = true,
            "proto" if arg == "h2" => h2 = true,
            "v4v6" | "name" | "id" | "process" | "thread" | "nice" | "backlog" => {}
            "crt-list" => {
                let path = values::under(cx.g.crt_base.as_deref(), arg);
                match std::fs::read_to_string(&path) {
                    Ok(text) => crt_list(&path, &text, &mut certs, src, cx),
                    Err(e) => unreadable = Some(format!("crt-list {path}: cannot be read at import time ({e}): import where the file is, or list the certificates with crt")),
                }
            }
            "curves" | "ecdhe" | "sigalgs" | "allow-0rtt" => part(
                cx,
                "ringlb offers rustls' default key exchange groups and signature schemes, no 0-RTT",
            ),
            "verify" | "ca-file" | "crl-file" | "ca-verify-file" | "ca-ignore-err"
            | "crt-ignore-err" => part(cx, "client certificates are not supported"),
            _ => part(cx, "no ringlb equivalent"),
        }
        i += if takes_arg { 2 } else { 1 };
    }
    if let Some(t) = tls.as_mut() {
        if certs.is_empty() {
            let why = unreadable.unwrap_or_else(|| {
                "ssl without crt: ringlb needs the certificates listed with crt".into()
            });
            return cx.led.lost(src, why);
        }
        let note = src.differs("the PEM file given to crt must hold the key too (ringlb does not look for a separate .key file)");
        t.set("certificates", Value::Arr(certs), note);
        tls_opts::apply(&opts, t, "", cx);
    }
    let mut any = false;
    for a in line.word(1).split(',') {
        match values::bind_addr(a) {
            Ok(addr) => {
                any = true;
                fe.binds.push(Bind {
                    addr,
                    src: src.clone(),
                    tls: tls.clone(),
                    proxy,
                    h2,
                    defer,
                });
            }
            Err(why) => cx.led.lost_part(src, format!("bind {a}"), why),
        }
    }
    if any {
        cx.led.done(src);
    } else {
        cx.led.lost(src, "no address ringlb can listen on");
    }
}

/// A certificate entry: the PEM file holds the key too.
fn cert(path: &str) -> Value {
    Value::Inline(vec![
        ("cert".into(), Value::str(path)),
        ("key".into(), Value::str(path)),
    ])
}

/// The certificates of a `crt-list` file, in its order (the first is the default, as
/// in HAProxy): one `PATH [[OPTIONS]] [[!]SNI...]` a line, `#` comments. Paths are
/// under `crt-base`, as HAProxy reads them. Per-entry options and SNI filters are
/// reported: ringlb picks a certificate by the names it holds.
fn crt_list(file: &str, text: &str, certs: &mut Vec<Value>, src: &Src, cx: &mut Cx) {
    for (n, raw) in text.lines().enumerate() {
        let mut words = raw.split_whitespace();
        let Some(path) = words.next().filter(|w| !w.starts_with('#')) else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        let at = format!("crt-list {file}:{}", n + 1);
        let mut filters = &rest[..];
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest
                .iter()
                .position(|w| w.ends_with(']'))
                .unwrap_or(rest.len() - 1);
            let opts = rest[..=end].join(" ");
            cx.led.lost_part(
                src,
                format!("{at} {opts}"),
                "per-certificate TLS options are not carried: the bind line's apply to every certificate",
            );
            filters = &rest[end + 1..];
        }
        if !filters.is_empty() {
            cx.led.lost_part(
                src,
                format!("{at} {}", filters.join(" ")),
                "ringlb picks a certificate by the names it holds (SAN, else CN), not by SNI filters: this one answers for its own names",
            );
        }
        certs.push(cert(&values::under(cx.g.crt_base.as_deref(), path)));
    }
}
