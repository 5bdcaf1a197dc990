//! `[frontend.compression]` / `[backend.compression]` → [`Compression`] (HAProxy's
//! `compression algo|type|offload`, `compression minsize-res`, `tune.comp.maxlevel`).

use super::raw::RawCompression;
use super::validate::Validator;
use super::Mode;

/// A content coding ringlb can compress responses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressAlgo {
    Gzip,
    /// The zlib format, as RFC 9110 defines `deflate`.
    Deflate,
    /// HAProxy's `raw-deflate`: deflate without the zlib wrapper, labelled `deflate`.
    RawDeflate,
}

/// Default compression level: HAProxy's (`tune.comp.maxlevel` 1), the cheapest per byte.
pub const DEFAULT_LEVEL: u32 = 1;

/// One frontend's or backend's compression table. A backend's `algorithms`, `types`,
/// `min_size` and `level` take precedence over its frontend's when set (HAProxy's
/// order); `offload` applies when either sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compression {
    /// In preference order; empty: not set here.
    pub algorithms: Vec<CompressAlgo>,
    /// Content-type prefixes, lower case; `None`: not set here (any type when no side
    /// sets one).
    pub types: Option<Vec<String>>,
    /// Remove `Accept-Encoding` from requests, so that servers never compress.
    pub offload: bool,
    /// Responses with a known length below this many bytes are left alone.
    pub min_size: Option<u64>,
    /// 1 (fastest) to 9 (smallest).
    pub level: Option<u32>,
}

impl Validator {
    pub(super) fn compression(
        &mut self,
        raw: Option<&super::raw::S<RawCompression>>,
        mode: Mode,
        key: &str,
    ) -> Option<Compression> {
        let raw = raw?;
        let key = format!("{key}: compression");
        if mode == Mode::Tcp {
            self.warn(
                raw.span(),
                format!("{key}: compression only applies to mode \"http\"; ignored"),
            );
            return None;
        }
        let c = raw.get_ref();
        let mut algorithms = Vec::new();
        for a in c.algorithms.iter().flatten() {
            let algo = match a.get_ref().as_str() {
                "gzip" => CompressAlgo::Gzip,
                "deflate" => CompressAlgo::Deflate,
                "raw-deflate" => CompressAlgo::RawDeflate,
                other => {
                    let why = if other == "br" {
                        "brotli is not offered (no HAProxy equivalent, and several times gzip's CPU per byte at useful levels)"
                    } else {
                        "expected \"gzip\", \"deflate\" or \"raw-deflate\""
                    };
                    self.error(a.span(), format!("{key}: algorithms: {other:?}: {why}"));
                    continue;
                }
            };
            if !algorithms.contains(&algo) {
                algorithms.push(algo);
            }
        }
        let types = c.types.as_ref().map(|ts| {
            let mut out = Vec::new();
            for t in ts {
                let v = t.get_ref().trim().to_ascii_lowercase();
                if v.is_empty() || v.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                    self.error(t.span(), format!("{key}: types: {v:?} is not a media type"));
                } else {
                    out.push(v);
                }
            }
            out
        });
        let min_size = c
            .min_size
            .as_ref()
            .map(|m| self.int_in(Some(m), 0, 0..=1 << 40, &format!("{key}: min_size")) as u64);
        let level = c.level.as_ref().map(|l| {
            let dflt = DEFAULT_LEVEL as i64;
            self.int_in(Some(l), dflt, 1..=9, &format!("{key}: level")) as u32
        });
        Some(Compression {
            algorithms,
            types,
            offload: c.offload.unwrap_or(false),
            min_size,
            level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(fe: &str, be: &str) -> Result<Config, String> {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nmode = \"http\"\n\
             default_backend = \"app\"\n{fe}\n\
             [[backend]]\nname = \"app\"\n{be}\n\
             [[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n"
        );
        Config::parse(&text, "test.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn both_tables_validate_with_their_defaults() {
        let c = parse(
            "[frontend.compression]\nalgorithms = [\"gzip\", \"deflate\", \"gzip\"]\n\
             types = [\"Text/HTML\", \"application/json\"]",
            "[backend.compression]\noffload = true\nmin_size = 512\nlevel = 6",
        )
        .unwrap();
        let fe = c.frontends[0].compression.as_ref().unwrap();
        assert_eq!(fe.algorithms, [CompressAlgo::Gzip, CompressAlgo::Deflate]);
        assert_eq!(
            fe.types.as_deref().unwrap(),
            ["text/html", "application/json"]
        );
        assert!(!fe.offload);
        assert_eq!((fe.min_size, fe.level), (None, None));
        let be = c.backends[0].compression.as_ref().unwrap();
        assert!(be.algorithms.is_empty() && be.types.is_none() && be.offload);
        assert_eq!((be.min_size, be.level), (Some(512), Some(6)));
    }

    #[test]
    fn absent_means_off() {
        let c = parse("", "").unwrap();
        assert!(c.frontends[0].compression.is_none());
        assert!(c.backends[0].compression.is_none());
    }

    #[test]
    fn refusals_name_the_key() {
        let e = parse("[frontend.compression]\nalgorithms = [\"br\"]", "").unwrap_err();
        assert!(
            e.contains("frontend \"f\": compression: algorithms: \"br\": brotli is not offered"),
            "{e}"
        );
        let e = parse("", "[backend.compression]\nlevel = 10").unwrap_err();
        assert!(
            e.contains("compression: level 10 is out of range 1..=9"),
            "{e}"
        );
        let e = parse("[frontend.compression]\ntypes = [\"text/ html\"]", "").unwrap_err();
        assert!(e.contains("is not a media type"), "{e}");
        let e = parse("[frontend.compression]\nalgo = [\"gzip\"]", "").unwrap_err();
        assert!(e.contains("algo"), "{e}");
    }
}
