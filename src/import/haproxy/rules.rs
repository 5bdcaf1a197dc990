//! ACL lines, `if`/`unless` conditions and `http-request` rules. `redirect` is in
//! `rules_redirect.rs`, `http-response` and `errorfile` in `rules_response.rs`,
//! `tcp-request` in `rules_tcp.rs`, `use_backend` in `routes.rs`.

use crate::import::toml_out::{Table, Value};

use super::acl::{self, Acl};
use super::model::{Cx, Fe};
use super::rules_redirect::{redirect_args, reply};
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
pub(super) fn cond_at(words: &[String], from: usize) -> usize {
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
pub(super) fn literal(v: &str) -> Result<String, String> {
    let plain = v.replace("%%", "");
    if plain.contains('%') {
        return Err("values with log-format expressions (%[...], %ci...) are not supported: ringlb sets literal values".into());
    }
    Ok(v.replace("%%", "%"))
}

/// A header value: `value` when literal, else `format` when it is a log-format
/// string ringlb renders (the rule engine's parser decides: the supported fetches,
/// converters and aliases are listed in docs/rules.md).
pub(super) fn header_value(
    t: &mut Table,
    v: &str,
    note: &str,
    response: bool,
) -> Result<(), String> {
    if let Ok(l) = literal(v) {
        t.set("value", Value::str(l), note.to_string());
        return Ok(());
    }
    let (f, relative) = format_value(v)?;
    if response && f.reads_request() {
        return Err(format!("value {v:?}: in http-response, hdr() and the other HTTP fetches read the response, which ringlb's values cannot"));
    }
    let note = match relative {
        Some(f) => format!("{note}; differs: map file {f:?} is relative: ringlb reads it from the configuration's directory, HAProxy from its working directory"),
        None => note.to_string(),
    };
    t.set("format", Value::str(v), note);
    Ok(())
}

/// Whether ringlb renders log-format value `v` (its fetches, converters, map
/// converters; the map files are read by `ringlb check`, not here), and the first
/// map file given by a relative path.
pub(super) fn format_value(v: &str) -> Result<(crate::rules::Format, Option<String>), String> {
    let mut relative = None;
    let f = crate::rules::Format::parse_with(v, &mut |how, file| {
        if !file.starts_with('/') {
            relative.get_or_insert_with(|| file.to_string());
        }
        crate::rules::Map::parse(file, how, "")
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string())
    })
    .map_err(|e| e.to_string())?;
    Ok((f, relative))
}

pub(super) fn rule(header: &str, action: &str, line: &Line) -> Table {
    let mut t = Table::new(header);
    t.notes.push(line.src.cite());
    t.set("action", Value::str(action), line.src.cite());
    t
}

/// HTTP rules in a tcp frontend: HAProxy ignores them (with a warning).
pub(super) fn in_tcp(line: &Line, fe: &Fe, cx: &mut Cx) -> bool {
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

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
