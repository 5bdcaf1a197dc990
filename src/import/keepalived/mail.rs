//! keepalived's alert mail keys → `[mail]`: `notification_email`,
//! `notification_email_from`, `smtp_server`, `smtp_connect_timeout`,
//! `smtp_helo_name`, `router_id` and `smtp_alert` / `smtp_alert_vrrp` (global, then
//! per instance and sync group: `mail`). keepalived mails only when it has both an
//! SMTP server and a recipient; so does the translation.

use super::blocks::Node;
use crate::import::report::Ledger;
use crate::import::toml_out::{Table, Value};

/// The `global_defs` keys this file translates.
pub(super) fn is_mail_key(d: &str) -> bool {
    d.starts_with("notification_email") || d.starts_with("smtp_") || d == "router_id"
}

/// Whether `global_defs` has what keepalived needs to send mail at all.
pub(super) fn configured(nodes: &[Node]) -> bool {
    let defs = nodes.iter().filter(|n| n.word(0) == "global_defs");
    let keys: Vec<&Node> = defs.flat_map(|n| n.kids()).collect();
    let has = |key: &str| keys.iter().any(|k| k.word(0) == key);
    let recipients = keys
        .iter()
        .filter(|k| k.word(0) == "notification_email")
        .any(|k| k.kids().iter().any(|m| !m.words.is_empty()));
    let server = keys
        .iter()
        .any(|k| k.word(0) == "smtp_server" && k.word(1).parse::<std::net::IpAddr>().is_ok());
    server && has("notification_email_from") && recipients
}

/// An `smtp_server` naming a host: keepalived would mail, ringlb cannot be told where.
fn by_name(keys: &[&Node]) -> bool {
    keys.iter()
        .any(|k| k.word(0) == "smtp_server" && k.word(1).parse::<std::net::IpAddr>().is_err())
}

/// keepalived's `true`/`on`/`yes` and `false`/`off`/`no`; a bare keyword is true.
fn flag(k: &Node) -> Option<bool> {
    match k.word(1) {
        "" | "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// The mail keys of `global_defs` (`keys`, in order) → `[mail]` when `mail` (see
/// [`configured`]); each line is translated, noted or reported.
pub(super) fn global(keys: &[&Node], mail: bool, led: &mut Ledger) -> Option<Table> {
    let mut t = Table::new("[mail]");
    // keepalived: an instance mails when smtp_alert_vrrp, else smtp_alert, says so.
    let mut alert: Option<(bool, &Node)> = None;
    let named = by_name(keys);
    for k in keys {
        let src = &k.src;
        let why_not = "keepalived sends no mail without smtp_server, notification_email and notification_email_from either (ringlb needs all three)";
        let by_name = "ringlb's mail.server is an IP address and smtp_server names a host: no [mail] written; write it by hand with the server's address";
        match k.word(0) {
            "router_id" if !mail => led.note(src, "no effect on ringlb's virtual router (keepalived names itself with it in mails only)"),
            _ if !mail => {
                for n in std::iter::once(*k).chain(k.kids()) {
                    match named {
                        true => led.lost(&n.src, by_name),
                        false => led.note(&n.src, why_not),
                    }
                }
            }
            "notification_email" => {
                led.note(src, "block header");
                let mut to = Vec::new();
                t.set("to", Value::Arr(Vec::new()), src.cite());
                for m in k.kids() {
                    to.extend(m.words.iter().map(Value::str));
                    t.cite("to", m.src.cite());
                    led.done(&m.src);
                }
                if let Some(item) = t.items.iter_mut().find(|i| i.key == "to") {
                    item.value = Value::Arr(to);
                }
            }
            "notification_email_from" => set(&mut t, "from", k, led),
            "smtp_server" => {
                let port = k.word(2);
                let ip = k.word(1).parse::<std::net::IpAddr>();
                match (ip, port.parse::<u16>()) {
                    (Ok(ip), Ok(p)) => t.set("server", Value::str(std::net::SocketAddr::new(ip, p).to_string()), src.cite()),
                    (Ok(ip), _) if port.is_empty() => t.set("server", Value::str(ip.to_string()), src.cite()),
                    _ => {
                        led.lost(src, "not a port number");
                        continue;
                    }
                }
                led.done(src);
            }
            "smtp_connect_timeout" => match k.word(1).parse::<u32>() {
                Ok(s) if s > 0 => {
                    t.set("connect_timeout", Value::str(format!("{s}s")), src.cite());
                    led.done(src);
                }
                _ => led.lost(src, "not a number of seconds"),
            },
            "smtp_helo_name" => set(&mut t, "helo", k, led),
            "router_id" => set(&mut t, "router_id", k, led),
            "smtp_alert" | "smtp_alert_vrrp" => match flag(k) {
                Some(on) => {
                    // smtp_alert_vrrp wins over smtp_alert, whatever the order.
                    if k.word(0) == "smtp_alert_vrrp" || alert.is_none_or(|(_, n)| n.word(0) == "smtp_alert") {
                        alert = Some((on, k));
                    }
                    led.done(src);
                }
                None => led.lost(src, "keepalived refuses this value too"),
            },
            "smtp_alert_checker" => led.note(src, "ringlb has no IPVS checkers: server health mails follow mail.level"),
            _ => led.lost(src, "no ringlb equivalent"),
        }
    }
    if !mail {
        return None;
    }
    let (on, src) = match alert {
        Some((on, k)) => (on, k.src.cite()),
        None => (
            false,
            "keepalived mails no VRRP change unless smtp_alert says so".to_string(),
        ),
    };
    t.set("vrrp", Value::Bool(on), src);
    // keepalived mails nothing about real servers here (no IPVS): no health mails.
    t.set(
        "level",
        Value::str("none"),
        "keepalived.conf: no HAProxy email-alert: no server health mail".to_string(),
    );
    Some(t)
}

fn set(t: &mut Table, key: &str, k: &Node, led: &mut Ledger) {
    if k.words.len() == 2 {
        t.set(key, Value::str(k.word(1)), k.src.cite());
        led.done(&k.src);
    } else {
        led.lost(&k.src, "one value expected");
    }
}

/// `smtp_alert [BOOL]` in a `vrrp_instance` or `vrrp_sync_group` → its `mail`.
pub(super) fn smtp_alert(k: &Node, mail: bool, t: &mut Table, led: &mut Ledger) {
    match flag(k) {
        _ if !mail => led.note(&k.src, "keepalived sends no mail without smtp_server, notification_email and notification_email_from either (ringlb needs all three)"),
        Some(on) => {
            t.set("mail", Value::Bool(on), k.src.cite());
            led.done(&k.src);
        }
        None => led.lost(&k.src, "keepalived refuses this value too"),
    }
}
