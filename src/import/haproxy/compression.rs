//! `compression algo|type|offload|direction|minsize-res` (and the `-res` spellings) →
//! `[frontend.compression]` / `[backend.compression]`. A `listen` section's lines go to
//! its frontend (its backend serves it alone); a defaults section's to each proxy that
//! inherits it. `algo` and `type` lines add to the list, as HAProxy appends them.
//! Request compression (`algo-req`, `type-req`, `direction request|both`) has no ringlb
//! equivalent.

use crate::import::report::Src;
use crate::import::toml_out::{Table, Value};

use super::model::{Be, Cx, Fe};
use super::sections::Line;

/// Where a proxy's compression lines go, and the lines that made it.
#[derive(Debug, Default)]
pub struct Comp {
    pub table: Option<Table>,
    pub srcs: Vec<Src>,
}

pub fn apply(line: &Line, dflt: bool, fe: Option<&mut Fe>, be: Option<&mut Be>, cx: &mut Cx) {
    let (comp, header) = match (fe, be) {
        (Some(fe), _) => (&mut fe.compression, "[frontend.compression]"),
        (None, Some(be)) => (&mut be.compression, "[backend.compression]"),
        (None, None) => return,
    };
    let src = &line.src;
    let args: Vec<&str> = (2..line.words.len()).map(|i| line.word(i)).collect();
    match line.word(1) {
        "algo" | "algo-res" => algorithms(comp, header, src, &args, cx),
        "type" | "type-res" => {
            let types = args.iter().map(|t| t.to_ascii_lowercase());
            add_to_list(comp, header, src, "types", types.collect());
            cx.led.done(src);
        }
        "offload" if dflt => cx.led.lost(
            src,
            "HAProxy ignores compression offload in a defaults section (with a warning)",
        ),
        "offload" => {
            table(comp, header, src).set("offload", Value::Bool(true), src.cite());
            cx.led.done(src);
        }
        "direction" if line.word(2) == "response" => {
            cx.led.note(src, "responses only: what ringlb compresses");
        }
        "minsize-res" => match size(line.word(2)) {
            Some(n) => {
                table(comp, header, src).set("min_size", Value::Int(n), src.cite());
                cx.led.done(src);
            }
            None => cx
                .led
                .lost(src, format!("{:?} is not a size", line.word(2))),
        },
        "direction" | "algo-req" | "type-req" | "minsize-req" => cx
            .led
            .lost(src, "ringlb compresses responses only, not requests"),
        other => cx
            .led
            .lost(src, format!("compression {other}: unknown to the importer")),
    }
}

fn algorithms(comp: &mut Comp, header: &str, src: &Src, args: &[&str], cx: &mut Cx) {
    let mut algos = Vec::new();
    for a in args {
        match *a {
            "gzip" | "deflate" | "raw-deflate" => algos.push(a.to_string()),
            "identity" => cx.led.lost_part(
                src,
                "identity",
                "HAProxy's identity is a debugging pseudo-compression; ringlb has none",
            ),
            other => cx.led.lost_part(
                src,
                other.to_string(),
                "ringlb compresses with gzip, deflate or raw-deflate",
            ),
        }
    }
    if algos.is_empty() {
        return cx.led.lost(src, "no algorithm ringlb offers");
    }
    add_to_list(comp, header, src, "algorithms", algos);
    cx.led.done(src);
}

fn table<'a>(comp: &'a mut Comp, header: &str, src: &Src) -> &'a mut Table {
    comp.srcs.push(src.clone());
    comp.table.get_or_insert_with(|| {
        let mut t = Table::new(header);
        t.notes
            .push("HAProxy compression: same conditions (status 200-203, not already encoded, no no-transform...)".into());
        t
    })
}

/// Append `items` to the list `key` (keeping the first of any repeated item).
fn add_to_list(comp: &mut Comp, header: &str, src: &Src, key: &str, items: Vec<String>) {
    let t = table(comp, header, src);
    let mut list = match t.get(key) {
        Some(Value::Arr(v)) => v.clone(),
        _ => Vec::new(),
    };
    for i in items {
        let v = Value::str(i);
        if !list.contains(&v) {
            list.push(v);
        }
    }
    // Every line that added to the list stays cited, oldest first.
    let mut notes = t.remove(key).map(|i| i.notes).unwrap_or_default();
    notes.push(src.cite());
    t.set(key, Value::Arr(list), notes.remove(0));
    for n in notes {
        t.cite(key, n);
    }
}

