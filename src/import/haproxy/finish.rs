//! The last step: HAProxy's implicit behaviour made explicit where ringlb's defaults
//! differ (no redispatch, no passive health without `observe`, `timeout
//! http-request` and `timeout queue` falling back to other timeouts), `use_backend`
//! resolved, one ringlb frontend per kind of bind (`finish_binds.rs`), and every
//! table in order.

use std::collections::HashMap;

use crate::import::report::Src;
use crate::import::toml_out::{Table, Value};

use super::carried::{forwardfor, httpclose, Carried};
use super::model::{Be, Cx, Fe};
use super::{backend_rules, checks, limits, routes};
use binds::{groups, one_frontend};

#[path = "finish_binds.rs"]
mod binds;

pub fn tables(mut fes: Vec<Fe>, mut bes: Vec<Be>, cx: &mut Cx) -> Vec<Table> {
    let mut out = Vec::new();
    let mut backends = Vec::new();
    let mut known: Vec<String> = Vec::new();
    let mut empty: Vec<String> = Vec::new();
    let by_backend = |opt: fn(&Be) -> &Option<Src>| -> HashMap<String, Src> {
        bes.iter()
            .filter_map(|b| Some((b.name.clone(), opt(b).clone()?)))
            .collect()
    };
    let carried = Carried {
        forwardfor: by_backend(|b| &b.forwardfor),
        httpclose: by_backend(|b| &b.httpclose),
    };
    for be in &mut bes {
        backend_rules::move_tcp_rules(be, &mut fes, cx);
    }
    for mut be in bes {
        if be.servers.is_empty() && be.templates.is_empty() && cx.g.table_names.contains(&be.name) {
            cx.led
                .note(&be.head, "a backend that only holds a stick table");
            backend_rules::lost_with(&be, cx);
            continue;
        }
        if be.servers.is_empty() && be.templates.is_empty() && be.server_lines == 0 {
            cx.led.note(&be.head, "a backend without servers: HAProxy answers 503, and so do the 503 rules of the frontends that use it");
            empty.push(be.name.clone());
            backend_rules::lost_with(&be, cx);
            continue;
        }
        if be.servers.is_empty() && be.templates.is_empty() {
            cx.led.lost(
                &be.head,
                "no server of this backend was translated (requests sent to it get a 503 rule)",
            );
            backend_rules::lost_with(&be, cx);
            continue;
        }
        known.push(be.name.clone());
        limits::maxqueue(&mut be, cx);
        checks::proto(&mut be, cx);
        super::balance::finish(&mut be, cx);
        let rules = backend_rules::translate(&be, cx);
        backends.extend(backend(be));
        backends.extend(rules);
    }
    let mut frontends = Vec::new();
    let mut logs = false;
    limits::maxconn(&mut fes, cx);
    for fe in fes {
        logs |= fe.http_log;
        frontends.extend(frontend(fe, &known, &empty, &carried, cx));
    }
    for src in carried.forwardfor.values() {
        if !cx.led.decided(src) {
            cx.led.lost(src, "ringlb adds X-Forwarded-For per frontend: a frontend using this backend also uses others without it (or none uses it)");
        }
    }
    for src in carried.httpclose.values() {
        if !cx.led.decided(src) {
            cx.led.lost(src, "ringlb's http_close is per frontend: a frontend using this backend also uses others without it (or none uses it); HAProxy 2.6 closes both sides after each exchange");
        }
    }
    if logs && cx.g.logs {
        let note = "option httplog/tcplog or log-format with a log target".to_string();
        cx.g.main.set("access_log", Value::Bool(true), note);
    }
    if !cx.g.main.is_empty() {
        out.push(cx.g.main.clone());
    }
    out.extend(cx.g.resolvers.clone());
    out.extend(cx.g.tables.clone());
    out.extend(cx.g.userlists.clone());
    out.extend(frontends);
    out.extend(backends);
    out
}

