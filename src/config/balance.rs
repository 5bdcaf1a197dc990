//! A backend's balancing settings beyond `balance` itself: `[backend.hash]` (what
//! `uri`, `url_param` and `hdr` hash and how: HAProxy's `balance` arguments and
//! `hash-type`), and the dynamic connection limits (a server's `min_connections`,
//! the backend's `full_connections`: HAProxy's `minconn` and `fullconn`).

use super::raw::{RawBackend, S};
use super::validate::Validator;
use super::{Backend, Balance, Frontend, Server};

/// HAProxy's hash functions (`hash-type <method> <function>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashFunction {
    /// HAProxy's default.
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

/// What `uri`, `url_param` and `hdr` hash, and how the hash picks a server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashSpec {
    /// `hash-type consistent`: a server's points on a ring, so that a server going
    /// down moves only its own keys; `false` (HAProxy's default, `map-based`): a
    /// weighted table indexed by hash modulo the total weight.
    pub consistent: bool,
    pub function: HashFunction,
    /// The `avalanche` modifier (HAProxy's `full_hash` over the function's result);
    /// by default on for `consistent` without a `function`, as in HAProxy.
    pub avalanche: bool,
    /// `uri`: hash the query string too.
    pub whole: bool,
    /// `uri`: at most this many bytes (0: all).
    pub len: u32,
    /// `uri`: at most this many directory levels (0: all).
    pub depth: u32,
    /// `uri`: start at the path of an absolute URI.
    pub path_only: bool,
    /// `url_param`: the query parameter.
    pub param: String,
    /// `hdr`: the header field (lower case).
    pub header: String,
    /// `hdr`: only the domain label before the last dot.
    pub use_domain_only: bool,
}

impl Validator {
    /// `[backend.hash]` for `balance`; its keys must fit the algorithm.
    pub(super) fn hash_spec(&mut self, be: &RawBackend, balance: Balance, key: &str) -> HashSpec {
        let hashes = matches!(balance, Balance::Uri | Balance::UrlParam | Balance::Hdr);
        let Some(raw) = be.hash.as_ref() else {
            if hashes && balance != Balance::Uri {
                let what = if balance == Balance::Hdr {
                    "header"
                } else {
                    "param"
                };
                let span = be.name.span();
                self.error(
                    span,
                    format!(
                        "{key}: balance = \"{}\" needs [backend.hash] {what} = ...",
                        balance.name()
                    ),
                );
            }
            return HashSpec::default();
        };
        let h = raw.get_ref();
        if !hashes {
            self.error(
                raw.span(),
                format!("{key}: hash: only balance \"uri\", \"url_param\" and \"hdr\" hash requests (balance = \"source\" has its own consistent table)"),
            );
        }
        let mut spec = HashSpec {
            consistent: self.hash_type(h.r#type.as_ref(), key),
            function: self.hash_function(h.function.as_ref(), key),
            // HAProxy: `hash-type consistent` without a function is sdbm + avalanche.
            avalanche: h.avalanche.unwrap_or(
                h.function.is_none()
                    && h.r#type
                        .as_ref()
                        .is_some_and(|t| t.get_ref() == "consistent"),
            ),
            whole: h.whole.unwrap_or(false),
            path_only: h.path_only.unwrap_or(false),
            use_domain_only: h.use_domain_only.unwrap_or(false),
            ..HashSpec::default()
        };
        spec.len = self.int_in(h.len.as_ref(), 0, 1..=65_535, &format!("{key}: hash.len")) as u32;
        spec.depth = self.int_in(
            h.depth.as_ref(),
            0,
            1..=1_000,
            &format!("{key}: hash.depth"),
        ) as u32;
        let uri_keys = [
            (h.whole.is_some(), "whole"),
            (h.len.is_some(), "len"),
            (h.depth.is_some(), "depth"),
            (h.path_only.is_some(), "path_only"),
        ];
        for (_, name) in uri_keys
            .iter()
            .filter(|(on, _)| *on && balance != Balance::Uri)
        {
            self.error(
                raw.span(),
                format!("{key}: hash.{name} applies to balance = \"uri\" only"),
            );
        }
        spec.param = self.hash_name(h.param.as_ref(), balance, Balance::UrlParam, "param", key);
        spec.header = self
            .hash_name(h.header.as_ref(), balance, Balance::Hdr, "header", key)
            .to_ascii_lowercase();
        if h.use_domain_only.is_some() && balance != Balance::Hdr {
            self.error(
                raw.span(),
                format!("{key}: hash.use_domain_only applies to balance = \"hdr\" only"),
            );
        }
        spec
    }

    fn hash_type(&mut self, t: Option<&S<String>>, key: &str) -> bool {
        match t.map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "map-based")) => false,
            Some((_, "consistent")) => true,
            Some((t, other)) => {
                let msg = format!("{key}: hash.type {other:?}: \"map-based\" or \"consistent\"");
                self.error(t.span(), msg);
                false
            }
        }
    }

    fn hash_function(&mut self, f: Option<&S<String>>, key: &str) -> HashFunction {
        match f.map(|f| (f, f.get_ref().as_str())) {
            None | Some((_, "sdbm")) => HashFunction::Sdbm,
            Some((_, "djb2")) => HashFunction::Djb2,
            Some((_, "wt6")) => HashFunction::Wt6,
            Some((_, "crc32")) => HashFunction::Crc32,
            Some((f, other)) => {
                let msg = format!(
                    "{key}: hash.function {other:?}: \"sdbm\", \"djb2\", \"wt6\" or \"crc32\""
                );
                self.error(f.span(), msg);
                HashFunction::Sdbm
            }
        }
    }

    /// `param` / `header`: required by its balance, refused by the others.
    fn hash_name(
        &mut self,
        value: Option<&S<String>>,
        balance: Balance,
        needs: Balance,
        name: &str,
        key: &str,
    ) -> String {
        match value {
            Some(v) if balance != needs => {
                let msg = format!(
                    "{key}: hash.{name} applies to balance = \"{}\" only",
                    needs.name()
                );
                self.error(v.span(), msg);
                String::new()
            }
            Some(v) if v.get_ref().is_empty() || v.get_ref().contains(['=', '&', ':', ' ']) => {
                self.error(
                    v.span(),
                    format!("{key}: hash.{name}: a plain, non-empty name"),
                );
                String::new()
            }
            Some(v) => v.get_ref().clone(),
            None => String::new(),
        }
    }

    /// A server's `min_connections` (HAProxy's `minconn`) against its
    /// `max_connections`: returns both as HAProxy settles them (a `minconn` alone, or
    /// above `maxconn`, becomes a fixed limit).
    pub(super) fn min_connections(
        &mut self,
        min: Option<&S<i64>>,
        max: u32,
        key: &str,
    ) -> (u32, u32) {
        let Some(raw) = min else { return (0, max) };
        let m = self.int_in(
            Some(raw),
            0,
            0..=10_000_000,
            &format!("{key}: min_connections"),
        ) as u32;
        if m == 0 {
            return (0, max);
        }
        if max == 0 || m >= max {
            self.warn(
                raw.span(),
                format!("{key}: min_connections {m} without a larger max_connections is a fixed limit of {m} (as HAProxy's minconn alone)"),
            );
            return (0, m);
        }
        (m, max)
    }
}

