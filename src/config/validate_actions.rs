//! The actions of `[[frontend.tcp_rule]]`, `[[frontend.http_rule]]` and
//! `[[frontend.response_rule]]`, added to the frontend's [`RuleSetBuilder`].

use std::ops::Range;

use super::raw::{Mode, S};
use super::raw_rules::{RawHttpRule, RawResponseRule, RawTcpRule};
use super::validate::Validator;
use super::validate_rules::RuleCx;
use crate::rules::{
    ConnAction, HeaderOp, PathRewrite, Reply, ReqAction, RuleError, RuleSetBuilder,
};

/// Tarpit defaults (HAProxy: `timeout tarpit`, status 500).
const TARPIT_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

const HTTP_ACTIONS: &str = "allow, deny, return, redirect, set_header, add_header, del_header, set_path, replace_path, use_backend, tarpit, track, auth";

impl Validator {
    pub(super) fn tcp_rules(
        &mut self,
        rules: &[S<RawTcpRule>],
        key: &str,
        cx: &RuleCx<'_>,
        b: &mut RuleSetBuilder,
    ) {
        for (i, r) in rules.iter().enumerate() {
            let r = r.get_ref();
            let what = format!("{key}: tcp_rule {}", i + 1);
            let action = match r.action.get_ref().as_str() {
                "accept" => Some(ConnAction::Accept),
                "reject" => Some(ConnAction::Reject),
                "track" => self
                    .track(&r.table, &r.action, cx, &what)
                    .map(|(slot, table)| ConnAction::Track { slot, table }),
                other => {
                    self.error(
                        r.action.span(),
                        format!("{what}: action {other:?} is not one of accept, reject, track"),
                    );
                    None
                }
            };
            if r.action.get_ref() != "track" {
                if let Some(t) = &r.table {
                    self.error(
                        t.span(),
                        format!("{what}: table only applies to action \"track\""),
                    );
                }
            }
            let when = self.when(&r.if_, &r.unless, &what);
            if let Some(action) = action {
                let res = b.connection(action, when.as_ref().map(|w| w.0));
                self.rule_result(res, &r.action, when.as_ref().map(|w| w.1.clone()), &what);
            }
        }
    }

    pub(super) fn http_rules(
        &mut self,
        rules: &[S<RawHttpRule>],
        key: &str,
        cx: &RuleCx<'_>,
        b: &mut RuleSetBuilder,
    ) {
        for (i, rule) in rules.iter().enumerate() {
            let r = rule.get_ref();
            let what = format!("{key}: http_rule {}", i + 1);
            if cx.mode == Mode::Tcp {
                self.error(
                    rule.span(),
                    format!("{what}: http_rule is only allowed in mode \"http\""),
                );
                continue;
            }
            self.unused_keys(r, &what);
            let when = self.when(&r.if_, &r.unless, &what);
            let cond_text = r
                .if_
                .as_ref()
                .or(r.unless.as_ref())
                .map(|c| c.get_ref().as_str());
            let Some(action) = self.http_action(r, cx, cond_text, &what) else {
                continue;
            };
            let res = b.request(action, when.as_ref().map(|w| w.0));
            self.rule_result(res, &r.action, when.as_ref().map(|w| w.1.clone()), &what);
        }
    }

