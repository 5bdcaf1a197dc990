//! Raw configuration → [`Config`]: backends and their servers (checks: `validate_check.rs`).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use super::raw::{RawBackend, RawServer, S};
use super::validate::{Defaults, Validator};
use super::validate_check::BackendProbe;
use super::{Backend, Balance, CheckTls, Server, ServerProbe, ServerProto, ServerTls};

/// HAProxy's default `error-limit`.
const ERROR_LIMIT: i64 = 10;
pub const MAX_WEIGHT: i64 = 256;
/// Default `pool_idle_timeout`. Servers commonly time idle keep-alive connections out
/// after 5 to 60 seconds: this closes ringlb's first.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Default `pool_purge_delay`: HAProxy's `pool-purge-delay`.
pub const POOL_PURGE_DELAY: Duration = Duration::from_secs(5);

impl Validator {
    pub(super) fn backends(&mut self, raw: &[RawBackend], defaults: &Defaults) -> Vec<Backend> {
        let mut seen: HashMap<&str, ()> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for be in raw {
            let name = be.name.get_ref().as_str();
            let key = format!("backend {name:?}");
            self.name(&be.name, "backend");
            if seen.insert(name, ()).is_some() {
                self.error(be.name.span(), format!("{key}: duplicate backend name"));
            }
            out.push(self.backend(be, &key, defaults));
        }
        out
    }

    /// One backend (`key`: `backend "name"`, for messages).
    fn backend(&mut self, be: &RawBackend, key: &str, defaults: &Defaults) -> Backend {
        let balance = be.balance.unwrap_or(Balance::Roundrobin);
        let hash = self.hash_spec(be, balance, key);
        let (check, mut probe) = self.check(be.check.as_ref(), key);
        if be.server.is_empty() && be.server_template.is_empty() {
            self.error(
                be.name.span(),
                format!("{key}: has no server: add at least one [[backend.server]]"),
            );
        }
        let mut servers = self.backend_servers(be, key, &mut probe);
        let cookie = self.cookie(be, &mut servers, key);
        let error_limit = self.error_limit(be, &servers, key);
        let timeout_server = self.duration(
            be.timeout_server.as_ref(),
            defaults.timeout_server,
            &format!("{key}: timeout_server"),
        );
        let slow_response = self.slow_response(be, timeout_server, key);
        Backend {
            name: be.name.get_ref().to_string(),
            balance,
            hash,
            full_connections: self.int_in(
                be.full_connections.as_ref(),
                0,
                1..=10_000_000,
                &format!("{key}: full_connections"),
            ) as u32,
            max_queue: self.int_in(
                be.max_queue.as_ref(),
                1000,
                0..=10_000_000,
                &format!("{key}: max_queue"),
            ) as usize,
            check,
            servers,
            timeout_connect: self.duration(
                be.timeout_connect.as_ref(),
                defaults.timeout_connect,
                &format!("{key}: timeout_connect"),
            ),
            timeout_server,
            timeout_queue: self.duration(
                be.timeout_queue.as_ref(),
                defaults.timeout_queue,
                &format!("{key}: timeout_queue"),
            ),
            timeout_tunnel: self
                .optional_duration(
                    be.timeout_tunnel.as_ref(),
                    &format!("{key}: timeout_tunnel"),
                )
                .or(defaults.timeout_tunnel),
            timeout_server_fin: self
                .optional_duration(
                    be.timeout_server_fin.as_ref(),
                    &format!("{key}: timeout_server_fin"),
                )
                .or(defaults.timeout_server_fin),
            retries: self.int_in(
                be.retries.as_ref(),
                defaults.retries as i64,
                0..=100,
                &format!("{key}: retries"),
            ) as u32,
            redispatch: be.redispatch.unwrap_or(defaults.redispatch),
            tcp_keepalive: be.tcp_keepalive.unwrap_or(false),
            http_reuse: be.http_reuse.unwrap_or(defaults.http_reuse),
            pool_max_connections: be.pool_max_connections.as_ref().map(|raw| {
                let key = format!("{key}: pool_max_connections");
                self.int_in(Some(raw), 0, 0..=100_000, &key) as usize
            }),
            pool_idle_timeout: self.pool_duration(
                be.pool_idle_timeout.as_ref(),
                POOL_IDLE_TIMEOUT,
                &format!("{key}: pool_idle_timeout"),
            ),
            pool_purge_delay: self.pool_duration(
                be.pool_purge_delay.as_ref(),
                POOL_PURGE_DELAY,
                &format!("{key}: pool_purge_delay"),
            ),
            error_limit,
            slow_response,
            cookie,
            compression: self.compression(be.compression.as_ref(), super::Mode::Http, key),
            rules: None,
            rule_backends: Vec::new(),
            rule_servers: Vec::new(),
        }
    }

