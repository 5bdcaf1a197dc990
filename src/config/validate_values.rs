//! Rule values: header edits with a literal `value` or a log-format `format`, and
//! redirect targets (literal, or `location_format` / `prefix_format`), parsed with
//! the rule engine's [`Format`].

use super::raw::S;
use super::raw_rules::RawHttpRule;
use super::validate::Validator;
use crate::rules::{Format, HeaderEdit, HeaderOp, Redirect, RedirectTo, RuleError};

impl Validator {
    /// A header edit's value: the literal `value` or a log-format `format` (one of
    /// them, none for `del_header`).
    pub(super) fn header_edit(
        &mut self,
        op: HeaderOp,
        name: &str,
        (value, format): (&Option<S<String>>, &Option<S<String>>),
        action: &S<String>,
        what: &str,
    ) -> Option<HeaderEdit> {
        let res = match (op, value, format) {
            (HeaderOp::Del, ..) => HeaderEdit::new(op, name, b""),
            (_, Some(v), None) => HeaderEdit::new(op, name, v.get_ref().as_bytes()),
            (_, None, Some(f)) => {
                let edit =
                    Format::parse(f.get_ref()).and_then(|f| HeaderEdit::with_format(op, name, f));
                return edit
                    .map_err(|e| self.error(f.span(), format!("{what}: format: {e}")))
                    .ok();
            }
            _ => Err(RuleError::Invalid(format!(
                "action {:?} needs value (literal) or format (HAProxy log-format), not both",
                action.get_ref()
            ))),
        };
        self.ok(res, action, what)
    }

    /// A redirect's target (exactly one of location, prefix, scheme, or a format of
    /// the first two) and status.
    pub(super) fn redirect(&mut self, r: &RawHttpRule, what: &str) -> Option<Redirect> {
        let given: Vec<_> = [
            &r.location,
            &r.prefix,
            &r.scheme,
            &r.location_format,
            &r.prefix_format,
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() != 1 {
            self.error(
                r.action.span(),
                format!("{what}: redirect needs exactly one of location, prefix, scheme, location_format, prefix_format"),
            );
            return None;
        }
        let to = if let Some(l) = &r.location {
            RedirectTo::Location(l.get_ref().as_bytes().into())
        } else if let Some(p) = &r.prefix {
            RedirectTo::Prefix(p.get_ref().as_bytes().into())
        } else if let Some(f) = r.location_format.as_ref().or(r.prefix_format.as_ref()) {
            let parsed = Format::parse(f.get_ref());
            let f = parsed
                .map_err(|e| self.error(f.span(), format!("{what}: {e}")))
                .ok()?;
            if r.location_format.is_some() {
                RedirectTo::LocationFormat(f)
            } else {
                RedirectTo::PrefixFormat(f)
            }
        } else {
            RedirectTo::Scheme(r.scheme.as_ref()?.get_ref().as_str().into())
        };
        let status = self.int_in(
            r.status.as_ref(),
            302,
            301..=308,
            &format!("{what}: status"),
        ) as u16;
        Some(Redirect {
            to,
            status,
            drop_query: r.drop_query.unwrap_or(false),
            append_slash: r.append_slash.unwrap_or(false),
        })
    }
}
