//! What the translation gathers before writing: one [`Fe`] per HAProxy frontend (or
//! the front half of a `listen`), one [`Be`] per backend (or back half), and the
//! process-wide [`Global`]. Keys are kept as TOML tables with their citations, so a
//! proxy's own line replaces what its defaults set, in place.

use std::collections::HashMap;

use crate::import::report::{Ledger, Src};
use crate::import::toml_out::Table;

use super::sections::Line;

/// Process-wide state: `[global]`, `[resolvers]`, base directories.
#[derive(Debug)]
pub struct Global {
    pub main: Table,
    pub resolvers: Option<Table>,
    pub resolvers_name: Option<String>,
    /// HAProxy's `timeout resolve` of that section: how often servers re-resolve.
    pub resolve_every: Option<(String, Src)>,
    pub crt_base: Option<String>,
    pub ca_base: Option<String>,
    /// A `log` target exists (so `option httplog` lines go somewhere).
    pub logs: bool,
    pub admin_bound: bool,
    /// `ssl-server-verify none`.
    pub verify_none: Option<Src>,
    /// `[[table]]`s from stick tables, and their names.
    pub tables: Vec<Table>,
    pub table_names: Vec<String>,
    /// `[[userlist]]`s, each followed by its `[[userlist.user]]`s.
    pub userlists: Vec<Table>,
    /// `ssl-default-bind-*` and `ssl-default-server-*`.
    pub tls_bind: super::tls_opts::TlsOpts,
    pub tls_server: super::tls_opts::TlsOpts,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            main: Table::new("[global]"),
            resolvers: None,
            resolvers_name: None,
            resolve_every: None,
            crt_base: None,
            ca_base: None,
            logs: false,
            admin_bound: false,
            verify_none: None,
            tables: Vec::new(),
            table_names: Vec::new(),
            userlists: Vec::new(),
            tls_bind: Default::default(),
            tls_server: Default::default(),
        }
    }
}

/// The translation's shared context.
pub struct Cx<'a> {
    pub led: &'a mut Ledger,
    pub g: &'a mut Global,
}

/// A `bind` line: its address and what it says about TLS and PROXY.
#[derive(Debug, Clone)]
pub struct Bind {
    pub addr: String,
    pub src: Src,
    /// `[frontend.tls]` for an `ssl` bind.
    pub tls: Option<Table>,
    pub proxy: bool,
    /// `proto h2`: HTTP/2 with prior knowledge (cleartext) or h2 only (TLS).
    pub h2: bool,
    /// `defer-accept`: `defer_accept = true` on its frontend.
    pub defer: bool,
}

/// A frontend as it will be written (split per kind of bind when written).
#[derive(Debug)]
pub struct Fe {
    pub name: String,
    pub head: Src,
    pub main: Table,
    pub binds: Vec<Bind>,
    pub acls: Vec<Table>,
    /// ACLs on the TLS ClientHello's name (`req.ssl_sni`): routes in tcp mode.
    pub sni_acls: HashMap<String, Vec<String>>,
    pub tcp_rules: Vec<Table>,
    pub http_rules: Vec<Table>,
    /// `redirect` lines: after `http-request` rules, before `use_backend`.
    pub redirects: Vec<Table>,
    /// `use_backend` lines, translated once the mode is known.
    pub use_backend: Vec<Line>,
    /// `tcp-request inspect-delay` / `content accept` lines of an SNI router.
    pub sni_lines: Vec<Line>,
    pub response_rules: Vec<Table>,
    pub error_pages: Vec<Table>,
    pub anon: usize,
    pub tarpit: Option<String>,
    pub http_log: bool,
    /// The `default_backend` line.
    pub default_src: Option<Src>,
    pub final_mode: String,
    /// `monitor-uri`: answered 200 before any rule.
    pub monitor: Option<Src>,
    /// `maxconn` of the frontend (decided once the number of frontends is known).
    pub maxconn: Option<(i64, Src)>,
    /// How many `use_backend` lines the frontend had.
    pub use_backend_count: usize,
    /// Tables translated (all proxies'), tracking slots → table, counter ACLs' lines.
    pub tables: Vec<String>,
    pub sc: HashMap<u32, String>,
    pub counter_srcs: HashMap<String, Src>,
    /// `compression` lines: `[frontend.compression]`.
    pub compression: super::compression::Comp,
}

