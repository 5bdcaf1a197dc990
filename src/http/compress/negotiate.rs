//! Which offered coding a request accepts, as HAProxy picks it: the client's
//! `Accept-Encoding` entries in order, the first with the highest q-value that names
//! an offered coding wins (so among equals the client's order decides); `*` stands for
//! the offered coding configured last (HAProxy keeps its list in reverse), skipping
//! one the client refused by name (`gzip;q=0, *`: RFC 9110 §12.5.3). q=0 never
//! selects. No `Accept-Encoding`, or an empty one: no coding (RFC 9110 would allow any
//! without the field, but no client relies on it and HAProxy does not compress then).
//! `x-gzip` is `gzip` (RFC 9110 §8.4.1.3).

use super::super::headers::trim;
use super::Coding;

/// The coding to answer with, from the values of every `Accept-Encoding` field of the
/// request and the codings offered (in configuration order).
pub fn negotiate<'a>(
    fields: impl Iterator<Item = &'a [u8]> + Clone,
    offered: &[Coding],
) -> Option<Coding> {
    let mut best: Option<(u16, Coding)> = None;
    for (name, q) in entries(fields.clone()) {
        if q == 0 || best.is_some_and(|(b, _)| q <= b) {
            continue;
        }
        let mut candidates = offered.iter().rev();
        let pick = if name == b"*" {
            candidates.find(|c| !refused(fields.clone(), **c))
        } else {
            candidates.find(|c| names(name, **c))
        };
        if let Some(&c) = pick {
            best = Some((q, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Each entry's coding name and q-value in thousandths (entries with an invalid q
/// are left out).
fn entries<'a>(fields: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = (&'a [u8], u16)> {
    fields
        .flat_map(|f| f.split(|&b| b == b','))
        .filter_map(|entry| {
            let mut parts = entry.split(|&b| b == b';');
            let name = trim(parts.next().unwrap_or_default());
            Some((name, qvalue(parts)?))
        })
        .filter(|(name, _)| !name.is_empty())
}

/// Whether the entry name `name` is the coding `c`.
fn names(name: &[u8], c: Coding) -> bool {
    let token = c.token().as_bytes();
    name.eq_ignore_ascii_case(token) || (c == Coding::Gzip && name.eq_ignore_ascii_case(b"x-gzip"))
}

/// The client names `c` with q=0.
fn refused<'a>(fields: impl Iterator<Item = &'a [u8]>, c: Coding) -> bool {
    entries(fields).any(|(name, q)| q == 0 && names(name, c))
}

/// The q parameter among an entry's parameters (1000 without one); `None` when it is
/// not a valid qvalue (`0`, `1`, `0.x` up to three decimals, `1.000`): the entry is
/// ignored.
fn qvalue<'a>(params: impl Iterator<Item = &'a [u8]>) -> Option<u16> {
    for p in params {
        let p = trim(p);
        let Some(eq) = p.iter().position(|&b| b == b'=') else {
            continue;
        };
        if !trim(&p[..eq]).eq_ignore_ascii_case(b"q") {
            continue;
        }
        return parse_q(trim(&p[eq + 1..]));
    }
    Some(1000)
}

fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (&v[..dot], &v[dot + 1..]),
        None => (v, &b""[..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut q = match int[0] {
        b'0' => 0u16,
        b'1' => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for d in frac {
        q += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    (q <= 1000).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    fn pick(fields: &[&str], offered: &[Coding]) -> Option<Coding> {
        negotiate(fields.iter().map(|f| f.as_bytes()), offered)
    }

    #[test]
    fn among_equals_the_clients_order_decides() {
        assert_eq!(pick(&["gzip, deflate, br"], &[Gzip, Deflate]), Some(Gzip));
        assert_eq!(pick(&["gzip, deflate"], &[Deflate, Gzip]), Some(Gzip));
        assert_eq!(
            pick(&["deflate, gzip, br, zstd"], &[Gzip, Deflate]),
            Some(Deflate)
        );
        assert_eq!(pick(&["deflate"], &[Gzip, Deflate]), Some(Deflate));
        assert_eq!(pick(&["deflate"], &[Gzip, RawDeflate]), Some(RawDeflate));
        // Both make `deflate`: the one configured last, as HAProxy's reversed list.
        assert_eq!(pick(&["deflate"], &[Deflate, RawDeflate]), Some(RawDeflate));
        assert_eq!(pick(&["br"], &[Gzip, Deflate]), None);
    }

    #[test]
    fn no_field_or_an_empty_one_means_no_coding() {
        assert_eq!(pick(&[], &[Gzip]), None);
        assert_eq!(pick(&[""], &[Gzip]), None);
        assert_eq!(pick(&["identity"], &[Gzip]), None);
        assert_eq!(pick(&["gzip"], &[]), None);
    }

    #[test]
    fn q_values_rank_and_zero_refuses() {
        assert_eq!(
            pick(&["gzip;q=0.5, deflate"], &[Gzip, Deflate]),
            Some(Deflate)
        );
        assert_eq!(
            pick(&["gzip;q=0.8, deflate;q=0.75"], &[Gzip, Deflate]),
            Some(Gzip)
        );
        assert_eq!(pick(&["gzip;q=0"], &[Gzip]), None);
        assert_eq!(pick(&["gzip; q=0.000"], &[Gzip]), None);
        assert_eq!(pick(&["gzip;Q=1.000"], &[Gzip]), Some(Gzip));
        assert_eq!(pick(&["gzip ; q = 0.001"], &[Gzip]), Some(Gzip));
    }

    #[test]
    fn invalid_q_values_are_ignored_entries() {
        assert_eq!(pick(&["gzip;q=2"], &[Gzip]), None);
        assert_eq!(pick(&["gzip;q=0.5555"], &[Gzip]), None);
        assert_eq!(pick(&["gzip;q=1.5"], &[Gzip]), None);
        assert_eq!(
            pick(&["gzip;q=abc, deflate"], &[Gzip, Deflate]),
            Some(Deflate)
        );
    }

    #[test]
    fn star_is_the_coding_configured_last_unless_refused() {
        assert_eq!(pick(&["*"], &[Gzip, Deflate]), Some(Deflate));
        assert_eq!(pick(&["identity;q=0, *;q=0.1"], &[Gzip]), Some(Gzip));
        assert_eq!(pick(&["deflate;q=0, *"], &[Gzip, Deflate]), Some(Gzip));
        assert_eq!(pick(&["gzip;q=0, *"], &[Gzip]), None);
        assert_eq!(pick(&["*;q=0"], &[Gzip]), None);
        assert_eq!(pick(&["*;q=0, gzip"], &[Gzip]), Some(Gzip));
        assert_eq!(pick(&["*;q=0.5, gzip"], &[Gzip, Deflate]), Some(Gzip));
    }

    #[test]
    fn identity_refused_does_not_stop_compression() {
        assert_eq!(pick(&["gzip, identity;q=0"], &[Gzip]), Some(Gzip));
    }

    #[test]
    fn several_fields_case_and_x_gzip() {
        assert_eq!(pick(&["br", "GZIP"], &[Gzip]), Some(Gzip));
        assert_eq!(pick(&["x-gzip"], &[Gzip, Deflate]), Some(Gzip));
        assert_eq!(
            pick(&["deflate;q=0.2", "gzip;q=0.1"], &[Gzip, Deflate]),
            Some(Deflate)
        );
    }
}
