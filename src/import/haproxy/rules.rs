//! ACL lines, `if`/`unless` conditions and rules: `http-request`, `http-response`,
//! `tcp-request`, `redirect`, `errorfile`. `use_backend` is in `routes.rs`.

use crate::import::toml_out::{Table, Value};

use super::acl::{self, Acl};
use super::model::{Cx, Fe};
use super::sections::Line;

pub fn acl_line(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    let src = &line.src;
    let name = line.word(1);
    fe.counter_srcs.insert(name.to_string(), src.clone());
    match acl::translate(name, &line.words[2..], &src.cite()) {
        Ok(a) => match add_acl(fe, name, a) {
            Ok(()) => cx.led.done(src),
            Err(why) => cx.led.lost(src, why),
        },
        Err(why) => cx.led.lost(src, why),
    }
}

/// Add an ACL; a second line with the same name ORs its values in (HAProxy's rule),
/// which ringlb can do when both are of the same kind.
fn add_acl(fe: &mut Fe, name: &str, a: Acl) -> Result<(), String> {
    match a {
        Acl::Sni(names) => {
            fe.sni_acls
                .entry(name.to_string())
                .or_default()
                .extend(names);
            Ok(())
        }
        Acl::Table(t) => {
            let same = |x: &Table| x.get("name").and_then(Value::as_str) == Some(name);
            let Some(old) = fe.acls.iter_mut().find(|x| same(x)) else {
                fe.acls.push(t);
                return Ok(());
            };
            let (k, v) = (&t.items[1].key, &t.items[1].value);
            match (old.get(k).cloned(), v) {
                (Some(Value::Arr(mut a)), Value::Arr(b))
                    if old.get("ignore_case") == t.get("ignore_case") =>
                {
                    a.extend(b.iter().cloned());
                    let note = t.items[1].notes[0].clone();
                    old.set(k, Value::Arr(a), note.clone());
                    old.cite(k, note);
                    Ok(())
                }
                _ => Err(format!(
                    "ACL {name:?} is declared again with another kind of test; ringlb's ACL has one kind"
                )),
            }
        }
    }
}

/// `if|unless COND...` from `words` (starting at the keyword): the ringlb key and its
/// text. Anonymous ACLs and predefined ones become ACLs of the frontend.
pub fn condition(
    words: &[String],
    fe: &mut Fe,
    line: &Line,
) -> Result<Option<(&'static str, String)>, String> {
    let Some(kw) = words.first() else {
        return Ok(None);
    };
    let key = match kw.as_str() {
        "if" => "if",
        "unless" => "unless",
        other => return Err(format!("unexpected {other:?} where if/unless was expected")),
    };
    let mut out: Vec<String> = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "||" | "or" => out.push("||".into()),
            "!" => out.push("!".into()),
            "{" | "!{" => {
                let close = words[i..]
                    .iter()
                    .position(|x| x == "}")
                    .ok_or("anonymous ACL without its closing brace")?;
                fe.anon += 1;
                let name = format!("anon_{}_{}", line.src.line, fe.anon);
                let a = acl::translate(&name, &words[i + 1..i + close], &line.src.cite())?;
                add_acl(fe, &name, a)?;
                out.push(if w == "!{" { format!("!{name}") } else { name });
                i += close;
            }
            _ => {
                let (neg, name) = match w.strip_prefix('!') {
                    Some(n) => ("!", n),
                    None => ("", w),
                };
                let name = if fe.has_acl(name) {
                    name.to_string()
                } else if let Some(def) = acl::predefined(name) {
                    let local = format!("haproxy_{}", name.replace('.', "_"));
                    if !fe.has_acl(&local) {
                        let a = acl::translate(&local, &def, &line.src.cite())?;
                        add_acl(fe, &local, a)?;
                    }
                    local
                } else {
                    return Err(format!("ACL {name:?} is not defined or not translated"));
                };
                out.push(format!("{neg}{name}"));
            }
        }
        i += 1;
    }
    // `! name` written apart joins its name.
    let text = out.join(" ").replace("! ", "!");
    Ok(Some((key, text)))
}

