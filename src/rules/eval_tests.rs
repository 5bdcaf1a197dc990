use std::net::IpAddr;

use crate::rules::{
    Acl, ConnState, Edit, Facts, HeaderEdit, HeaderOp, Headers, HttpFacts, IpSet, KeyKind, Method,
    PathRewrite, Patterns, Redirect, RedirectTo, Reply, ReqAction, RuleSet, RuleSetBuilder,
    Scratch, Table, TableConfig, Test, Verdict, When,
};

#[path = "phase_tests.rs"]
mod phase;

type Pairs<'a> = [crate::rules::Field<'a>];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn req<'a>(target: &'a str, host: Option<&'a str>, headers: &'a Pairs<'a>) -> Facts<'a> {
    Facts {
        http: Some(HttpFacts {
            method: "GET",
            target: target.as_bytes(),
            host,
            version: 1,
            headers: Headers::Pairs(headers),
        }),
        ..Facts::connection(ip("192.0.2.10"), 80)
    }
}

fn get(target: &str) -> Facts<'_> {
    req(target, Some("example.com"), &[])
}

fn table_cfg(key: KeyKind) -> TableConfig {
    TableConfig {
        key,
        max_entries: 1_000,
        expire_ms: 60_000,
        rate_period_ms: 10_000,
    }
}

fn path_acl(name: &str, method: Method, values: &[&str]) -> Acl {
    let p = Patterns::new(method, values.iter().copied(), false).expect("valid");
    Acl::new(name, Test::Path(p)).expect("valid")
}

fn builder() -> RuleSetBuilder {
    let mut b = RuleSetBuilder::new(&[table_cfg(KeyKind::Addr)], true);
    b.acl(path_acl("admin", Method::Prefix, &["/admin"]))
        .expect("new");
    b.acl(path_acl("api", Method::Prefix, &["/api/"]))
        .expect("new");
    b.acl(path_acl("old", Method::Prefix, &["/old/"]))
        .expect("new");
    let office = IpSet::from_strs(["10.0.0.0/8"]).expect("valid");
    b.acl(Acl::new("office", Test::Src(office)).expect("valid"))
        .expect("new");
    b
}

/// Run the request rules; give (verdict as text, rule, backend, header edits, path).
fn run(
    set: &RuleSet,
    facts: &Facts<'_>,
) -> (
    String,
    Option<usize>,
    Option<u32>,
    Vec<String>,
    Option<String>,
) {
    let mut tables = [Table::new(table_cfg(KeyKind::Addr)).expect("valid")];
    let mut sc = Scratch::default();
    let out = set.on_request(facts, &mut tables, &ConnState::default(), &mut sc, 0);
    let verdict = match out.verdict {
        Verdict::Redirect { status, location } => {
            format!("redirect {status} {}", String::from_utf8_lossy(location))
        }
        Verdict::Deny(r) => format!("deny {} {}", r.status, String::from_utf8_lossy(&r.body)),
        Verdict::Return(r) => format!("return {} {}", r.status, String::from_utf8_lossy(&r.body)),
        Verdict::Tarpit { delay_ms, status } => format!("tarpit {delay_ms} {status}"),
        v => format!("{v:?}").to_lowercase(),
    };
    let mut headers = Vec::new();
    let mut path = None;
    for e in out.edits() {
        match e {
            Edit::Header(h, value) => headers.push(format!(
                "{:?} {}: {}",
                h.op,
                h.name,
                String::from_utf8_lossy(value)
            )),
            Edit::Path(p) => path = Some(String::from_utf8_lossy(p).into_owned()),
        }
    }
    (verdict, out.rule, out.backend.map(|b| b.1), headers, path)
}

