//! Stick tables: `stick-table type ip ... store http_req_rate(10s)` → `[[table]]`
//! named after its proxy (as HAProxy names it), `track-scN src [table T]` → track
//! rules, and counter fetches (`sc_http_req_rate(0) gt 100`, `sc0_conn_cur`,
//! `src_http_err_rate(T)`) → `counter` ACLs, resolved once the frontend's tracking
//! slots are known.

use crate::import::toml_out::{Table, Value};

use super::model::{Cx, Fe};
use super::sections::Line;
use super::values;

/// HAProxy counter names → ringlb's.
const COUNTERS: &[(&str, &str)] = &[
    ("conn_cur", "conn_cur"),
    ("conn_cnt", "conn_total"),
    ("conn_rate", "conn_rate"),
    ("http_req_cnt", "http_req_total"),
    ("http_req_rate", "http_req_rate"),
    ("http_err_cnt", "http_err_total"),
    ("http_err_rate", "http_err_rate"),
    ("bytes_in_cnt", "bytes_in"),
    ("bytes_out_cnt", "bytes_out"),
];

/// `stick-table` of proxy `name` → a top-level `[[table]]`.
pub fn stick_table(line: &Line, name: &str, cx: &mut Cx) {
    let src = &line.src;
    let mut t = Table::new("[[table]]");
    t.notes.push(src.cite());
    t.set("name", Value::str(name), src.cite());
    let mut i = 1;
    while i < line.words.len() {
        let (k, v) = (line.word(i), line.word(i + 1));
        match k {
            "type" if v == "ip" || v == "ipv6" => t.set("key", Value::str("src"), src.cite()),
            "type" => return cx.led.lost(src, format!("tables keyed by {v} are not translated (ringlb keys by client address or a header)")),
            "size" => match size(v) {
                Some(n) => t.set("size", Value::Int(n), src.cite()),
                None => return cx.led.lost(src, format!("size {v:?} is not a number")),
            },
            "expire" => match values::duration(v) {
                Some(d) => t.set("expire", Value::str(d), src.cite()),
                None => return cx.led.lost(src, format!("expire {v:?} is not a time")),
            },
            "store" => {
                let period = v.split(',').find_map(|s| s.split_once('(')).map(|(_, p)| p.trim_end_matches(')'));
                if let Some(d) = period.and_then(values::duration) {
                    t.set("period", Value::str(d), src.differs("ringlb keeps every counter, all with this one period"));
                }
            }
            "len" => {}
            "peers" => cx.led.lost_part(src, "stick-table peers", "ringlb does not share tables between nodes"),
            other => cx.led.lost_part(src, format!("stick-table {other}"), "no ringlb equivalent"),
        }
        i += 2;
    }
    if t.get("key").is_none() {
        return cx.led.lost(src, "a table without a type");
    }
    cx.g.table_names.push(name.to_string());
    cx.g.tables.push(t);
    cx.led.done(src);
}

/// `100k` → 102400 (HAProxy's size suffixes are powers of 1024).
fn size(v: &str) -> Option<i64> {
    let (n, mul) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 1024),
        (i, 'm' | 'M') => (&v[..i], 1024 * 1024),
        (i, 'g' | 'G') => (&v[..i], 1024 * 1024 * 1024),
        _ => (v, 1),
    };
    n.parse::<i64>().ok().map(|n| n * mul)
}

/// `track-scN src [table T]` of a proxy: `(slot, table)`.
pub fn track(action: &str, args: &[String], fe: &Fe) -> Result<(u32, String), String> {
    let slot = action
        .strip_prefix("track-sc")
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| format!("{action} is not a tracking action"))?;
    if args.first().map(String::as_str) != Some("src") {
        return Err("only tracking by src is translated".into());
    }
    let table = match args.get(1).map(String::as_str) {
        Some("table") => args.get(2).cloned().ok_or("table without a name")?,
        Some(other) => return Err(format!("{other} is not supported here")),
        None => fe.name.clone(),
    };
    if !fe.tables.contains(&table) {
        return Err(format!("table {table:?} was not translated"));
    }
    Ok((slot, table))
}