fn backend(mut be: Be) -> Vec<Table> {
    let head = be.head.clone();
    let m = &mut be.main;
    if m.get("redispatch").is_none() {
        m.set(
            "redispatch",
            Value::Bool(false),
            format!(
                "{}: no option redispatch: HAProxy does not redispatch",
                head.file
            ),
        );
    }
    if m.get("timeout_queue").is_none() {
        if let Some(item) = be
            .main
            .items
            .iter()
            .find(|i| i.key == "timeout_connect")
            .cloned()
        {
            let note = format!(
                "{} (timeout queue defaults to timeout connect in HAProxy)",
                item.notes[0]
            );
            be.main.set("timeout_queue", item.value, note);
        }
    }
    for (k, h) in [("timeout_connect", "connect"), ("timeout_server", "server")] {
        if be.main.get(k).is_none() {
            be.main.notes.push(format!(
                "no timeout {h} in HAProxy (no limit); ringlb's default applies"
            ));
        }
    }
    let checked = be
        .servers
        .iter()
        .any(|s| s.get("check") == Some(&Value::Bool(true)));
    if checked && !be.observe && be.main.get("error_limit").is_none() {
        be.main.set(
            "error_limit",
            Value::Int(0),
            format!(
                "{}: no observe on its servers: HAProxy marks servers down by their checks only",
                head.file
            ),
        );
    }
    let mut out = vec![be.main];
    if !be.check.is_empty() {
        out.push(be.check);
        let http = out[1].get("kind") == Some(&Value::str("http"));
        if !http {
            out.extend(be.steps);
        }
    }
    out.extend(be.cookie);
    if !be.hash.is_empty() {
        out.push(be.hash);
    }
    out.extend(be.compression.table);
    out.extend(be.servers);
    out.extend(be.templates);
    out
}

fn frontend(
    mut fe: Fe,
    known: &[String],
    empty: &[String],
    carried: &Carried,
    cx: &mut Cx,
) -> Vec<Table> {
    let has = |b: &str| known.iter().any(|k| k == b);
    if let Some(b) = fe
        .main
        .get("default_backend")
        .and_then(Value::as_str)
        .map(String::from)
    {
        if !has(&b) {
            fe.main.remove("default_backend");
            match fe.default_src.clone() {
                Some(src) if empty.contains(&b) => cx.led.note(
                    &src,
                    "its backend has no servers: HAProxy answers 503, and so does the frontend's last rule",
                ),
                Some(src) => cx.led.lost(&src, format!("backend {b:?} was not translated")),
                None => {}
            }
        }
    }
    super::tables::resolve(&mut fe, cx);
    let redirects = std::mem::take(&mut fe.redirects);
    fe.http_rules.extend(redirects);
    if let Some(src) = fe.monitor.clone() {
        let note = src.differs("ringlb's body differs from HAProxy's \"Service ready\" page");
        let mut t = Table::new("[[frontend.http_rule]]");
        t.notes.push(src.cite());
        t.set("action", Value::str("return"), note);
        t.set("status", Value::Int(200), src.cite());
        t.set("if", Value::str("monitor_uri"), src.cite());
        fe.http_rules.insert(0, t);
    }
    let first_use = fe.use_backend.first().map(|l| l.word(1).to_string());
    fe.use_backend_count = fe.use_backend.len();
    let routes = routes::finish_use_backend(&mut fe, &|b| has(b), cx);
    sni_lines(&mut fe, !routes.is_empty(), cx);
    if fe.main.get("default_backend").is_none()
        && !no_default(known, &mut fe, first_use, &routes, &has, cx)
    {
        return Vec::new();
    }
    forwardfor(&mut fe, &carried.forwardfor, cx);
    httpclose(&mut fe, &carried.httpclose, cx);
    timeouts(&mut fe);
    let compression = super::compression::frontend_table(&mut fe, cx);
    if fe.binds.is_empty() {
        cx.led
            .lost(&fe.head, "a frontend with no address ringlb can listen on");
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, group) in groups(&fe.binds).into_iter().enumerate() {
        let mut tables = one_frontend(&fe, &group, i, &routes);
        let after_tls = 1 + usize::from(group[0].tls.is_some());
        if let Some(c) = &compression {
            tables.insert(after_tls, c.clone());
        }
        out.extend(tables);
    }
    // Two TLS groups (other certificates or ALPN) would both be NAME-tls.
    let mut seen: Vec<String> = Vec::new();
    for t in out.iter_mut().filter(|t| t.header == "[[frontend]]") {
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if seen.contains(&name) {
            let unique = format!("{name}-{}", seen.len() + 1);
            t.cite(
                "name",
                format!("renamed {unique}: another frontend of that name"),
            );
            if let Some(item) = t.items.iter_mut().find(|i| i.key == "name") {
                item.value = Value::str(&unique);
            }
            seen.push(unique);
        } else {
            seen.push(name);
        }
    }
    out
}

