//! `[[table]]` and a frontend's rules → a [`RuleSet`] of the rule engine (see
//! docs/rules.md). ACLs are in `validate_acl.rs`, actions in `validate_actions.rs`.
//! Every error names the rule: `frontend "x": http_rule 3: ...`.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::raw::{Mode, RawBackend, RawFrontend, S};
use super::raw_rules::{RawAcl, RawTable};
use super::validate::Validator;
use super::{ErrorPage, TableSpec};
use crate::rules::{Acl, KeyKind, RuleSet, RuleSetBuilder, TableConfig, Test, When, SLOTS};

/// Defaults of `[[table]]`.
const TABLE_SIZE: i64 = 100_000;
const TABLE_EXPIRE_MS: u64 = 60_000;
const TABLE_PERIOD_MS: u64 = 10_000;
/// Longest header value a `hdr(...)` table keeps as its key.
const HEADER_KEY_LEN: u16 = 256;

/// What a frontend's rules may refer to.
pub(super) struct RuleCx<'a> {
    pub tables: &'a [TableSpec],
    pub backends: &'a HashMap<&'a str, usize>,
    /// The table tracked in each slot, in the order the frontend's rules track them.
    pub slots: Vec<usize>,
    /// Rate period (seconds) of the counter table each ACL reads, by ACL name.
    pub acl_periods: HashMap<String, u64>,
    pub mode: Mode,
    /// A backend's rules: no routing, no tracking.
    pub in_backend: bool,
}

impl RuleCx<'_> {
    pub fn table_index(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }

    pub fn slot_of(&self, table: usize) -> Option<u8> {
        self.slots.iter().position(|&t| t == table).map(|s| s as u8)
    }

    /// `Retry-After` of a 429 under condition `cond`: the longest rate period of the
    /// counters its ACLs read, else of the tables this frontend tracks, else 10 s.
    pub fn retry_after(&self, cond: Option<&str>) -> u64 {
        let from_acls = cond
            .into_iter()
            .flat_map(str::split_whitespace)
            .filter_map(|w| self.acl_periods.get(w.trim_start_matches('!')))
            .max();
        let tracked = self
            .slots
            .iter()
            .map(|&t| self.tables[t].config.rate_period_ms.div_ceil(1000))
            .max();
        from_acls.copied().or(tracked).unwrap_or(10).max(1)
    }
}

/// A frontend's rules, validated.
pub(super) struct FrontendRules {
    pub rules: Option<Arc<RuleSet>>,
    pub error_pages: Vec<ErrorPage>,
}

impl Validator {
    /// `[[table]]`: names unique, keys `src`, `src/N`, `hdr(Name)`.
    pub(super) fn tables(&mut self, raw: &[S<RawTable>]) -> Vec<TableSpec> {
        let mut out: Vec<TableSpec> = Vec::new();
        for t in raw {
            let r = t.get_ref();
            self.name(&r.name, "table");
            let key_name = format!("table {:?}", r.name.get_ref());
            if out.iter().any(|o| o.name == *r.name.get_ref()) {
                self.error(r.name.span(), format!("{key_name}: duplicate table name"));
            }
            let Some(key) = self.table_key(&r.key, &key_name) else {
                continue;
            };
            let size = self.int_in(
                r.size.as_ref(),
                TABLE_SIZE,
                1..=100_000_000,
                &format!("{key_name}: size"),
            );
            let ms = |v: &mut Self, d: Option<&S<String>>, def: u64, k: &str| {
                v.duration(
                    d,
                    std::time::Duration::from_millis(def),
                    &format!("{key_name}: {k}"),
                )
                .as_millis()
                .max(1) as u64
            };
            let config = TableConfig {
                key,
                max_entries: size as u32,
                expire_ms: ms(self, r.expire.as_ref(), TABLE_EXPIRE_MS, "expire"),
                rate_period_ms: ms(self, r.period.as_ref(), TABLE_PERIOD_MS, "period"),
            };
            if let Err(e) = config.validate() {
                self.error(t.span(), format!("{key_name}: {e}"));
            }
            out.push(TableSpec {
                name: r.name.get_ref().clone(),
                config,
            });
        }
        out
    }

