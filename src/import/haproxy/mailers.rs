//! `mailers` sections and the proxies' `email-alert` lines → `[mail]`.
//!
//! HAProxy mails a proxy's server changes when the proxy (or its defaults) has
//! `email-alert mailers`, `from` and `to`, at `level` (default `alert`) or more
//! urgent, to every `mailer` of the section, with `myhostname` in EHLO. ringlb has
//! one `[mail]` (one server, one sender, one list of recipients, one level) and
//! `backends` naming which backends mail: the first proxy that mails sets it; a proxy
//! whose settings differ, and mailers beyond the first, are reported.

use super::model::Cx;
use super::sections::{Line, Section};
use super::values;
use crate::import::toml_out::{Table, Value};

/// HAProxy's `email-alert level` words (syslog's), as ringlb's `mail.level` takes them.
const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One proxy's effective `email-alert` settings, each with the line that set it.
#[derive(Default)]
struct Alert<'a> {
    mailers: Option<&'a Line>,
    from: Option<&'a Line>,
    to: Option<&'a Line>,
    level: Option<&'a Line>,
    myhostname: Option<&'a Line>,
}

impl Alert<'_> {
    /// What must be equal for two proxies to share `[mail]`.
    fn key(&self) -> Vec<String> {
        [
            self.mailers,
            self.from,
            self.to,
            self.level,
            self.myhostname,
        ]
        .iter()
        .map(|l| l.map_or(String::new(), |l| l.words[2..].join(" ")))
        .collect()
    }
}

/// Whether a proxy line is this file's business.
pub(super) fn is_email_alert(l: &Line) -> bool {
    l.word(0) == "email-alert"
}

/// `proxies`: every backend (and listen) with its inherited and own `email-alert`
/// lines, in order (a later line wins). Returns `[mail]` when one proxy mails.
pub(super) fn translate<'a>(
    secs: &'a [Section],
    proxies: &[(&'a str, Vec<&'a Line>)],
    cx: &mut Cx,
) -> Option<Table> {
    let mut out: Option<(Table, Vec<String>)> = None;
    for (name, lines) in proxies {
        let mut a = Alert::default();
        for l in lines {
            let slot = match l.word(1) {
                "mailers" => &mut a.mailers,
                "from" => &mut a.from,
                "to" => &mut a.to,
                "level" => &mut a.level,
                "myhostname" => &mut a.myhostname,
                _ => {
                    cx.led
                        .lost(&l.src, "not an email-alert keyword HAProxy knows");
                    continue;
                }
            };
            *slot = Some(l);
        }
        let (Some(m), Some(from), Some(to)) = (a.mailers, a.from, a.to) else {
            for l in lines {
                if !cx.led.decided(&l.src) {
                    cx.led.note(
                        &l.src,
                        "HAProxy mails nothing without email-alert mailers, from and to either",
                    );
                }
            }
            continue;
        };
        match &mut out {
            None => {
                let Some(t) = first(secs, &a, m, from, to, cx) else {
                    continue;
                };
                out = Some((t, a.key()));
            }
            Some((_, key)) if *key != a.key() => {
                for l in lines {
                    cx.led.lost(&l.src, "ringlb has one [mail] for every backend: this proxy's settings differ from the first proxy's that mails");
                }
                continue;
            }
            Some(_) => {}
        }
        let Some((t, _)) = &mut out else { continue };
        let mut names = match t.get("backends") {
            Some(Value::Arr(v)) => v.clone(),
            _ => Vec::new(),
        };
        names.push(Value::str(*name));
        t.set("backends", Value::Arr(names), m.src.cite());
        for l in lines {
            t.cite("backends", l.src.cite());
            cx.led.done(&l.src);
        }
    }
    out.map(|(t, _)| t)
}

/// `[mail]` from the first proxy that mails: its mailers section's first mailer.
fn first(
    secs: &[Section],
    a: &Alert,
    m: &Line,
    from: &Line,
    to: &Line,
    cx: &mut Cx,
) -> Option<Table> {
    let Some(section) = secs
        .iter()
        .find(|s| s.head.word(0) == "mailers" && s.name == m.word(2))
    else {
        cx.led.lost(&m.src, "no mailers section of that name");
        return None;
    };
    let mut t = Table::new("[mail]");
    t.notes.push(section.head.src.cite());
    for l in &section.body {
        match (l.word(0), t.get("server").is_some()) {
            ("mailer", false) => match l.word(2).parse::<std::net::SocketAddr>() {
                Ok(addr) => {
                    t.set("server", Value::str(addr.to_string()), l.src.cite());
                    cx.led.done(&l.src);
                }
                Err(_) => cx
                    .led
                    .lost(&l.src, "ringlb's mail.server is an IP address and port"),
            },
            ("mailer", true) => cx.led.lost(
                &l.src,
                "ringlb sends to one mail server: HAProxy sends every alert to every mailer",
            ),
            ("timeout", _) if l.word(1) == "mail" => match values::duration(l.word(2)) {
                Some(d) => {
                    t.set("connect_timeout", Value::str(d), l.src.differs("HAProxy bounds the whole dialogue by it, ringlb the connection and each reply"));
                    cx.led.done(&l.src);
                }
                None => cx.led.lost(&l.src, "not a time"),
            },
            _ => cx.led.lost(&l.src, "no ringlb equivalent"),
        }
    }
    // Without a usable mailer there is nowhere to send (each line said why).
    t.get("server")?;
    cx.led.done(&section.head.src);
    // HAProxy's default mail timeout is 10 s (keepalived's, ringlb's default, 30 s).
    if t.get("connect_timeout").is_none() {
        t.set(
            "connect_timeout",
            Value::str("10s"),
            section.head.src.differs("HAProxy's default timeout mail"),
        );
    }
    t.set("from", Value::str(from.word(2)), from.src.cite());
    let to_list = to.words[2..].iter().map(Value::str).collect();
    t.set("to", Value::Arr(to_list), to.src.cite());
    let level = a.level.map_or("alert", |l| l.word(2));
    if !LEVELS.contains(&level) {
        cx.led.lost(&a.level?.src, "not a syslog level");
        return None;
    }
    let level_note = a
        .level
        .map_or("HAProxy's default email-alert level".to_string(), |l| {
            l.src.cite()
        });
    t.set("level", Value::str(level), level_note);
    match a.myhostname {
        Some(h) => t.set("helo", Value::str(h.word(2)), h.src.cite()),
        None => t.notes.push("HAProxy says the host's name in EHLO, ringlb mail.helo (default localhost): set it if the mail server cares".into()),
    }
    // HAProxy has no VRRP: a keepalived.conf imported alongside decides.
    t.set(
        "vrrp",
        Value::Bool(false),
        "haproxy.cfg: no VRRP mail".into(),
    );
    Some(t)
}

/// Mailers sections no proxy used: nothing to carry, in HAProxy too.
pub(super) fn unused(secs: &[Section], cx: &mut Cx) {
    for s in secs.iter().filter(|s| s.head.word(0) == "mailers") {
        for src in std::iter::once(&s.head.src).chain(s.body.iter().map(|l| &l.src)) {
            if !cx.led.decided(src) {
                cx.led
                    .note(src, "no proxy mails through this mailers section");
            }
        }
    }
}
