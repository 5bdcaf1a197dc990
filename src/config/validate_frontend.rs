//! Raw configuration → [`Config`](super::Config): frontends (binds, mode, routes,
//! redirects, timeouts).

use std::collections::HashMap;
use std::net::SocketAddr;

use super::raw::{Mode, RawFrontend, RawRedirect, RawRoute, S};
use super::validate::{Defaults, Validator};
use super::{Frontend, Redirect, Route, Steering, TableSpec};

/// Backend names → indexes.
type BackendNames<'a> = HashMap<&'a str, usize>;

impl Validator {
    pub(super) fn frontends(
        &mut self,
        raw: &[RawFrontend],
        defaults: &Defaults,
        backends: &BackendNames<'_>,
        tables: &[TableSpec],
    ) -> Vec<Frontend> {
        let mut seen_names: HashMap<&str, ()> = HashMap::new();
        let mut seen_binds: HashMap<SocketAddr, &str> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for fe in raw {
            let name = fe.name.get_ref().as_str();
            let key = format!("frontend {name:?}");
            self.name(&fe.name, "frontend");
            if seen_names.insert(name, ()).is_some() {
                self.error(fe.name.span(), format!("{key}: duplicate frontend name"));
            }
            let binds = self.binds(fe, &key, &mut seen_binds);
            let mut f = self.frontend(fe, &key, binds, defaults, backends);
            let mode = f.mode;
            let rules = self.frontend_rules(fe, mode, &key, tables, backends);
            f.rules = rules.rules;
            f.error_pages = rules.error_pages;
            f.rule_backends = (0..backends.len()).collect();
            out.push(f);
        }
        out
    }