    pub(super) fn response_rules(
        &mut self,
        rules: &[S<RawResponseRule>],
        mode: Mode,
        key: &str,
        b: &mut RuleSetBuilder,
    ) {
        for (i, rule) in rules.iter().enumerate() {
            let r = rule.get_ref();
            let what = format!("{key}: response_rule {}", i + 1);
            if mode != Mode::Http {
                self.error(
                    rule.span(),
                    format!("{what}: response_rule is only allowed in mode \"http\""),
                );
                continue;
            }
            let Some(op) = header_op(r.action.get_ref()) else {
                self.error(
                    r.action.span(),
                    format!(
                        "{what}: action {:?} is not one of set_header, add_header, del_header",
                        r.action.get_ref()
                    ),
                );
                continue;
            };
            if let Some(why) = protected_header(op, r.name.get_ref(), false) {
                self.error(
                    r.name.span(),
                    format!("{what}: header {:?} {why}", r.name.get_ref()),
                );
                continue;
            }
            let Some(edit) = self.header_edit(
                op,
                r.name.get_ref(),
                (&r.value, &r.format),
                &r.action,
                &what,
            ) else {
                continue;
            };
            let when = self.when(&r.if_, &r.unless, &what);
            let res = b.response(edit, when.as_ref().map(|w| w.0));
            self.rule_result(res, &r.action, when.as_ref().map(|w| w.1.clone()), &what);
        }
    }

    /// A builder's answer: errors about the condition point at it, others at the action.
    fn rule_result<T>(
        &mut self,
        res: Result<T, RuleError>,
        action: &S<String>,
        cond: Option<Range<usize>>,
        what: &str,
    ) {
        if let Err(e) = res {
            let at_cond = matches!(e, RuleError::UnknownAcl(_) | RuleError::BadCondition { .. })
                || e.to_string().contains("not known yet at this phase");
            let span = cond.filter(|_| at_cond).unwrap_or_else(|| action.span());
            self.error(span, format!("{what}: {e}"));
        }
    }

    /// `table = "..."` of a track action: its slot and index.
    fn track(
        &mut self,
        table: &Option<S<String>>,
        action: &S<String>,
        cx: &RuleCx<'_>,
        what: &str,
    ) -> Option<(u8, u16)> {
        let Some(t) = table else {
            self.error(
                action.span(),
                format!("{what}: action \"track\" needs table"),
            );
            return None;
        };
        let Some(i) = cx.table_index(t.get_ref()) else {
            self.error(
                t.span(),
                format!("{what}: table {:?} is not a defined [[table]]", t.get_ref()),
            );
            return None;
        };
        Some((cx.slot_of(i)?, i as u16))
    }

    fn http_action(
        &mut self,
        r: &RawHttpRule,
        cx: &RuleCx<'_>,
        cond: Option<&str>,
        what: &str,
    ) -> Option<ReqAction> {
        let action = r.action.get_ref().as_str();
        if cx.in_backend && matches!(action, "use_backend" | "track") {
            self.error(
                r.action.span(),
                format!("{what}: action {action:?} belongs to a frontend's rules, not a backend's"),
            );
            return None;
        }
        Some(match action {
            "allow" => ReqAction::Allow,
            "deny" => ReqAction::Deny(self.reply(r, 403, cx, cond, what)?),
            "return" => ReqAction::Return(self.reply(r, 200, cx, cond, what)?),
            "redirect" => ReqAction::Redirect(self.redirect(r, what)?),
            "set_header" | "add_header" | "del_header" => {
                let op = header_op(action)?;
                let name = self.needs(&r.name, r, "name", what)?;
                if let Some(why) = protected_header(op, name, true) {
                    let span = r.name.as_ref().map_or(r.action.span(), |n| n.span());
                    self.error(span, format!("{what}: header {name:?} {why}"));
                    return None;
                }
                ReqAction::Header(self.header_edit(
                    op,
                    name,
                    (&r.value, &r.format),
                    &r.action,
                    what,
                )?)
            }
            "set_path" => {
                ReqAction::SetPath(self.needs(&r.value, r, "value", what)?.as_bytes().into())
            }
            "replace_path" => {
                let regex = self.needs(&r.regex, r, "regex", what)?;
                let repl = self.needs(&r.replacement, r, "replacement", what)?;
                let span = r.regex.as_ref().map_or(r.action.span(), |s| s.span());
                match PathRewrite::new(regex, repl) {
                    Ok(rw) => ReqAction::ReplacePath(rw),
                    Err(e) => {
                        self.error(span, format!("{what}: {e}"));
                        return None;
                    }
                }
            }
            "use_backend" if r.backend_format.is_some() => self.named_backend(r, cx, what)?,
            "use_backend" => {
                let b = r.backend.as_ref();
                let name = self.needs(&r.backend, r, "backend", what)?;
                match cx.backends.get(name) {
                    Some(&i) => ReqAction::UseBackend(i as u32),
                    None => {
                        let span = b.map_or(r.action.span(), |b| b.span());
                        self.error(
                            span,
                            format!("{what}: backend {name:?} is not a defined backend"),
                        );
                        return None;
                    }
                }
            }
            "tarpit" => ReqAction::Tarpit {
                delay_ms: self
                    .duration(r.delay.as_ref(), TARPIT_DELAY, &format!("{what}: delay"))
                    .as_millis() as u64,
                status: self.int_in(
                    r.status.as_ref(),
                    500,
                    200..=599,
                    &format!("{what}: status"),
                ) as u16,
            },
            "track" => {
                let (slot, table) = self.track(&r.table, &r.action, cx, what)?;
                ReqAction::Track { slot, table }
            }
            "auth" => ReqAction::Return(self.auth_reply(r, what)?),
            other => {
                self.error(
                    r.action.span(),
                    format!("{what}: action {other:?} is not one of {HTTP_ACTIONS}"),
                );
                return None;
            }
        })
    }