/// Where `if`/`unless` starts in `words`, from `from` on.
fn cond_at(words: &[String], from: usize) -> usize {
    words[from.min(words.len())..]
        .iter()
        .position(|w| w == "if" || w == "unless")
        .map(|p| p + from)
        .unwrap_or(words.len())
}

/// Put a rule's condition on its table, or report the line.
pub(super) fn with_condition(
    t: &mut Table,
    line: &Line,
    at: usize,
    fe: &mut Fe,
) -> Result<(), String> {
    if let Some((k, text)) = condition(&line.words[at..], fe, line)? {
        t.set(k, Value::str(text), line.src.cite());
    }
    Ok(())
}

/// A literal value: `%[...]` and other log-format fields cannot be carried.
fn literal(v: &str) -> Result<String, String> {
    let plain = v.replace("%%", "");
    if plain.contains('%') {
        return Err("values with log-format expressions (%[...], %ci...) are not supported: ringlb sets literal values".into());
    }
    Ok(v.replace("%%", "%"))
}

/// A header value: `value` when literal, else `format` when it is a log-format
/// string ringlb renders (the rule engine's parser decides: the supported fetches,
/// converters and aliases are listed in docs/rules.md).
fn header_value(t: &mut Table, v: &str, note: &str, response: bool) -> Result<(), String> {
    if let Ok(l) = literal(v) {
        t.set("value", Value::str(l), note.to_string());
        return Ok(());
    }
    let f = crate::rules::Format::parse(v).map_err(|e| e.to_string())?;
    if response && f.reads_request() {
        return Err(format!("value {v:?}: in http-response, hdr() and the other HTTP fetches read the response, which ringlb's values cannot"));
    }
    t.set("format", Value::str(v), note.to_string());
    Ok(())
}

pub(super) fn rule(header: &str, action: &str, line: &Line) -> Table {
    let mut t = Table::new(header);
    t.notes.push(line.src.cite());
    t.set("action", Value::str(action), line.src.cite());
    t
}

/// HTTP rules in a tcp frontend: HAProxy ignores them (with a warning).
fn in_tcp(line: &Line, fe: &Fe, cx: &mut Cx) -> bool {
    if fe.mode() == "tcp" {
        cx.led.lost(
            &line.src,
            "an HTTP rule in a tcp-mode proxy (HAProxy ignores it too)",
        );
    }
    fe.mode() == "tcp"
}

pub fn http_request(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    if in_tcp(line, fe, cx) {
        return;
    }
    match http_request_rule(line, fe) {
        Ok(t) => {
            fe.http_rules.push(t);
            cx.led.done(&line.src);
        }
        Err(why) => cx.led.lost(&line.src, why),
    }
}