    /// The backend's servers: those listed (with the backend's `slow_start` and
    /// `send_proxy` as their defaults) and those from `server_template`s; and the
    /// agent-check keys no server uses.
    fn backend_servers(
        &mut self,
        be: &RawBackend,
        key: &str,
        probe: &mut BackendProbe,
    ) -> Vec<Server> {
        let slow_start = self.duration(
            be.slow_start.as_ref(),
            Duration::ZERO,
            &format!("{key}: slow_start"),
        );
        let send_proxy = self.send_proxy(be.send_proxy.as_ref(), None, key);
        let mut servers = self.servers(&be.server, key, slow_start, probe, send_proxy);
        self.resolved_servers(be, &mut servers, key);
        for s in servers.iter_mut().filter(|s| s.send_proxy.is_none()) {
            // Servers from a template take the backend's send_proxy.
            if s.resolve.as_ref().is_some_and(|r| r.template.is_some()) {
                s.send_proxy = send_proxy;
            }
        }
        let any_agent = servers.iter().any(|s| s.probe.agent.is_some());
        self.unused_agent_keys(probe, any_agent, key);
        servers
    }

    /// `error_limit`, warned about when no server has a check to bring its servers back.
    fn error_limit(&mut self, be: &RawBackend, servers: &[Server], key: &str) -> u32 {
        let error_limit = self.int_in(
            be.error_limit.as_ref(),
            ERROR_LIMIT,
            0..=1_000_000,
            &format!("{key}: error_limit"),
        ) as u32;
        if let Some(e) = be.error_limit.as_ref().filter(|e| *e.get_ref() > 0) {
            if !servers.iter().any(|s| s.check) {
                self.warn(e.span(), format!("{key}: error_limit only acts on servers with check = true (a check brings them back); none here"));
            }
        }
        error_limit
    }

    /// `pool_idle_timeout`, `pool_purge_delay`: above zero (an idle connection must
    /// outlive its put).
    fn pool_duration(&mut self, raw: Option<&S<String>>, default: Duration, key: &str) -> Duration {
        let t = self.duration(raw, default, key);
        if let (Some(raw), true) = (raw, t.is_zero()) {
            self.error(raw.span(), format!("{key}: must be above zero"));
            return default;
        }
        t
    }

    /// `slow_response`: above zero and below `timeout_server` (else it could never act).
    fn slow_response(&mut self, be: &RawBackend, server: Duration, key: &str) -> Option<Duration> {
        let raw = be.slow_response.as_ref()?;
        let limit = self.optional_duration(Some(raw), &format!("{key}: slow_response"))?;
        if limit.is_zero() || limit >= server {
            self.error(
                raw.span(),
                format!(
                    "{key}: slow_response must be above 0 and below timeout_server ({server:?})"
                ),
            );
            return None;
        }
        Some(limit)
    }

    pub(super) fn nonzero_duration(
        &mut self,
        value: Option<&S<String>>,
        fallback: Duration,
        key: &str,
    ) -> Duration {
        let d = self.duration(value, fallback, key);
        if d.is_zero() {
            if let Some(v) = value {
                self.error(v.span(), format!("{key} must be greater than zero"));
            }
            return fallback;
        }
        d
    }

    fn servers(
        &mut self,
        raw: &[RawServer],
        backend_key: &str,
        slow_start: Duration,
        bp: &mut BackendProbe,
        send_proxy: Option<crate::proxy_protocol::Version>,
    ) -> Vec<Server> {
        let mut seen: HashMap<&str, ()> = HashMap::new();
        let mut seen_addr: HashMap<SocketAddr, &str> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for s in raw {
            let name = s.name.get_ref().as_str();
            let key = format!("{backend_key} server {name:?}");
            self.name(&s.name, "server");
            if seen.insert(name, ()).is_some() {
                self.error(
                    s.name.span(),
                    format!("{key}: duplicate server name in this backend"),
                );
            }
            let weight = self.int_in(
                s.weight.as_ref(),
                1,
                0..=MAX_WEIGHT,
                &format!("{key}: weight"),
            ) as u32;
            let max_connections = self.int_in(
                s.max_connections.as_ref(),
                0,
                0..=10_000_000,
                &format!("{key}: max_connections"),
            ) as u32;
            let (min_connections, max_connections) =
                self.min_connections(s.min_connections.as_ref(), max_connections, &key);
            let address = match s.resolve_interval {
                Some(_) => self.resolvable_address(&s.address, &key),
                None => self.server_address(&s.address, &key),
            };
            let Some(address) = address else {
                continue;
            };
            let known = !address.ip().is_unspecified();
            if let Some(other) = seen_addr.insert(address, name).filter(|_| known) {
                self.warn(
                    s.address.span(),
                    format!("{key}: address {address} is also used by server {other:?}"),
                );
            }
            let tls = self.server_tls(s, &key);
            let mut probe = self.server_probe(s, address, tls.is_some(), bp, &key);
            let proto = self.server_proto(s.proto.as_ref(), &key);
            let tls = match (proto, tls) {
                (ServerProto::H2, Some(t)) => Some(h2_tls(t, &mut probe)),
                (_, t) => t,
            };
            out.push(Server {
                name: name.to_string(),
                address_text: s.address.get_ref().clone(),
                address,
                weight,
                check: s.check.unwrap_or(false),
                backup: s.backup.unwrap_or(false),
                max_connections,
                min_connections,
                slow_start: self.duration(
                    s.slow_start.as_ref(),
                    slow_start,
                    &format!("{key}: slow_start"),
                ),
                tls,
                probe,
                send_proxy: self.send_proxy(s.send_proxy.as_ref(), send_proxy, &key),
                proto,
                cookie: name.to_string(),
                resolve: None,
                resolved: true,
                disabled: s.disabled.unwrap_or(false),
                shutdown_on_down: self.on_marked_down(s.on_marked_down.as_ref(), &key),
            });
        }
        out
    }

