//! keepalived.conf → `[vrrp]` / `[[vrrp]]` and `[[vrrp_sync_group]]`.
//!
//! - `blocks.rs`: the `{ }` block syntax → a tree of statements.
//! - `instance.rs`: one `vrrp_instance` → a virtual router (keys, virtual IPs).
//! - `track.rs`: `track_interface`, `track_script` (+ `vrrp_script`), `track_file`.
//! - `mail.rs`: `notification_email`, `smtp_server`... and `smtp_alert` → `[mail]`, `mail`.
//! - `notify.rs`: `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`.
//!
//! Every `vrrp_instance` becomes a virtual router named after it: `[vrrp]` when the file
//! has one, `[[vrrp]]` entries when it has several. A `track_script` whose script watches
//! haproxy becomes `track_frontends`, since ringlb lowers its priority itself when a
//! frontend has no usable server; other scripts become `[[vrrp.track_script]]`.

mod blocks;
mod instance;
mod mail;
mod notify;
#[cfg(test)]
mod tests;
mod track;

use std::collections::{HashMap, HashSet};

use blocks::Node;

use super::report::Ledger;
use super::toml_out::{Table, Value};
use super::ImportError;

/// What every instance may refer to.
pub(super) struct Ctx<'a> {
    /// `[vrrp]` for a single instance, `[[vrrp]]` for several.
    pub header: &'static str,
    pub scripts: HashMap<&'a str, &'a Node>,
    pub files: HashMap<&'a str, &'a Node>,
    /// Addresses already given to a router (ringlb refuses one address twice).
    pub vips: HashSet<String>,
    /// `global_defs` says where mail goes: `[mail]` is written.
    pub mail: bool,
}

pub fn translate(file: &str, text: &str, led: &mut Ledger) -> Result<Vec<Table>, ImportError> {
    let nodes = blocks::parse(file, text)?;
    let mut all = Vec::new();
    flatten(&nodes, &mut all);
    for n in &all {
        led.add(&n.src);
    }
    let named = |kind: &'static str| {
        nodes
            .iter()
            .filter(move |n| n.word(0) == kind)
            .map(|n| (n.word(1), n))
            .collect::<HashMap<&str, &Node>>()
    };
    let names: Vec<&str> = nodes
        .iter()
        .filter(|n| n.word(0) == "vrrp_instance")
        .map(|n| n.word(1))
        .collect();
    let mut ctx = Ctx {
        header: if names.len() == 1 {
            "[vrrp]"
        } else {
            "[[vrrp]]"
        },
        scripts: named("vrrp_script"),
        files: named("vrrp_track_file"),
        vips: HashSet::new(),
        mail: mail::configured(&nodes),
    };
    let mut out = Vec::new();
    let mut groups = Vec::new();
    let mut global = Vec::new();
    for n in &nodes {
        match n.word(0) {
            "vrrp_instance" => out.extend(instance::instance(n, &mut ctx, led)),
            "vrrp_script" | "vrrp_track_file" => unused(n, led),
            "vrrp_sync_group" => groups.extend(sync_group(n, &names, ctx.mail, led)),
            "global_defs" => global.extend(global_defs(n, ctx.mail, led)),
            "include" => led.lost(
                &n.src,
                "included files are not read: import them separately",
            ),
            "virtual_server" | "virtual_server_group" => lose_all(
                n,
                led,
                "IPVS load balancing is ringlb's own job: describe it as frontends and backends",
            ),
            _ => lose_all(n, led, "no ringlb equivalent"),
        }
    }
    out.extend(groups);
    let runs_programs = out.iter().any(|t| {
        t.header.ends_with("track_script]]") || t.items.iter().any(|i| i.key.starts_with("notify"))
    });
    let script_user = global.iter().any(|t| t.get("script_user").is_some());
    if let (Some(first), false, true) = (out.first_mut(), script_user, runs_programs) {
        first.notes.push(format!("{file}: no script_user: keepalived runs these programs as user keepalived_script when it exists, else as root; ringlb does not guess: they run as ringlb runs (set global.script_user)"));
    }
    global.extend(out);
    Ok(global)
}

fn flatten<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
    for n in nodes {
        out.push(n);
        flatten(n.kids(), out);
    }
}

fn lose_all(n: &Node, led: &mut Ledger, why: &str) {
    led.lost(&n.src, why);
    for k in n.kids() {
        lose_all(k, led, why);
    }
}

