//! `[announce]`: service addresses announced through BIRD (active-active over BGP and
//! ECMP). ringlb puts the addresses on a TUN device of its own while this node is
//! healthy and not drained; BIRD's `direct` protocol exports what is there. Checked
//! here so that `ringlb check` refuses what the control thread could not do: an
//! interface name the kernel refuses, addresses that are not single hosts (IPv4
//! /32s, IPv6 /128s), frontends that do not exist, and addresses the frontends do
//! not listen on (a warning).

use std::net::IpAddr;
use std::time::Duration;

use super::raw::{RawAnnounce, S};
use super::validate::Validator;
use super::Frontend;

/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAMSIZ: usize = 15;
/// Far more than one node announces in practice; a bound on netlink work per change.
const MAX_ADDRESSES: usize = 64;

/// `[announce]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The TUN device ringlb creates (and the kernel deletes when ringlb dies).
    pub interface: String,
    /// The service addresses, each a single host (IPv4 /32 or IPv6 /128); both
    /// families may be mixed.
    pub addresses: Vec<IpAddr>,
    /// The frontends whose health counts, by name; `None`: every frontend (also
    /// those a reload adds).
    pub track_frontends: Option<Vec<String>>,
    /// After a withdrawal for health, healthy this long before announcing again.
    pub hold_down: Duration,
    /// On a stop: withdraw, then keep accepting this long while routers converge.
    pub withdraw_grace: Duration,
}

impl Announce {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip)
    }
}

impl Validator {
    pub(super) fn announce(
        &mut self,
        raw: &S<RawAnnounce>,
        frontends: &[Frontend],
    ) -> Option<Announce> {
        let a = raw.get_ref();
        let before = self.errors.len();
        let interface = match &a.interface {
            Some(name) => self.announce_interface(name),
            None => "svc0".to_string(),
        };
        let addresses = self.announce_addresses(raw);
        let track_frontends = self.announce_frontends(a, frontends);
        let hold_down = self.duration(a.hold_down.as_ref(), Duration::ZERO, "announce.hold_down");
        let withdraw_grace = self.duration(
            a.withdraw_grace.as_ref(),
            Duration::ZERO,
            "announce.withdraw_grace",
        );
        for (key, value, d) in [
            ("hold_down", &a.hold_down, hold_down),
            ("withdraw_grace", &a.withdraw_grace, withdraw_grace),
        ] {
            if let (Some(v), true) = (value, d > Duration::from_secs(3600)) {
                self.error(v.span(), format!("announce.{key} must be at most 1h"));
            }
        }
        self.unused_addresses(raw, &addresses, frontends);
        (self.errors.len() == before).then_some(Announce {
            interface,
            addresses,
            track_frontends,
            hold_down,
            withdraw_grace,
        })
    }

    fn announce_interface(&mut self, name: &S<String>) -> String {
        let n = name.get_ref();
        if n.is_empty()
            || n.len() > IFNAMSIZ
            || n.contains(['/', ' ', ':'])
            || n == "."
            || n == ".."
        {
            self.error(
                name.span(),
                format!("announce.interface {n:?} is not an interface name (1 to 15 characters, no '/', ':' or space)"),
            );
        }
        n.clone()
    }

    /// 1 to `MAX_ADDRESSES` distinct unicast addresses: `"a.b.c.d"` or `".../32"`,
    /// `"2001:db8::10"` or `".../128"`.
    fn announce_addresses(&mut self, raw: &S<RawAnnounce>) -> Vec<IpAddr> {
        let a = raw.get_ref();
        let mut out: Vec<IpAddr> = Vec::new();
        for (i, text) in a.addresses.iter().enumerate() {
            let key = format!("announce.addresses[{i}]");
            let t = text.get_ref();
            let (addr, len) = t
                .split_once('/')
                .map_or((t.as_str(), None), |(a, l)| (a, Some(l)));
            let parsed = addr.parse::<IpAddr>();
            let host = |ip: &IpAddr| if ip.is_ipv4() { "32" } else { "128" };
            match parsed {
                Ok(ip) if len.is_some_and(|l| l != host(&ip)) => {
                    let example = if ip.is_ipv4() {
                        "\"a.b.c.d\" or \"a.b.c.d/32\""
                    } else {
                        "\"2001:db8::10\" or \"2001:db8::10/128\""
                    };
                    self.error(
                        text.span(),
                        format!("{key}: {t:?}: give a single address ({example}): a shorter prefix would route the rest of it into ringlb's device"),
                    )
                }
                Ok(ip) if usable(ip) => {
                    if out.contains(&ip) {
                        self.error(text.span(), format!("{key}: {ip} is listed twice"));
                    }
                    out.push(ip);
                }
                Ok(ip) => {
                    self.error(text.span(), format!("{key}: {ip} cannot be a service address"))
                }
                Err(_) => self.error(
                    text.span(),
                    format!("{key}: {t:?} is not an IP address such as \"192.0.2.10\" or \"2001:db8::10\""),
                ),
            }
        }
        if a.addresses.is_empty() {
            self.error(
                raw.span(),
                "announce.addresses is empty: give the service addresses, such as [\"192.0.2.10/32\"]",
            );
        } else if a.addresses.len() > MAX_ADDRESSES {
            self.error(
                raw.span(),
                format!("announce.addresses: at most {MAX_ADDRESSES} addresses"),
            );
        }
        out
    }

