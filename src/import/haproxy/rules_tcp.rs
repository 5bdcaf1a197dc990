//! `tcp-request` rules: connection and content rules, `content reject` on addresses.

use crate::import::toml_out::{Table, Value};

use super::model::{Cx, Fe};
use super::rules::{cond_at, rule, with_condition};
use super::sections::Line;

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
