//! `balance` (with the arguments of `uri`, `url_param`, `hdr()`) and `hash-type`:
//! ringlb's `balance` and `[backend.hash]`, which is written only when the
//! backend's final `balance` hashes requests (a `hash-type` in `defaults` reaches
//! every backend, most of which do not hash).

use crate::import::report::Src;
use crate::import::toml_out::Value;

use super::model::{Be, Cx};
use super::sections::Line;

/// `[backend.hash]` keys one `balance` line sets (a later `balance` line clears them).
const BALANCE_KEYS: &[&str] = &[
    "whole",
    "len",
    "depth",
    "path_only",
    "param",
    "header",
    "use_domain_only",
];

/// A full server: HAProxy queues the request on it, ringlb passes it to the next.
const FULL: &str = "a request whose server is full goes to the next server on the table or ring, where HAProxy queues it for that server";

pub fn balance(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    for k in BALANCE_KEYS {
        be.hash.remove(k);
    }
    let w1 = line.word(1);
    let (name, differs) = match w1 {
        "roundrobin" => ("roundrobin", None),
        "static-rr" => ("roundrobin", Some("weights may also change at runtime")),
        "leastconn" => ("leastconn", None),
        "first" => ("first", None),
        "source" => (
            "source",
            Some("a consistent (Maglev) hash of the client address: clients stick to a server as with HAProxy, but not to the same one"),
        ),
        "random" => (
            "random",
            Some("a weighted random pick; HAProxy's random draws 2 and takes the less loaded"),
        ),
        "uri" => ("uri", uri(line, be, cx)),
        "url_param" => ("url_param", url_param(line, be, cx)),
        h if h.starts_with("hdr(") && h.ends_with(')') && h.len() > 5 => {
            ("hdr", hdr(line, &h[4..h.len() - 1], be, cx))
        }
        other => {
            be.pinned = true;
            let why = format!("balance {other}: ringlb balances by roundrobin, leastconn, first, source, random, p2c, uri, url_param or hdr() only");
            return cx.led.lost(src, why);
        }
    };
    if matches!(name, "uri" | "url_param" | "hdr") {
        be.pinned = true; // HAProxy queues a hashed request on its server
    }
    let note = match differs {
        Some(d) => src.differs(d),
        None => src.cite(),
    };
    be.main.set("balance", Value::str(name), note);
    cx.led.done(src);
}

/// `balance uri [len N] [depth N] [whole] [path-only]`.
fn uri(line: &Line, be: &mut Be, cx: &mut Cx) -> Option<&'static str> {
    let src = &line.src;
    let mut i = 2;
    let mut path_only = false;
    while i < line.words.len() {
        match (line.word(i), line.word(i + 1).parse::<i64>()) {
            (k @ ("len" | "depth"), Ok(n)) if n > 0 => {
                be.hash.set(k, Value::Int(n), src.cite());
                i += 1;
            }
            ("whole", _) => be.hash.set("whole", Value::Bool(true), src.cite()),
            ("path-only", _) => {
                path_only = true;
                be.hash.set("path_only", Value::Bool(true), src.cite());
            }
            (other, _) => cx
                .led
                .lost_part(src, format!("balance uri {other}"), "unknown argument"),
        }
        i += 1;
    }
    Some(if path_only {
        FULL
    } else {
        "HTTP/2 requests are hashed on their path (HAProxy hashes their absolute URI unless path-only); a request whose server is full goes to the next server, where HAProxy queues it for that server"
    })
}

/// `balance url_param NAME [check_post]`.
fn url_param(line: &Line, be: &mut Be, cx: &mut Cx) -> Option<&'static str> {
    let src = &line.src;
    be.hash.set("param", Value::str(line.word(2)), src.cite());
    for w in line.words.iter().skip(3) {
        let why = match w.as_str() {
            "check_post" => "ringlb hashes the query string only, not a POST body",
            _ => "unknown argument",
        };
        cx.led.lost_part(src, format!("balance url_param {w}"), why);
    }
    Some(FULL)
}

/// `balance hdr(NAME) [use_domain_only]`.
fn hdr(line: &Line, name: &str, be: &mut Be, cx: &mut Cx) -> Option<&'static str> {
    let src = &line.src;
    be.hash.set("header", Value::str(name), src.cite());
    for w in line.words.iter().skip(2) {
        match w.as_str() {
            "use_domain_only" => be
                .hash
                .set("use_domain_only", Value::Bool(true), src.cite()),
            other => cx
                .led
                .lost_part(src, format!("balance hdr {other}"), "unknown argument"),
        }
    }
    Some(FULL)
}

/// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32|none] [avalanche]`.
pub fn hash_type(line: &Line, be: &mut Be, cx: &mut Cx) {
    let src = &line.src;
    for k in ["type", "function", "avalanche"] {
        be.hash.remove(k);
    }
    match line.word(1) {
        t @ ("map-based" | "consistent") => be.hash.set("type", Value::str(t), src.cite()),
        other => {
            return cx
                .led
                .lost(src, format!("hash-type {other}: unknown method"))
        }
    }
    for w in line.words.iter().skip(2) {
        match w.as_str() {
            f @ ("sdbm" | "djb2" | "wt6" | "crc32") => {
                be.hash.set("function", Value::str(f), src.cite())
            }
            "avalanche" => be.hash.set("avalanche", Value::Bool(true), src.cite()),
            other => cx.led.lost_part(
                src,
                format!("hash-type {other}"),
                "ringlb hashes with sdbm, djb2, wt6 or crc32 (not the key's own value)",
            ),
        }
    }
    be.hash_type = Some(src.clone());
}

