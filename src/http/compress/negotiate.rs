//! Which offered coding a request accepts (RFC 9110 §12.5.3). Each coding's weight is
//! its own entry's q-value, else the `*` entry's, else 0 (not acceptable); the
//! acceptable coding of highest weight wins, ties going to the order the
//! configuration offers them in. No `Accept-Encoding` at all, or an empty one: no
//! coding (RFC 9110 would allow any coding without the field, but no client relies on
//! it and HAProxy does not compress then either). `x-gzip` is `gzip` (§8.4.1.3).

use super::Coding;

/// The coding to answer with, from the values of every `Accept-Encoding` field of the
/// request and the codings offered (in preference order).
pub fn negotiate<'a>(
    fields: impl Iterator<Item = &'a [u8]> + Clone,
    offered: &[Coding],
) -> Option<Coding> {
    let mut best: Option<(u16, Coding)> = None;
    for &coding in offered {
        let q = weight(fields.clone(), coding.token().as_bytes());
        if q > 0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, coding));
        }
    }
    best.map(|(_, c)| c)
}

/// `token`'s weight in thousandths: its own entry's (the highest, if it is listed
/// twice), else `*`'s, else 0.
fn weight<'a>(fields: impl Iterator<Item = &'a [u8]>, token: &[u8]) -> u16 {
    let (mut own, mut star) = (None::<u16>, None::<u16>);
    for field in fields {
        for entry in field.split(|&b| b == b',') {
            let mut parts = entry.split(|&b| b == b';');
            let name = trim(parts.next().unwrap_or_default());
            let Some(q) = qvalue(parts) else { continue };
            let slot = if name == b"*" {
                &mut star
            } else if name.eq_ignore_ascii_case(token)
                || (token == b"gzip" && name.eq_ignore_ascii_case(b"x-gzip"))
            {
                &mut own
            } else {
                continue;
            };
            *slot = Some(slot.map_or(q, |s| s.max(q)));
        }
    }
    own.or(star).unwrap_or(0)
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

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let Some(start) = start else { return &[] };
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(start);
    &v[start..=end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    fn pick(fields: &[&str], offered: &[Coding]) -> Option<Coding> {
        negotiate(fields.iter().map(|f| f.as_bytes()), offered)
    }

    #[test]
    fn plain_lists_pick_in_offered_order() {
        assert_eq!(pick(&["gzip, deflate, br"], &[Gzip, Deflate]), Some(Gzip));
        assert_eq!(pick(&["gzip, deflate"], &[Deflate, Gzip]), Some(Deflate));
        assert_eq!(pick(&["deflate"], &[Gzip, Deflate]), Some(Deflate));
        assert_eq!(pick(&["deflate"], &[Gzip, RawDeflate]), Some(RawDeflate));
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
    fn star_covers_codings_not_listed() {
        assert_eq!(pick(&["*"], &[Gzip, Deflate]), Some(Gzip));
        assert_eq!(pick(&["identity;q=0, *;q=0.1"], &[Deflate]), Some(Deflate));
        assert_eq!(pick(&["gzip;q=0, *"], &[Gzip, Deflate]), Some(Deflate));
        assert_eq!(pick(&["*;q=0"], &[Gzip]), None);
        assert_eq!(pick(&["*;q=0, gzip"], &[Gzip]), Some(Gzip));
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
