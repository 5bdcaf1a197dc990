use std::net::IpAddr;

use super::*;
use crate::rules::{Headers, HttpFacts, Key, KeyKind, TableConfig, Tracked};

type Pairs<'a> = [crate::rules::Field<'a>];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn http<'a>(
    method: &'a str,
    target: &'a str,
    host: Option<&'a str>,
    headers: &'a Pairs<'a>,
) -> Facts<'a> {
    Facts {
        http: Some(HttpFacts {
            method,
            target: target.as_bytes(),
            host,
            version: 1,
            headers: Headers::Pairs(headers),
        }),
        ..Facts::connection(ip("192.0.2.10"), 443)
    }
}

fn get(target: &str) -> Facts<'_> {
    http("GET", target, Some("example.com"), &[])
}

fn check(test: &Test, facts: &Facts<'_>) -> bool {
    check_with(test, facts, &[], &[None; SLOTS])
}

fn check_with(test: &Test, facts: &Facts<'_>, tables: &[Table], tracked: &Slots) -> bool {
    let mut path = LazyPath::default();
    path.reset(true);
    let mut cx = Ctx {
        facts,
        path: &mut path,
        tables,
        tracked,
        now_ms: 1_000,
    };
    test.eval(&mut cx)
}

fn pats(method: Method, values: &[&str], ic: bool) -> Patterns {
    Patterns::new(method, values.iter().copied(), ic).expect("valid patterns")
}

#[test]
fn src_and_dst_port() {
    let src = Test::Src(IpSet::from_strs(["192.0.2.0/24", "2001:db8::/32"]).expect("valid"));
    let mut f = Facts::connection(ip("192.0.2.99"), 80);
    assert!(check(&src, &f));
    f.client = ip("::ffff:192.0.2.1");
    assert!(check(&src, &f));
    f.client = ip("198.51.100.1");
    assert!(!check(&src, &f));
    let port = Test::DstPort([(80, 80), (8000, 8080)].into());
    assert!(check(&port, &f));
    f.dst_port = 8081;
    assert!(!check(&port, &f));
    f.dst_port = 8000;
    assert!(check(&port, &f));
    assert_eq!(src.layer(), Layer::Connection);
}

#[test]
fn tls_sni_version_alpn() {
    let sni = Test::Sni(pats(Method::Domain, &["example.com"], true));
    let exact = Test::Sni(pats(Method::Exact, &["api.example.com"], true));
    let ver = Test::TlsVersion(pats(Method::Exact, &["TLSv1.3"], false));
    let alpn = Test::Alpn(pats(Method::Exact, &["h2", "http/1.1"], false));
    let mut f = Facts::connection(ip("192.0.2.1"), 443);
    for t in [&sni, &exact, &ver, &alpn] {
        assert!(!check(t, &f), "no TLS, no match: {t:?}");
    }
    f.sni = Some("API.Example.com");
    f.tls_version = Some("TLSv1.3");
    f.alpn = Some(b"http/1.1");
    for t in [&sni, &exact, &ver, &alpn] {
        assert!(check(t, &f), "{t:?}");
    }
    f.sni = Some("www.example.org");
    f.tls_version = Some("TLSv1.2");
    f.alpn = Some(b"h3");
    for t in [&sni, &exact, &ver, &alpn] {
        assert!(!check(t, &f), "{t:?}");
    }
    assert_eq!(sni.layer(), Layer::Tls);
}

#[test]
fn method_and_http_version() {
    let m = Test::Method(pats(Method::Exact, &["POST", "PUT"], false));
    assert!(check(&m, &http("POST", "/", None, &[])));
    assert!(
        !check(&m, &http("post", "/", None, &[])),
        "methods are case-sensitive"
    );
    assert!(!check(&m, &get("/")));
    assert!(
        !check(&m, &Facts::connection(ip("1.1.1.1"), 80)),
        "no request"
    );
    let v10 = Test::HttpVersion([0].into());
    let mut f = get("/");
    assert!(!check(&v10, &f));
    if let Some(h) = f.http.as_mut() {
        h.version = 0;
    }
    assert!(check(&v10, &f));
    // An HTTP/2 stream: version 2, not HTTP/1.1 although it is sent on as such.
    let v2 = Test::HttpVersion([2].into());
    assert!(!check(&v2, &f));
    if let Some(h) = f.http.as_mut() {
        h.version = 2;
    }
    assert!(check(&v2, &f));
    assert!(!check(&v10, &f));
}