/// Once the backend is read: `[backend.hash]` stays when its `balance` hashes
/// requests; otherwise it goes, and the `hash-type` line is said to have no effect.
pub fn finish(be: &mut Be, cx: &mut Cx) {
    let hashes = matches!(
        be.main.get("balance").and_then(|v| v.as_str()),
        Some("uri" | "url_param" | "hdr")
    );
    let src: Option<Src> = be.hash_type.take();
    if hashes {
        if let Some(src) = src {
            cx.led.done(&src);
        }
        return;
    }
    be.hash.items.clear();
    if let Some(src) = src {
        cx.led.note(
            &src,
            "hash-type: ringlb's source hash is consistent (Maglev) whatever hash-type says, and the other algorithms do not hash",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parsed, run};

    fn backend(lines: &str) -> (toml::Table, Vec<String>) {
        let text = format!("frontend f\n  bind :80\n  mode http\n  default_backend b\nbackend b\n{lines}  server s1 10.0.0.1:80\n  server s2 10.0.0.2:80\n");
        let (toml, lost) = run(&text);
        (parsed(&toml), lost)
    }

    fn be(t: &toml::Table) -> &toml::Table {
        t["backend"].as_array().unwrap()[0].as_table().unwrap()
    }

    #[test]
    fn uri_with_its_arguments_and_hash_type() {
        let (t, lost) = backend(
            "  balance uri whole len 20 depth 3 path-only\n  hash-type consistent djb2 avalanche\n",
        );
        assert!(lost.is_empty(), "{lost:?}");
        let b = be(&t);
        assert_eq!(b["balance"].as_str(), Some("uri"));
        let h = b["hash"].as_table().unwrap();
        assert_eq!(h["type"].as_str(), Some("consistent"));
        assert_eq!(h["function"].as_str(), Some("djb2"));
        assert_eq!(h["avalanche"].as_bool(), Some(true));
        assert_eq!(h["len"].as_integer(), Some(20));
        assert_eq!(h["depth"].as_integer(), Some(3));
        assert_eq!(h["whole"].as_bool(), Some(true));
        assert_eq!(h["path_only"].as_bool(), Some(true));
    }

    #[test]
    fn url_param_hdr_and_first() {
        let (t, lost) = backend("  balance url_param userid check_post\n");
        assert_eq!(be(&t)["hash"]["param"].as_str(), Some("userid"));
        assert!(
            lost.len() == 1 && lost[0].contains("balance url_param check_post: not translated"),
            "{lost:?}"
        );
        let (t, lost) = backend("  balance hdr(Host) use_domain_only\n");
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(be(&t)["hash"]["header"].as_str(), Some("Host"));
        assert_eq!(be(&t)["hash"]["use_domain_only"].as_bool(), Some(true));
        let (t, lost) = backend("  balance first\n");
        assert!(lost.is_empty(), "{lost:?}");
        assert_eq!(be(&t)["balance"].as_str(), Some("first"));
        assert!(be(&t).get("hash").is_none());
    }

    #[test]
    fn hash_type_in_defaults_only_reaches_hashing_backends() {
        let text = "defaults\n  mode http\n  hash-type consistent\n  balance uri depth 2\nfrontend f\n  bind :80\n  default_backend b\n  use_backend c if { path_beg /c }\nbackend b\n  server s1 10.0.0.1:80\nbackend c\n  balance roundrobin\n  server s2 10.0.0.2:80\n";
        let (toml, lost) = run(text);
        assert!(lost.is_empty(), "{lost:?}");
        let t = parsed(&toml);
        let bs = t["backend"].as_array().unwrap();
        let b = bs[0].as_table().unwrap();
        assert_eq!(b["balance"].as_str(), Some("uri"));
        assert_eq!(b["hash"]["type"].as_str(), Some("consistent"));
        assert_eq!(b["hash"]["depth"].as_integer(), Some(2));
        let c = bs[1].as_table().unwrap();
        assert_eq!(c["balance"].as_str(), Some("roundrobin"));
        assert!(c.get("hash").is_none(), "{toml}");
    }

    #[test]
    fn minconn_and_fullconn_are_carried() {
        let (t, lost) = backend("  fullconn 300\n  default-server minconn 5 maxconn 50\n");
        assert!(lost.is_empty(), "{lost:?}");
        let b = be(&t);
        assert_eq!(b["full_connections"].as_integer(), Some(300));
        let s = b["server"].as_array().unwrap()[0].as_table().unwrap();
        assert_eq!(s["min_connections"].as_integer(), Some(5));
        assert_eq!(s["max_connections"].as_integer(), Some(50));
    }

    #[test]
    fn prefer_last_server_needs_no_key() {
        let (_, lost) = backend("  option prefer-last-server\n  http-reuse never\n");
        assert!(lost.is_empty(), "{lost:?}");
    }

    #[test]
    fn unknown_balance_and_hash_function_none_are_reported() {
        let (_, lost) = backend("  balance rdp-cookie\n");
        assert!(
            lost.iter().any(|l| l.contains("balance rdp-cookie")),
            "{lost:?}"
        );
        let (_, lost) = backend("  balance uri\n  hash-type map-based none\n");
        assert!(
            lost.iter()
                .any(|l| l.contains("hash-type none: not translated")),
            "{lost:?}"
        );
    }
}
