//! `[mail]`: alert mails sent by the control plane over plain SMTP, on VRRP state
//! changes (keepalived's `smtp_alert`) and on server health changes (HAProxy's
//! `email-alert`, filtered by `level`). Checked here: the server address, the
//! addresses (no CR, LF, spaces or angle brackets: they go into SMTP commands and
//! headers as written), the level, and the backends and routers named.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::raw::{RawConfig, RawMail, S};
use super::validate::Validator;
use super::{Backend, SyncGroup, Vrrp};

/// keepalived's default `smtp_connect_timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The syslog levels, in order (HAProxy's `email-alert level` words).
pub const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];
/// HAProxy's default `email-alert level`.
const DEFAULT_LEVEL: u8 = 1;

/// `[mail]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The SMTP server (an IP address; port 25 unless given).
    pub server: SocketAddr,
    pub from: String,
    /// At least one address.
    pub to: Vec<String>,
    /// For the connection and for each reply of the server.
    pub timeout: Duration,
    /// The name said in `HELO` (keepalived's `smtp_helo_name`; default `localhost`).
    pub helo: String,
    /// The subject's `[...]` prefix of VRRP mails (keepalived's `router_id`);
    /// `None`: the host name.
    pub router_id: Option<String>,
    /// Server health mails of this syslog level or more urgent are sent: a server
    /// going DOWN is `alert` (1), coming UP `notice` (5); `None`: no health mail.
    pub level: Option<u8>,
    /// The backends whose servers are reported; `None`: every backend.
    pub backends: Option<Vec<String>>,
    /// The virtual routers and sync groups (by name) whose state changes are mailed.
    pub vrrp_routers: Vec<String>,
    pub vrrp_groups: Vec<String>,
}

impl Validator {
    /// `[mail]`, after `[vrrp]` and the backends; per-router `mail` keys are read
    /// from `raw` (a router without one follows `mail.vrrp`).
    pub(super) fn mail(
        &mut self,
        raw: &RawConfig,
        backends: &[Backend],
        vrrp: &[Vrrp],
        groups: &[SyncGroup],
    ) -> Option<Mail> {
        let Some(m) = raw.mail.as_ref() else {
            self.mail_keys_alone(raw);
            return None;
        };
        let span = m.span();
        let m = m.get_ref();
        let server = self.mail_server(&m.server)?;
        let from = self.mail_address(&m.from, "mail.from");
        if m.to.is_empty() {
            self.error(span.clone(), "mail.to: at least one address is needed");
        }
        let to =
            m.to.iter()
                .map(|a| self.mail_address(a, "mail.to"))
                .collect();
        let timeout = self.duration(
            m.connect_timeout.as_ref(),
            DEFAULT_TIMEOUT,
            "mail.connect_timeout",
        );
        if timeout.is_zero() {
            self.error(span, "mail.connect_timeout: must be more than 0");
        }
        let helo = m
            .helo
            .as_ref()
            .map_or("localhost".into(), |h| self.mail_word(h, "mail.helo"));
        let router_id = m
            .router_id
            .as_ref()
            .map(|r| self.mail_word(r, "mail.router_id"));
        let level = self.mail_level(m);
        let backends = m.backends.as_ref().map(|list| {
            list.iter()
                .map(|b| {
                    if !backends.iter().any(|x| &x.name == b.get_ref()) {
                        self.error(
                            b.span(),
                            format!("mail.backends: no backend named {:?}", b.get_ref()),
                        );
                    }
                    b.get_ref().clone()
                })
                .collect()
        });
        let default = m.vrrp.unwrap_or(true);
        let raw_routers = raw
            .vrrp
            .as_ref()
            .map(|v| v.get_ref().routers())
            .unwrap_or_default();
        let vrrp_routers = vrrp
            .iter()
            .zip(raw_routers)
            .filter(|(_, r)| r.mail.unwrap_or(default))
            .map(|(v, _)| v.name.clone())
            .collect();
        let vrrp_groups = groups
            .iter()
            .zip(&raw.vrrp_sync_group)
            .filter(|(_, g)| g.get_ref().mail.unwrap_or(default))
            .map(|(g, _)| g.name.clone())
            .collect();
        Some(Mail {
            server,
            from,
            to,
            timeout,
            helo,
            router_id,
            level,
            backends,
            vrrp_routers,
            vrrp_groups,
        })
    }

    /// `mail = true` on a router or group without `[mail]`: nowhere to send.
    fn mail_keys_alone(&mut self, raw: &RawConfig) {
        let routers = raw
            .vrrp
            .as_ref()
            .map(|v| v.get_ref().routers())
            .unwrap_or_default();
        let set = routers.iter().any(|r| r.mail == Some(true))
            || raw
                .vrrp_sync_group
                .iter()
                .any(|g| g.get_ref().mail == Some(true));
        if set {
            let span = raw.vrrp.as_ref().map_or(0..0, |v| v.span());
            self.warn(span, "vrrp mail = true has no effect without [mail]");
        }
    }