fn note_all(n: &Node, led: &mut Ledger, why: &str) {
    led.note(&n.src, why);
    for k in n.kids() {
        note_all(k, led, why);
    }
}

/// A script or file no instance tracks has no effect in keepalived either (a later
/// instance that tracks it turns the note into a translation).
fn unused(n: &Node, led: &mut Ledger) {
    if !led.decided(&n.src) {
        note_all(n, led, "tracked by no vrrp_instance");
    }
}

/// `vrrp_sync_group G { group { VI_1 VI_2 } }` → `[[vrrp_sync_group]]`.
fn sync_group(n: &Node, names: &[&str], mail: bool, led: &mut Ledger) -> Option<Table> {
    let mut routers = Vec::new();
    let mut cites = Vec::new();
    let mut t = Table::new("[[vrrp_sync_group]]");
    t.notes.push(n.src.cite());
    for k in n.kids().iter().filter(|k| k.word(0) == "group") {
        led.note(&k.src, "block header");
        for m in k.kids() {
            for w in &m.words {
                if names.contains(&w.as_str()) && !routers.contains(&Value::str(w)) {
                    routers.push(Value::str(w));
                    cites.push(m.src.cite());
                    led.done(&m.src);
                } else {
                    led.lost(&m.src, "no vrrp_instance of that name");
                }
            }
        }
    }
    if routers.len() < 2 {
        note_all(n, led, "a sync group of one instance changes nothing");
        return None;
    }
    t.set("name", Value::str(n.word(1)), n.src.cite());
    t.set("routers", Value::Arr(routers), n.src.cite());
    for c in cites {
        t.cite("routers", c);
    }
    led.done(&n.src);
    for k in n.kids().iter().filter(|k| k.word(0) != "group") {
        if notify::state_command(k, false, &mut t, led) {
            continue;
        }
        match k.word(0) {
            d if d.starts_with("notify") => led.lost(&k.src, "keepalived appends GROUP NAME STATE to a group's notify, ringlb STATE (and RINGLB_VRRP_GROUP in its environment): adapt the script (its $3 is ringlb's $1) and set [[vrrp_sync_group]] notify"),
            "smtp_alert" => mail::smtp_alert(k, mail, &mut t, led),
            _ => lose_all(k, led, "no ringlb equivalent"),
        }
    }
    Some(t)
}

/// `global_defs`: `script_user USER [GROUP]` and `enable_script_security` → `[global]`
/// (whom VRRP's programs run as), the mail keys → `[mail]` (`mail.rs`); the rest
/// has no effect on a virtual router.
fn global_defs(n: &Node, mail: bool, led: &mut Ledger) -> Vec<Table> {
    led.note(&n.src, "section header");
    let mut g = Table::new("[global]");
    let mail_keys: Vec<&Node> = n
        .kids()
        .iter()
        .filter(|k| mail::is_mail_key(k.word(0)))
        .collect();
    let mail = mail::global(&mail_keys, mail, led);
    for k in n.kids().iter().filter(|k| !mail::is_mail_key(k.word(0))) {
        let d = k.word(0);
        match d {
            "script_user" if k.words.len() == 2 || k.words.len() == 3 => {
                g.set("script_user", Value::str(k.word(1)), k.src.cite());
                if k.words.len() == 3 {
                    g.set("script_group", Value::str(k.word(2)), k.src.cite());
                }
                led.done(&k.src);
            }
            "enable_script_security" if k.words.len() == 1 => {
                g.set("enable_script_security", Value::Bool(true), k.src.cite());
                led.done(&k.src);
            }
            "lvs_id"
            | "vrrp_skip_check_adv_addr"
            | "vrrp_version"
            | "vrrp_strict"
            | "max_auto_priority" => note_all(k, led, "no effect on ringlb's virtual router"),
            _ => lose_all(k, led, "no ringlb equivalent"),
        }
    }
    (!g.is_empty())
        .then_some(g)
        .into_iter()
        .chain(mail)
        .collect()
}

/// keepalived seconds (`1`, `0.5`) → a ringlb duration.
fn seconds(v: &str) -> Option<String> {
    let f: f64 = v.parse().ok()?;
    if !(0.0..=3600.0).contains(&f) {
        return None;
    }
    let ms = (f * 1000.0).round() as u64;
    Some(if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    })
}