    /// `auth`: 401 asking for basic credentials in `realm` (HAProxy's `http-request
    /// auth realm R`, answered with its page).
    fn auth_reply(&mut self, r: &RawHttpRule, what: &str) -> Option<Reply> {
        let realm = self.needs(&r.realm, r, "realm", what)?;
        if realm
            .bytes()
            .any(|b| b == b'"' || b == b'\\' || b.is_ascii_control())
        {
            let span = r.realm.as_ref().map_or(r.action.span(), |s| s.span());
            self.error(
                span,
                format!("{what}: realm {realm:?}: no quote, backslash or control character"),
            );
            return None;
        }
        let mut reply = Reply::new(401);
        reply.content_type = Some("text/html".into());
        reply.body = b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n".as_slice().into();
        let challenge = format!("Basic realm=\"{realm}\"");
        reply.headers = vec![("WWW-Authenticate".into(), challenge.into_bytes().into())].into();
        Some(reply)
    }

    /// `deny`/`return`: status, content_type, body or body_file; a 429 gets `Retry-After`.
    fn reply(
        &mut self,
        r: &RawHttpRule,
        status: i64,
        cx: &RuleCx<'_>,
        cond: Option<&str>,
        what: &str,
    ) -> Option<Reply> {
        let status = self.int_in(
            r.status.as_ref(),
            status,
            200..=599,
            &format!("{what}: status"),
        ) as u16;
        let mut reply = Reply::new(status);
        reply.body = match (&r.body, &r.body_file) {
            (Some(_), Some(f)) => {
                self.error(
                    f.span(),
                    format!("{what}: give body or body_file, not both"),
                );
                return None;
            }
            (Some(b), None) => b.get_ref().as_bytes().into(),
            (None, Some(f)) => self.read_bytes(f, &format!("{what}: body_file"))?.into(),
            (None, None) => Box::default(),
        };
        reply.content_type = match &r.content_type {
            Some(c) => Some(c.get_ref().as_str().into()),
            None if !reply.body.is_empty() => Some("text/plain; charset=utf-8".into()),
            None => None,
        };
        if status == 429 {
            let secs = cx.retry_after(cond).to_string();
            reply.headers = vec![("Retry-After".into(), secs.into_bytes().into())].into();
        }
        Some(reply)
    }