    /// The frontends whose health counts: every one when the key is absent.
    fn announce_frontends(
        &mut self,
        a: &RawAnnounce,
        frontends: &[Frontend],
    ) -> Option<Vec<String>> {
        let names = a.track_frontends.as_ref()?;
        let mut out: Vec<String> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let n = name.get_ref();
            match frontends.iter().find(|f| f.name == *n) {
                Some(_) if out.contains(n) => self.error(
                    name.span(),
                    format!("announce.track_frontends[{i}]: {n:?} is listed twice"),
                ),
                Some(_) => out.push(n.clone()),
                None => self.error(
                    name.span(),
                    format!(
                        "announce.track_frontends[{i}]: no frontend named {:?}",
                        name.get_ref()
                    ),
                ),
            }
        }
        Some(out)
    }

    /// An announced address no frontend listens on attracts traffic nobody takes.
    fn unused_addresses(
        &mut self,
        raw: &S<RawAnnounce>,
        addresses: &[IpAddr],
        frontends: &[Frontend],
    ) {
        for (i, ip) in addresses.iter().enumerate() {
            let listened = frontends
                .iter()
                .flat_map(|f| &f.binds)
                .any(|b| b.ip() == *ip || wildcard_covers(b.ip(), *ip));
            if !listened && !frontends.is_empty() {
                let span = raw.get_ref().addresses[i].span();
                self.warn(
                    span,
                    format!("announce.addresses[{i}]: no frontend listens on {ip}: the routers will send its traffic here for nothing"),
                );
            }
        }
    }
}

