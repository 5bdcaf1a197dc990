//! HAProxy's TLS versions, cipher suites and tickets (`ssl-default-bind-*`,
//! `ssl-default-server-*`, and the same options on `bind` and `server` lines) →
//! `min_version`, `ciphers`, `session_tickets` of `[frontend.tls]` (`tls_*` on a
//! server). OpenSSL's suite names and cipher strings become the suites rustls has;
//! what selects only suites rustls lacks is reported.

use crate::import::report::Src;
use crate::import::toml_out::{Table, Value};

use super::model::Cx;

/// rustls' TLS 1.2 suites: its name, OpenSSL's, and the OpenSSL cipher-string words
/// that select it (key exchange, authentication, encryption, MAC, strength).
const TLS12: &[(&str, &str, &[&str])] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        &["aECDSA", "ECDSA", "AESGCM", "AES", "AES256", "SHA384"],
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        &["aECDSA", "ECDSA", "AESGCM", "AES", "AES128", "SHA256"],
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        &["aECDSA", "ECDSA", "CHACHA20", "SHA256"],
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        &["aRSA", "AESGCM", "AES", "AES256", "SHA384"],
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        &["aRSA", "AESGCM", "AES", "AES128", "SHA256"],
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
        &["aRSA", "CHACHA20", "SHA256"],
    ),
];

/// Words that select every one of them: all are ECDHE, TLS 1.2, strong, AEAD.
const EVERY12: &[&str] = &[
    "ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "ECDH", "kECDHE", "kEECDH", "TLSv1.2", "AEAD",
    "FIPS",
];