#[test]
fn first_terminal_wins() {
    let mut b = builder();
    b.request(ReqAction::Allow, Some(When::If("admin office")))
        .expect("ok");
    b.request(ReqAction::Deny(Reply::deny()), Some(When::If("admin")))
        .expect("ok");
    let mut teapot = Reply::new(418);
    teapot.body = (*b"short and stout").into();
    b.request(ReqAction::Return(teapot), None).expect("ok");
    b.request(ReqAction::Deny(Reply::deny()), None)
        .expect("never reached");
    let set = b.build();
    assert_eq!(run(&set, &get("/admin/x")).0, "deny 403 ");
    assert_eq!(run(&set, &get("/admin/x")).1, Some(1));
    let mut from_office = get("/admin");
    from_office.client = ip("10.1.2.3");
    assert_eq!(run(&set, &from_office).0, "allow");
    assert_eq!(run(&set, &from_office).1, Some(0));
    assert_eq!(run(&set, &get("/")).0, "return 418 short and stout");
    assert_eq!(run(&set, &get("/")).1, Some(2));
}

#[test]
fn no_rule_acting_means_continue() {
    let mut b = builder();
    b.request(ReqAction::Deny(Reply::deny()), Some(When::Unless("api")))
        .expect("ok");
    let set = b.build();
    assert_eq!(run(&set, &get("/api/v1")).0, "continue");
    assert_eq!(run(&set, &get("/api/v1")).1, None);
    assert_eq!(run(&set, &get("/web")).0, "deny 403 ");
}

#[test]
fn redirects() {
    let mut b = builder();
    let rd = |to, status, drop_query| {
        ReqAction::Redirect(Redirect {
            to,
            status,
            drop_query,
            append_slash: false,
        })
    };
    b.request(
        rd(
            RedirectTo::Prefix((*b"https://new.example/").into()),
            301,
            false,
        ),
        Some(When::If("old")),
    )
    .expect("ok");
    b.request(
        rd(RedirectTo::Location((*b"/login").into()), 303, false),
        Some(When::If("admin")),
    )
    .expect("ok");
    b.request(rd(RedirectTo::Scheme("https".into()), 302, false), None)
        .expect("ok");
    let set = b.build();
    assert_eq!(
        run(&set, &get("/old/a?b=1")).0,
        "redirect 301 https://new.example/old/a?b=1"
    );
    assert_eq!(run(&set, &get("/admin")).0, "redirect 303 /login");
    assert_eq!(
        run(&set, &req("/p/a?x=1&y", Some("Example.com:80"), &[])).0,
        "redirect 302 https://Example.com/p/a?x=1&y"
    );
    assert_eq!(
        run(&set, &req("/p", Some("[::1]:8080"), &[])).0,
        "redirect 302 https://[::1]:8080/p"
    );
    // The path as received (not normalized) goes into the location.
    assert_eq!(
        run(&set, &req("/a/../b", Some("h"), &[])).0,
        "redirect 302 https://h/a/../b"
    );
    assert_eq!(
        run(&set, &req("/", None, &[])).0,
        "continue",
        "no Host: no redirect"
    );

    let mut b = builder();
    b.request(rd(RedirectTo::Scheme("http".into()), 308, true), None)
        .expect("ok");
    let set = b.build();
    assert_eq!(
        run(&set, &req("/x?secret", Some("h:443"), &[])).0,
        "redirect 308 http://h/x"
    );
}

#[test]
fn tarpit_deny_with_body_and_return() {
    let mut b = builder();
    b.request(
        ReqAction::Tarpit {
            delay_ms: 5_000,
            status: 500,
        },
        Some(When::If("old")),
    )
    .expect("ok");
    let mut limited = Reply::new(429);
    limited.headers = [("Retry-After".into(), (*b"10").into())].into();
    b.request(ReqAction::Deny(limited), Some(When::If("api")))
        .expect("ok");
    let set = b.build();
    assert_eq!(run(&set, &get("/old/")).0, "tarpit 5000 500");
    assert_eq!(run(&set, &get("/api/x")).0, "deny 429 ");
}

