//! Values with samples: what each renders to, as HAProxy 2.6 rendered the same
//! request (`curl '/a/b?q=1&r=2' -H 'Z: AbC, DeF' -H 'Cookie: c=1; c=2'`).

use super::*;
use crate::rules::{Field, Headers, HttpFacts};

fn render(text: &str, facts: &Facts<'_>) -> String {
    let f = Format::parse(text).expect("valid");
    let mut out = b"keep:".to_vec();
    f.render(facts, None, &mut out);
    String::from_utf8(out).expect("utf8")[5..].to_string()
}

fn with<R>(target: &str, headers: &[Field<'_>], tls: bool, run: impl FnOnce(&Facts<'_>) -> R) -> R {
    let facts = Facts {
        tls_version: tls.then_some("TLSv1.3"),
        sni: tls.then_some("a.example"),
        alpn: tls.then_some(&b"h2"[..]),
        http: Some(HttpFacts {
            method: "GET",
            target: target.as_bytes(),
            host: Some("127.0.0.1:18931"),
            version: 1,
            headers: Headers::Pairs(headers),
        }),
        ..Facts::connection("::ffff:127.0.0.1".parse().unwrap(), 18931)
    };
    run(&facts)
}

const HEADERS: &[Field<'static>] = &[
    (b"Host", b"127.0.0.1:18931"),
    (b"Z", b"AbC, DeF"),
    (b"Cookie", b"c=1; c=2"),
];

#[test]
fn samples_render_as_haproxy_does() {
    with("/a/b?q=1&r=2", HEADERS, false, |f| {
        assert_eq!(render("[%[req.hdr(y)]]", f), "[]");
        assert_eq!(render("%[req.hdr(z),lower]", f), "def");
        assert_eq!(
            render("%[src]:%[dst_port]/%[ssl_fc]/%ci/%fp", f),
            "127.0.0.1:18931/0/127.0.0.1/18931"
        );
        assert_eq!(
            render("%[path]?%[query]|%[url]|%[base]|%[method]|%[req.ver]", f),
            "/a/b?q=1&r=2|/a/b?q=1&r=2|127.0.0.1:18931/a/b|GET|1.1"
        );
        assert_eq!(
            render(
                "%[req.fhdr(z)]|%[req.hdr(z,1)]|%[req.cook(c)]|%[urlp(q)]|%HM|%HP|%HU|%HQ|%HV",
                f
            ),
            "AbC, DeF|AbC|2|1|GET|/a/b|/a/b?q=1&r=2|?q=1&r=2|HTTP/1.1"
        );
        assert_eq!(render("%[hdr(z,-2),upper] 100%%", f), "ABC 100%");
        assert_eq!(render("%[hdr(z,3)]", f), "");
    });
    with("/x", &[], false, |f| {
        assert_eq!(
            render("%[path]?%[query]|%[url]|%HQ|%[req.cook(c)]", f),
            "/x?|/x||"
        );
    });
    with("/x", &[], true, |f| {
        assert_eq!(
            render(
                "%[ssl_fc] %[ssl_fc_sni] %[ssl_fc_protocol] %[ssl_fc_alpn]",
                f
            ),
            "1 a.example TLSv1.3 h2"
        );
    });
}

#[test]
fn a_rewritten_path_is_seen_and_status_in_responses() {
    with("/old?x=1", &[], false, |f| {
        let fmt = Format::parse("%[path] %[url]").expect("valid");
        let mut out = Vec::new();
        fmt.render(f, Some(b"/new"), &mut out);
        assert_eq!(out, b"/new /new?x=1");
    });
    let mut f = Facts::connection("10.0.0.1".parse().unwrap(), 80);
    f.status = Some(503);
    assert_eq!(render("%ST %[status] %[path]", &f), "503 503 ");
}

#[test]
fn literals_layers_and_refusals() {
    assert_eq!(Format::parse("a%%b").unwrap().literal(), Some(&b"a%b"[..]));
    assert_eq!(Format::parse("").unwrap().literal(), Some(&b""[..]));
    assert!(Format::parse("%[src]").unwrap().literal().is_none());
    assert_eq!(Format::parse("%[src]").unwrap().layer(), Layer::Connection);
    assert_eq!(Format::parse("%[ssl_fc]").unwrap().layer(), Layer::Tls);
    let host = Format::parse("%[req.hdr(host)]").unwrap();
    assert_eq!(host.layer(), Layer::Http);
    assert!(host.reads_request());
    assert!(!Format::parse("%ST").unwrap().reads_request());
    for bad in [
        "%[src",
        "%[nope]",
        "%[src,base64]",
        "%[hdr()]",
        "%[hdr(x,0)]",
        "%[src(1)]",
        "%[cook]",
        "100%",
        "%{+Q}[src]",
        "%b",
    ] {
        assert!(Format::parse(bad).is_err(), "{bad}");
    }
    let err = Format::parse("%[var(txn.x)]").unwrap_err().to_string();
    assert!(err.contains("var") && err.contains("supported"), "{err}");
}

#[test]
fn rendered_values_cannot_split_a_head() {
    let headers: &[Field<'_>] = &[(b"X", b"a\r\nInjected: 1")];
    with("/", headers, false, |f| {
        assert_eq!(render("%[req.fhdr(x)]", f), "a  Injected: 1");
    });
}

/// A loader over texts in memory (the configuration layer's reads files relative to
/// the configuration, each once).
fn with_maps(text: &str, files: &[(&str, &str)]) -> Result<Format, RuleError> {
    Format::parse_with(text, &mut |how, file| {
        let (_, body) = files
            .iter()
            .find(|(n, _)| *n == file)
            .ok_or_else(|| format!("no file {file:?}"))?;
        crate::rules::Map::parse(file, how, body)
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string())
    })
}

#[test]
fn maps_convert_a_sample_and_a_miss_takes_the_default_or_nothing() {
    let hosts = "127.0.0.1:18931 local\nexample.com web\n";
    let paths = "/a api\n/ root\n";
    let files = [("hosts.map", hosts), ("paths.map", paths)];
    let f = |t: &str| with_maps(t, &files).expect("valid");
    with("/a/b?q=1", HEADERS, false, |facts| {
        let r = |fmt: &Format| {
            let mut out = Vec::new();
            fmt.render(facts, None, &mut out);
            String::from_utf8(out).expect("utf8")
        };
        assert_eq!(r(&f("%[req.hdr(host),lower,map(hosts.map)]")), "local");
        assert_eq!(r(&f("%[path,map_beg(paths.map,none)]!")), "api!");
        assert_eq!(r(&f("%[req.hdr(z),map(hosts.map,dflt)]")), "dflt");
        assert_eq!(
            r(&f("[%[req.hdr(z),map(hosts.map)]]")),
            "[]",
            "a miss fails the sample"
        );
        assert_eq!(
            r(&f("%[req.hdr(nope),map_str(hosts.map,dflt)]")),
            "",
            "a missing sample is not converted"
        );
        assert_eq!(
            r(&f("%[path,map_beg(paths.map),upper]")),
            "API",
            "converters chain"
        );
    });
    let err = |t: &str| with_maps(t, &files).unwrap_err().to_string();
    assert!(err("%[path,map(other.map)]").contains("no file \"other.map\""));
    assert!(err("%[path,map()]").contains("takes a map file"));
    assert!(err("%[path,map_zz(hosts.map)]").contains("map_dom"));
    assert!(err("%[path,lower(1)]").contains("takes no argument"));
    assert!(Format::parse("%[path,map(hosts.map)]")
        .unwrap_err()
        .to_string()
        .contains("maps are not read here"));
}
