//! Runtime DNS resolution: `[resolvers]`, a server's `resolve_interval` /
//! `resolve_prefer`, and `[[backend.server_template]]` expanded into its servers.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::raw::{RawBackend, RawResolvers, RawServerTemplate, S};
use super::validate::Validator;
use super::{Backend, Family, Resolve, Resolvers, Server};

/// Between resolutions when `resolve_interval` is not given (a template's).
const RESOLVE_INTERVAL: Duration = Duration::from_secs(10);
/// HAProxy's `timeout resolve` is 1 s, with 3 attempts (`resolve_retries`).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(1);
const RESOLVE_ATTEMPTS: i64 = 3;
/// Most servers one template may make.
const MAX_TEMPLATE: i64 = 1024;

impl Validator {
    /// `host:port` of a server resolved at runtime: its port now, its address later.
    pub(super) fn resolvable_address(&mut self, text: &S<String>, key: &str) -> Option<SocketAddr> {
        match split_host_port(text.get_ref()) {
            Some((_, port)) => Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
            None => {
                let t = text.get_ref();
                self.error(
                    text.span(),
                    format!("{key}: address {t:?} must be HOST:PORT to be resolved at runtime"),
                );
                None
            }
        }
    }

    /// Mark the servers with `resolve_interval` (they start without an address) and
    /// add the servers of the backend's templates.
    pub(super) fn resolved_servers(
        &mut self,
        be: &RawBackend,
        servers: &mut Vec<Server>,
        key: &str,
    ) {
        for rs in &be.server {
            let Some(interval) = &rs.resolve_interval else {
                if let Some(p) = &rs.resolve_prefer {
                    self.warn(
                        p.span(),
                        format!("{key}: resolve_prefer has no effect without resolve_interval"),
                    );
                }
                continue;
            };
            let name = rs.name.get_ref();
            let skey = format!("{key} server {name:?}");
            let Some((host, port)) = split_host_port(rs.address.get_ref()) else {
                continue; // reported by resolvable_address
            };
            let interval = self.nonzero_duration(
                Some(interval),
                RESOLVE_INTERVAL,
                &format!("{skey}: resolve_interval"),
            );
            let prefer = self.family(rs.resolve_prefer.as_ref(), &skey);
            if let Some(s) = servers.iter_mut().find(|s| &s.name == name) {
                s.resolve = Some(Resolve {
                    host: host.to_string(),
                    port,
                    interval,
                    prefer,
                    template: None,
                    srv: false,
                });
                s.resolved = false;
            }
        }
        let mut names: HashSet<String> = servers.iter().map(|s| s.name.clone()).collect();
        for t in &be.server_template {
            self.template(t, servers, &mut names, key);
        }
    }

    fn template(
        &mut self,
        raw: &S<RawServerTemplate>,
        servers: &mut Vec<Server>,
        names: &mut HashSet<String>,
        key: &str,
    ) {
        let t = raw.get_ref();
        let prefix = t.prefix.get_ref();
        let tkey = format!("{key} server_template {prefix:?}");
        self.name(&t.prefix, "server_template prefix");
        let count = self.int_in(
            Some(&t.count),
            1,
            1..=MAX_TEMPLATE,
            &format!("{tkey}: count"),
        ) as u32;
        let srv = srv_name(t.address.get_ref());
        let Some((host, port)) = srv.or_else(|| split_host_port(t.address.get_ref())) else {
            let a = t.address.get_ref();
            self.error(
                t.address.span(),
                format!("{tkey}: address {a:?} must be HOST:PORT, or an SRV name (_service._proto.name)"),
            );
            return;
        };
        let srv = srv.is_some();
        let interval = self.nonzero_duration(
            t.resolve_interval.as_ref(),
            RESOLVE_INTERVAL,
            &format!("{tkey}: resolve_interval"),
        );
        let prefer = self.family(t.resolve_prefer.as_ref(), &tkey);
        let weight = self.int_in(
            t.weight.as_ref(),
            1,
            0..=super::validate_backend::MAX_WEIGHT,
            &format!("{tkey}: weight"),
        ) as u32;
        let max_connections = self.int_in(
            t.max_connections.as_ref(),
            0,
            0..=10_000_000,
            &format!("{tkey}: max_connections"),
        ) as u32;
        for i in 1..=count {
            let name = format!("{prefix}{i}");
            if !names.insert(name.clone()) {
                self.error(
                    t.prefix.span(),
                    format!("{tkey}: server name {name:?} is already used in this backend"),
                );
                continue;
            }
            servers.push(Server {
                proto: super::ServerProto::Http1,
                cookie: name.clone(),
                name,
                address_text: t.address.get_ref().clone(),
                address: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                weight,
                check: t.check.unwrap_or(false),
                backup: t.backup.unwrap_or(false),
                max_connections,
                min_connections: 0,
                slow_start: Duration::ZERO,
                tls: None,
                // The backend's `send_proxy`, set by the caller.
                send_proxy: None,
                probe: Default::default(),
                resolve: Some(Resolve {
                    host: host.to_string(),
                    port,
                    interval,
                    prefer,
                    template: Some((i - 1, count)),
                    srv,
                }),
                resolved: false,
                shutdown_on_down: false,
                disabled: false,
            });
        }
    }