impl Balance {
    /// The name `balance` is written with (statistics and the API show it too).
    pub fn name(self) -> &'static str {
        match self {
            Balance::Roundrobin => "roundrobin",
            Balance::Leastconn => "leastconn",
            Balance::Source => "source",
            Balance::Random => "random",
            Balance::P2c => "p2c",
            Balance::First => "first",
            Balance::Uri => "uri",
            Balance::UrlParam => "url_param",
            Balance::Hdr => "hdr",
        }
    }
}

/// Whether frontend `f` sends traffic to configuration backend `i` (default backend,
/// routes, SNI routes or `use_backend` rules).
pub(super) fn frontend_uses(f: &Frontend, i: usize) -> bool {
    f.default_backend == Some(i)
        || f.routes.iter().any(|r| r.backend == i)
        || f.sni_routes.iter().any(|r| r.backend == i)
        || f.rules.as_ref().is_some_and(|r| {
            r.request_rules().iter().any(|r| match &r.action {
                crate::rules::ReqAction::UseBackend(b) => *b as usize == i,
                crate::rules::ReqAction::UseBackendNamed(n) => {
                    n.may_pick().any(|b| b as usize == i)
                }
                _ => false,
            })
        })
}

/// `full_connections` of backends that do not set it, as HAProxy computes `fullconn`:
/// 10% (rounded up, at least 1) of the connection limits of the frontends that use
/// the backend (a frontend without `max_connections` counts `global.max_connections`).
pub(super) fn default_full_connections(
    backends: &mut [Backend],
    frontends: &[Frontend],
    global_max: usize,
) {
    for (i, b) in backends.iter_mut().enumerate() {
        if b.full_connections > 0 {
            continue;
        }
        let total: usize = frontends
            .iter()
            .filter(|f| frontend_uses(f, i))
            .map(|f| match f.max_connections {
                0 => global_max,
                n => n,
            })
            .sum();
        b.full_connections = total.div_ceil(10).clamp(1, u32::MAX as usize) as u32;
    }
}

