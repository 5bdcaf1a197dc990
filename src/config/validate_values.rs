//! Rule values: header edits with a literal `value` or a log-format `format`, and
//! redirect targets (literal, or `location_format` / `prefix_format`), parsed with
//! the rule engine's [`Format`]; the map files their `map_*` converters name, read
//! relative to the configuration, once each.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::raw::S;
use super::raw_rules::RawHttpRule;
use super::validate::Validator;
use super::validate_rules::RuleCx;
use crate::rules::{
    Format, HeaderEdit, HeaderOp, Map, MapMatch, NamedBackend, Redirect, RedirectTo, ReqAction,
    RuleError,
};

/// Map files read so far, by match kind and name as written.
pub(super) type Maps = HashMap<(MapMatch, String), Arc<Map>>;

impl Validator {
    /// A log-format value; the files of its map converters are read here.
    pub(super) fn format(&mut self, text: &str) -> Result<Format, RuleError> {
        let (base, maps) = (&self.base, &mut self.maps);
        Format::parse_with(text, &mut |how, file| load_map(base, maps, how, file))
    }

    /// The map files read, by name (for `ringlb check`).
    pub(super) fn maps_read(&self) -> Vec<Arc<Map>> {
        let mut maps: Vec<Arc<Map>> = self.maps.values().cloned().collect();
        maps.sort_by(|a, b| (a.name(), a.how().converter()).cmp(&(b.name(), b.how().converter())));
        maps
    }

    /// `use_backend` with `backend_format` (HAProxy's `use_backend %[...]`): the name
    /// is computed per request; one that names no backend routes nowhere.
    pub(super) fn named_backend(
        &mut self,
        r: &RawHttpRule,
        cx: &RuleCx<'_>,
        what: &str,
    ) -> Option<ReqAction> {
        let f = r.backend_format.as_ref()?;
        if let Some(b) = &r.backend {
            let msg = format!("{what}: use_backend takes backend or backend_format, not both");
            self.error(b.span(), msg);
            return None;
        }
        let format = self.format(f.get_ref());
        let format = format
            .map_err(|e| self.error(f.span(), format!("{what}: backend_format: {e}")))
            .ok()?;
        if let Some(name) = format.literal() {
            let name = String::from_utf8_lossy(name);
            return match cx.backends.get(&*name) {
                Some(&i) => Some(ReqAction::UseBackend(i as u32)),
                None => {
                    let msg = format!("{what}: backend_format: {name:?} is not a defined backend");
                    self.error(f.span(), msg);
                    None
                }
            };
        }
        let names = cx.backends.iter();
        let names = names
            .map(|(n, &i)| (n.as_bytes().into(), i as u32))
            .collect();
        let named = NamedBackend::new(format, Arc::new(names));
        Some(ReqAction::UseBackendNamed(Box::new(named)))
    }

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
                let edit = self
                    .format(f.get_ref())
                    .and_then(|f| HeaderEdit::with_format(op, name, f));
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
            let parsed = self.format(f.get_ref());
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

/// Read and index a map file (relative to the configuration), or take it from `maps`.
/// Errors name the file and, for a bad line, its number: `hosts.map:3: ...`.
fn load_map(base: &Path, maps: &mut Maps, how: MapMatch, file: &str) -> Result<Arc<Map>, String> {
    if let Some(m) = maps.get(&(how, file.to_string())) {
        return Ok(Arc::clone(m));
    }
    let path = base.join(file);
    let text = std::fs::read(&path).map_err(|e| {
        format!(
            "map file {:?}: cannot read: {e}",
            path.display().to_string()
        )
    })?;
    let text =
        String::from_utf8(text).map_err(|_| format!("map file {file:?} is not UTF-8 text"))?;
    let map = Map::parse(file, how, &text).map_err(|e| match e {
        RuleError::AtLine { line, source } => format!("map file {file}:{line}: {source}"),
        e => format!("map file {file}: {e}"),
    })?;
    let map = Arc::new(map);
    maps.insert((how, file.to_string()), Arc::clone(&map));
    Ok(map)
}