    fn table_key(&mut self, key: &S<String>, what: &str) -> Option<KeyKind> {
        let k = key.get_ref().as_str();
        let kind = if k == "src" {
            Some(KeyKind::Addr)
        } else if let Some(bits) = k.strip_prefix("src/") {
            match bits.parse::<u8>() {
                Ok(v4 @ 1..=32) => Some(KeyKind::Prefix { v4, v6: 64 }),
                _ => None,
            }
        } else {
            k.strip_prefix("hdr(")
                .and_then(|h| h.strip_suffix(')'))
                .filter(|h| !h.is_empty())
                .map(|h| KeyKind::Header {
                    name: h.into(),
                    max_len: HEADER_KEY_LEN,
                })
        };
        if kind.is_none() {
            self.error(
                key.span(),
                format!("{what}: key {k:?} is not \"src\", \"src/N\" (IPv4 /N, IPv6 /64) or \"hdr(Name)\""),
            );
        }
        kind
    }

    /// A frontend's ACLs, rules and error pages.
    pub(super) fn frontend_rules(
        &mut self,
        fe: &RawFrontend,
        mode: Mode,
        key: &str,
        tables: &[TableSpec],
        backends: &HashMap<&str, usize>,
    ) -> FrontendRules {
        let error_pages = self.error_pages(fe, mode, key);
        if fe.acl.is_empty()
            && fe.tcp_rule.is_empty()
            && fe.http_rule.is_empty()
            && fe.response_rule.is_empty()
        {
            return FrontendRules {
                rules: None,
                error_pages,
            };
        }
        let mut cx = RuleCx {
            tables,
            backends,
            slots: Vec::new(),
            acl_periods: HashMap::new(),
            mode,
            in_backend: false,
        };
        self.slots(fe, key, &mut cx);
        let configs: Vec<TableConfig> = tables.iter().map(|t| t.config.clone()).collect();
        let mut b = RuleSetBuilder::new(&configs, true);
        self.acls(&fe.acl, key, &mut cx, &mut b);
        self.tcp_rules(&fe.tcp_rule, key, &cx, &mut b);
        self.http_rules(&fe.http_rule, key, &cx, &mut b);
        self.response_rules(&fe.response_rule, mode, key, &mut b);
        FrontendRules {
            rules: Some(Arc::new(b.build())),
            error_pages,
        }
    }

    /// Each backend's ACLs, request, response and `use_server` rules (HAProxy's rules
    /// in a backend, run once the backend is chosen).
    pub(super) fn backend_rules(
        &mut self,
        raw: &[RawBackend],
        out: &mut [super::Backend],
        tables: &[TableSpec],
        backends: &HashMap<&str, usize>,
    ) {
        for (be, cfg) in raw.iter().zip(out.iter_mut()) {
            if be.acl.is_empty()
                && be.http_rule.is_empty()
                && be.response_rule.is_empty()
                && be.use_server.is_empty()
            {
                continue;
            }
            let key = format!("backend {:?}", be.name.get_ref());
            let mut cx = RuleCx {
                tables,
                backends,
                slots: Vec::new(),
                acl_periods: HashMap::new(),
                mode: Mode::Http,
                in_backend: true,
            };
            let configs: Vec<TableConfig> = tables.iter().map(|t| t.config.clone()).collect();
            let mut b = RuleSetBuilder::new(&configs, true);
            self.acls(&be.acl, &key, &mut cx, &mut b);
            self.http_rules(&be.http_rule, &key, &cx, &mut b);
            self.response_rules(&be.response_rule, Mode::Http, &key, &mut b);
            for (i, u) in be.use_server.iter().enumerate() {
                let r = u.get_ref();
                let what = format!("{key}: use_server {}", i + 1);
                let name = r.server.get_ref();
                let Some(s) = cfg.servers.iter().position(|s| s.name == *name) else {
                    // A server whose own lines are wrong was reported already.
                    if !be.server.iter().any(|s| s.name.get_ref() == name) {
                        let msg =
                            format!("{what}: server {name:?} is not a server of this backend");
                        self.error(r.server.span(), msg);
                    }
                    continue;
                };
                let when = self.when(&r.if_, &r.unless, &what);
                if let Err(e) = b.use_server(s as u32, when.as_ref().map(|w| w.0)) {
                    let span = when.map_or(r.server.span(), |w| w.1);
                    self.error(span, format!("{what}: {e}"));
                }
            }
            cfg.rules = Some(Arc::new(b.build()));
            cfg.rule_backends = (0..backends.len()).collect();
            cfg.rule_servers = (0..cfg.servers.len()).collect();
        }
    }