/// Unicast, not loopback; for IPv6 not link-local either (a router cannot route
/// to fe80::/10 across links).
fn usable(ip: IpAddr) -> bool {
    let special = ip.is_unspecified() || ip.is_multicast() || ip.is_loopback();
    !special
        && match ip {
            IpAddr::V4(v4) => !v4.is_broadcast(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        }
}

/// Whether a frontend bound on `bound` receives connections for `ip`: its own
/// address, `0.0.0.0` for IPv4, `[::]` for both families (unless the kernel is set
/// to `bindv6only`, which ringlb leaves at its default).
fn wildcard_covers(bound: IpAddr, ip: IpAddr) -> bool {
    match bound {
        IpAddr::V4(b) => b.is_unspecified() && ip.is_ipv4(),
        IpAddr::V6(b) => b.is_unspecified(),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "[[frontend]]\nname = \"web\"\nbind = [\"192.0.2.10:80\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
         [[frontend]]\nname = \"admin\"\nbind = [\"127.0.0.1:81\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
         [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:5432\"\n";
    /// Lines of `BASE`: `[announce]` is on line 16, its first key on 17.
    const FIRST_KEY: usize = 17;

    fn parse(announce: &str) -> Result<Config, String> {
        Config::parse(&format!("{BASE}[announce]\n{announce}"), "n.toml").map_err(|e| e.to_string())
    }

    /// Refused with `want`, naming the file and `line` (from the first key, 0).
    fn refused(announce: &str, line: usize, want: &str) {
        let e = parse(announce).expect_err(announce);
        let at = format!("n.toml:{}:", FIRST_KEY + line);
        assert!(
            e.contains(&at) && e.contains(want),
            "want {at} {want:?} in {e}"
        );
    }

    #[test]
    fn defaults_and_freebind() {
        let c = parse("addresses = [\"192.0.2.10\"]\n").unwrap();
        let a = c.announce.clone().unwrap();
        assert_eq!(a.interface, "svc0");
        assert_eq!(
            a.addresses,
            vec!["192.0.2.10".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(a.track_frontends, None);
        assert!(a.hold_down.is_zero() && a.withdraw_grace.is_zero());
        // Listeners on an announced address bind before it is there.
        assert!(c.is_virtual_ip("192.0.2.10".parse().unwrap()));
        assert!(!c.is_virtual_ip("127.0.0.1".parse().unwrap()));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn every_key() {
        let c = parse(
            "interface = \"bgp-svc\"\naddresses = [\"192.0.2.10/32\"]\ntrack_frontends = [\"web\"]\n\
             hold_down = \"10s\"\nwithdraw_grace = \"2s\"\n",
        )
        .unwrap();
        let a = c.announce.unwrap();
        assert_eq!(a.interface, "bgp-svc");
        assert_eq!(a.track_frontends, Some(vec!["web".to_string()]));
        assert_eq!(a.hold_down, std::time::Duration::from_secs(10));
        assert_eq!(a.withdraw_grace, std::time::Duration::from_secs(2));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        // An empty list names the section.
        let e = parse("addresses = []\n").unwrap_err();
        assert!(
            e.contains("n.toml:16:1: announce.addresses is empty"),
            "{e}"
        );
        refused(
            "addresses = [\"192.0.2.0/24\"]\n",
            0,
            "announce.addresses[0]: \"192.0.2.0/24\": give a single address",
        );
        refused(
            "addresses = [\"2001:db8::/64\"]\n",
            0,
            "announce.addresses[0]: \"2001:db8::/64\": give a single address (\"2001:db8::10\"",
        );
        refused(
            "addresses = [\"192.0.2.10/128\"]\n",
            0,
            "give a single address (\"a.b.c.d\"",
        );
        refused(
            "addresses = [\"web\"]\n",
            0,
            "announce.addresses[0]: \"web\" is not an IP address",
        );
        for special in ["fe80::1", "::1", "ff02::1", "::"] {
            refused(
                &format!("addresses = [\"{special}\"]\n"),
                0,
                "cannot be a service address",
            );
        }
        refused(
            "addresses = [\"2001:db8::10\", \"2001:DB8::10/128\"]\n",
            0,
            "announce.addresses[1]: 2001:db8::10 is listed twice",
        );
        refused(
            "addresses = [\"224.0.0.1\"]\n",
            0,
            "cannot be a service address",
        );
        refused(
            "addresses = [\"192.0.2.10\", \"192.0.2.10/32\"]\n",
            0,
            "announce.addresses[1]: 192.0.2.10 is listed twice",
        );
        refused(
            "addresses = [\"192.0.2.10\"]\ninterface = \"much-too-long-name\"\n",
            1,
            "announce.interface \"much-too-long-name\" is not an interface name",
        );
        refused(
            "addresses = [\"192.0.2.10\"]\ntrack_frontends = [\"web\", \"nope\"]\n",
            1,
            "announce.track_frontends[1]: no frontend named \"nope\"",
        );
        refused(
            "addresses = [\"192.0.2.10\"]\nhold_down = \"soon\"\n",
            1,
            "announce.hold_down",
        );
        refused(
            "addresses = [\"192.0.2.10\"]\nwithdraw_grace = \"2h\"\n",
            1,
            "announce.withdraw_grace must be at most 1h",
        );
        let e = parse("addresses = [\"192.0.2.10\"]\nasn = 65001\n").unwrap_err();
        assert!(e.contains("unknown field `asn`"), "{e}");
    }

    #[test]
    fn ipv6_and_mixed_families() {
        let text = BASE.replace(
            "\"192.0.2.10:80\"",
            "\"192.0.2.10:80\", \"[2001:db8::10]:80\"",
        );
        let c = Config::parse(
            &format!("{text}[announce]\naddresses = [\"192.0.2.10\", \"2001:db8::10/128\"]\n"),
            "n.toml",
        )
        .unwrap();
        let a = c.announce.clone().unwrap();
        let want: Vec<std::net::IpAddr> = vec![
            "192.0.2.10".parse().unwrap(),
            "2001:db8::10".parse().unwrap(),
        ];
        assert_eq!(a.addresses, want);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // Listeners on the IPv6 service address bind before it is there too.
        assert!(c.is_virtual_ip("2001:db8::10".parse().unwrap()));
        assert!(!c.is_virtual_ip("2001:db8::11".parse().unwrap()));
        // `[::]` takes both families; `0.0.0.0` only IPv4.
        let any6 = BASE.replace("\"192.0.2.10:80\"", "\"[::]:80\"");
        let c = Config::parse(
            &format!("{any6}[announce]\naddresses = [\"192.0.2.10\", \"2001:db8::10\"]\n"),
            "n.toml",
        )
        .unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let any4 = BASE.replace("\"192.0.2.10:80\"", "\"0.0.0.0:80\"");
        let c = Config::parse(
            &format!("{any4}[announce]\naddresses = [\"192.0.2.10\", \"2001:db8::10\"]\n"),
            "n.toml",
        )
        .unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("no frontend listens on 2001:db8::10"));
    }

    #[test]
    fn an_address_no_frontend_listens_on_is_a_warning() {
        let c = parse("addresses = [\"192.0.2.10\", \"192.0.2.11\"]\n").unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].contains("n.toml:17:")
                && c.warnings[0].contains("no frontend listens on 192.0.2.11")
        );
    }
}