    /// A server's `on_marked_down`: `"shutdown_sessions"` or absent.
    fn on_marked_down(&mut self, v: Option<&S<String>>, key: &str) -> bool {
        match v.map(|v| (v, v.get_ref().as_str())) {
            None => false,
            Some((_, "shutdown_sessions")) => true,
            Some((v, other)) => {
                let msg = format!("{key}: on_marked_down {other:?} is not \"shutdown_sessions\"");
                self.error(v.span(), msg);
                false
            }
        }
    }

    /// `IP:PORT`, `[IPv6]:PORT` or `hostname:PORT` (resolved now; the first address wins).
    fn server_address(&mut self, text: &S<String>, key: &str) -> Option<SocketAddr> {
        let t = text.get_ref();
        if let Ok(a) = t.parse::<SocketAddr>() {
            return Some(a);
        }
        let valid_shape = t.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains(':') && port.parse::<u16>().is_ok()
        });
        if !valid_shape {
            self.error(
                text.span(),
                format!("{key}: address {t:?} is not of the form IP:PORT or HOST:PORT"),
            );
            return None;
        }
        match t.to_socket_addrs().map(|mut it| it.next()) {
            Ok(Some(a)) => Some(a),
            Ok(None) => {
                self.error(
                    text.span(),
                    format!("{key}: address {t:?} resolves to no address"),
                );
                None
            }
            Err(e) => {
                self.error(
                    text.span(),
                    format!("{key}: cannot resolve address {t:?}: {e}"),
                );
                None
            }
        }
    }
}

/// The traffic TLS of a server with `proto = "h2"`: ALPN offers `h2` only (the
/// connect refuses a server that selects anything else). A check that goes as the
/// traffic does keeps the HTTP/1.1 ALPN it had.
fn h2_tls(t: Arc<ServerTls>, probe: &mut ServerProbe) -> Arc<ServerTls> {
    let mut client = (*t.client_config).clone();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let h2 = Arc::new(ServerTls {
        client_config: Arc::new(client),
        server_name: t.server_name.clone(),
        verify: t.verify,
    });
    if matches!(probe.check_tls, CheckTls::Traffic) {
        probe.check_tls = CheckTls::Tls(t);
    }
    h2
}

#[cfg(test)]
mod tests {
    use super::super::{CheckTls, Config, Server, ServerProto};

    fn server(extra: &str) -> Server {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"b\"\n\
             [[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:5432\"\n{extra}\n"
        );
        let config = Config::parse(&text, "f.toml").unwrap();
        config.backends[0].servers[0].clone()
    }

    fn alpn(s: &Server) -> Vec<Vec<u8>> {
        s.tls.as_ref().unwrap().client_config.alpn_protocols.clone()
    }

    #[test]
    fn proto_h2_offers_only_h2_to_the_traffic_and_checks_keep_http11() {
        assert_eq!(server("").proto, ServerProto::Http1);
        let s = server("proto = \"h2\"");
        assert_eq!((s.proto, s.tls.is_none()), (ServerProto::H2, true));
        let s = server("proto = \"h2\"\ntls = true\nverify = false");
        assert_eq!(alpn(&s), [b"h2".to_vec()]);
        match &s.probe.check_tls {
            CheckTls::Tls(t) => {
                assert_eq!(t.client_config.alpn_protocols, [b"http/1.1".to_vec()])
            }
            other => panic!("the check should keep HTTP/1.1's TLS: {other:?}"),
        }
        let s = server("proto = \"h1\"\ntls = true\nverify = false");
        assert_eq!(alpn(&s), [b"http/1.1".to_vec()]);
        assert!(matches!(s.probe.check_tls, CheckTls::Traffic));
    }
}