    /// The frontend's addresses; an address with a fixed port that another frontend
    /// (or this one) already binds is an error.
    fn binds<'r>(
        &mut self,
        fe: &'r RawFrontend,
        key: &str,
        seen_binds: &mut HashMap<SocketAddr, &'r str>,
    ) -> Vec<SocketAddr> {
        let name = fe.name.get_ref().as_str();
        if fe.bind.is_empty() {
            self.error(
                fe.name.span(),
                format!("{key}: bind is empty: give at least one IP:PORT"),
            );
        }
        let mut binds = Vec::with_capacity(fe.bind.len());
        for b in &fe.bind {
            let b = match with_env(b.get_ref(), &|n| std::env::var(n).ok()) {
                Ok(text) => toml::Spanned::new(b.span(), text),
                Err(why) => {
                    self.error(b.span(), format!("{key}: bind {:?}: {why}", b.get_ref()));
                    continue;
                }
            };
            let Some(addr) = self.socket_addr(&b, &format!("{key}: bind")) else {
                continue;
            };
            if addr.port() != 0 {
                if let Some(other) = seen_binds.insert(addr, name) {
                    self.error(
                        b.span(),
                        format!("{key}: bind {addr} is already bound by frontend {other:?}"),
                    );
                }
            }
            binds.push(addr);
        }
        binds
    }

    /// Everything of one frontend but its name checks and binds.
    fn frontend(
        &mut self,
        fe: &RawFrontend,
        key: &str,
        binds: Vec<SocketAddr>,
        defaults: &Defaults,
        backends: &BackendNames<'_>,
    ) -> Frontend {
        let mode = fe.mode.unwrap_or(Mode::Tcp);
        let default_backend = fe
            .default_backend
            .as_ref()
            .and_then(|b| self.backend_ref(backends, b, key, "default_backend"));
        let routes = self.routes(fe, mode, key, backends);
        let redirects = self.redirects(fe, mode, key);
        if default_backend.is_none() && fe.default_backend.is_none() && fe.route.is_empty() {
            self.error(fe.name.span(), format!("{key}: default_backend is missing"));
        }
        let tls = fe.tls.as_ref().and_then(|t| self.tls(t, mode, key));
        let proxy_protocol = self.proxy_protocol_in(fe, key);
        let (sni_routes, sni_fallback_default) = self.sni_routes(fe, mode, key, backends);
        if mode == Mode::Tcp {
            self.tcp_mode_warnings(fe, key);
        }
        Frontend {
            name: fe.name.get_ref().clone(),
            binds,
            mode,
            default_backend,
            forwarded_for: fe.forwarded_for.unwrap_or(false),
            forwarding: self.forwarded(fe, mode, key),
            max_connections: self.int_in(
                fe.max_connections.as_ref(),
                0,
                0..=100_000_000,
                &format!("{key}: max_connections"),
            ) as usize,
            routes,
            redirects,
            timeout_client: self.duration(
                fe.timeout_client.as_ref(),
                defaults.timeout_client,
                &format!("{key}: timeout_client"),
            ),
            timeout_http_request: self.duration(
                fe.timeout_http_request.as_ref(),
                defaults.timeout_http_request,
                &format!("{key}: timeout_http_request"),
            ),
            timeout_http_keep_alive: self.duration(
                fe.timeout_http_keep_alive.as_ref(),
                defaults.timeout_http_keep_alive,
                &format!("{key}: timeout_http_keep_alive"),
            ),
            timeout_tunnel: self
                .optional_duration(
                    fe.timeout_tunnel.as_ref(),
                    &format!("{key}: timeout_tunnel"),
                )
                .or(defaults.timeout_tunnel),
            timeout_client_fin: self
                .optional_duration(
                    fe.timeout_client_fin.as_ref(),
                    &format!("{key}: timeout_client_fin"),
                )
                .or(defaults.timeout_client_fin),
            tls,
            timeout_client_handshake: self.nonzero_duration(
                fe.timeout_client_handshake.as_ref(),
                defaults.timeout_client_handshake,
                &format!("{key}: timeout_client_handshake"),
            ),
            steering: self.steering(fe.steering.as_ref(), key, tracks_clients(fe)),
            rules: None,
            rule_backends: Vec::new(),
            backend_rules: false,
            error_pages: Vec::new(),
            proxy_protocol,
            sni_routes,
            sni_fallback_default,
            keeps_origin: false,
            access_log_format: fe
                .access_log_format
                .as_ref()
                .and_then(|f| self.log_format(f, &format!("{key}: access_log_format"))),
            h2: self.h2_settings(fe, mode, key),
            log_empty_connections: fe.log_empty_connections.unwrap_or(true),
            compression: self.compression(fe.compression.as_ref(), mode, key),
            tcp_keepalive: fe.tcp_keepalive.unwrap_or(false),
            log_asap: fe.log_asap.unwrap_or(false),
            log_separate_errors: fe.log_separate_errors.unwrap_or(false),
            http_close: fe.http_close.unwrap_or(false),
            defer_accept: fe.defer_accept.unwrap_or(false),
        }
    }

    /// Keys of a TCP-mode frontend that do nothing, or that may not do what is meant.
    fn tcp_mode_warnings(&mut self, fe: &RawFrontend, key: &str) {
        if fe.forwarded_for == Some(true) {
            self.warn(
                fe.name.span(),
                format!("{key}: forwarded_for only applies to mode \"http\"; ignored"),
            );
        }
        if fe.defer_accept == Some(true) {
            self.warn(
                fe.name.span(),
                format!("{key}: defer_accept: the kernel holds each connection until the client sends, about a second for a protocol whose server speaks first (SMTP, MySQL...): keep it off for those"),
            );
        }
    }

    /// `steering`: `"kernel"` or `"source"`. Absent, a frontend that tracks clients in
    /// tables (`track` rules) gets `"source"`, so that its per-client counters and
    /// limits are exact across workers; any other gets the kernel's hash.
    fn steering(&mut self, s: Option<&S<String>>, key: &str, tracks: bool) -> Steering {
        match s.map(|s| (s, s.get_ref().as_str())) {
            None if tracks => Steering::Source,
            None | Some((_, "kernel")) => Steering::Kernel,
            Some((_, "source")) => Steering::Source,
            Some((s, other)) => {
                self.error(
                    s.span(),
                    format!("{key}: steering {other:?} is not \"kernel\" or \"source\""),
                );
                Steering::Kernel
            }
        }
    }

    /// The index of the backend `b` names; an error (`what` says which key) when
    /// there is no such backend.
    fn backend_ref(
        &mut self,
        backends: &BackendNames<'_>,
        b: &S<String>,
        key: &str,
        what: &str,
    ) -> Option<usize> {
        match backends.get(b.get_ref().as_str()) {
            Some(&i) => Some(i),
            None => {
                self.error(
                    b.span(),
                    format!("{key}: {what} {:?} is not a defined backend", b.get_ref()),
                );
                None
            }
        }
    }

    /// `[[frontend.route]]`: HTTP only; a route whose backend is unknown is left out.
    fn routes(
        &mut self,
        fe: &RawFrontend,
        mode: Mode,
        key: &str,
        backends: &BackendNames<'_>,
    ) -> Vec<Route> {
        let mut routes = Vec::new();
        for r in &fe.route {
            let r_ref = r.get_ref();
            if r_ref.sni.is_some() {
                // A passthrough route (`sni_routes`); host and path need HTTP.
                if mode == Mode::Tcp && (r_ref.host.is_some() || r_ref.path_prefix.is_some()) {
                    self.error(
                        r.span(),
                        format!("{key}: a route with sni cannot also have host or path_prefix (mode \"tcp\" reads no HTTP)"),
                    );
                }
                continue;
            }
            if mode == Mode::Tcp {
                self.error(
                    r.span(),
                    format!("{key}: route is only allowed in mode \"http\" (or, in mode \"tcp\", with sni)"),
                );
            }
            self.route_matchers(r_ref, key);
            if let Some(backend) = self.backend_ref(backends, &r_ref.backend, key, "route backend")
            {
                routes.push(Route {
                    host: r_ref
                        .host
                        .as_ref()
                        .map(|h| h.get_ref().to_ascii_lowercase()),
                    path_prefix: r_ref.path_prefix.as_ref().map(|p| p.get_ref().clone()),
                    backend,
                });
            }
        }
        routes
    }

    /// A route's `path_prefix` starts with '/'; its `host` is a name or `*.domain`.
    fn route_matchers(&mut self, r: &RawRoute, key: &str) {
        if let Some(p) = &r.path_prefix {
            if !p.get_ref().starts_with('/') {
                self.error(
                    p.span(),
                    format!(
                        "{key}: route path_prefix {:?} must start with '/'",
                        p.get_ref()
                    ),
                );
            }
        }
        if let Some(h) = &r.host {
            let host = h.get_ref();
            if host.is_empty() || host[host.starts_with("*.") as usize * 2..].contains('*') {
                self.error(
                    h.span(),
                    format!("{key}: route host {host:?} must be a name or \"*.domain\""),
                );
            }
        }
    }

    /// `[[frontend.redirect]]`: HTTP only, a location, a redirect status (302 by default).
    fn redirects(&mut self, fe: &RawFrontend, mode: Mode, key: &str) -> Vec<Redirect> {
        let mut redirects = Vec::new();
        for r in &fe.redirect {
            let r_ref = r.get_ref();
            if mode == Mode::Tcp {
                self.error(
                    r.span(),
                    format!("{key}: redirect is only allowed in mode \"http\""),
                );
            }
            if r_ref.location.get_ref().is_empty() {
                self.error(
                    r_ref.location.span(),
                    format!("{key}: redirect location is empty"),
                );
            }
            let status = self.redirect_status(r_ref, key);
            redirects.push(Redirect {
                path_prefix: r_ref.path_prefix.as_ref().map(|p| p.get_ref().clone()),
                location: r_ref.location.get_ref().clone(),
                status,
            });
        }
        redirects
    }

    fn redirect_status(&mut self, r: &RawRedirect, key: &str) -> u16 {
        match &r.status {
            Some(s) if [301, 302, 303, 307, 308].contains(s.get_ref()) => *s.get_ref() as u16,
            Some(s) => {
                self.error(
                    s.span(),
                    format!(
                        "{key}: redirect status {} is not one of 301, 302, 303, 307, 308",
                        s.get_ref()
                    ),
                );
                302
            }
            None => 302,
        }
    }
}

