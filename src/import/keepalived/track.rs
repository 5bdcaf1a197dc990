//! An instance's tracking: `track_interface` → `[[vrrp.track_interface]]`,
//! `track_script` (+ its `vrrp_script`) → `track_frontends` for a haproxy check, else
//! `[[vrrp.track_script]]`, `track_file` (+ its `vrrp_track_file`) →
//! `[[vrrp.track_file]]`. Weights keep keepalived's meaning (0: FAULT while failing).

use super::blocks::Node;
use super::{lose_all, seconds, Ctx};
use crate::import::report::{Ledger, Src};
use crate::import::toml_out::{Table, Value};

/// The value after `weight` on a line, checked against ringlb's -253..=253; `reverse`
/// (which flips the weight's meaning) is reported.
fn weight(n: &Node, led: &mut Ledger) -> Result<Option<i64>, ()> {
    if n.words.iter().any(|w| w == "reverse") {
        led.lost(&n.src, "ringlb has no reversed weights");
        return Err(());
    }
    let Some(i) = n.words.iter().position(|w| w == "weight") else {
        return Ok(None);
    };
    match n.word(i + 1).parse::<i64>() {
        Ok(w) if (-253..=253).contains(&w) => Ok(Some(w)),
        _ => {
            led.lost(&n.src, "a weight is a number from -253 to 253");
            Err(())
        }
    }
}

/// `track_interface { eth1 weight -20 }`.
pub(super) fn interfaces(k: &Node, own: &str, subs: &mut Vec<Table>, led: &mut Ledger) {
    led.note(&k.src, "block header");
    for i in k.kids() {
        let Ok(w) = weight(i, led) else { continue };
        if i.word(0) == own && w.is_none() {
            led.note(
                &i.src,
                "ringlb watches its own interface: FAULT when the link goes down",
            );
            continue;
        }
        let mut t = Table::new("[[vrrp.track_interface]]");
        t.set("interface", Value::str(i.word(0)), i.src.cite());
        if let Some(w) = w {
            t.set("weight", Value::Int(w), i.src.cite());
        }
        subs.push(t);
        led.done(&i.src);
    }
}

/// `track_script { chk [weight W] }`.
pub(super) fn scripts(k: &Node, ctx: &Ctx, t: &mut Table, subs: &mut Vec<Table>, led: &mut Ledger) {
    led.note(&k.src, "block header");
    for s in k.kids() {
        let Some(script) = ctx.scripts.get(s.word(0)) else {
            led.lost(&s.src, "no vrrp_script of that name");
            continue;
        };
        let text = script_text(script).unwrap_or_default();
        if text.contains("haproxy") {
            frontends(s, script, t, led);
        } else if let Some(sub) = script_table(s, script, &text, led) {
            subs.push(sub);
        }
    }
}

/// The script line's words after `script`, as keepalived joins them.
fn script_text(script: &Node) -> Option<String> {
    let c = script.kids().iter().find(|c| c.word(0) == "script")?;
    Some(c.words[1..].join(" "))
}

/// A script that checks haproxy → `track_frontends`.
fn frontends(s: &Node, script: &Node, t: &mut Table, led: &mut Ledger) {
    let weight = match s.words.iter().position(|w| w == "weight") {
        Some(i) => s.words.get(i + 1).cloned(),
        None => script
            .kids()
            .iter()
            .find(|c| c.word(0) == "weight")
            .map(|c| c.word(1).to_string()),
    };
    t.set("track_frontends", Value::Bool(true), s.src.differs("ringlb lowers its priority when a frontend has no usable server or a worker is stuck, instead of running the script"));
    t.cite("track_frontends", script.src.cite());
    let positive = weight.as_deref().is_some_and(|w| !w.starts_with('-'));
    match weight.as_deref().map(|w| w.trim_start_matches(['-', '+']).parse::<i64>()) {
        Some(Ok(w)) if w > 0 && positive => t.set("track_weight", Value::Int(w), s.src.differs(&format!("keepalived adds {w} while the script succeeds, ringlb subtracts {w} while a frontend fails: a keepalived peer sees this router {w} lower than before"))),
        Some(Ok(w)) if w > 0 => t.set("track_weight", Value::Int(w), s.src.cite()),
        _ => t.cite("track_frontends", s.src.differs("keepalived puts an instance in FAULT when a script without weight fails; ringlb lowers the priority by track_weight (50)")),
    }
    led.done(&s.src);
    led.done(&script.src);
    for c in script.kids() {
        match c.word(0) {
            "script" | "weight" => led.done(&c.src),
            _ => led.note(&c.src, "ringlb watches its frontends continuously"),
        }
    }
}

/// Another script → `[[vrrp.track_script]]`.
fn script_table(s: &Node, script: &Node, text: &str, led: &mut Ledger) -> Option<Table> {
    let mut t = Table::new("[[vrrp.track_script]]");
    t.notes.push(s.src.cite());
    t.set("name", Value::str(script.word(1)), script.src.cite());
    for c in script.kids() {
        script_key(c, text, &mut t, led);
    }
    if t.get("command").is_none() {
        led.lost(&s.src, "its vrrp_script has no usable script");
        return None;
    }
    match weight(s, led) {
        Ok(Some(w)) => t.set("weight", Value::Int(w), s.src.cite()),
        Ok(None) => {}
        Err(()) => return None,
    }
    led.done(&s.src);
    led.done(&script.src);
    Some(t)
}