    fn family(&mut self, raw: Option<&S<String>>, key: &str) -> Family {
        match raw.map(|r| r.get_ref().as_str()) {
            None | Some("ipv6") => Family::Ipv6,
            Some("ipv4") => Family::Ipv4,
            Some(other) => {
                let span = raw.map(|r| r.span()).unwrap_or(0..0);
                self.error(
                    span,
                    format!("{key}: resolve_prefer {other:?}: expected \"ipv4\" or \"ipv6\""),
                );
                Family::Ipv6
            }
        }
    }

    /// `[resolvers]`; without it or without `nameservers`, the `nameserver` lines of
    /// /etc/resolv.conf (only read when some server is resolved at runtime).
    pub(super) fn resolvers(
        &mut self,
        raw: Option<&S<RawResolvers>>,
        backends: &[Backend],
    ) -> Resolvers {
        let needed = backends
            .iter()
            .flat_map(|b| &b.servers)
            .any(|s| s.resolve.is_some());
        let mut out = Resolvers {
            nameservers: Vec::new(),
            timeout: RESOLVE_TIMEOUT,
            attempts: RESOLVE_ATTEMPTS as u32,
        };
        let Some(raw) = raw else {
            if needed {
                out.nameservers = system_nameservers();
                if out.nameservers.is_empty() {
                    self.error(0..0, "servers are resolved at runtime but there is no [resolvers] nameservers list and /etc/resolv.conf names no nameserver");
                }
            }
            return out;
        };
        let r = raw.get_ref();
        for ns in &r.nameservers {
            let t = ns.get_ref();
            let addr = t
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| t.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)));
            match addr {
                Some(a) => out.nameservers.push(a),
                None => self.error(
                    ns.span(),
                    format!("resolvers.nameservers: {t:?} is not IP or IP:PORT"),
                ),
            }
        }
        // None listed: /etc/resolv.conf's, as without [resolvers] (HAProxy's
        // `parse-resolv-conf`).
        if r.nameservers.is_empty() && needed {
            out.nameservers = system_nameservers();
            if out.nameservers.is_empty() {
                self.error(
                    raw.span(),
                    "resolvers.nameservers: none listed and /etc/resolv.conf names no nameserver: name at least one DNS server (IP or IP:PORT)",
                );
            }
        }
        out.timeout =
            self.nonzero_duration(r.timeout.as_ref(), RESOLVE_TIMEOUT, "resolvers.timeout");
        out.attempts = self.int_in(
            r.attempts.as_ref(),
            RESOLVE_ATTEMPTS,
            1..=10,
            "resolvers.attempts",
        ) as u32;
        out
    }
}

/// `host:port` where host is a name (not an IP address: that needs no resolution).
fn split_host_port(t: &str) -> Option<(&str, u16)> {
    let (host, port) = t.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host.parse::<IpAddr>().is_err()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    name_ok.then_some((host, port))
}

/// `_service._proto.name` without a port: an SRV name (its records give the ports).
fn srv_name(t: &str) -> Option<(&str, u16)> {
    let mut labels = t.split('.');
    let (service, proto) = (labels.next()?, labels.next()?);
    let ok = service.len() > 1
        && service.starts_with('_')
        && (proto == "_tcp" || proto == "_udp")
        && labels.clone().count() >= 1
        && !t.contains(':')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    ok.then_some((t, 0))
}

/// The `nameserver` lines of /etc/resolv.conf.
fn system_nameservers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_names_are_service_proto_name_without_a_port() {
        assert_eq!(
            srv_name("_http._tcp.web.example"),
            Some(("_http._tcp.web.example", 0))
        );
        for bad in [
            "_http._tcp.web:80",
            "http._tcp.web",
            "_http._sctp.web",
            "_http._tcp",
            "_._tcp.x",
        ] {
            assert_eq!(srv_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn resolvers_without_nameservers_use_resolv_conf() {
        // HAProxy's `parse-resolv-conf` with timeouts: [resolvers] without a list.
        let text = "[resolvers]\ntimeout = \"2s\"\n[[backend]]\nname = \"b\"\n\
                    [[backend.server_template]]\nprefix = \"web\"\ncount = 2\naddress = \"web.example:80\"\n\
                    [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"b\"\n";
        let system = system_nameservers();
        match crate::config::Config::parse(text, "t.toml") {
            Ok(c) => assert_eq!(c.resolvers.nameservers, system),
            Err(e) => {
                assert!(system.is_empty(), "{e}");
                assert!(e
                    .to_string()
                    .contains("/etc/resolv.conf names no nameserver"));
            }
        }
    }

    #[test]
    fn only_names_with_a_port_are_resolvable() {
        assert_eq!(
            split_host_port("db.example.com:5432"),
            Some(("db.example.com", 5432))
        );
        assert_eq!(
            split_host_port("_http._tcp.svc:80"),
            Some(("_http._tcp.svc", 80))
        );
        for bad in [
            "db.example.com",
            "db:0",
            "db:x",
            ":80",
            "10.0.0.1:80",
            "a b:80",
            "[::1]:80",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad}");
        }
    }
}