/// A counter fetch: `(table reference, ringlb counter)`; the reference is `sc:N`,
/// `self` (the proxy's own table) or a table's name.
pub fn counter_fetch(fetch: &str) -> Option<(String, &'static str)> {
    let (head, arg) = match fetch.split_once('(') {
        Some((h, a)) => (h, Some(a.trim_end_matches(')'))),
        None => (fetch, None),
    };
    let find = |c: &str| COUNTERS.iter().find(|(h, _)| *h == c).map(|(_, r)| *r);
    if let Some(c) = head.strip_prefix("sc_") {
        let mut parts = arg?.split(',');
        let slot = parts.next()?.trim();
        let table = parts
            .next()
            .map(|t| t.trim().to_string())
            .unwrap_or(format!("sc:{slot}"));
        return Some((table, find(c)?));
    }
    if let Some(rest) = head
        .strip_prefix("sc")
        .filter(|r| r.as_bytes().first().is_some_and(u8::is_ascii_digit))
    {
        let (slot, c) = rest.split_once('_')?;
        let table = arg.map(String::from).unwrap_or(format!("sc:{slot}"));
        return Some((table, find(c)?));
    }
    let c = head.strip_prefix("src_")?;
    Some((arg.map(String::from).unwrap_or("self".into()), find(c)?))
}

/// `gt 100` → 100, `ge 100` → 99 (ringlb's counter ACL is "above").
pub fn above(values: &[String]) -> Result<i64, String> {
    let n = |s: Option<&String>| {
        s.and_then(|v| v.parse::<i64>().ok())
            .ok_or("a counter compares with a number")
    };
    match values.first().map(String::as_str) {
        Some("gt") => Ok(n(values.get(1))?),
        Some("ge") => Ok(n(values.get(1))? - 1),
        _ => Err("counters are translated with gt and ge only".into()),
    }
}

/// Counter ACLs name their table by slot until the tracking rules are known.
pub fn resolve(fe: &mut Fe, cx: &mut Cx) {
    for acl in fe.acls.iter_mut() {
        let Some(Value::Inline(kv)) = acl.get("counter").cloned() else {
            continue;
        };
        let name = acl
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let reference = kv
            .iter()
            .find(|(k, _)| k == "table")
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("");
        let table = match reference {
            "self" => Some(fe.name.clone()),
            r if r.starts_with("sc:") => r[3..]
                .parse::<u32>()
                .ok()
                .and_then(|s| fe.sc.get(&s).cloned()),
            r => Some(r.to_string()),
        };
        match table.filter(|t| fe.tables.contains(t)) {
            Some(t) => {
                let kv: Vec<(String, Value)> = kv
                    .into_iter()
                    .map(|(k, v)| {
                        if k == "table" {
                            (k, Value::str(&t))
                        } else {
                            (k, v)
                        }
                    })
                    .collect();
                acl.items
                    .iter_mut()
                    .filter(|i| i.key == "counter")
                    .for_each(|i| i.value = Value::Inline(kv.clone()));
            }
            None => {
                if let Some(src) = fe.counter_srcs.get(&name) {
                    cx.led.lost(
                        src,
                        "the counter's table or tracking slot was not translated",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_fetches() {
        assert_eq!(
            counter_fetch("sc_http_req_rate(0)"),
            Some(("sc:0".into(), "http_req_rate"))
        );
        assert_eq!(
            counter_fetch("sc1_conn_cur"),
            Some(("sc:1".into(), "conn_cur"))
        );
        assert_eq!(
            counter_fetch("src_http_err_rate(st)"),
            Some(("st".into(), "http_err_rate"))
        );
        assert_eq!(
            counter_fetch("src_conn_cnt"),
            Some(("self".into(), "conn_total"))
        );
        assert_eq!(counter_fetch("sc_gpc0(0)"), None);
        assert_eq!(counter_fetch("path"), None);
        assert_eq!(size("100k"), Some(102400));
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(above(&w("ge 10")), Ok(9));
        assert!(above(&w("lt 10")).is_err());
    }
}