/// rustls' TLS 1.3 suites: its name and OpenSSL's.
const TLS13: &[(&str, &str)] = &[
    ("TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ("TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    (
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
];

/// The options handled here (on `bind`, `server`, `ssl-default-*-options`); those
/// before `ssl-min-ver` take no argument.
pub const OPTIONS: &[&str] = &[
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "force-tlsv12",
    "force-tlsv13",
    "no-tls-tickets",
    "tls-tickets",
    "prefer-client-ciphers",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
];

/// What the TLS lines and options of one side (binds, or servers) asked for.
#[derive(Debug, Clone, Default)]
pub struct TlsOpts {
    /// TLS 1.2 suites chosen (rustls names), and where.
    pub tls12: Option<(Vec<&'static str>, Src)>,
    pub tls13: Option<(Vec<&'static str>, Src)>,
    /// TLS 1.3 only.
    pub min13: Option<Src>,
    /// `no-tls-tickets` (cleared by `tls-tickets`).
    pub no_tickets: Option<Src>,
    pub prefer_client: bool,
    /// Global lines to mark translated once applied to a bind or server.
    pub globals: Vec<Src>,
}

/// An OpenSSL cipher string (`ciphers`, `ssl-default-*-ciphers`) → the rustls TLS 1.2
/// suites it selects, in order, and the words that select none rustls has.
pub fn ciphers12(spec: &str) -> (Vec<&'static str>, Vec<String>) {
    let mut chosen: Vec<usize> = Vec::new();
    let mut banned: Vec<usize> = Vec::new();
    let mut lacking = Vec::new();
    for word in spec.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        if word.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=n: ordering and levels, all pass
        }
        let (op, body) = match word.as_bytes()[0] {
            b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
            _ => (0, word),
        };
        let hits: Vec<usize> = (0..TLS12.len()).filter(|&i| selects(body, i)).collect();
        match op {
            b'!' | b'-' => {
                chosen.retain(|i| !hits.contains(i));
                if op == b'!' {
                    banned.extend(&hits);
                }
            }
            b'+' => {
                let (moved, stay): (Vec<usize>, Vec<usize>) =
                    chosen.iter().partition(|i| hits.contains(i));
                chosen = stay.into_iter().chain(moved).collect();
            }
            _ => {
                if hits.is_empty() {
                    lacking.push(word.to_string());
                }
                for i in hits {
                    if !chosen.contains(&i) && !banned.contains(&i) {
                        chosen.push(i);
                    }
                }
            }
        }
    }
    (chosen.into_iter().map(|i| TLS12[i].0).collect(), lacking)
}

/// Whether the cipher-string word `body` (a suite name, or words joined by `+`)
/// selects rustls' TLS 1.2 suite `i`.
fn selects(body: &str, i: usize) -> bool {
    let (rustls, openssl, tags) = TLS12[i];
    body == openssl
        || body.eq_ignore_ascii_case(rustls)
        || body
            .split('+')
            .all(|w| EVERY12.contains(&w) || tags.contains(&w))
}

/// A TLS 1.3 suite list (`ciphersuites`) → rustls names, and the names it lacks.
pub fn ciphers13(spec: &str) -> (Vec<&'static str>, Vec<String>) {
    let mut chosen = Vec::new();
    let mut lacking = Vec::new();
    for name in spec.split(':').filter(|w| !w.is_empty()) {
        match TLS13
            .iter()
            .find(|(r, o)| *o == name || r.eq_ignore_ascii_case(name))
        {
            Some((r, _)) if !chosen.contains(r) => chosen.push(*r),
            Some(_) => {}
            None => lacking.push(name.to_string()),
        }
    }
    (chosen, lacking)
}

/// Apply one option; what cannot be carried is reported as `what OPT` on `src`.
/// Returns why an option needs no key, when it is one of those.
pub fn option(
    o: &mut TlsOpts,
    opt: &str,
    arg: &str,
    src: &Src,
    what: &str,
    cx: &mut Cx,
) -> Option<&'static str> {
    // A global `ssl-default-*-ciphers` line is its own directive; else `bind OPT`.
    let label = match what.ends_with(opt) {
        true => what.to_string(),
        false => format!("{what} {opt}"),
    };
    let lost = |cx: &mut Cx, why: String| cx.led.lost_part(src, label.clone(), why);
    match (opt, arg) {
        ("no-sslv3" | "no-tlsv10" | "no-tlsv11", _) => {
            return Some("ringlb (rustls) speaks TLS 1.2 and 1.3 only")
        }
        ("ssl-max-ver", "TLSv1.3") => return Some("ringlb's highest version too"),
        ("ssl-min-ver", "TLSv1.2") => {
            return Some("ringlb (rustls) speaks TLS 1.2 and 1.3 only: the same floor")
        }
        ("ssl-min-ver", "SSLv3" | "TLSv1.0" | "TLSv1.1") => {
            return Some("differs: ringlb (rustls) speaks TLS 1.2 and 1.3 only: a peer limited to older versions fails")
        }
        ("ssl-min-ver", "TLSv1.3") | ("no-tlsv12" | "force-tlsv13", _) => {
            o.min13 = Some(src.clone())
        }
        ("no-tls-tickets", _) => o.no_tickets = Some(src.clone()),
        ("tls-tickets", _) => o.no_tickets = None,
        ("prefer-client-ciphers", _) => o.prefer_client = true,
        ("ciphers" | "ciphersuites", _) => {
            let (chosen, lacking) = if opt == "ciphers" {
                ciphers12(arg)
            } else {
                ciphers13(arg)
            };
            if chosen.is_empty() {
                lost(cx, format!("{arg:?} selects no cipher suite rustls has: its defaults stay"));
                return None;
            }
            if !lacking.is_empty() {
                lost(cx, format!("rustls has no cipher suite for: {}", lacking.join(", ")));
            }
            let slot = if opt == "ciphers" { &mut o.tls12 } else { &mut o.tls13 };
            *slot = Some((chosen, src.clone()));
        }
        _ => lost(cx, "ringlb always offers TLS 1.3, and TLS 1.2 unless min_version = \"1.3\": no upper limit".into()),
    }
    None
}

/// `ssl-default-bind-*` / `ssl-default-server-*` in `global`: kept for the binds or
/// servers with TLS (the line is noted until one uses it).
pub fn global(line: &super::sections::Line, cx: &mut Cx) {
    let d = line.src.directive.as_str();
    let bind = d.starts_with("ssl-default-bind-");
    let mut o = std::mem::take(if bind {
        &mut cx.g.tls_bind
    } else {
        &mut cx.g.tls_server
    });
    let what = d.to_string();
    match d.rsplit('-').next().unwrap_or("") {
        "ciphers" | "ciphersuites" => {
            let opt = d.rsplit('-').next().unwrap_or("");
            option(&mut o, opt, line.word(1), &line.src, &what, cx);
        }
        _ => {
            let mut i = 1;
            while i < line.words.len() {
                let opt = line.word(i);
                let takes = matches!(opt, "ssl-min-ver" | "ssl-max-ver");
                option(&mut o, opt, line.word(i + 1), &line.src, &what, cx);
                i += if takes { 2 } else { 1 };
            }
        }
    }
    o.globals.push(line.src.clone());
    let whom = if bind {
        "bind with ssl"
    } else {
        "server with ssl"
    };
    cx.led
        .note(&line.src, format!("applied to every {whom} (none here)"));
    if bind {
        cx.g.tls_bind = o;
    } else {
        cx.g.tls_server = o;
    }
}

/// Write what `o` asks for into a TLS table (`[frontend.tls]` with `prefix` "", a
/// server with "tls_"), citing every line it comes from.
pub fn apply(o: &TlsOpts, t: &mut Table, prefix: &str, cx: &mut Cx) {
    for g in &o.globals {
        cx.led.done(g);
    }
    if let Some(src) = &o.min13 {
        t.set(
            &format!("{prefix}min_version"),
            Value::str("1.3"),
            src.cite(),
        );
    }
    if let Some(src) = &o.no_tickets {
        let note = src.differs(
            "TLS 1.2 sessions resume by session id; TLS 1.3 tickets only name a cached session",
        );
        t.set(
            &format!("{prefix}session_tickets"),
            Value::Bool(false),
            note,
        );
    }
    if o.tls12.is_none() && o.tls13.is_none() {
        return;
    }
    let mut names: Vec<&str> = match &o.tls13 {
        Some((l, _)) => l.clone(),
        None => TLS13.iter().map(|(r, _)| *r).collect(),
    };
    if o.min13.is_none() {
        match &o.tls12 {
            Some((l, _)) => names.extend(l),
            None => names.extend(TLS12.iter().map(|(r, _, _)| *r)),
        }
    }
    let srcs: Vec<&Src> = [&o.tls13, &o.tls12]
        .into_iter()
        .flatten()
        .map(|(_, s)| s)
        .collect();
    let order = if o.prefer_client {
        srcs[0].cite()
    } else {
        srcs[0].differs("rustls picks the first of these the client offers in the client's order; HAProxy by this order")
    };
    let key = format!("{prefix}ciphers");
    t.set(
        &key,
        Value::Arr(names.into_iter().map(Value::str).collect()),
        order,
    );
    for s in &srcs[1..] {
        t.cite(&key, s.cite());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_cipher_strings_select_rustls_suites() {
        // Explicit names, in order; a DHE suite rustls lacks is reported.
        let (got, lacking) = ciphers12(
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256",
        );
        assert_eq!(
            got,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        assert_eq!(lacking, ["DHE-RSA-AES128-GCM-SHA256"]);
        // Words joined by +, exclusions, and what selects nothing rustls has.
        let (got, lacking) =
            ciphers12("ECDH+AESGCM:DH+AESGCM:ECDH+AES256:RSA+AES:!aNULL:!MD5:!DSS");
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(
            got.iter().all(|n| n.contains("AES") && n.contains("GCM")),
            "{got:?}"
        );
        assert_eq!(lacking, ["DH+AESGCM", "RSA+AES"]);
        // ! bans for good, - only removes, + moves to the end.
        let (got, _) = ciphers12("HIGH:!CHACHA20:ECDHE-RSA-CHACHA20-POLY1305:-aECDSA:+AES128");
        assert_eq!(
            got,
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        let (got, lacking) = ciphers12("ABCD+KLMJ:...");
        assert!(got.is_empty());
        assert_eq!(lacking.len(), 2);
        let (got, lacking) =
            ciphers13("TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_CHACHA20_POLY1305_SHA256");
        assert_eq!(
            got,
            ["TLS13_AES_128_GCM_SHA256", "TLS13_CHACHA20_POLY1305_SHA256"]
        );
        assert_eq!(lacking, ["TLS_AES_128_CCM_SHA256"]);
    }
}