#[test]
fn use_backend_routes_but_does_not_stop_filtering() {
    let mut b = builder();
    b.request(ReqAction::UseBackend(7), Some(When::If("api")))
        .expect("ok");
    b.request(ReqAction::UseBackend(8), None).expect("ok");
    b.request(ReqAction::Deny(Reply::deny()), Some(When::If("admin")))
        .expect("ok");
    let hsts = HeaderEdit::new(HeaderOp::Set, "X-Seen", b"1").expect("valid");
    b.request(ReqAction::Header(hsts), None).expect("ok");
    let set = b.build();
    let (v, rule, backend, headers, _) = run(&set, &get("/api/x"));
    assert_eq!((v.as_str(), rule, backend), ("continue", None, Some(7)));
    assert_eq!(
        headers,
        ["Set X-Seen: 1"],
        "edits after use_backend still apply"
    );
    assert_eq!(run(&set, &get("/web")).2, Some(8));
    let (v, _, backend, headers, _) = run(&set, &get("/admin"));
    assert_eq!((v.as_str(), backend), ("deny 403 ", None));
    assert!(headers.is_empty(), "no edits for a refused request");
}

#[test]
fn a_computed_backend_name_routes_and_an_unknown_one_routes_nowhere() {
    let map = crate::rules::Map::parse(
        "hosts.map",
        crate::rules::MapMatch::Str,
        "a.example be_a\nb.example nope\n",
    )
    .expect("valid map");
    let map = std::sync::Arc::new(map);
    let format =
        crate::rules::Format::parse_with("%[req.hdr(host),lower,map(hosts.map)]", &mut |_, _| {
            Ok(std::sync::Arc::clone(&map))
        })
        .expect("valid");
    let names: crate::rules::BackendNames = [(b"be_a"[..].into(), 4)].into_iter().collect();
    let named = crate::rules::NamedBackend::new(format, std::sync::Arc::new(names));
    let mut b = builder();
    b.request(ReqAction::UseBackendNamed(Box::new(named)), None)
        .expect("ok");
    b.request(ReqAction::UseBackend(9), None).expect("ok");
    b.request(ReqAction::Deny(Reply::deny()), Some(When::If("admin")))
        .expect("ok");
    let set = b.build();
    let with_host = |host: &'static str, path: &'static str| {
        let headers: &'static Pairs<'static> =
            Box::leak(Box::new([(&b"Host"[..], host.as_bytes())]));
        run(&set, &req(path, Some(host), headers))
    };
    let (v, rule, backend, _, _) = with_host("A.example", "/");
    assert_eq!((v.as_str(), rule, backend), ("continue", None, Some(4)));
    assert_eq!(
        with_host("b.example", "/").2,
        None,
        "a name that is no backend: no later use_backend either"
    );
    assert_eq!(
        with_host("c.example", "/").2,
        None,
        "a miss renders nothing: no backend"
    );
    assert_eq!(
        with_host("a.example", "/admin").0,
        "deny 403 ",
        "filtering still applies"
    );
}

#[test]
fn allow_skips_filtering_but_not_routing() {
    let mut b = builder();
    b.request(ReqAction::Allow, Some(When::If("office")))
        .expect("ok");
    b.request(ReqAction::Deny(Reply::deny()), None).expect("ok");
    let edit = HeaderEdit::new(HeaderOp::Add, "X-After-Allow", b"1").expect("valid");
    b.request(ReqAction::Header(edit), None).expect("ok");
    b.request(ReqAction::UseBackend(3), Some(When::If("api")))
        .expect("ok");
    let set = b.build();
    let mut f = get("/api/v1");
    f.client = ip("10.9.9.9");
    let (v, rule, backend, headers, _) = run(&set, &f);
    assert_eq!((v.as_str(), rule, backend), ("allow", Some(0), Some(3)));
    assert!(headers.is_empty(), "rules after allow do not act");
    assert_eq!(run(&set, &get("/api/v1")).0, "deny 403 ");
}

