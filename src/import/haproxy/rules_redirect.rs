//! `redirect` lines and the `redirect` / `return` / `deny` arguments of `http-request`.

use crate::import::toml_out::{Table, Value};

use super::model::{Cx, Fe};
use super::rules::{cond_at, in_tcp, literal, rule, with_condition};
use super::sections::Line;

/// `deny_status N`, `status N`, `content-type T`, `string S`, `file F`.
pub(super) fn reply(t: &mut Table, args: &[String], note: &str) -> Result<(), String> {
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
pub(super) fn redirect_args(t: &mut Table, args: &[String], note: &str) -> Result<(), String> {
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