#[test]
fn host_exact_domain_regex_case_and_port() {
    let exact = Test::Host(pats(Method::Exact, &["api.example.com"], true));
    let dom = Test::Host(pats(Method::Domain, &[".example.com"], true));
    let re = Test::Host(pats(Method::Regex, &["^img[0-9]+\\."], true));
    let f = |h| http("GET", "/", Some(h), &[]);
    assert!(check(&exact, &f("API.example.COM:8443")));
    assert!(check(&exact, &f("api.example.com.")));
    assert!(!check(&exact, &f("api.example.com.evil")));
    assert!(check(&dom, &f("a.b.example.com")) && !check(&dom, &f("example.com")));
    assert!(!check(&dom, &f("notexample.com")));
    assert!(check(&re, &f("IMG12.cdn.net:80")) && !check(&re, &f("img.cdn.net")));
    assert!(!check(&exact, &http("GET", "/", None, &[])), "no Host");
    assert!(Acl::new("h", Test::Host(pats(Method::Exact, &["x"], false))).is_err());
}

#[test]
fn path_kinds_on_the_normalized_path() {
    let exact = Test::Path(pats(Method::Exact, &["/admin"], false));
    let beg = Test::Path(pats(Method::Prefix, &["/admin/"], false));
    let end = Test::Path(pats(Method::Suffix, &[".php"], false));
    let re = Test::Path(pats(Method::Regex, &["^/u/[0-9]+$"], false));
    let icase = Test::Path(pats(Method::Exact, &["/admin"], true));
    for p in [
        "/admin",
        "/%61dmin",
        "/./admin",
        "//admin",
        "/x/../admin",
        "/x/%2e%2e/admin",
        "/admin?x=1",
    ] {
        assert!(check(&exact, &get(p)), "{p}");
    }
    assert!(!check(&exact, &get("/ADMIN")), "case-sensitive by default");
    assert!(check(&icase, &get("/ADMIN")) && check(&icase, &get("/%41dmin")));
    assert!(!check(&exact, &get("/admin/")) && !check(&exact, &get("/admin%2F")));
    assert!(check(&beg, &get("/a/../admin//users")) && !check(&beg, &get("/administrator")));
    assert!(check(&end, &get("/x.php?y.html")) && !check(&end, &get("/x.html?y.php")));
    assert!(check(&re, &get("/u/./42")) && !check(&re, &get("/u/42/")));
}

#[test]
fn query_parameters() {
    let present = Test::Query {
        name: (*b"debug").into(),
        values: None,
    };
    let equals = Test::Query {
        name: (*b"debug").into(),
        values: Some(pats(Method::Exact, &["1", "true"], false)),
    };
    assert!(check(&present, &get("/?a=1&debug")) && check(&present, &get("/?debug=0")));
    assert!(!check(&present, &get("/debug")) && !check(&present, &get("/?debugx=1")));
    assert!(check(&equals, &get("/?x=y&debug=true")) && !check(&equals, &get("/?debug=0")));
    assert!(
        check(&equals, &get("/?debug=0&debug=1")),
        "every occurrence"
    );
}

#[test]
fn headers_every_occurrence_case_insensitive_names() {
    let hs: &Pairs<'_> = &[
        (b"Accept", b"text/html, application/json"),
        (b"X-Role", b"guest"),
        (b"x-role", b"admin"),
    ];
    let f = http("GET", "/", Some("h"), hs);
    let t = |name: &[u8], values| Test::Header {
        name: name.into(),
        values,
    };
    assert!(check(&t(b"x-ROLE", None), &f));
    assert!(!check(&t(b"x-missing", None), &f));
    assert!(check(
        &t(b"X-Role", Some(pats(Method::Exact, &["admin"], false))),
        &f
    ));
    assert!(check(
        &t(b"x-role", Some(pats(Method::Prefix, &["adm"], false))),
        &f
    ));
    assert!(check(
        &t(b"x-role", Some(pats(Method::Regex, &["^gu"], false))),
        &f
    ));
    assert!(!check(
        &t(b"x-role", Some(pats(Method::Exact, &["root"], false))),
        &f
    ));
    // A comma list is one value: not split.
    assert!(!check(
        &t(
            b"accept",
            Some(pats(Method::Exact, &["application/json"], false))
        ),
        &f
    ));
    assert!(check(
        &t(
            b"accept",
            Some(pats(Method::Suffix, &["application/json"], false))
        ),
        &f
    ));
}