#[test]
fn header_edits_in_order() {
    let mut b = builder();
    for (op, name, value) in [
        (HeaderOp::Set, "X-Forwarded-Proto", &b"https"[..]),
        (HeaderOp::Add, "Via", b"ringlb"),
        (HeaderOp::Del, "X-Debug", b""),
    ] {
        b.request(
            ReqAction::Header(HeaderEdit::new(op, name, value).expect("valid")),
            None,
        )
        .expect("ok");
    }
    let edit = HeaderEdit::new(HeaderOp::Set, "X-Admin", b"1").expect("valid");
    b.request(ReqAction::Header(edit), Some(When::If("admin")))
        .expect("ok");
    let set = b.build();
    assert_eq!(
        run(&set, &get("/")).3,
        [
            "Set X-Forwarded-Proto: https",
            "Add Via: ringlb",
            "Del X-Debug: "
        ]
    );
    assert_eq!(run(&set, &get("/admin")).3.len(), 4);
}

#[test]
fn path_rewrites_chain_and_later_conditions_see_them() {
    let mut b = builder();
    let strip = PathRewrite::new("^/api(/.*)$", "/v2\\1").expect("valid");
    b.request(ReqAction::ReplacePath(strip), Some(When::If("api")))
        .expect("ok");
    let again = PathRewrite::new("^/v2/(old)/(.*)$", "/v2/\\2/\\1").expect("valid");
    b.request(ReqAction::ReplacePath(again), None).expect("ok");
    b.acl(path_acl("v2", Method::Prefix, &["/v2/"]))
        .expect("new");
    let edit = HeaderEdit::new(HeaderOp::Set, "X-V2", b"1").expect("valid");
    b.request(ReqAction::Header(edit), Some(When::If("v2")))
        .expect("ok");
    b.request(
        ReqAction::SetPath((*b"/maintenance").into()),
        Some(When::If("admin")),
    )
    .expect("ok");
    let set = b.build();
    let (_, _, _, headers, path) = run(&set, &get("/api/./old/x?q=1"));
    assert_eq!(path.as_deref(), Some("/v2/x/old"));
    assert_eq!(headers, ["Set X-V2: 1"]);
    assert_eq!(
        run(&set, &get("/%61dmin/panel")).4.as_deref(),
        Some("/maintenance")
    );
    assert_eq!(run(&set, &get("/web")).4, None, "no rewrite, no path edit");
}

#[test]
fn scheme_redirect_after_a_rewrite_uses_the_new_path() {
    let mut b = builder();
    b.request(ReqAction::SetPath((*b"/new").into()), Some(When::If("old")))
        .expect("ok");
    let rd = Redirect {
        to: RedirectTo::Scheme("https".into()),
        status: 301,
        drop_query: false,
        append_slash: false,
    };
    b.request(ReqAction::Redirect(rd), None).expect("ok");
    let set = b.build();
    assert_eq!(
        run(&set, &get("/old/x?a")).0,
        "redirect 301 https://example.com/new?a"
    );
}

/// HAProxy's `redirect prefix / drop-query append-slash`: `/a` → `/a/`; a path that
/// has its slash keeps it as it is.
#[test]
fn append_slash_adds_the_missing_slash() {
    let mut b = builder();
    let rd = |drop_query| Redirect {
        to: RedirectTo::Prefix((*b"/").into()),
        status: 301,
        drop_query,
        append_slash: true,
    };
    b.request(ReqAction::Redirect(rd(true)), Some(When::If("old")))
        .expect("ok");
    b.request(ReqAction::Redirect(rd(false)), None).expect("ok");
    let set = b.build();
    assert_eq!(run(&set, &get("/old/x?q=1")).0, "redirect 301 /old/x/");
    assert_eq!(run(&set, &get("/old/x/?q=1")).0, "redirect 301 /old/x/");
    assert_eq!(run(&set, &get("/x?q=1")).0, "redirect 301 /x/?q=1");
}