fn http_request_rule(line: &Line, fe: &mut Fe) -> Result<Table, String> {
    let w = &line.words;
    let end = cond_at(w, 2);
    let args = &w[2..end];
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let note = line.src.cite();
    let action = line.word(1);
    let mut t = match action {
        "allow" | "deny" | "tarpit" | "return" => {
            let mut t = rule("[[frontend.http_rule]]", action, line);
            reply(&mut t, args, &note)?;
            if action == "tarpit" {
                let delay = fe.tarpit.clone().unwrap_or_else(|| "5s".into());
                t.set("delay", Value::str(delay), note.clone());
            }
            t
        }
        "redirect" => {
            let mut t = rule("[[frontend.http_rule]]", "redirect", line);
            redirect_args(&mut t, args, &note)?;
            t
        }
        "set-header" | "add-header" if args.len() == 2 => {
            let mut t = rule("[[frontend.http_rule]]", &action.replace('-', "_"), line);
            t.set("name", Value::str(arg(0)), note.clone());
            header_value(&mut t, arg(1), &note, false)?;
            t
        }
        "del-header" if args.len() == 1 => {
            let mut t = rule("[[frontend.http_rule]]", "del_header", line);
            t.set("name", Value::str(arg(0)), note.clone());
            t
        }
        "set-path" if args.len() == 1 => {
            let mut t = rule("[[frontend.http_rule]]", "set_path", line);
            t.set("value", Value::str(literal(arg(0))?), note.clone());
            t
        }
        "replace-path" if args.len() == 2 => {
            let mut t = rule("[[frontend.http_rule]]", "replace_path", line);
            t.set("regex", Value::str(arg(0)), note.clone());
            t.set("replacement", Value::str(literal(arg(1))?), note.clone());
            t
        }
        a if a.starts_with("track-sc") => {
            let (slot, table) = super::tables::track(a, args, fe)?;
            fe.sc.insert(slot, table.clone());
            let mut t = rule("[[frontend.http_rule]]", "track", line);
            t.set("table", Value::str(table), note.clone());
            t
        }
        "auth" => {
            let mut t = rule("[[frontend.http_rule]]", "auth", line);
            let realm = match args {
                [] => fe.name.clone(),
                [r, realm] if r == "realm" => realm.clone(),
                _ => return Err("auth options other than realm are not supported".into()),
            };
            t.set("realm", Value::str(realm), note.clone());
            t
        }
        "use-service" if arg(0) == "prometheus-exporter" => {
            return Err("ringlb's /metrics is on global.admin_bind".into())
        }
        other => return Err(format!("http-request {other} has no ringlb equivalent")),
    };
    with_condition(&mut t, line, end, fe)?;
    Ok(t)
}

/// `deny_status N`, `status N`, `content-type T`, `string S`, `file F`.
fn reply(t: &mut Table, args: &[String], note: &str) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).map(String::as_str).unwrap_or("");
        match args[i].as_str() {
            "deny_status" | "status" => {
                let n = v.parse::<i64>().map_err(|_| "status is not a number")?;
                t.set("status", Value::Int(n), note.to_string());
            }
            "content-type" => t.set("content_type", Value::str(v), note.to_string()),
            "string" => t.set("body", Value::str(v), note.to_string()),
            "file" | "errorfile" => t.set("body_file", Value::str(v), note.to_string()),
            other => return Err(format!("reply option {other} is not supported")),
        }
        i += 2;
    }
    Ok(())
}

/// `location|prefix|scheme X`, `code N`, `drop-query`, `append-slash`, in any order
/// (HAProxy reads them so).
fn redirect_args(t: &mut Table, args: &[String], note: &str) -> Result<(), String> {
    let mut kind = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            k @ ("location" | "prefix" | "scheme") => {
                let target = args.get(i + 1).ok_or("redirect without a target")?;
                redirect_target(t, k, target, note)?;
                kind = Some(k);
                i += 1;
            }
            "code" => {
                let n = args
                    .get(i + 1)
                    .and_then(|v| v.parse::<i64>().ok())
                    .ok_or("code is not a number")?;
                t.set("status", Value::Int(n), note.to_string());
                i += 1;
            }
            "drop-query" => t.set("drop_query", Value::Bool(true), note.to_string()),
            "append-slash" => t.set("append_slash", Value::Bool(true), note.to_string()),
            other if kind.is_none() && i == 0 => {
                return Err(format!("redirect {other} is not supported"))
            }
            other => return Err(format!("redirect option {other} is not supported")),
        }
        i += 1;
    }
    match kind {
        None => Err("redirect without location, prefix or scheme".into()),
        Some("location") if t.get("append_slash").is_some() => {
            Err("append-slash with a location: ringlb appends to a prefix or scheme redirect's path only".into())
        }
        Some(_) => Ok(()),
    }
}

