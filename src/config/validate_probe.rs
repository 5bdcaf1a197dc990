//! Each server's [`ServerProbe`]: where its check connects (`port`, `addr`,
//! `check_port`, `check_addr`), whether the check talks TLS (`tls`, `check_tls`), and
//! its agent check (`agent_*`; an agent without a port is an error naming its line).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use super::check::CHECK_INTERVAL;
use super::raw::RawServer;
use super::validate::Validator;
use super::validate_check::BackendProbe;
use super::{Agent, CheckTls, ServerProbe, ServerTls};

impl Validator {
    /// One server's check target, check TLS and agent.
    pub(super) fn server_probe(
        &mut self,
        s: &RawServer,
        address: SocketAddr,
        traffic_tls: bool,
        bp: &mut BackendProbe,
        key: &str,
    ) -> ServerProbe {
        let port = self
            .port(s.check_port.as_ref(), &format!("{key}: check_port"))
            .or(bp.port);
        let addr = match (&s.check_addr, &bp.addr) {
            (Some(a), _) => Some((a.get_ref().clone(), a.span())),
            (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        };
        let port_for_lookup = port.unwrap_or(address.port());
        let check_ip = addr.and_then(|(host, span)| {
            self.host_port(&host, port_for_lookup, span, &format!("{key}: check_addr"))
                .map(|a| a.ip())
        });
        let tls = s.check_tls.as_ref().map(|t| *t.get_ref()).or(bp.tls);
        let check_tls = match tls {
            None => CheckTls::Traffic,
            Some(false) => CheckTls::Plain,
            Some(true) => self
                .check_tls(s, address, bp, key)
                .map_or(CheckTls::Traffic, CheckTls::Tls),
        };
        if tls == Some(false) && traffic_tls {
            let span = s
                .check_tls
                .as_ref()
                .map_or(bp.tls_span.clone(), |t| t.span());
            self.warn(
                span,
                format!("{key}: the check talks plain TCP to a TLS server"),
            );
        }
        ServerProbe {
            check_ip,
            check_port: port,
            check_tls,
            agent: self.agent(s, bp, key),
            send_proxy: s.check_send_proxy,
        }
    }

    /// `IP` or `host name` at `port`, resolved now (the first address wins).
    fn host_port(
        &mut self,
        host: &str,
        port: u16,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> Option<SocketAddr> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Some(SocketAddr::new(ip, port));
        }
        let shape = !host.is_empty() && !host.contains([':', ' ', '/']);
        match (host, port).to_socket_addrs().map(|mut it| it.next()) {
            Ok(Some(a)) if shape => Some(a),
            Ok(_) if shape => {
                self.error(span, format!("{key} {host:?} resolves to no address"));
                None
            }
            Err(e) if shape => {
                self.error(span, format!("{key}: cannot resolve {host:?}: {e}"));
                None
            }
            _ => {
                self.error(
                    span,
                    format!(
                        "{key} {host:?} is not an IP address or host name (the port is set apart)"
                    ),
                );
                None
            }
        }
    }

    /// The check's own TLS: the backend check's `ca_file`/`verify`, SNI from the
    /// server's `check_sni`, the check's `sni`, the server's `sni`, or its host.
    fn check_tls(
        &mut self,
        s: &RawServer,
        address: SocketAddr,
        bp: &mut BackendProbe,
        key: &str,
    ) -> Option<Arc<ServerTls>> {
        let span = s
            .check_tls
            .as_ref()
            .map_or(bp.tls_span.clone(), |t| t.span());
        let client = match &bp.client {
            Some(c) => c.clone()?,
            None => {
                let built = self.check_client(bp, span.clone(), key);
                bp.client = Some(built.clone());
                built?
            }
        };
        let host = s
            .check_sni
            .as_ref()
            .map(|n| n.get_ref().clone())
            .or(bp.sni.clone())
            .or(s.sni.as_ref().map(|n| n.get_ref().clone()))
            .unwrap_or_else(|| {
                let text = s.address.get_ref();
                text.rsplit_once(':')
                    .map_or(address.ip().to_string(), |(h, _)| {
                        h.trim_matches(['[', ']']).to_string()
                    })
            });
        match rustls::pki_types::ServerName::try_from(host.clone()) {
            Ok(server_name) => Some(Arc::new(ServerTls {
                client_config: client,
                server_name,
                verify: bp.verify,
            })),
            Err(_) => {
                let span = s.check_sni.as_ref().map_or(span, |n| n.span());
                self.error(
                    span,
                    format!("{key}: check sni {host:?} is not a valid DNS name or IP address"),
                );
                None
            }
        }
    }