/// One statement of a `vrrp_script`.
fn script_key(c: &Node, text: &str, t: &mut Table, led: &mut Ledger) {
    let src = &c.src;
    let arg = c.word(1);
    match c.word(0) {
        "script" => match command(text) {
            Some((argv, how)) => {
                let argv = argv.into_iter().map(Value::Str).collect();
                let cite = how.map_or_else(|| src.cite(), |h| src.differs(&h));
                t.set("command", Value::Arr(argv), cite);
            }
            None => return led.lost(src, "an unmatched quote"),
        },
        k @ ("interval" | "timeout") => match seconds(arg).filter(|d| d != "0s") {
            Some(d) => t.set(k, Value::str(d), src.cite()),
            None => return led.lost(src, "not a number of seconds"),
        },
        "weight" => match weight(c, led) {
            Ok(Some(w)) => t.set("weight", Value::Int(w), src.cite()),
            _ => return,
        },
        k @ ("rise" | "fall") => match arg.parse::<i64>() {
            Ok(v) if (1..=1000).contains(&v) => t.set(k, Value::Int(v), src.cite()),
            _ => return led.lost(src, "ringlb counts 1 to 1000"),
        },
        "init_fail" => t.set("init_fail", Value::Bool(true), src.cite()),
        "user" => return led.lost(src, "ringlb runs the program as its own user"),
        _ => return lose_all(c, led, "no ringlb equivalent"),
    }
    led.done(src);
}

/// keepalived's script string → the program and its arguments, and how that differs.
/// keepalived splits it at blanks (quotes group, `\` escapes) and runs it without a
/// shell, searching PATH for a bare name; ringlb wants an absolute program, so a bare
/// name, or a line that only a shell understands, runs through `/bin/sh -c`.
pub(super) fn command(text: &str) -> Option<(Vec<String>, Option<String>)> {
    let shell = |sh: &str, why: &str| {
        let argv = vec![sh.to_string(), "-c".to_string(), text.to_string()];
        Some((argv, Some(why.to_string())))
    };
    if text.contains("/dev/tcp/") || text.contains("/dev/udp/") {
        return shell("/bin/bash", "run by /bin/bash -c for its /dev/tcp: keepalived 2 runs scripts without a shell, where this line fails");
    }
    if text.contains(['|', '&', ';', '<', '>', '`', '$', '*', '?']) {
        return shell(
            "/bin/sh",
            "run by /bin/sh -c: the line needs a shell, which keepalived 2 does not use",
        );
    }
    let argv = split(text)?;
    match argv.first() {
        Some(p) if p.starts_with('/') => Some((argv, None)),
        Some(p) => {
            let why = format!("run by /bin/sh -c, which finds {p} in PATH as keepalived does");
            shell("/bin/sh", &why)
        }
        None => None,
    }
}

/// Words at blanks; `'…'` and `"…"` group, `\` escapes the next character.
fn split(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                word = true;
            }
            (_, '\\') => {
                cur.extend(chars.next());
                word = true;
            }
            (None, c) if c.is_whitespace() => {
                if word {
                    out.push(std::mem::take(&mut cur));
                }
                word = false;
            }
            (_, c) => {
                cur.push(c);
                word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if word {
        out.push(cur);
    }
    Some(out)
}

/// `track_file { NAME [weight W] }` with `vrrp_track_file NAME { file PATH weight W }`.
pub(super) fn files(k: &Node, ctx: &Ctx, subs: &mut Vec<Table>, led: &mut Ledger) {
    led.note(&k.src, "block header");
    for f in k.kids() {
        let Some(def) = ctx.files.get(f.word(0)) else {
            led.lost(&f.src, "no vrrp_track_file of that name");
            continue;
        };
        let mut t = Table::new("[[vrrp.track_file]]");
        t.notes.push(f.src.cite());
        for c in def.kids() {
            file_key(c, &mut t, led);
        }
        if t.get("file").is_none() {
            led.lost(&f.src, "its vrrp_track_file names no file");
            continue;
        }
        match weight(f, led) {
            Ok(Some(w)) => t.set("weight", Value::Int(w), f.src.cite()),
            Ok(None) => {}
            Err(()) => continue,
        }
        led.done(&f.src);
        led.done(&def.src);
        subs.push(t);
    }
}

fn file_key(c: &Node, t: &mut Table, led: &mut Ledger) {
    let src: &Src = &c.src;
    match c.word(0) {
        "file" if c.word(1).starts_with('/') => t.set("file", Value::str(c.word(1)), src.differs("ringlb reads the file every second (interval) where keepalived watches it with inotify")),
        "file" => return led.lost(src, "ringlb wants an absolute path"),
        "weight" => match weight(c, led) {
            Ok(Some(w)) => t.set("weight", Value::Int(w), src.cite()),
            _ => return,
        },
        _ => return lose_all(c, led, "no ringlb equivalent"),
    }
    led.done(src);
}
