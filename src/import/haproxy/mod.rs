//! haproxy.cfg → ringlb tables.
//!
//! - `sections.rs`: the file into sections and tokenized lines (parse errors here).
//! - `values.rs`: times, addresses, paths in ringlb's spelling.
//! - `model.rs`: the frontend/backend/global being built.
//! - `proxy.rs`: one proxy directive (mode, timeouts, balance...) → model.
//! - `options.rs`: `[no] option ...` lines → frontend/backend keys, notes or reports.
//! - `carried.rs`: backend options set on the frontends whose every backend has them.
//! - `backend_rules.rs`: a backend's own rules and `use-server` → `[[backend.*]]` rules.
//! - `bind.rs`: `bind` lines (TLS, PROXY protocol).
//! - `compression.rs`: `compression ...` → `[frontend.compression]` / `[backend.compression]`.
//! - `server.rs`: `server`, `default-server`, `server-template`, `cookie`.
//! - `balance.rs`: `balance` (and its arguments), `hash-type` → `balance`, `[backend.hash]`.
//! - `checks.rs`: `option httpchk`, `http-check`, `tcp-check`, `redis-check`.
//! - `acl.rs`: ACL fetches → `[[frontend.acl]]` kinds (`acl_tests.rs`).
//! - `rules.rs`: ACL lines, conditions, `http-request` rules (`rules_tests.rs`).
//! - `rules_redirect.rs`: `redirect` lines, the redirect/return arguments of `http-request`.
//! - `rules_response.rs`: `http-response` rules, those after the response, error files.
//! - `rules_tcp.rs`: `tcp-request` connection and content rules.
//! - `routes.rs`: `use_backend` as http rules or SNI routes.
//! - `tables.rs`: stick tables, tracking rules, counter ACLs.
//! - `global.rs`: `global`, `resolvers`, log targets, the stats listener.
//! - `finish.rs`: HAProxy's implicit defaults made explicit, and the tables in order.
//! - `finish_binds.rs`: one ringlb frontend per kind of bind (a child of `finish.rs`).
//! - `users.rs`: `userlist` sections and `stats auth` → `[[userlist]]`.
//! - `limits.rs`: frontend `maxconn` and server `maxqueue`, decided once all is read.
//! - `log_copy.rs`: a second `log` target for events only → `global.syslog_copy`.
//! - `stats_auth.rs`: a stats listener's `http_auth` rules → `admin_userlist`, `admin_write_groups`.
//! - `tls_opts.rs`: TLS versions, cipher suites, tickets (global defaults, binds, servers).
//! - `mailers.rs`: `mailers` sections and `email-alert` lines → `[mail]`.
//! - `tcpka.rs`: `option tcpka` / `clitcpka` / `srvtcpka` → `tcp_keepalive`.
//! - `tests.rs`: whole-file translations and the helpers of the other `tests_*.rs`
//!   (`admin`, `gained`, `limits`, `mailers`, `misc`, `options`, `servers`).

mod acl;
mod backend_rules;
mod balance;
mod bind;
mod carried;
mod checks;
mod compression;
mod finish;
mod global;
mod limits;
mod log_copy;
mod mailers;
mod model;
mod options;
mod proxy;
mod routes;
mod rules;
mod rules_redirect;
mod rules_response;
mod rules_tcp;
mod sections;
mod server;
mod stats_auth;
mod tables;
mod tcpka;
mod tls_opts;
mod users;
mod values;

use std::collections::HashMap;

use super::report::Ledger;
use super::toml_out::Table;
use super::ImportError;
use model::{Be, Cx, Fe, Global};
use sections::{Kind, Line, Section};