    fn needs<'r>(
        &mut self,
        v: &'r Option<S<String>>,
        r: &RawHttpRule,
        k: &str,
        what: &str,
    ) -> Option<&'r str> {
        if v.is_none() {
            self.error(
                r.action.span(),
                format!("{what}: action {:?} needs {k}", r.action.get_ref()),
            );
        }
        v.as_ref().map(|v| v.get_ref().as_str())
    }

    pub(super) fn ok<T>(
        &mut self,
        res: Result<T, RuleError>,
        at: &S<String>,
        what: &str,
    ) -> Option<T> {
        res.map_err(|e| self.error(at.span(), format!("{what}: {e}")))
            .ok()
    }

    /// Keys given that the rule's action does not take.
    fn unused_keys(&mut self, r: &RawHttpRule, what: &str) {
        let action = r.action.get_ref().as_str();
        let takes: &[&str] = match action {
            "deny" | "return" => &["status", "content_type", "body", "body_file"],
            "redirect" => &[
                "location",
                "prefix",
                "scheme",
                "location_format",
                "prefix_format",
                "status",
                "drop_query",
                "append_slash",
            ],
            "set_header" | "add_header" => &["name", "value", "format"],
            "del_header" => &["name"],
            "set_path" => &["value"],
            "replace_path" => &["regex", "replacement"],
            "use_backend" => &["backend", "backend_format"],
            "tarpit" => &["delay", "status"],
            "track" => &["table"],
            "auth" => &["realm"],
            _ => &[],
        };
        let keys = [
            ("status", r.status.as_ref().map(|s| s.span())),
            ("content_type", r.content_type.as_ref().map(|s| s.span())),
            ("body", r.body.as_ref().map(|s| s.span())),
            ("body_file", r.body_file.as_ref().map(|s| s.span())),
            ("location", r.location.as_ref().map(|s| s.span())),
            ("prefix", r.prefix.as_ref().map(|s| s.span())),
            (
                "location_format",
                r.location_format.as_ref().map(|s| s.span()),
            ),
            ("prefix_format", r.prefix_format.as_ref().map(|s| s.span())),
            ("scheme", r.scheme.as_ref().map(|s| s.span())),
            ("drop_query", r.drop_query.map(|_| r.action.span())),
            ("append_slash", r.append_slash.map(|_| r.action.span())),
            ("name", r.name.as_ref().map(|s| s.span())),
            ("value", r.value.as_ref().map(|s| s.span())),
            ("format", r.format.as_ref().map(|s| s.span())),
            ("regex", r.regex.as_ref().map(|s| s.span())),
            ("replacement", r.replacement.as_ref().map(|s| s.span())),
            ("backend", r.backend.as_ref().map(|s| s.span())),
            (
                "backend_format",
                r.backend_format.as_ref().map(|s| s.span()),
            ),
            ("delay", r.delay.as_ref().map(|s| s.span())),
            ("table", r.table.as_ref().map(|s| s.span())),
            ("realm", r.realm.as_ref().map(|s| s.span())),
        ];
        for (k, span) in keys {
            if let Some(span) =
                span.filter(|_| (!takes.contains(&k) && !takes.is_empty()) || action == "allow")
            {
                self.error(
                    span,
                    format!("{what}: {k} does not apply to action {action:?}"),
                );
            }
        }
    }
}

/// Why rules may not edit header `name` (`request`: an http_rule, else a
/// response_rule): ringlb writes the message's framing and connection-management
/// fields itself, and a request keeps exactly one Host.
fn protected_header(op: HeaderOp, name: &str, request: bool) -> Option<&'static str> {
    const OWN: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ];
    if OWN.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return Some(
            "cannot be edited: ringlb writes message framing and connection fields itself",
        );
    }
    if request && op != HeaderOp::Set && name.eq_ignore_ascii_case("host") {
        return Some("can only be set (set_header): a request keeps exactly one Host");
    }
    None
}

fn header_op(action: &str) -> Option<HeaderOp> {
    match action {
        "set_header" => Some(HeaderOp::Set),
        "add_header" => Some(HeaderOp::Add),
        "del_header" => Some(HeaderOp::Del),
        _ => None,
    }
}
