//! One ringlb frontend per kind of bind (a child of `finish.rs`): HAProxy binds of
//! one frontend grouped by what ringlb sets per frontend (TLS, PROXY protocol, h2
//! prior knowledge, `defer_accept`), each group's frontend table with its TLS table,
//! rules, error pages and routes.

use crate::import::haproxy::model::{Bind, Fe};
use crate::import::report::Src;
use crate::import::toml_out::{Table, Value};

/// Binds grouped by what ringlb sets per frontend: TLS, PROXY protocol, HTTP/2 with
/// prior knowledge, `defer_accept`.
pub(super) fn groups(binds: &[Bind]) -> Vec<Vec<Bind>> {
    let mut out: Vec<Vec<Bind>> = Vec::new();
    for b in binds {
        let alike =
            |g: &Bind| g.tls == b.tls && g.proxy == b.proxy && g.h2 == b.h2 && g.defer == b.defer;
        match out.iter_mut().find(|g| alike(&g[0])) {
            Some(g) => g.push(b.clone()),
            None => out.push(vec![b.clone()]),
        }
    }
    out
}

pub(super) fn one_frontend(fe: &Fe, binds: &[Bind], i: usize, routes: &[Table]) -> Vec<Table> {
    let mut main = fe.main.clone();
    let b0 = &binds[0];
    if i > 0 {
        let suffix = match (&b0.tls, b0.proxy) {
            (Some(_), _) => "tls".to_string(),
            (None, true) => "pp".to_string(),
            _ => format!("{}", i + 1),
        };
        let why = "HAProxy binds of another kind (TLS, PROXY, defer-accept) in the same frontend: ringlb sets these per frontend";
        main.set(
            "name",
            Value::str(format!("{}-{suffix}", fe.name)),
            b0.src.differs(why),
        );
    }
    let addrs: Vec<Value> = binds.iter().map(|b| Value::str(&b.addr)).collect();
    main.set("bind", Value::Arr(addrs), b0.src.cite());
    for b in &binds[1..] {
        main.cite("bind", b.src.cite());
    }
    if b0.proxy {
        proxy_keys(&mut main, &b0.src);
    }
    if b0.defer {
        main.set("defer_accept", Value::Bool(true), b0.src.cite());
    }
    let h2c = b0.h2 && b0.tls.is_none();
    if h2c && fe.mode() == "http" {
        main.set("h2c", Value::str("prior-knowledge"), b0.src.cite());
    } else if h2c {
        let why = "proto h2 on a tcp-mode bind: ringlb relays the bytes as they come";
        main.notes.push(b0.src.differs(why));
    }
    let mut out = vec![main];
    if let Some(tls) = &b0.tls {
        out.push(tls_table(tls, fe.mode(), b0));
    }
    out.extend(fe.acls.iter().cloned());
    out.extend(fe.tcp_rules.iter().cloned());
    out.extend(fe.http_rules.iter().cloned());
    out.extend(fe.response_rules.iter().cloned());
    out.extend(fe.error_pages.iter().cloned());
    out.extend(routes.iter().cloned());
    out
}

fn proxy_keys(main: &mut Table, src: &Src) {
    main.set("proxy_protocol", Value::str("any"), src.cite());
    let all = Value::Arr(vec![Value::str("0.0.0.0/0"), Value::str("::/0")]);
    main.set(
        "proxy_protocol_from",
        all,
        src.differs(
            "HAProxy's accept-proxy trusts every peer; narrow this list to the proxies in front",
        ),
    );
}

/// In http mode ringlb speaks h2, HTTP/1.1 and HTTP/1.0: other ALPN names are left
/// out. `proto h2` on a TLS bind speaks HTTP/2 to every client: `alpn = ["h2"]`.
fn tls_table(tls: &Table, mode: &str, b: &Bind) -> Table {
    let mut t = tls.clone();
    let src = &b.src;
    if mode != "http" {
        return t;
    }
    if b.h2 {
        let why = "HAProxy's proto h2 also takes clients that offer no ALPN; ringlb refuses them at the handshake";
        t.set("alpn", Value::Arr(vec![Value::str("h2")]), src.differs(why));
    }
    if let Some(Value::Arr(list)) = t.get("alpn").cloned() {
        let kept: Vec<Value> = list
            .iter()
            .filter(|v| matches!(v.as_str(), Some("h2" | "http/1.1" | "http/1.0")))
            .cloned()
            .collect();
        if kept.len() != list.len() {
            let note = src.differs("ringlb's http mode speaks h2, HTTP/1.1 and HTTP/1.0: other protocols are not offered");
            if kept.is_empty() {
                t.remove("alpn");
            } else {
                t.set("alpn", Value::Arr(kept), note);
            }
        }
    }
    t
}
