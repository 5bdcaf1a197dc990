//! The rule engine (issue 16): HAProxy's ACLs, `tcp-request connection`,
//! `http-request`, `use_backend` and `http-response` rules, and stick tables, as pure
//! code. Nothing here does I/O, reads a clock or takes a lock: every function is a
//! function of its inputs and a time in milliseconds passed in by the caller (any
//! monotonic origin, e.g. the worker's start). It imports nothing of the crate; the
//! configuration layer builds it, the worker calls it.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | this map, the design, re-exports |
//! | `error.rs` | [`RuleError`]: everything that can be wrong at load |
//! | `path.rs` | path normalization for matching (percent-decoding, dot-segments, slashes) |
//! | `auth.rs` | [`Userlist`]: HTTP basic authentication (HAProxy's `userlist`, `http_auth`) |
//! | `cidr.rs` | [`IpSet`]: IPv4/IPv6 networks as merged sorted ranges, binary search |
//! | `pattern.rs` | [`Patterns`]: string lists matched exact/prefix/suffix/domain/regex |
//! | `facts.rs` | [`Facts`]: the borrowed view of a connection and request rules look at |
//! | `format.rs` | [`Format`]: header values with samples (`%[req.hdr(host),lower]`, `%ci`) |
//! | `map.rs` | [`Map`]: HAProxy's map files, indexed per match kind, for the `map_*` converters |
//! | `convert.rs` | a sample's converters (`lower`, `upper`, `map_*`), applied in place |
//! | `format_tests.rs` | tests of every fetch, converter and alias, against HAProxy's output |
//! | `cond.rs` | [`Acl`] and [`Test`]: every condition kind, and its evaluation |
//! | `expr.rs` | [`Cond`]: `a b \|\| !c` parsed once into a flat array of terms |
//! | `action.rs` | actions by phase: [`ConnAction`], [`ReqAction`], [`HeaderEdit`] |
//! | `build.rs` | [`RuleSetBuilder`]: names resolved, phases checked, at load |
//! | `eval.rs` | evaluation by phase: [`RuleSet::on_connect`], `on_request` (and `on_request_after` for a backend's set), `use_server`, `on_response` |
//! | `outcome.rs` | what evaluation returns: [`Verdict`], [`Edit`], hits |
//! | `scratch.rs` | [`Scratch`]: the worker's reused buffers and ACL memo (capture buffers kept per rule set) |
//! | `route.rs` | [`NamedBackend`]: `use_backend` with a name computed per request (`%[...,map(...)]`) |
//! | `key.rs` | table keys: address, network prefix, header value |
//! | `rate.rs` | two-bucket sliding-window rates (HAProxy's `freq_ctr`) |
//! | `counter.rs` | table configuration, [`Counter`]s, tracking [`Slots`] |
//! | `table.rs` | [`Table`]: tracking table, O(1) LRU with expiry, counters |
//! | `saved.rs` | [`SavedEntry`]: a table's entries out and back in, across a binary upgrade |
//! | `cond_tests.rs` | tests of every condition kind |
//! | `eval_tests.rs` | tests of request actions, verdicts, edits, redirects |
//! | `phase_tests.rs` | tests of tracking, connection and response rules, load checks |
//! | `table_tests.rs` | tests of tables: counters, rate window, LRU, expiry |
//!
//! ## Design
//!
//! - **Load time** (once per configuration): ACLs are built from values ([`Acl::new`]
//!   with a [`Test`]; regexes compiled with a size limit, string lists sorted, CIDR
//!   lists merged), then rules are added to a [`RuleSetBuilder`] with their condition
//!   text ([`When::If`] / [`When::Unless`]); names are resolved and each ACL is
//!   checked against the phase (a connection rule cannot test a header). Everything
//!   that can fail fails here, with a [`RuleError`].
//! - **Per worker**: the [`Table`]s (plain structs, kept across reloads with
//!   [`Table::reconfigure`]) and one [`Scratch`] (reused buffers: normalized path,
//!   redirect location, ACL memo, hit list, regex capture slots).
//! - **Per connection**: a [`ConnState`] (the entries it is tracked in);
//!   [`ConnState::close`] when it ends.
//! - **Per evaluation**: [`RuleSet::on_connect`], [`RuleSet::on_request`],
//!   [`RuleSet::on_response`] take a borrowed [`Facts`], the tables, the scratch and
//!   `now_ms`, and return an outcome borrowing the rule set and the scratch: the
//!   verdict, the rule that gave it, every rule that acted (for
//!   `ringlb_rule_hits_total{rule}` and the access log), and the edits for the HTTP
//!   codec to apply. Rules run in order; the first terminal action wins
//!   (`use_backend` is terminal for routing only, see [`ReqAction`]).
//! - **Hot path**: no allocation once buffers have grown (new table entries aside:
//!   slab and index grow up to `max_entries`, a header-value key is boxed), no clock,
//!   no lock, no reference counting; each ACL is tested at most once per evaluation
//!   (the memo is cleared by a `track` or a path rewrite, which change what ACLs
//!   see); the path is normalized at most once per request, and only if a rule looks
//!   at it.
//! - **What conditions see**: the request as received, except its path: after
//!   `set_path`/`replace_path`, later path conditions, rewrites and redirects see the
//!   new (normalized) path. Header edits are only collected, for the codec.
//! - **Exactness**: per-client limits are exact only if one client's connections
//!   all reach the same worker; that steering belongs to the listener (issue 16).

mod action;
mod auth;
mod build;
mod cidr;
mod cond;
mod convert;
mod counter;
mod error;
mod eval;
mod expr;
mod facts;
mod format;
mod key;
mod map;
mod outcome;
mod path;
mod pattern;
mod rate;
mod route;
mod saved;
mod scratch;
mod table;

pub use action::{
    ConnAction, ExtraHeader, HeaderEdit, HeaderOp, PathRewrite, Redirect, RedirectTo, Reply,
    ReqAction,
};
pub use auth::{Password, Userlist};
pub use build::{Rule, RuleSet, RuleSetBuilder, When};
pub use cidr::{parse_cidr, IpSet, IpSetBuilder};
pub use cond::{Acl, Cmp, Layer, Test};
pub use convert::MapLoader;
pub use counter::{Counter, Counters, Slots, TableConfig, TableStats, Tracked, SLOTS};
pub use error::RuleError;
pub use eval::{count_bytes, count_error, ConnState};
pub use expr::Cond;
pub use facts::{Facts, Field, Headers, HttpFacts, UpServers};
pub use format::Format;
pub use key::{Key, KeyKind, MAX_KEY_LEN};
pub use map::{Map, MapMatch, MAP_CONVERTERS};
pub use outcome::{ConnOutcome, Edit, RequestOutcome, ResponseOutcome, Verdict};
pub use path::{normalize_path, split_target};
pub use pattern::{Method, Patterns, REGEX_MAX_LEN, REGEX_SIZE_LIMIT};
pub use route::{BackendNames, NamedBackend};
pub use saved::{SavedEntry, SavedKey};
pub use scratch::Scratch;
pub use table::{EntryId, Table};