    fn mail_server(&mut self, text: &S<String>) -> Option<SocketAddr> {
        let t = text.get_ref();
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, 25));
        }
        self.socket_addr(text, "mail.server")
    }

    fn mail_level(&mut self, m: &RawMail) -> Option<u8> {
        let Some(level) = &m.level else {
            return Some(DEFAULT_LEVEL);
        };
        if level.get_ref() == "none" {
            return None;
        }
        match LEVELS.iter().position(|l| l == level.get_ref()) {
            Some(i) => Some(i as u8),
            None => {
                self.error(
                    level.span(),
                    format!(
                        "mail.level: {:?} is not one of none, {}",
                        level.get_ref(),
                        LEVELS.join(", ")
                    ),
                );
                Some(DEFAULT_LEVEL)
            }
        }
    }

    /// A mail address as it goes between `<>` in `MAIL FROM`/`RCPT TO`.
    fn mail_address(&mut self, a: &S<String>, key: &str) -> String {
        let t = a.get_ref();
        let bad = t.is_empty()
            || t.chars()
                .any(|c| c.is_control() || c.is_whitespace() || "<>,".contains(c));
        if bad {
            self.error(
                a.span(),
                format!("{key}: {t:?} is not a mail address (no spaces, commas, <, > or control characters)"),
            );
        }
        t.clone()
    }

    /// A word that goes into a command or a header: no spaces or control characters.
    fn mail_word(&mut self, w: &S<String>, key: &str) -> String {
        let t = w.get_ref();
        if t.is_empty() || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
            self.error(
                w.span(),
                format!("{key}: {t:?} must be one word without control characters"),
            );
        }
        t.clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = r#"
[[frontend]]
name = "web"
bind = ["127.0.0.1:8080"]
default_backend = "app"
[[backend]]
name = "app"
[[backend.server]]
name = "s1"
address = "127.0.0.1:9000"
"#;

    fn with(mail: &str) -> Result<Config, String> {
        Config::parse(&format!("{BASE}\n{mail}"), "m.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_keepalived_and_haproxy() {
        let c = with("[mail]\nserver = \"127.0.0.1\"\nfrom = \"lb@x\"\nto = [\"ops@x\"]").unwrap();
        let m = c.mail.unwrap();
        assert_eq!(m.server, "127.0.0.1:25".parse().unwrap());
        assert_eq!(m.timeout, std::time::Duration::from_secs(30));
        assert_eq!(m.helo, "localhost");
        assert_eq!(m.level, Some(1));
        assert_eq!(m.backends, None);
        assert!(m.vrrp_routers.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let c = with(
            "[mail]\nserver = \"127.0.0.1:2525\"\nfrom = \"lb@x\"\nto = [\"a@x\", \"b@x\"]\nconnect_timeout = \"5s\"\nhelo = \"lb1\"\nrouter_id = \"LB1\"\nlevel = \"notice\"\nbackends = [\"app\"]",
        )
        .unwrap();
        let m = c.mail.unwrap();
        assert_eq!(m.server.port(), 2525);
        assert_eq!(m.to, ["a@x", "b@x"]);
        assert_eq!(m.timeout, std::time::Duration::from_secs(5));
        assert_eq!(
            (m.helo.as_str(), m.router_id.as_deref()),
            ("lb1", Some("LB1"))
        );
        assert_eq!(m.level, Some(5));
        assert_eq!(m.backends, Some(vec!["app".to_string()]));
        let none = with(
            "[mail]\nserver = \"127.0.0.1\"\nfrom = \"lb@x\"\nto = [\"ops@x\"]\nlevel = \"none\"",
        );
        assert_eq!(none.unwrap().mail.unwrap().level, None);
    }

    #[test]
    fn refusals_name_the_key() {
        let cases = [
            (
                "server = \"mail.example\"\nfrom = \"a@x\"\nto = [\"b@x\"]",
                "mail.server",
            ),
            (
                "server = \"127.0.0.1\"\nfrom = \"a b@x\"\nto = [\"b@x\"]",
                "mail.from",
            ),
            (
                "server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"<b@x>\"]",
                "mail.to",
            ),
            ("server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = []", "mail.to"),
            (
                "server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"b@x\"]\nlevel = \"loud\"",
                "mail.level",
            ),
            (
                "server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"b@x\"]\nbackends = [\"nope\"]",
                "mail.backends",
            ),
            (
                "server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"b@x\"]\nconnect_timeout = \"0s\"",
                "mail.connect_timeout",
            ),
            (
                "server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"b@x\"]\nhelo = \"a\\r\\nRSET\"",
                "mail.helo",
            ),
            (
                "server = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"b@x\"]\nsmtp = 1",
                "smtp",
            ),
        ];
        for (body, key) in cases {
            let e = with(&format!("[mail]\n{body}")).unwrap_err();
            assert!(e.contains(key), "{body}: {e}");
        }
    }

    #[test]
    fn routers_follow_mail_vrrp_unless_they_say() {
        let vrrp = "[[vrrp]]\nname = \"A\"\ninterface = \"lo\"\nvirtual_router_id = 1\nvirtual_ips = [\"10.9.9.1/32\"]\n[[vrrp]]\nname = \"B\"\ninterface = \"lo\"\nvirtual_router_id = 2\nvirtual_ips = [\"10.9.9.2/32\"]\nmail = false\n[[vrrp_sync_group]]\nname = \"G\"\nrouters = [\"A\", \"B\"]\n";
        let mail = "[mail]\nserver = \"127.0.0.1\"\nfrom = \"a@x\"\nto = [\"b@x\"]\n";
        let m = with(&format!("{vrrp}{mail}")).unwrap().mail.unwrap();
        assert_eq!(m.vrrp_routers, ["A"]);
        assert_eq!(m.vrrp_groups, ["G"]);
        let off = with(&format!("{vrrp}{mail}vrrp = false\n"))
            .unwrap()
            .mail
            .unwrap();
        assert!(off.vrrp_routers.is_empty() && off.vrrp_groups.is_empty());
    }
}