    fn check_client(
        &mut self,
        bp: &BackendProbe,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> Option<Arc<rustls::ClientConfig>> {
        let ca = bp
            .ca_file
            .as_ref()
            .map(|f| (self.base.join(f.get_ref()), f.span()));
        if ca.is_none() && bp.verify {
            self.error(span, format!("{key}: a check over TLS needs ca_file in [backend.check] (the CA that signed the server's certificate), or verify = false there"));
            return None;
        }
        if !bp.verify {
            self.warn(
                span.clone(),
                format!(
                    "{key}: check verify = false: the certificate the check sees is not checked"
                ),
            );
        }
        match crate::tls::client_config(ca.as_ref().map(|(p, _)| p.as_path()), bp.verify) {
            Ok(c) => Some(c),
            Err(e) => {
                self.error(
                    ca.map_or(span, |(_, s)| s),
                    format!("{key}: check ca_file: {e}"),
                );
                None
            }
        }
    }

    /// `agent_check = true`: needs a port (the server's or the backend check's).
    fn agent(&mut self, s: &RawServer, bp: &BackendProbe, key: &str) -> Option<Agent> {
        let port = self.port(s.agent_port.as_ref(), &format!("{key}: agent_port"));
        if let Some(t) = &s.agent_send {
            self.text_len(t, &format!("{key}: agent_send"));
        }
        let interval = s.agent_interval.as_ref().map(|i| {
            self.nonzero_duration(Some(i), CHECK_INTERVAL, &format!("{key}: agent_interval"))
        });
        let on = s.agent_check.as_ref().filter(|a| *a.get_ref());
        let Some(on) = on else {
            let stray = [
                s.agent_port.as_ref().map(|x| x.span()),
                s.agent_addr.as_ref().map(|x| x.span()),
                s.agent_send.as_ref().map(|x| x.span()),
                s.agent_interval.as_ref().map(|x| x.span()),
            ];
            if let Some(span) = stray.into_iter().flatten().next() {
                self.warn(
                    span,
                    format!("{key}: agent settings without agent_check = true are ignored"),
                );
            }
            return None;
        };
        let Some(port) = port.or(bp.agent_port) else {
            self.error(on.span(), format!("{key}: agent_check = true needs agent_port (on the server or in [backend.check])"));
            return None;
        };
        // Without agent_addr: the server's address, whatever it is when asked (DNS).
        let ip = match (&s.agent_addr, &bp.agent_addr) {
            (Some(a), _) => Some(
                self.host_port(a.get_ref(), port, a.span(), &format!("{key}: agent_addr"))?
                    .ip(),
            ),
            (None, Some(a)) => Some(
                self.host_port(a, port, on.span(), &format!("{key}: agent_addr"))?
                    .ip(),
            ),
            (None, None) => None,
        };
        let interval = interval.or(bp.agent_interval).unwrap_or(CHECK_INTERVAL);
        let send = s
            .agent_send
            .as_ref()
            .map(|t| t.get_ref().clone())
            .or(bp.agent_send.clone());
        Some(Agent {
            ip,
            port,
            send: send.map(String::into_bytes).unwrap_or_default(),
            interval,
            timeout: bp.timeout,
        })
    }

    /// After a backend's servers: warn about agent keys no server uses.
    pub(super) fn unused_agent_keys(&mut self, bp: &BackendProbe, any_agent: bool, key: &str) {
        if !any_agent {
            if let Some(span) = bp.agent_spans.first() {
                self.warn(span.clone(), format!("{key}: check: agent settings apply to servers with agent_check = true; none here"));
            }
        }
    }
}
