//! The rule keys as written: `[[table]]`, `[[frontend.acl]]`, `[[frontend.tcp_rule]]`,
//! `[[frontend.http_rule]]`, `[[frontend.response_rule]]`, `[[frontend.error_page]]`,
//! the same lists in a backend and `[[backend.use_server]]` (docs/rules.md). Unknown keys are refused; values keep their spans for messages.

use serde::Deserialize;

use super::raw::S;

/// `[[table]]`: a tracking table (HAProxy's `stick-table`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub name: S<String>,
    /// `"src"`, `"src/24"`, `"hdr(X-Api-Key)"`.
    pub key: S<String>,
    pub size: Option<S<i64>>,
    pub expire: Option<S<String>>,
    pub period: Option<S<String>>,
}

/// `[[frontend.acl]]`: a name and exactly one condition kind (values ORed).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAcl {
    pub name: S<String>,
    pub ignore_case: Option<bool>,
    pub src: Option<S<Vec<S<String>>>>,
    pub src_file: Option<S<String>>,
    /// More values for the ACL's list (`host`, `path_prefix`... or the header's
    /// `equals`/`prefix`/`regex`), one per line, from a file (HAProxy's `-f`).
    pub values_file: Option<S<String>>,
    pub dst_port: Option<S<Vec<S<i64>>>>,
    pub sni: Option<S<Vec<String>>>,
    pub sni_suffix: Option<S<Vec<String>>>,
    pub tls_version: Option<S<Vec<String>>>,
    pub alpn: Option<S<Vec<String>>>,
    pub method: Option<S<Vec<String>>>,
    pub host: Option<S<Vec<String>>>,
    pub host_suffix: Option<S<Vec<String>>>,
    pub host_regex: Option<S<Vec<String>>>,
    pub path: Option<S<Vec<String>>>,
    pub path_prefix: Option<S<Vec<String>>>,
    pub path_suffix: Option<S<Vec<String>>>,
    pub path_regex: Option<S<Vec<String>>>,
    pub query: Option<S<RawNamed>>,
    pub header: Option<S<RawHeaderMatch>>,
    pub http_version: Option<S<Vec<String>>>,
    pub cookie: Option<S<RawNamed>>,
    pub counter: Option<S<RawCounter>>,
    /// `nbsrv = { backend = "app", below = 1 }` (HAProxy's `nbsrv(app) lt 1`).
    pub nbsrv: Option<S<RawNbsrv>>,
    /// `http_auth = { userlist = "L", groups = ["G"] }` (HAProxy's `http_auth(L)`,
    /// `http_auth_group(L) G`).
    pub http_auth: Option<S<RawHttpAuth>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpAuth {
    pub userlist: String,
    pub groups: Option<Vec<String>>,
}

/// `[[userlist]]`: users for HTTP basic authentication (HAProxy's `userlist`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUserlist {
    pub name: S<String>,
    #[serde(default)]
    pub user: Vec<S<RawUser>>,
}

/// `[[userlist.user]]`: `password` (a crypt(3) `$5$`/`$6$` hash) or
/// `insecure_password`, and the groups the user is in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: S<String>,
    pub password: Option<S<String>>,
    pub insecure_password: Option<S<String>>,
    pub groups: Option<Vec<S<String>>>,
}

/// `query = { name = "x", value = ["1"] }`, `cookie = { ... }`: value absent = present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamed {
    pub name: String,
    pub value: Option<Vec<String>>,
}

/// `header = { name = "X", equals|prefix|regex = [...] }`: none = present.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    pub name: String,
    pub equals: Option<Vec<String>>,
    pub prefix: Option<Vec<String>>,
    pub regex: Option<Vec<String>>,
}

/// `counter = { table = "per_ip", name = "http_req_rate", above = 100 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCounter {
    pub table: String,
    pub name: String,
    pub above: i64,
}

/// `nbsrv = { backend, below | above | equals }`: the backend's usable servers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNbsrv {
    pub backend: String,
    pub below: Option<i64>,
    pub above: Option<i64>,
    pub equals: Option<i64>,
}

/// `[[frontend.tcp_rule]]`: `accept`, `reject`, `track` (+ `table`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcpRule {
    pub action: S<String>,
    pub table: Option<S<String>>,
    #[serde(rename = "if")]
    pub if_: Option<S<String>>,
    pub unless: Option<S<String>>,
}

/// `[[frontend.http_rule]]`: one action and the keys it takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpRule {
    pub action: S<String>,
    pub status: Option<S<i64>>,
    pub content_type: Option<S<String>>,
    pub body: Option<S<String>>,
    pub body_file: Option<S<String>>,
    pub location: Option<S<String>>,
    pub prefix: Option<S<String>>,
    /// `redirect`: `location` / `prefix` as HAProxy log-format strings.
    pub location_format: Option<S<String>>,
    pub prefix_format: Option<S<String>>,
    pub scheme: Option<S<String>>,
    pub drop_query: Option<bool>,
    /// `redirect` with `prefix`/`scheme`: a path without a trailing `/` gets one
    /// (HAProxy's `append-slash`).
    pub append_slash: Option<bool>,
    pub name: Option<S<String>>,
    pub value: Option<S<String>>,
    /// `set_header`/`add_header`: the value as a HAProxy log-format string
    /// (`%[req.hdr(host),lower]`, `%ci`), instead of the literal `value`.
    pub format: Option<S<String>>,
    pub regex: Option<S<String>>,
    pub replacement: Option<S<String>>,
    pub backend: Option<S<String>>,
    /// `use_backend`: the backend's name as a HAProxy log-format string, computed per
    /// request (`%[req.hdr(host),lower,map(hosts.map)]`), instead of `backend`.
    pub backend_format: Option<S<String>>,
    pub delay: Option<S<String>>,
    pub table: Option<S<String>>,
    /// `auth`: the realm the client is asked to log in to.
    pub realm: Option<S<String>>,
    #[serde(rename = "if")]
    pub if_: Option<S<String>>,
    pub unless: Option<S<String>>,
}

/// `[[frontend.response_rule]]`: `set_header`, `add_header`, `del_header`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponseRule {
    pub action: S<String>,
    pub name: S<String>,
    pub value: Option<S<String>>,
    /// The value as a HAProxy log-format string, instead of the literal `value`.
    pub format: Option<S<String>>,
    #[serde(rename = "if")]
    pub if_: Option<S<String>>,
    pub unless: Option<S<String>>,
}

/// `[[backend.use_server]]`: send the request (or TCP session) to `server` of this
/// backend when the condition holds and the server is not down (HAProxy's
/// `use-server`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUseServer {
    pub server: S<String>,
    #[serde(rename = "if")]
    pub if_: Option<S<String>>,
    pub unless: Option<S<String>>,
}

/// `[[frontend.error_page]]`: a raw HTTP response sent instead of ringlb's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawErrorPage {
    pub status: S<i64>,
    pub file: S<String>,
}
