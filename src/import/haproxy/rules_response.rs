//! `http-response` rules (and those after the response), `errorfile`.

use crate::import::toml_out::{Table, Value};

use super::model::{Cx, Fe};
use super::rules::{cond_at, header_value, in_tcp, with_condition};
use super::sections::Line;

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