/// Whether a frontend tracks clients in a table (a `track` connection or request rule).
fn tracks_clients(fe: &RawFrontend) -> bool {
    fe.tcp_rule
        .iter()
        .any(|r| r.get_ref().action.get_ref() == "track")
        || fe
            .http_rule
            .iter()
            .any(|r| r.get_ref().action.get_ref() == "track")
}

/// A bind address with `$NAME` / `${NAME}` replaced from ringlb's environment (as
/// HAProxy expands them in addresses: `0.0.0.0:$PORT` on a platform that sets the
/// port at run time). Read when the configuration is loaded or reloaded; an unset
/// variable is an error, not an empty string.
fn with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(b) => {
                let end = b.find('}').ok_or("an unclosed ${")?;
                (&b[..end], end + 2)
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("a $ that names no environment variable".into());
        }
        let value = env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_env;

    #[test]
    fn bind_addresses_take_environment_variables() {
        let env = |n: &str| (n == "PORT").then(|| "8080".to_string());
        assert_eq!(with_env("0.0.0.0:$PORT", &env).unwrap(), "0.0.0.0:8080");
        assert_eq!(with_env("[::]:${PORT}", &env).unwrap(), "[::]:8080");
        assert_eq!(with_env("127.0.0.1:80", &env).unwrap(), "127.0.0.1:80");
        let unset = with_env("0.0.0.0:$NOPE", &env).unwrap_err();
        assert!(unset.contains("NOPE is not set"), "{unset}");
        assert!(with_env("0.0.0.0:${PORT", &env).is_err());
        assert!(with_env("0.0.0.0:$", &env).is_err());
    }

    fn with_defer(mode: &str, value: &str) -> Result<crate::config::Config, String> {
        let text = format!("[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"{mode}\"\ndefault_backend = \"b\"\n{value}\n[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n");
        crate::config::Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn defer_accept_is_off_by_default_and_takes_a_boolean() {
        let off = with_defer("http", "").unwrap();
        assert!(!off.frontends[0].defer_accept);
        let on = with_defer("http", "defer_accept = true").unwrap();
        assert!(on.frontends[0].defer_accept);
        assert!(on.warnings.is_empty(), "{:?}", on.warnings);
        let e = with_defer("http", "defer_accept = \"yes\"").unwrap_err();
        assert!(e.contains("t.toml:6") && e.contains("defer_accept"), "{e}");
    }

    #[test]
    fn defer_accept_in_tcp_mode_warns_about_servers_that_speak_first() {
        let c = with_defer("tcp", "defer_accept = true").unwrap();
        assert!(c.frontends[0].defer_accept);
        assert!(
            c.warnings.len() == 1 && c.warnings[0].contains("speaks first"),
            "{:?}",
            c.warnings
        );
        assert!(with_defer("tcp", "defer_accept = false")
            .unwrap()
            .warnings
            .is_empty());
    }
}