/// Translate one haproxy.cfg into ringlb tables; every line's fate goes to `led`.
pub fn translate(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    led: &mut Ledger,
) -> Result<Vec<Table>, ImportError> {
    let secs = sections::read(file, text, env, led)?;
    let mut g = Global::default();
    let mut cx = Cx { led, g: &mut g };
    for s in &secs {
        match s.kind {
            Kind::Global => global::global(s, &mut cx),
            Kind::Resolvers => global::resolvers(s, &mut cx),
            Kind::Userlist => users::userlist(s, &mut cx),
            Kind::Other => other(s, &mut cx),
            Kind::Frontend | Kind::Backend | Kind::Listen => {
                for l in s.body.iter().filter(|l| l.word(0) == "stick-table") {
                    tables::stick_table(l, &s.name, &mut cx);
                }
            }
            _ => {}
        }
    }
    let mut fes: Vec<Fe> = Vec::new();
    let mut bes: Vec<Be> = Vec::new();
    let mut named: HashMap<&str, usize> = HashMap::new();
    let mut last_defaults: Option<usize> = None;
    let mut used_defaults: Vec<usize> = Vec::new();
    let mut alerts: Vec<(&str, Vec<&Line>)> = Vec::new();
    for (i, s) in secs.iter().enumerate() {
        match s.kind {
            Kind::Defaults => {
                cx.led.note(
                    &s.head.src,
                    "defaults section: its lines are applied to the proxies that inherit them",
                );
                if s.from.is_some() {
                    chain(&secs, &named, i, s)?;
                }
                if !s.name.is_empty() {
                    named.insert(&s.name, i);
                }
                last_defaults = Some(i);
            }
            Kind::Frontend | Kind::Backend | Kind::Listen => {
                let dflt = match &s.from {
                    Some(_) => chain(&secs, &named, i, s)?,
                    None => match last_defaults {
                        Some(d) => chain(&secs, &named, d, &secs[d])?,
                        None => Vec::new(),
                    },
                };
                used_defaults.extend(dflt.iter().map(|&(d, _)| d));
                let dlines: Vec<&Line> = dflt.iter().map(|&(d, j)| &secs[d].body[j]).collect();
                let own = dlines.iter().copied().chain(&s.body);
                let own: Vec<&Line> = own.filter(|l| mailers::is_email_alert(l)).collect();
                match s.kind {
                    Kind::Frontend => own.iter().for_each(|l| {
                        cx.led.note(
                            &l.src,
                            "a frontend has no servers: HAProxy mails nothing for it",
                        )
                    }),
                    _ => alerts.push((&s.name, own)),
                }
                if global::is_stats_listener(s) {
                    global::stats_listener(s, &mut cx);
                    continue;
                }
                proxy_section(s, &dlines, &mut fes, &mut bes, &mut cx);
            }
            _ => {}
        }
    }
    let mail = mailers::translate(&secs, &alerts, &mut cx);
    mailers::unused(&secs, &mut cx);
    for (i, s) in secs.iter().enumerate() {
        if s.kind == Kind::Defaults {
            settle_defaults(s, used_defaults.contains(&i), &mut cx);
        }
    }
    let mut tables = finish::tables(fes, bes, &mut cx);
    tables.extend(mail);
    Ok(tables)
}

/// The defaults lines a section inherits, as (section, line) indexes, oldest first:
/// `from NAME` chains are followed; a plain defaults section starts afresh.
fn chain(
    secs: &[Section],
    named: &HashMap<&str, usize>,
    start: usize,
    s: &Section,
) -> Result<Vec<(usize, usize)>, ImportError> {
    let mut order = Vec::new();
    let mut at = if s.kind == Kind::Defaults {
        Some(start)
    } else {
        None
    };
    let mut from = if s.kind == Kind::Defaults {
        None
    } else {
        s.from.clone()
    };
    loop {
        if let Some(name) = from.take() {
            let d = *named.get(name.as_str()).ok_or_else(|| ImportError::Parse {
                file: s.head.src.file.clone(),
                line: s.head.src.line,
                message: format!("defaults section {name:?} is not defined before this line"),
            })?;
            at = Some(d);
        }
        let Some(d) = at.take() else { break };
        if order.contains(&d) || order.len() > 64 {
            return Err(ImportError::Parse {
                file: s.head.src.file.clone(),
                line: s.head.src.line,
                message: "defaults sections inherit from each other in a loop".into(),
            });
        }
        order.push(d);
        from = secs[d].from.clone();
    }
    order.reverse();
    Ok(order
        .into_iter()
        .flat_map(|d| (0..secs[d].body.len()).map(move |j| (d, j)))
        .collect())
}