    /// Tracking slots: each table tracked by a rule of the frontend gets one, in order.
    fn slots(&mut self, fe: &RawFrontend, key: &str, cx: &mut RuleCx<'_>) {
        let tcp = fe
            .tcp_rule
            .iter()
            .filter_map(|r| r.get_ref().table.as_ref());
        let http = fe
            .http_rule
            .iter()
            .filter_map(|r| r.get_ref().table.as_ref());
        for t in tcp.chain(http) {
            let Some(i) = cx.table_index(t.get_ref()) else {
                continue;
            };
            if cx.slots.contains(&i) {
                continue;
            }
            if cx.slots.len() == SLOTS {
                self.error(
                    t.span(),
                    format!("{key}: at most {SLOTS} tables may be tracked per frontend"),
                );
                continue;
            }
            cx.slots.push(i);
        }
    }

    fn acls(&mut self, acls: &[S<RawAcl>], key: &str, cx: &mut RuleCx<'_>, b: &mut RuleSetBuilder) {
        for a in acls {
            let r = a.get_ref();
            let name = r.name.get_ref();
            let what = format!("{key}: acl {name:?}");
            let test = self.acl_test(a, cx, &what);
            if let Some(Test::Counter { slot, .. }) = &test {
                let t = cx.slots[usize::from(*slot)];
                let secs = cx.tables[t].config.rate_period_ms.div_ceil(1000);
                cx.acl_periods.insert(name.clone(), secs);
            }
            if let Some(t) = &test {
                if cx.mode == Mode::Tcp && t.layer() >= crate::rules::Layer::Http {
                    self.error(
                        a.span(),
                        format!("{what}: an HTTP condition on a mode \"tcp\" frontend"),
                    );
                }
            }
            // A placeholder keeps later conditions that name a broken ACL quiet.
            let test = test.unwrap_or_else(|| Test::DstPort([(0, 0)].into()));
            match Acl::new(name, test).and_then(|acl| b.acl(acl)) {
                Ok(_) => {}
                Err(e) => self.error(r.name.span(), format!("{what}: {e}")),
            }
        }
    }

    /// `if`/`unless` of a rule (not both).
    pub(super) fn when<'t>(
        &mut self,
        if_: &'t Option<S<String>>,
        unless: &'t Option<S<String>>,
        what: &str,
    ) -> Option<(When<'t>, Range<usize>)> {
        match (if_, unless) {
            (Some(i), Some(u)) => {
                self.error(u.span(), format!("{what}: give if or unless, not both"));
                Some((When::If(i.get_ref()), i.span()))
            }
            (Some(i), None) => Some((When::If(i.get_ref()), i.span())),
            (None, Some(u)) => Some((When::Unless(u.get_ref()), u.span())),
            (None, None) => None,
        }
    }

    /// `[[frontend.error_page]]`: a status and a file holding a raw HTTP response.
    fn error_pages(&mut self, fe: &RawFrontend, mode: Mode, key: &str) -> Vec<ErrorPage> {
        let mut out = Vec::new();
        for p in &fe.error_page {
            let r = p.get_ref();
            let what = format!("{key}: error_page");
            if mode == Mode::Tcp {
                self.error(p.span(), format!("{what}: only allowed in mode \"http\""));
            }
            let status =
                self.int_in(Some(&r.status), 500, 400..=599, &format!("{what}: status")) as u16;
            let Some(bytes) = self.read_bytes(&r.file, &format!("{what}: file")) else {
                continue;
            };
            let head_end = bytes.windows(4).any(|w| w == b"\r\n\r\n")
                || bytes.windows(2).any(|w| w == b"\n\n");
            if !bytes.starts_with(b"HTTP/1.") || !head_end {
                self.error(r.file.span(), format!("{what}: file {:?} is not a raw HTTP response (\"HTTP/1.x status\", header lines, an empty line)", r.file.get_ref()));
                continue;
            }
            out.push(ErrorPage {
                status,
                response: bytes.into(),
            });
        }
        out
    }

    /// A file named relative to the configuration's directory.
    pub(super) fn read_bytes(&mut self, file: &S<String>, what: &str) -> Option<Vec<u8>> {
        let path = self.base.join(file.get_ref());
        match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) => {
                self.error(
                    file.span(),
                    format!("{what}: cannot read {:?}: {e}", path.display().to_string()),
                );
                None
            }
        }
    }

    pub(super) fn read_text(&mut self, file: &S<String>, what: &str) -> Option<String> {
        let bytes = self.read_bytes(file, what)?;
        match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                self.error(
                    file.span(),
                    format!("{what}: {:?} is not UTF-8 text", file.get_ref()),
                );
                None
            }
        }
    }
}