#[test]
fn header_values_with_samples_are_rendered_per_request() {
    use crate::rules::Format;
    let mut b = builder();
    let fmt = |t: &str| Format::parse(t).expect("valid");
    let edit = |op, name, t: &str| {
        ReqAction::Header(HeaderEdit::with_format(op, name, fmt(t)).expect("valid"))
    };
    b.request(edit(HeaderOp::Set, "X-Client", "%[src]:%[dst_port]"), None)
        .expect("ok");
    b.request(
        ReqAction::Header(HeaderEdit::new(HeaderOp::Add, "X-Lit", b"%[src]").expect("valid")),
        None,
    )
    .expect("ok");
    b.request(ReqAction::SetPath((*b"/new").into()), Some(When::If("old")))
        .expect("ok");
    b.request(
        edit(HeaderOp::Add, "X-Host", "%[req.hdr(host),lower]%[path]"),
        None,
    )
    .expect("ok");
    let set = b.build();
    let headers: &Pairs<'_> = &[(b"Host", b"WWW.Example.com")];
    let (_, _, _, edits, path) = run(&set, &req("/old/x?q=1", Some("WWW.Example.com"), headers));
    assert_eq!(
        edits,
        [
            "Set X-Client: 192.0.2.10:80",
            "Add X-Lit: %[src]",
            "Add X-Host: www.example.com/new"
        ]
    );
    assert_eq!(path.as_deref(), Some("/new"));
    // A literal format is a literal value; del_header takes none.
    let lit = HeaderEdit::with_format(HeaderOp::Set, "X", fmt("a%%b")).expect("valid");
    assert!(lit.format.is_none() && &*lit.value == b"a%b");
    assert!(HeaderEdit::with_format(HeaderOp::Del, "X", fmt("%[src]")).is_err());
}

#[test]
fn redirects_from_formats() {
    use crate::rules::Format;
    let fmt = |t: &str| Format::parse(t).expect("valid");
    let redirect = |to| {
        ReqAction::Redirect(Redirect {
            to,
            status: 301,
            drop_query: false,
            append_slash: false,
        })
    };
    let mut b = builder();
    b.request(
        ReqAction::SetPath((*b"/new/x").into()),
        Some(When::If("old")),
    )
    .expect("ok");
    let loc = fmt("https://%[req.hdr(host),lower]%[capture.req.uri]|%[url]");
    b.request(
        redirect(RedirectTo::LocationFormat(loc)),
        Some(When::Unless("api")),
    )
    .expect("ok");
    let pre = fmt("%[req.hdr(x-to)]");
    b.request(
        redirect(RedirectTo::PrefixFormat(pre)),
        Some(When::If("api")),
    )
    .expect("ok");
    let set = b.build();
    let headers: &Pairs<'_> = &[(b"Host", b"Ex.COM")];
    let (v, ..) = run(&set, &req("/old/x?q=1", Some("Ex.COM"), headers));
    assert_eq!(v, "redirect 301 https://ex.com/old/x?q=1|/new/x?q=1");
    // As HAProxy: a prefix is kept as rendered (a trailing / too); `/` alone or
    // nothing adds nothing.
    let to: &Pairs<'_> = &[(b"X-To", b"http://z/")];
    let (v, ..) = run(&set, &req("/api/a", None, to));
    assert_eq!(v, "redirect 301 http://z//api/a");
    let (v, ..) = run(&set, &req("/api/a", None, &[]));
    assert_eq!(v, "redirect 301 /api/a");
    let st = fmt("%[status]");
    let err = RuleSetBuilder::new(&[], true)
        .request(redirect(RedirectTo::LocationFormat(st)), None)
        .unwrap_err();
    assert!(err.to_string().contains("response"), "{err}");
}