fn proxy_section(s: &Section, dlines: &[&Line], fes: &mut Vec<Fe>, bes: &mut Vec<Be>, cx: &mut Cx) {
    let mut fe =
        matches!(s.kind, Kind::Frontend | Kind::Listen).then(|| Fe::new(&s.name, &s.head.src));
    let mut be =
        matches!(s.kind, Kind::Backend | Kind::Listen).then(|| Be::new(&s.name, &s.head.src));
    cx.led.done(&s.head.src);
    if let Some(fe) = fe.as_mut() {
        fe.tables = cx.g.table_names.clone();
        // The mode decides how rules translate: take the last one said, first.
        let mode = dlines
            .iter()
            .copied()
            .chain(s.body.iter())
            .rfind(|l| l.word(0) == "mode");
        if let Some(m) = mode.filter(|m| m.word(1) == "http") {
            fe.final_mode = "http".into();
            fe.main.set(
                "mode",
                crate::import::toml_out::Value::str("http"),
                m.src.cite(),
            );
        }
        if s.kind == Kind::Listen {
            fe.main.set(
                "default_backend",
                crate::import::toml_out::Value::str(&s.name),
                s.head.src.cite(),
            );
            fe.default_src = Some(s.head.src.clone());
        }
    }
    // Old syntax: `frontend NAME ADDR` / `listen NAME ADDR` binds on the header line.
    let head_bind = !s.head.word(2).is_empty() && s.head.word(2) != "from";
    if let Some(fe) = fe.as_mut().filter(|_| head_bind) {
        let mut words = vec!["bind".to_string()];
        words.extend(s.head.words[2..].iter().cloned());
        bind::bind(
            &Line {
                src: s.head.src.clone(),
                words,
            },
            fe,
            cx,
        );
    }
    // `email-alert` lines: `mailers.rs`, once every proxy is read.
    for l in dlines.iter().filter(|l| !mailers::is_email_alert(l)) {
        proxy::apply(l, true, fe.as_mut(), be.as_mut(), cx);
    }
    for l in s.body.iter().filter(|l| !mailers::is_email_alert(l)) {
        proxy::apply(l, false, fe.as_mut(), be.as_mut(), cx);
    }
    fes.extend(fe);
    bes.extend(be);
}

/// Defaults lines no proxy decided: ask once, as for a proxy of both kinds, whether
/// ringlb could carry them; if so they simply had nothing to apply to.
fn settle_defaults(s: &Section, used: bool, cx: &mut Cx) {
    for l in &s.body {
        if cx.led.decided(&l.src) {
            continue;
        }
        if mailers::is_email_alert(l) {
            cx.led
                .note(&l.src, "no backend inherits it: nothing to mail about");
            continue;
        }
        let mut scratch = Ledger::default();
        let mut g = Global {
            logs: cx.g.logs,
            ..Global::default()
        };
        let mut scx = Cx {
            led: &mut scratch,
            g: &mut g,
        };
        let mut fe = Fe::new("x", &s.head.src);
        fe.main.set(
            "mode",
            crate::import::toml_out::Value::str("http"),
            String::new(),
        );
        fe.final_mode = "http".into();
        let mut be = Be::new("x", &s.head.src);
        proxy::apply(l, false, Some(&mut fe), Some(&mut be), &mut scx);
        match scratch
            .lost_list()
            .into_iter()
            .find(|x| x.line == l.src.line)
        {
            Some(lost) => cx.led.lost(&l.src, lost.why),
            None if used => cx
                .led
                .note(&l.src, "no proxy inheriting this defaults section needs it"),
            None => cx
                .led
                .note(&l.src, "no proxy inherits this defaults section"),
        }
    }
}

/// Sections ringlb has nothing for.
fn other(s: &Section, cx: &mut Cx) {
    let why = match s.head.word(0) {
        "peers" => "ringlb does not share tables between nodes: each keeps its own",
        "cache" => "ringlb does not cache responses",
        // Decided with the proxies' email-alert lines (`mailers.rs`).
        "mailers" => return,
        "program" => "ringlb starts no other programs",
        "http-errors" => "error pages are per frontend (errorfile)",
        _ => "no ringlb equivalent",
    };
    cx.led.lost(&s.head.src, why);
    for l in &s.body {
        cx.led.lost(&l.src, why);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admin;
#[cfg(test)]
mod tests_gained;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_mailers;
#[cfg(test)]
mod tests_misc;
#[cfg(test)]
mod tests_options;
#[cfg(test)]
mod tests_servers;