/// A HAProxy size: bytes, or with a `k`, `m` or `g` suffix (powers of 1024).
fn size(v: &str) -> Option<i64> {
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, ""),
    };
    let n: i64 = digits.parse().ok()?;
    let mul = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mul)
}

/// A frontend's table, kept only in http mode (HAProxy ignores compression in tcp mode).
pub fn frontend_table(fe: &mut Fe, cx: &mut Cx) -> Option<Table> {
    let t = fe.compression.table.take()?;
    if fe.mode() == "http" {
        return Some(t);
    }
    for src in &fe.compression.srcs {
        cx.led.lost(
            src,
            "compression in a tcp-mode proxy (HAProxy ignores it too)",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parsed, run};

    const FE: &str = "frontend web\n  mode http\n  bind :80\n  default_backend app\n";

    #[test]
    fn algo_type_offload_and_minsize_translate() {
        let (toml, lost) = run(&format!(
            "{FE}  compression algo gzip deflate\n  compression type text/html Text/Plain\n  compression type application/json\n  compression offload\n  compression minsize-res 2k\n  compression direction response\nbackend app\n  compression algo-res raw-deflate\n  server a 10.0.0.1:80\n"
        ));
        assert!(lost.is_empty(), "{lost:?}");
        let t = parsed(&toml);
        let c = &t["frontend"][0]["compression"];
        assert_eq!(c["algorithms"].as_array().unwrap().len(), 2);
        assert_eq!(
            c["types"].as_array().unwrap()[1].as_str(),
            Some("text/plain")
        );
        assert_eq!(c["types"].as_array().unwrap().len(), 3);
        assert_eq!(c["offload"].as_bool(), Some(true));
        assert_eq!(c["min_size"].as_integer(), Some(2048));
        let b = &t["backend"][0]["compression"];
        assert_eq!(b["algorithms"][0].as_str(), Some("raw-deflate"));
    }

    #[test]
    fn defaults_apply_to_each_proxy_but_offload_does_not() {
        let (toml, lost) = run(&format!(
            "defaults\n  mode http\n  compression algo gzip\n  compression offload\n{FE}backend app\n  server a 10.0.0.1:80\n"
        ));
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(
            lost[0].contains("compression: not translated: HAProxy ignores compression offload"),
            "{lost:?}"
        );
        let t = parsed(&toml);
        assert_eq!(
            t["frontend"][0]["compression"]["algorithms"][0].as_str(),
            Some("gzip")
        );
        assert!(t["frontend"][0]["compression"].get("offload").is_none());
        assert_eq!(
            t["backend"][0]["compression"]["algorithms"][0].as_str(),
            Some("gzip")
        );
    }

    #[test]
    fn listen_lines_go_to_its_frontend() {
        let (toml, lost) = run(
            "listen web\n  mode http\n  bind :80\n  compression algo gzip\n  server a 10.0.0.1:80\n",
        );
        assert!(lost.is_empty(), "{lost:?}");
        let t = parsed(&toml);
        assert_eq!(
            t["frontend"][0]["compression"]["algorithms"][0].as_str(),
            Some("gzip")
        );
        assert!(t["backend"][0].get("compression").is_none());
    }

    #[test]
    fn what_has_no_equivalent_is_reported() {
        let (toml, lost) = run(&format!(
            "{FE}  compression algo identity\n  compression algo-req gzip\n  compression direction both\n  compression algo gzip zstd\nbackend app\n  server a 10.0.0.1:80\n"
        ));
        let joined = lost.join("\n");
        assert!(
            joined.contains("h.cfg:5: compression: not translated: no algorithm ringlb offers"),
            "{joined}"
        );
        assert!(
            joined
                .contains("h.cfg:6: compression: not translated: ringlb compresses responses only"),
            "{joined}"
        );
        assert!(
            joined
                .contains("h.cfg:7: compression: not translated: ringlb compresses responses only"),
            "{joined}"
        );
        assert!(joined.contains("h.cfg:8: zstd"), "{joined}");
        let t = parsed(&toml);
        assert_eq!(
            t["frontend"][0]["compression"]["algorithms"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn tcp_mode_compression_is_reported_and_left_out() {
        let (toml, lost) = run(
            "frontend db\n  mode tcp\n  bind :5432\n  compression algo gzip\n  default_backend pg\nbackend pg\n  mode tcp\n  server a 10.0.0.1:5432\n",
        );
        assert!(
            lost.iter().any(|l| l
                .contains("h.cfg:4: compression: not translated: compression in a tcp-mode proxy")),
            "{lost:?}"
        );
        assert!(!toml.contains("[frontend.compression]"), "{toml}");
    }
}
