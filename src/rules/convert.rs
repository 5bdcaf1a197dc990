//! The converters of a sample in a value (`%[req.hdr(host),lower,map(hosts.map,web)]`):
//! parsed once at load, applied in place to the sample's bytes at the end of the
//! output buffer. A map converter's file is read by the caller's loader (the
//! configuration layer), so this module does no I/O.

use std::sync::Arc;

use super::map::{Map, MapMatch, MAP_CONVERTERS};

/// Reads (or finds already read) the map file the configuration names, for a match.
pub type MapLoader<'a> = dyn FnMut(MapMatch, &str) -> Result<Arc<Map>, String> + 'a;

/// The converters a value may use (for error messages and docs).
pub fn converters() -> String {
    format!("lower, upper, {MAP_CONVERTERS}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Conv {
    Lower,
    Upper,
    Map(Box<MapConv>),
}

/// `map_*(FILE[,DEFAULT])`: the value of the line the sample matches, else the
/// default, else the sample fails (and renders as nothing, as in HAProxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MapConv {
    map: Arc<Map>,
    default: Option<Box<[u8]>>,
}

impl Conv {
    /// `name[(args)]`.
    pub(super) fn parse(text: &str, maps: &mut MapLoader<'_>) -> Result<Conv, String> {
        let (name, args) = match text.split_once('(') {
            Some((n, a)) => {
                let a = a
                    .strip_suffix(')')
                    .ok_or_else(|| format!("{text}: `(` without `)`"))?;
                (n.trim(), Some(a))
            }
            None => (text, None),
        };
        match (name, args) {
            ("lower", None) => return Ok(Conv::Lower),
            ("upper", None) => return Ok(Conv::Upper),
            ("lower" | "upper", Some(_)) => return Err(format!("{name} takes no argument")),
            _ => {}
        }
        let Some(how) = MapMatch::of_converter(name) else {
            return Err(format!(
                "converter {name:?} is not supported (supported: {})",
                converters()
            ));
        };
        let (file, default) = match args.map(|a| a.split_once(',').unwrap_or((a, ""))) {
            Some((f, d)) if !f.trim().is_empty() => {
                let d = d.trim();
                (f.trim(), (!d.is_empty()).then(|| d.as_bytes().into()))
            }
            _ => return Err(format!("{name}() takes a map file: {name}(FILE[,DEFAULT])")),
        };
        let map = maps(how, file)?;
        Ok(Conv::Map(Box::new(MapConv { map, default })))
    }

    /// Convert `out[start..]` in place; false when the sample fails.
    pub(super) fn apply(&self, out: &mut Vec<u8>, start: usize) -> bool {
        match self {
            Conv::Lower => out[start..].make_ascii_lowercase(),
            Conv::Upper => out[start..].make_ascii_uppercase(),
            Conv::Map(m) => {
                let Some(v) = m.map.lookup(&out[start..]).or(m.default.as_deref()) else {
                    return false;
                };
                out.truncate(start);
                out.extend_from_slice(v);
            }
        }
        true
    }
}
