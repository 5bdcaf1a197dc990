//! A second `log` line in `global` that takes only HAProxy's events (`log /dev/log
//! local1 notice`, Debian's default) → `global.syslog_copy`: ringlb's own lines at
//! a level and above go there too. One copy: a third line stays reported.

use crate::import::toml_out::Value;

use super::global::syslog_address;
use super::model::Cx;
use super::sections::Line;

/// Translate `line` when it is a second target for events only; `false` leaves it
/// to be reported.
pub fn second_target(line: &Line, cx: &mut Cx) -> bool {
    let src = &line.src;
    if cx.g.main.get("syslog_copy").is_some() {
        return false;
    }
    let words: Vec<&str> = line.words[2..].iter().map(String::as_str).collect();
    // `FACILITY LEVEL`: no `format`/`len`/`sample` options, a syslog address.
    let (facility, level) = match words.as_slice() {
        [f, l] | [f, l, _] => (*f, *l),
        _ => return false,
    };
    let ringlb_level = match level {
        "notice" => "info",
        "warning" => "warn",
        "err" | "crit" | "alert" | "emerg" => "error",
        _ => return false,
    };
    let addr = line.word(1);
    if matches!(addr, "stdout" | "stderr")
        || addr.contains('@') && !addr.starts_with("udp@") && !addr.starts_with("tcp@")
    {
        return false;
    }
    let kv = vec![
        ("address".to_string(), Value::str(syslog_address(addr))),
        ("facility".to_string(), Value::str(facility)),
    ];
    cx.g.main.set("syslog_copy", Value::Inline(kv), src.cite());
    let why = format!("ringlb's own lines at {ringlb_level} and above: its server UP/DOWN lines are info, HAProxy's events at {level} and above; no access lines, as HAProxy sends none at {level}");
    cx.g.main.set(
        "syslog_copy_level",
        Value::str(ringlb_level),
        src.differs(&why),
    );
    cx.led.done(src);
    true
}
