//! `notify_master`, `notify_backup`, `notify_fault`, `notify_stop` of an instance (or,
//! but `notify_stop`, of a sync group) → the key of that name: the program and its
//! arguments, run as written on entering the state, as keepalived does. The generic
//! `notify` (keepalived appends TYPE NAME STATE PRIORITY, ringlb STATE PRIORITY) is
//! left to the caller to report.

use super::blocks::Node;
use super::track::command;
use crate::import::report::Ledger;
use crate::import::toml_out::{Table, Value};

/// Whether `k` is one of the per-state commands (`stop`: allowed here); if so it is
/// translated into `t` or reported.
pub(super) fn state_command(k: &Node, stop: bool, t: &mut Table, led: &mut Ledger) -> bool {
    let key = k.word(0);
    let ours = matches!(key, "notify_master" | "notify_backup" | "notify_fault")
        || (stop && key == "notify_stop");
    if !ours {
        return false;
    }
    let src = &k.src;
    let Some((argv, how)) = command(k.word(1)).filter(|_| !k.word(1).is_empty()) else {
        led.lost(src, "no command, or an unmatched quote");
        return true;
    };
    let argv = argv.into_iter().map(Value::Str).collect();
    let cite = how.map_or_else(|| src.cite(), |h| src.differs(&h));
    t.set(key, Value::Arr(argv), cite);
    led.done(src);
    if k.words.len() > 2 {
        let user = k.words[2..].join(" ");
        led.lost_part(
            src,
            format!("{key} ... {user}"),
            "ringlb runs every notify program as global.script_user (keepalived's global_defs script_user): set that instead",
        );
    }
    true
}