/// Whether any server of the backend has a dynamic limit.
pub fn dynamic_limits(servers: &[Server]) -> bool {
    servers.iter().any(|s| s.min_connections > 0)
}

#[cfg(test)]
mod tests {
    use crate::config::{Balance, Config, HashFunction};

    fn parse(backend: &str) -> Result<Config, String> {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nmode = \"http\"\ndefault_backend = \"app\"\nmax_connections = 995\n\
             [[backend]]\nname = \"app\"\n{backend}\n\
             [[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\nmax_connections = 100\nmin_connections = 10\n\
             [[backend.server]]\nname = \"b\"\naddress = \"127.0.0.1:3\"\n"
        );
        Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn uri_options_and_hash_type() {
        let c = parse("balance = \"uri\"\n[backend.hash]\ntype = \"consistent\"\nfunction = \"djb2\"\navalanche = true\nwhole = true\nlen = 10\ndepth = 2\npath_only = true").unwrap();
        let b = &c.backends[0];
        assert_eq!(b.balance, Balance::Uri);
        let h = &b.hash;
        assert!(h.consistent && h.avalanche && h.whole && h.path_only);
        assert_eq!((h.function, h.len, h.depth), (HashFunction::Djb2, 10, 2));
        // Without a table: map-based sdbm over the path.
        let c = parse("balance = \"uri\"").unwrap();
        assert_eq!(c.backends[0].hash, Default::default());
        // consistent alone is sdbm + avalanche (HAProxy), with a function not.
        let c = parse("balance = \"uri\"\n[backend.hash]\ntype = \"consistent\"").unwrap();
        assert!(c.backends[0].hash.avalanche);
        let c =
            parse("balance = \"uri\"\n[backend.hash]\ntype = \"consistent\"\nfunction = \"sdbm\"")
                .unwrap();
        assert!(!c.backends[0].hash.avalanche);
    }

    #[test]
    fn param_and_header_are_required_and_checked() {
        let e = parse("balance = \"url_param\"").unwrap_err();
        assert!(
            e.contains("t.toml:") && e.contains("needs [backend.hash] param"),
            "{e}"
        );
        let e = parse("balance = \"hdr\"").unwrap_err();
        assert!(e.contains("needs [backend.hash] header"), "{e}");
        let c =
            parse("balance = \"hdr\"\n[backend.hash]\nheader = \"Host\"\nuse_domain_only = true")
                .unwrap();
        assert_eq!(c.backends[0].hash.header, "host");
        assert!(c.backends[0].hash.use_domain_only);
        let e = parse("balance = \"uri\"\n[backend.hash]\nparam = \"id\"").unwrap_err();
        assert!(
            e.contains("hash.param applies to balance = \"url_param\" only"),
            "{e}"
        );
        let e = parse("balance = \"url_param\"\n[backend.hash]\nparam = \"id\"\ndepth = 2")
            .unwrap_err();
        assert!(
            e.contains("hash.depth applies to balance = \"uri\" only"),
            "{e}"
        );
        let e =
            parse("balance = \"roundrobin\"\n[backend.hash]\ntype = \"consistent\"").unwrap_err();
        assert!(e.contains("only balance \"uri\""), "{e}");
        let e = parse("balance = \"uri\"\n[backend.hash]\ntype = \"ring\"").unwrap_err();
        assert!(e.contains("\"map-based\" or \"consistent\""), "{e}");
        let e = parse("balance = \"uri\"\n[backend.hash]\nlen = 0").unwrap_err();
        assert!(e.contains("hash.len 0 is out of range"), "{e}");
    }

    #[test]
    fn min_connections_and_full_connections() {
        let c = parse("balance = \"first\"").unwrap();
        let b = &c.backends[0];
        assert_eq!(b.balance, Balance::First);
        assert_eq!(
            (b.servers[0].min_connections, b.servers[0].max_connections),
            (10, 100)
        );
        // HAProxy's default fullconn: 10% of the frontend's maxconn, rounded up.
        assert_eq!(b.full_connections, 100);
        let c = parse("full_connections = 500").unwrap();
        assert_eq!(c.backends[0].full_connections, 500);
        // minconn alone is a fixed limit (with a warning).
        let text = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\ndefault_backend = \"app\"\n\
             [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\nmin_connections = 7\n";
        let c = Config::parse(text, "t.toml").unwrap();
        let s = &c.backends[0].servers[0];
        assert_eq!((s.min_connections, s.max_connections), (0, 7));
        assert!(
            c.warnings.iter().any(|w| w.contains("fixed limit of 7")),
            "{:?}",
            c.warnings
        );
    }
}
