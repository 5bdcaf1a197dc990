//! `use_backend` lines, translated once the frontend's mode is known: `use_backend`
//! http rules in http mode (a log-format name as `backend_format`), `[[frontend.route]] sni` in tcp mode (from `req.ssl_sni`
//! ACLs). A backend that was not translated gets a 503, as HAProxy answers when a
//! backend has no server.

use crate::import::toml_out::{Table, Value};

use super::acl::{self, Acl};
use super::model::{Cx, Fe};
use super::rules::{rule, with_condition};
use super::sections::Line;

/// `use_backend` lines once the mode is known: http rules in http mode, SNI routes in
/// tcp mode. Backends that were not translated get a 503, as HAProxy gives when a
/// backend has no usable server.
pub fn finish_use_backend(fe: &mut Fe, known: &dyn Fn(&str) -> bool, cx: &mut Cx) -> Vec<Table> {
    let lines = std::mem::take(&mut fe.use_backend);
    let mut out = Vec::new();
    for line in &lines {
        let src = &line.src;
        let backend = line.word(1);
        if backend.contains('%') && fe.mode() == "tcp" {
            cx.led.lost(
                src,
                "dynamic backend names are translated in http mode only",
            );
            continue;
        }
        if backend.contains('%') {
            match super::rules::format_value(backend) {
                Ok((_, relative)) => {
                    let mut t = rule("[[frontend.http_rule]]", "use_backend", line);
                    let note = match relative {
                        Some(f) => src.differs(&format!("map file {f:?} is relative: ringlb reads it from the configuration's directory, HAProxy from its working directory")),
                        None => src.cite(),
                    };
                    t.set("backend_format", Value::str(backend), note);
                    match with_condition(&mut t, line, 2, fe) {
                        Ok(()) => {
                            fe.http_rules.push(t);
                            cx.led.done(src);
                        }
                        Err(why) => cx.led.lost(src, why),
                    }
                }
                Err(why) => cx.led.lost(src, format!("dynamic backend name: {why}")),
            }
            continue;
        }
        if fe.mode() == "tcp" {
            match sni_route(line, fe) {
                Some(routes) if known(backend) => {
                    out.extend(routes);
                    cx.led.done(src);
                }
                Some(_) => cx.led.lost(src, format!("backend {backend:?} was not translated")),
                None => cx.led.lost(src, "in tcp mode only routing by the ClientHello's name (req.ssl_sni) is translated"),
            }
            continue;
        }
        let mut t = if known(backend) {
            let mut t = rule("[[frontend.http_rule]]", "use_backend", line);
            t.set("backend", Value::str(backend), src.cite());
            t
        } else {
            let mut t = rule("[[frontend.http_rule]]", "return", line);
            t.set("status", Value::Int(503), src.differs(&format!("backend {backend:?} was not translated: answered with 503 as HAProxy does when a backend has no server")));
            t
        };
        match with_condition(&mut t, line, 2, fe) {
            Ok(()) => {
                fe.http_rules.push(t);
                cx.led.done(src);
            }
            Err(why) => cx.led.lost(src, why),
        }
    }
    out
}

/// `use_backend B if SNI_ACL` (named or `{ req.ssl_sni ... }`): one route per name.
fn sni_route(line: &Line, fe: &mut Fe) -> Option<Vec<Table>> {
    let w = &line.words;
    if w.get(2).map(String::as_str) != Some("if") {
        return None;
    }
    let names = match &w[3..] {
        [one] => fe.sni_acls.get(one.as_str()).cloned()?,
        [open, rest @ .., close] if open == "{" && close == "}" => {
            match acl::translate("sni", rest, "").ok()? {
                Acl::Sni(n) => n,
                Acl::Table(_) => return None,
            }
        }
        _ => return None,
    };
    Some(
        names
            .into_iter()
            .map(|n| {
                let mut t = Table::new("[[frontend.route]]");
                t.notes.push(line.src.cite());
                t.set("sni", Value::str(n), line.src.cite());
                t.set("backend", Value::str(line.word(1)), line.src.cite());
                t
            })
            .collect(),
    )
}