/// Without a default backend HAProxy answers 503 when no `use_backend` matches. In
/// http mode with only `if` conditions that is a last `return 503` rule `unless` any
/// of them holds (ringlb still wants a default_backend: the first one, never reached).
fn no_default(
    known: &[String],
    fe: &mut Fe,
    first_use: Option<String>,
    routes: &[Table],
    has: &dyn Fn(&str) -> bool,
    cx: &mut Cx,
) -> bool {
    if fe.mode() == "tcp" {
        if routes.is_empty() {
            cx.led.lost(
                &fe.head,
                "a tcp frontend without default_backend (or whose backend was not translated)",
            );
            return false;
        }
        return true;
    }
    let allows = fe
        .http_rules
        .iter()
        .any(|r| r.get("action") == Some(&Value::str("allow")));
    if fe.use_backend_count == 0 && !allows {
        // Every request the rules do not answer gets HAProxy's 503 (no backend).
        let Some(b) = known.first() else {
            cx.led.lost(
                &fe.head,
                "a frontend without backend needs some backend for ringlb's default_backend",
            );
            return false;
        };
        let note = fe
            .head
            .differs("no default_backend: HAProxy answers 503 to what its rules do not answer");
        let mut t = Table::new("[[frontend.http_rule]]");
        t.notes.push(note.clone());
        t.set("action", Value::str("return"), note.clone());
        t.set("status", Value::Int(503), note.clone());
        fe.http_rules.push(t);
        fe.main.set(
            "default_backend",
            Value::str(b),
            format!("{note} (never reached)"),
        );
        return true;
    }
    let uses: Vec<&Table> = fe
        .http_rules
        .iter()
        .filter(|r| r.get("action") == Some(&Value::str("use_backend")))
        .collect();
    let conds: Option<Vec<String>> = uses
        .iter()
        .map(|r| r.get("if").and_then(Value::as_str).map(String::from))
        .collect();
    match (first_use.filter(|b| has(b)), conds) {
        (Some(b), Some(conds)) if !conds.is_empty() => {
            let note = fe
                .head
                .differs("no default_backend: HAProxy answers 503 when no use_backend matches");
            let mut t = Table::new("[[frontend.http_rule]]");
            t.notes.push(note.clone());
            t.set("action", Value::str("return"), note.clone());
            t.set("status", Value::Int(503), note.clone());
            t.set("unless", Value::str(conds.join(" || ")), note.clone());
            fe.http_rules.push(t);
            fe.main.set(
                "default_backend",
                Value::str(b),
                format!("{note} (never reached: the rule above answers first)"),
            );
            true
        }
        _ => {
            cx.led.lost(
                &fe.head,
                "a frontend without a default_backend ringlb can use",
            );
            false
        }
    }
}

/// `tcp-request inspect-delay` and `content accept if { req_ssl_hello_type 1 }` are
/// how HAProxy waits for the ClientHello: ringlb does that whenever it routes by SNI.
fn sni_lines(fe: &mut Fe, routes: bool, cx: &mut Cx) {
    for line in std::mem::take(&mut fe.sni_lines) {
        let src = &line.src;
        if !routes {
            cx.led.lost(
                src,
                "content inspection is translated only for routing by SNI",
            );
            continue;
        }
        if line.word(1) == "inspect-delay" {
            if let Some(d) = super::values::duration(line.word(2)) {
                fe.main
                    .set("timeout_client_handshake", Value::str(d), src.cite());
                cx.led.done(src);
                continue;
            }
        }
        let hello = line.words.iter().any(|w| w.contains("ssl_hello_type"));
        if hello {
            cx.led
                .note(src, "ringlb reads the ClientHello before routing by SNI");
        } else {
            cx.led
                .lost(src, "only waiting for the ClientHello is translated");
        }
    }
}

/// HAProxy's `timeout http-request` defaults to `timeout client`, and
/// `http-keep-alive` to `http-request`.
fn timeouts(fe: &mut Fe) {
    let m = &mut fe.main;
    if m.get("timeout_client").is_none() {
        m.notes
            .push("no timeout client in HAProxy (no limit); ringlb's default applies".into());
    }
    if fe.mode() != "http" {
        return;
    }
    let m = &mut fe.main;
    let item = |m: &Table, k: &str| m.items.iter().find(|i| i.key == k).cloned();
    if m.get("timeout_http_request").is_none() {
        if let Some(c) = item(m, "timeout_client") {
            let note = format!(
                "{} (timeout http-request defaults to timeout client in HAProxy)",
                c.notes[0]
            );
            m.set("timeout_http_request", c.value, note);
        }
    }
    if m.get("timeout_http_keep_alive").is_none() {
        if let Some(c) = item(m, "timeout_http_request") {
            let note = format!(
                "{} (timeout http-keep-alive defaults to timeout http-request in HAProxy)",
                c.notes[0]
            );
            m.set("timeout_http_keep_alive", c.value, note);
        }
    }
}