#[test]
fn cookies_in_any_cookie_header() {
    let hs: &Pairs<'_> = &[
        (b"Cookie", b"a=1; theme=dark"),
        (b"cookie", b"session=s3cr3t"),
    ];
    let f = http("GET", "/", Some("h"), hs);
    let sid = Test::Cookie {
        name: (*b"session").into(),
        values: Some(pats(Method::Exact, &["s3cr3t"], false)),
    };
    let theme = Test::Cookie {
        name: (*b"theme").into(),
        values: None,
    };
    let other = Test::Cookie {
        name: (*b"Session").into(),
        values: None,
    };
    assert!(check(&sid, &f) && check(&theme, &f) && !check(&other, &f));
    assert!(!check(&sid, &get("/")));
}

#[test]
fn status_in_the_response_phase() {
    let t = Test::Status([(500, 599)].into());
    let mut f = get("/");
    assert!(!check(&t, &f));
    f.status = Some(503);
    assert!(check(&t, &f));
    f.status = Some(404);
    assert!(!check(&t, &f));
    assert_eq!(t.layer(), Layer::Response);
}

#[test]
fn counters_of_the_tracked_entry() {
    let mut table = Table::new(TableConfig {
        key: KeyKind::Addr,
        max_entries: 10,
        expire_ms: 60_000,
        rate_period_ms: 10_000,
    })
    .expect("valid");
    let entry = table.track(Key::V4(1), 0).expect("room");
    for _ in 0..5 {
        table.request(entry, 0);
    }
    table.conn_open(entry, 0);
    let tables = [table];
    let mut tracked: Slots = [None; SLOTS];
    let over = |n| Test::Counter {
        slot: 1,
        counter: Counter::HttpReqRate,
        cmp: Cmp::Gt,
        value: n,
    };
    let f = get("/");
    assert!(
        !check_with(&over(0), &f, &tables, &tracked),
        "untracked: false"
    );
    tracked[1] = Some(Tracked { table: 0, entry });
    assert!(check_with(&over(4), &f, &tables, &tracked));
    assert!(!check_with(&over(5), &f, &tables, &tracked));
    let conn = Test::Counter {
        slot: 1,
        counter: Counter::ConnCur,
        cmp: Cmp::Eq,
        value: 1,
    };
    assert!(check_with(&conn, &f, &tables, &tracked));
    assert!(Cmp::Ge.holds(5, 5) && Cmp::Le.holds(5, 5) && Cmp::Lt.holds(4, 5));
    assert!(Acl::new(
        "c",
        Test::Counter {
            slot: 3,
            counter: Counter::ConnCur,
            cmp: Cmp::Gt,
            value: 1
        }
    )
    .is_err());
}

#[test]
fn acl_names_and_checks() {
    let t = || Test::DstPort([(1, 2)].into());
    assert!(Acl::new("is_admin-1.x:y", t()).is_ok());
    for bad in ["", "or", "a b", "!a", "a||b"] {
        assert!(Acl::new(bad, t()).is_err(), "{bad:?}");
    }
    assert!(Acl::new("p", Test::DstPort([(2, 1)].into())).is_err());
    assert!(Acl::new("v", Test::HttpVersion([3].into())).is_err());
    let acl = Acl::new(
        "q",
        Test::Query {
            name: Box::default(),
            values: None,
        },
    );
    assert!(acl.is_err());
}

#[test]
fn nbsrv_reads_the_callers_counts() {
    #[derive(Debug)]
    struct Up(Vec<u32>);
    impl crate::rules::UpServers for Up {
        fn up(&self, backend: u32) -> Option<u32> {
            self.0.get(backend as usize).copied()
        }
    }
    let dead = |backend| Test::Nbsrv {
        backend,
        cmp: Cmp::Lt,
        value: 1,
    };
    assert_eq!(dead(0).layer(), Layer::Connection);
    let mut f = get("/");
    assert!(!check(&dead(0), &f), "counts not known: false");
    let up = Up(vec![0, 2]);
    f.backends = Some(&up);
    assert!(check(&dead(0), &f));
    assert!(!check(&dead(1), &f));
    assert!(!check(&dead(7), &f), "unknown backend: false");
    let two = Test::Nbsrv {
        backend: 1,
        cmp: Cmp::Ge,
        value: 2,
    };
    assert!(check(&two, &f));
}