/// A redirect's target: literal, or a log-format string (not for `scheme`).
fn redirect_target(t: &mut Table, kind: &str, target: &str, note: &str) -> Result<(), String> {
    match literal(target) {
        Ok(l) => t.set(kind, Value::str(l), note.to_string()),
        Err(_) if kind != "scheme" => {
            crate::rules::Format::parse(target).map_err(|e| e.to_string())?;
            t.set(
                &format!("{kind}_format"),
                Value::str(target),
                note.to_string(),
            );
        }
        Err(why) => return Err(why),
    }
    Ok(())
}

/// The `redirect` directive: an http rule after the `http-request` ones.
pub fn redirect(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    if in_tcp(line, fe, cx) {
        return;
    }
    let end = cond_at(&line.words, 1);
    let mut t = rule("[[frontend.http_rule]]", "redirect", line);
    let r = redirect_args(&mut t, &line.words[1..end], &line.src.cite())
        .and_then(|_| with_condition(&mut t, line, end, fe));
    match r {
        Ok(()) => {
            fe.redirects.push(t);
            cx.led.done(&line.src);
        }
        Err(why) => cx.led.lost(&line.src, why),
    }
}

pub fn http_response(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    if in_tcp(line, fe, cx) {
        return;
    }
    match response_rule(line, fe, false) {
        Ok(t) => {
            // Before the http-after-response rules, which HAProxy runs last.
            let at = fe.response_rules.iter().position(is_after);
            fe.response_rules
                .insert(at.unwrap_or(fe.response_rules.len()), t);
            cx.led.done(&line.src);
        }
        Err(why) => cx.led.lost(&line.src, why),
    }
}

/// `http-after-response set-header/add-header/del-header` (a frontend's, or one its
/// defaults give it): a response rule after the `http-response` ones. It differs:
/// HAProxy also edits the responses it makes itself, ringlb only servers' responses.
pub fn after_response(line: &Line, dflt: bool, fe: Option<&mut Fe>, cx: &mut Cx) {
    let Some(fe) = fe else {
        if !dflt {
            cx.led.lost(
                &line.src,
                "http-after-response in a backend: ringlb's response rules belong to frontends",
            );
        }
        return;
    };
    if (dflt && fe.mode() == "tcp") || in_tcp(line, fe, cx) {
        return;
    }
    match response_rule(line, fe, true) {
        Ok(t) => {
            fe.response_rules.push(t);
            cx.led.done(&line.src);
        }
        Err(why) => cx.led.lost(&line.src, why),
    }
}

/// An `http-after-response` rule, by the note that opens its table.
fn is_after(t: &Table) -> bool {
    t.notes
        .first()
        .is_some_and(|n| n.contains(": http-after-response "))
}

fn response_rule(line: &Line, fe: &mut Fe, after: bool) -> Result<Table, String> {
    let w = &line.words;
    let end = cond_at(w, 2);
    let args = &w[2..end];
    let note = if after {
        line.src.differs("ringlb edits servers' responses only, not the ones it makes itself (deny, return, redirects, errors)")
    } else {
        line.src.cite()
    };
    let action = match (line.word(1), args.len()) {
        ("set-header", 2) => "set_header",
        ("add-header", 2) => "add_header",
        ("del-header", 1) => "del_header",
        (other, _) => return Err(format!("{} {other} has no ringlb equivalent", line.word(0))),
    };
    let mut t = Table::new("[[frontend.response_rule]]");
    t.notes.push(note.clone());
    t.set("action", Value::str(action), note.clone());
    t.set("name", Value::str(&args[0]), note.clone());
    if let Some(v) = args.get(1) {
        header_value(&mut t, v, &note, true)?;
    }
    with_condition(&mut t, line, end, fe)?;
    Ok(t)
}

