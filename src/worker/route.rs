//! Which way a request goes: a redirect, a routed backend, the default backend, or
//! nowhere (503). Redirects are looked at first, like HAProxy's `redirect` rules before
//! `use_backend`; within each list the first match wins.

use crate::config::Frontend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Redirect(usize),
    Backend(usize),
    NoBackend,
    /// A rule answered (deny, return, redirect, tarpit): the response is written.
    Answer(Answer),
}

/// A response a rule gives, already written into the session's head buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Tarpit: hold the request this long first.
    pub delay_ms: u64,
    /// The connection stays open after it.
    pub keep: bool,
}

pub fn route(fe: &Frontend, host: Option<&str>, path: &str) -> Action {
    if let Some(i) = fe
        .redirects
        .iter()
        .position(|r| prefix_matches(r.path_prefix.as_deref(), path))
    {
        return Action::Redirect(i);
    }
    let host = host.map(strip_port);
    for r in &fe.routes {
        if host_matches(r.host.as_deref(), host) && prefix_matches(r.path_prefix.as_deref(), path) {
            return Action::Backend(r.backend);
        }
    }
    fe.default_backend
        .map_or(Action::NoBackend, Action::Backend)
}

fn prefix_matches(prefix: Option<&str>, path: &str) -> bool {
    prefix.is_none_or(|p| path.starts_with(p))
}

/// `pattern` is lower case (validation made it so): exact, or `*.domain` for any name
/// below `domain` (not `domain` itself).
fn host_matches(pattern: Option<&str>, host: Option<&str>) -> bool {
    let Some(pattern) = pattern else { return true };
    let Some(host) = host else { return false };
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
        None => host.eq_ignore_ascii_case(pattern),
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i)
            if !host[i..].contains(']') && host[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &host[..i]
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn frontend() -> Frontend {
        let text = r#"
[[frontend]]
name = "f"
bind = ["127.0.0.1:1"]
mode = "http"
default_backend = "web"
[[frontend.redirect]]
path_prefix = "/old/"
location = "https://example.com/new/"
status = 301
[[frontend.route]]
host = "api.example.com"
path_prefix = "/v1/"
backend = "api"
[[frontend.route]]
host = "*.static.example.com"
backend = "static"
[[backend]]
name = "web"
[[backend.server]]
name = "w"
address = "127.0.0.1:2"
[[backend]]
name = "api"
[[backend.server]]
name = "a"
address = "127.0.0.1:3"
[[backend]]
name = "static"
[[backend.server]]
name = "s"
address = "127.0.0.1:4"
"#;
        Config::parse(text, "t").unwrap().frontends.remove(0)
    }

    #[test]
    fn first_match_wins_else_default() {
        let fe = frontend();
        assert_eq!(route(&fe, Some("x"), "/old/page"), Action::Redirect(0));
        assert_eq!(
            route(&fe, Some("api.example.com"), "/v1/users"),
            Action::Backend(1)
        );
        assert_eq!(
            route(&fe, Some("API.example.com:8443"), "/v1/"),
            Action::Backend(1)
        );
        assert_eq!(
            route(&fe, Some("api.example.com"), "/v2/"),
            Action::Backend(0)
        );
        assert_eq!(
            route(&fe, Some("img.static.example.com"), "/a.png"),
            Action::Backend(2)
        );
        assert_eq!(
            route(&fe, Some("static.example.com"), "/a.png"),
            Action::Backend(0)
        );
        assert_eq!(
            route(&fe, Some("evilstatic.example.com"), "/"),
            Action::Backend(0)
        );
        assert_eq!(route(&fe, None, "/v1/"), Action::Backend(0));
    }

    #[test]
    fn no_default_backend_means_503() {
        let mut fe = frontend();
        fe.default_backend = None;
        assert_eq!(route(&fe, Some("nothing"), "/"), Action::NoBackend);
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("a.b"), "a.b");
    }
}