impl Fe {
    pub fn new(name: &str, head: &Src) -> Fe {
        let mut main = Table::new("[[frontend]]");
        main.notes.push(head.cite());
        main.set(
            "name",
            crate::import::toml_out::Value::str(name),
            head.cite(),
        );
        Fe {
            name: name.to_string(),
            head: head.clone(),
            main,
            binds: Vec::new(),
            acls: Vec::new(),
            sni_acls: HashMap::new(),
            tcp_rules: Vec::new(),
            http_rules: Vec::new(),
            redirects: Vec::new(),
            use_backend: Vec::new(),
            sni_lines: Vec::new(),
            response_rules: Vec::new(),
            error_pages: Vec::new(),
            anon: 0,
            tarpit: None,
            http_log: false,
            default_src: None,
            final_mode: "tcp".into(),
            monitor: None,
            use_backend_count: 0,
            maxconn: None,
            tables: Vec::new(),
            sc: HashMap::new(),
            counter_srcs: HashMap::new(),
            compression: Default::default(),
        }
    }

    /// The proxy's mode: the last `mode` line of its defaults and itself.
    pub fn mode(&self) -> &str {
        &self.final_mode
    }

    pub fn has_acl(&self, name: &str) -> bool {
        self.sni_acls.contains_key(name)
            || self
                .acls
                .iter()
                .any(|a| a.get("name").and_then(|v| v.as_str()) == Some(name))
    }
}

/// The protocol a server is checked over in HAProxy: `check-proto`, else its `proto`,
/// else HTTP/1.1.
#[derive(Debug, Clone)]
pub struct CheckProto {
    pub proto: String,
    /// The citation of the `check-proto` option, when one said it.
    pub asked: Option<String>,
    /// The `server` line.
    pub src: Src,
}

/// A backend as it will be written.
#[derive(Debug)]
pub struct Be {
    pub name: String,
    pub head: Src,
    pub main: Table,
    pub check: Table,
    pub steps: Vec<Table>,
    pub servers: Vec<Table>,
    pub templates: Vec<Table>,
    pub cookie: Option<Table>,
    /// `default-server` lines met so far (defaults' first), applied to later servers.
    pub default_server: Vec<Line>,
    /// `observe` was set on a server: passive health as HAProxy's.
    pub observe: bool,
    pub allbackups: bool,
    /// `option forwardfor` of the backend: carried to the frontends that only use it.
    pub forwardfor: Option<Src>,
    /// `option httpclose` of the backend: carried to the frontends that only use it.
    pub httpclose: Option<Src>,
    /// `option prefer-last-server`, translated as `http_reuse = "never"`: a later
    /// `http-reuse` of another strategy undoes it (reported).
    pub prefer_last: Option<Src>,
    /// `server` and `server-template` lines, translated or not.
    pub server_lines: usize,
    /// Lines giving servers a `maxqueue` (decided once the backend is read).
    pub maxqueue: Vec<Src>,
    /// Some request may be bound to one server (persistence, a hash, `use-server`):
    /// HAProxy then queues it on that server.
    pub pinned: bool,
    /// Each server's check protocol, one per `server` line translated: ringlb has one
    /// per backend.
    pub check_protos: Vec<CheckProto>,
    /// `http-check connect` without `default`: the check's protocol (its `proto`, else
    /// h1), whatever the servers say.
    pub check_connect: Option<(String, Src)>,
    /// The backend's own `acl`, `http-request`, `tcp-request` lines: moved to its
    /// frontends when it is the only backend they use (decided once all is read).
    pub rule_lines: Vec<Line>,
    /// `compression` lines: `[backend.compression]`.
    pub compression: super::compression::Comp,
    /// `balance uri|url_param|hdr` arguments and `hash-type`: `[backend.hash]`,
    /// written when the backend's final `balance` hashes requests; the `hash-type`
    /// line, translated then.
    pub hash: Table,
    pub hash_type: Option<Src>,
}

impl Be {
    pub fn new(name: &str, head: &Src) -> Be {
        let mut main = Table::new("[[backend]]");
        main.notes.push(head.cite());
        main.set(
            "name",
            crate::import::toml_out::Value::str(name),
            head.cite(),
        );
        Be {
            name: name.to_string(),
            head: head.clone(),
            main,
            check: Table::new("[backend.check]"),
            steps: Vec::new(),
            servers: Vec::new(),
            templates: Vec::new(),
            cookie: None,
            default_server: Vec::new(),
            observe: false,
            allbackups: false,
            forwardfor: None,
            httpclose: None,
            prefer_last: None,
            server_lines: 0,
            maxqueue: Vec::new(),
            pinned: false,
            check_protos: Vec::new(),
            check_connect: None,
            rule_lines: Vec::new(),
            compression: Default::default(),
            hash: Table::new("[backend.hash]"),
            hash_type: None,
        }
    }
}