pub fn tcp_request(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    let src = &line.src;
    match (line.word(1), line.word(2)) {
        ("connection", "accept" | "reject") => {
            let mut t = rule("[[frontend.tcp_rule]]", line.word(2), line);
            match with_condition(&mut t, line, 3, fe) {
                Ok(()) => {
                    fe.tcp_rules.push(t);
                    cx.led.done(src);
                }
                Err(why) => cx.led.lost(src, why),
            }
        }
        ("inspect-delay", _) | ("content", "accept") => fe.sni_lines.push(line.clone()),
        ("content", "reject") => match content_reject(line, fe) {
            Ok(t) => {
                fe.tcp_rules.push(t);
                cx.led.done(src);
            }
            Err(why) => cx.led.lost(src, why),
        },
        ("connection", a) if a.starts_with("track-sc") => {
            let end = cond_at(&line.words, 3);
            let r = super::tables::track(a, &line.words[3..end], fe).and_then(|(slot, table)| {
                fe.sc.insert(slot, table.clone());
                let mut t = rule("[[frontend.tcp_rule]]", "track", line);
                t.set("table", Value::str(table), src.cite());
                with_condition(&mut t, line, end, fe)?;
                Ok(t)
            });
            match r {
                Ok(t) => {
                    fe.tcp_rules.push(t);
                    cx.led.done(src);
                }
                Err(why) => cx.led.lost(src, why),
            }
        }
        _ => cx.led.lost(
            src,
            "only tcp-request connection accept/reject are translated",
        ),
    }
}

/// `tcp-request content reject [if COND]` whose condition reads only the client's
/// address and the local port: a connection rule. The client sees the same (its
/// connection closed before any answer); ringlb decides at accept, without waiting
/// for content.
fn content_reject(line: &Line, fe: &mut Fe) -> Result<Table, String> {
    if fe
        .tcp_rules
        .iter()
        .any(|t| t.get("action") == Some(&Value::str("accept")))
    {
        return Err("after a tcp-request connection accept (which ends ringlb's connection rules, not HAProxy's content rules)".into());
    }
    let note = line.src.differs("decided at accept (the condition reads only addresses and ports, known then), before reading: a client that already sent bytes sees a reset rather than HAProxy's close");
    let mut t = Table::new("[[frontend.tcp_rule]]");
    t.notes.push(note.clone());
    t.set("action", Value::str("reject"), note);
    with_condition(&mut t, line, 3, fe)?;
    let text = ["if", "unless"]
        .iter()
        .find_map(|k| t.get(k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let on_addresses = |name: &str| {
        fe.acls.iter().any(|a| {
            a.get("name").and_then(Value::as_str) == Some(name)
                && ["src", "src_file", "dst_port"]
                    .iter()
                    .any(|k| a.get(k).is_some())
        })
    };
    for name in text.split_whitespace().filter(|w| *w != "||") {
        let name = name.trim_start_matches('!');
        if !on_addresses(name) {
            return Err(format!("ACL {name:?} reads more than addresses and ports: content inspection is not translated"));
        }
    }
    Ok(t)
}

/// Statuses ringlb answers itself, whose page an error_page may replace.
const OWN_STATUSES: &[u16] = &[400, 403, 408, 413, 414, 431, 500, 501, 502, 503, 504, 505];

pub fn errorfile(line: &Line, fe: &mut Fe, cx: &mut Cx) {
    let src = &line.src;
    if in_tcp(line, fe, cx) {
        return;
    }
    let Ok(status) = line.word(1).parse::<u16>() else {
        return cx.led.lost(src, "status is not a number");
    };
    if !OWN_STATUSES.contains(&status) {
        return cx
            .led
            .lost(src, format!("ringlb never answers {status} itself"));
    }
    fe.error_pages
        .retain(|t| t.get("status") != Some(&Value::Int(status.into())));
    let mut t = Table::new("[[frontend.error_page]]");
    t.notes.push(src.cite());
    t.set("status", Value::Int(status.into()), src.cite());
    t.set("file", Value::str(line.word(2)), src.cite());
    fe.error_pages.push(t);
    cx.led.done(src);
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
