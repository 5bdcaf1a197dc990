//! The rule engine allocates nothing per evaluation once the worker's scratch space
//! has grown (docs/rules.md, "Hot path"): header values rendered from samples,
//! redirects computed from a format, `nbsrv` conditions, response values. Counted with
//! a per-thread allocation counter around 1,000 evaluations after one warm-up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringlb::rules::{
    Acl, Cmp, ConnState, Edit, Facts, Format, HeaderEdit, HeaderOp, Headers, HttpFacts, Method,
    PathRewrite, Patterns, Redirect, RedirectTo, ReqAction, RuleSetBuilder, Scratch, Test,
    UpServers, Verdict, When, SLOTS,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[derive(Debug)]
struct Up;

impl UpServers for Up {
    fn up(&self, backend: u32) -> Option<u32> {
        Some(backend)
    }
}

#[test]
fn evaluations_with_formats_allocate_nothing_once_warm() {
    let probe = allocations();
    let boxed = std::hint::black_box(Box::new(1u64));
    assert!(allocations() > probe, "the counter counts");
    drop(boxed);
    let fmt = |t: &str| Format::parse(t).expect("valid");
    let mut b = RuleSetBuilder::new(&[], true);
    let moved = Patterns::new(Method::Prefix, ["/moved/"], false).expect("valid");
    b.acl(Acl::new("moved", Test::Path(moved)).expect("valid"))
        .expect("new");
    let degraded = Test::Nbsrv {
        backend: 1,
        cmp: Cmp::Lt,
        value: 2,
    };
    b.acl(Acl::new("degraded", degraded).expect("valid"))
        .expect("new");
    let header = |op, name, t: &str| {
        ReqAction::Header(HeaderEdit::with_format(op, name, fmt(t)).expect("valid"))
    };
    let client = "%[src] %[req.hdr(host),lower] %[path]?%[query] %[req.cook(s)] %HV";
    b.request(header(HeaderOp::Set, "X-Client", client), None)
        .expect("ok");
    b.request(
        header(HeaderOp::Add, "X-Degraded", "%[urlp(id),upper]"),
        Some(When::If("degraded")),
    )
    .expect("ok");
    let location = fmt("https://%[req.hdr(host),lower]%[capture.req.uri]");
    let redirect = ReqAction::Redirect(Redirect {
        to: RedirectTo::LocationFormat(location),
        status: 301,
        drop_query: false,
        append_slash: false,
    });
    b.request(redirect, Some(When::If("moved"))).expect("ok");
    let status = HeaderEdit::with_format(HeaderOp::Set, "X-Status", fmt("%[status] %ci"));
    b.response(status.expect("valid"), None).expect("ok");
    let set = b.build();

    let headers: &[(&[u8], &[u8])] =
        &[(b"Host", b"WWW.Example.com"), (b"Cookie", b"a=1; s=abcdef")];
    let up = Up;
    let facts = |target: &'static str| Facts {
        http: Some(HttpFacts {
            method: "GET",
            target: target.as_bytes(),
            host: Some("WWW.Example.com"),
            version: 1,
            headers: Headers::Pairs(headers),
        }),
        backends: Some(&up),
        ..Facts::connection("192.0.2.7".parse().unwrap(), 443)
    };
    let (plain, moved) = (facts("/a/b?id=x1"), facts("/moved/x?y=2"));
    let mut sc = Scratch::default();
    let mut total = 0usize;
    let mut round = |sc: &mut Scratch| {
        let conn = ConnState::default();
        let out = set.on_request(&plain, &mut [], &conn, sc, 0);
        for e in out.edits() {
            if let Edit::Header(_, v) = e {
                total += v.len();
            }
        }
        let out = set.on_request(&moved, &mut [], &conn, sc, 0);
        if let Verdict::Redirect { location, .. } = out.verdict {
            total += location.len();
        }
        let mut res = plain;
        res.status = Some(200);
        let out = set.on_response(&res, &[], &[None; SLOTS], sc, 0);
        total += out.edits().map(|(_, v)| v.len()).sum::<usize>();
    };
    round(&mut sc);
    let before = allocations();
    for _ in 0..1_000 {
        round(&mut sc);
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "allocations in 1,000 warm rounds");
    // Not optimized away: every round rendered the same bytes.
    assert_eq!(total % 1_001, 0);
    assert!(total > 0);
}

/// A frontend's rules, then the chosen backend's (HAProxy's order), both rewriting
/// the path with captures, then the backend's `use_server` rules: the two sets share
/// one scratch space and still allocate nothing once warm.
#[test]
fn frontend_then_backend_rules_allocate_nothing_once_warm() {
    let set = |pattern: &str, header: &str| {
        let mut b = RuleSetBuilder::new(&[], true);
        let pin = Patterns::new(Method::Prefix, ["/x/pin"], false).expect("valid");
        b.acl(Acl::new("pin", Test::Path(pin)).expect("valid"))
            .expect("new");
        let rw = PathRewrite::new(pattern, "/x\\1").expect("valid");
        b.request(ReqAction::ReplacePath(rw), None).expect("ok");
        let fmt = Format::parse("%[path] %[src]").expect("valid");
        let e = HeaderEdit::with_format(HeaderOp::Set, header, fmt).expect("valid");
        b.request(ReqAction::Header(e), None).expect("ok");
        b.use_server(1, Some(When::If("pin"))).expect("ok");
        b.build()
    };
    let (frontend, backend) = (set("^/a(.*)$", "X-Fe"), set("^/x(/.*)$", "X-Be"));
    let headers: &[(&[u8], &[u8])] = &[(b"Host", b"h")];
    let facts = Facts {
        http: Some(HttpFacts {
            method: "GET",
            target: b"/a/pin?q=1",
            host: Some("h"),
            version: 1,
            headers: Headers::Pairs(headers),
        }),
        ..Facts::connection("192.0.2.7".parse().unwrap(), 80)
    };
    let mut sc = Scratch::default();
    let mut total = 0usize;
    let mut round = |sc: &mut Scratch| {
        let conn = ConnState::default();
        let out = frontend.on_request(&facts, &mut [], &conn, sc, 0);
        total += out.edits().count();
        let out = backend.on_request_after(&facts, &mut [], &conn, sc, 0);
        total += out.edits().count();
        let pinned = backend.use_server_after_request(&facts, &[], sc, 0, |s| s == 1);
        total += pinned.map_or(0, |(_, s)| s as usize);
    };
    round(&mut sc);
    let before = allocations();
    for _ in 0..1_000 {
        round(&mut sc);
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations in 1,000 warm rounds"
    );
    // Each round: the frontend's two edits, the backend's header and path (it saw
    // /x/pin: rewritten by the frontend, then by itself to /x/pin again), and
    // server 1.
    assert_eq!(total, 1_001 * 5);
}

/// `use_backend` with a name computed per request, through map converters of every
/// index kind (hash table, file-order list, substring finders, regexes, networks):
/// no allocation once warm.
#[test]
fn routing_by_map_allocates_nothing_once_warm() {
    use ringlb::rules::{BackendNames, Map, MapMatch, NamedBackend};
    use std::sync::Arc;
    let files = [
        ("hosts.map", "example.com be_a\nwww.example.com be_b\n"),
        ("doms.map", "example.org be_a\nexample.com be_b\n"),
        ("subs.map", "/nothing x\n/b be_b\n"),
        ("regs.map", "^/z x\n^/a/ be_a\n"),
        ("nets.map", "10.0.0.0/8 x\n192.0.2.0/24 be_b\n"),
    ];
    let format = |text: &str| {
        Format::parse_with(text, &mut |how: MapMatch, file: &str| {
            let (_, body) = files.iter().find(|(n, _)| *n == file).expect("a test map");
            Map::parse(file, how, body)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .expect("valid")
    };
    let names: BackendNames = [(b"be_a"[..].into(), 1), (b"be_b"[..].into(), 2)]
        .into_iter()
        .collect();
    let names = Arc::new(names);
    let mut b = RuleSetBuilder::new(&[], true);
    for (text, acl) in [
        ("%[req.hdr(host),lower,map(hosts.map)]", "h"),
        ("%[req.hdr(host),lower,map_dom(doms.map,nope)]", "d"),
        ("%[path,map_sub(subs.map)]", "s"),
        ("%[path,map_reg(regs.map)]", "r"),
        ("%[src,map_ip(nets.map)]", "n"),
    ] {
        let hosts = Patterns::new(Method::Exact, [acl], false).expect("valid");
        let test = Test::Header {
            name: b"x-by"[..].into(),
            values: Some(hosts),
        };
        b.acl(Acl::new(acl, test).expect("valid")).expect("new");
        let named = NamedBackend::new(format(text), Arc::clone(&names));
        b.request(
            ReqAction::UseBackendNamed(Box::new(named)),
            Some(When::If(acl)),
        )
        .expect("ok");
    }
    let set = b.build();
    let by: Vec<[(&[u8], &[u8]); 2]> = ["h", "d", "s", "r", "n"]
        .iter()
        .map(|a| {
            [
                (&b"Host"[..], &b"WWW.Example.com"[..]),
                (&b"X-By"[..], a.as_bytes()),
            ]
        })
        .collect();
    let mut sc = Scratch::default();
    let mut picked = Vec::new();
    let round = |sc: &mut Scratch, picked: &mut Vec<Option<u32>>| {
        for h in &by {
            let facts = Facts {
                http: Some(HttpFacts {
                    method: "GET",
                    target: b"/a/b",
                    host: Some("WWW.Example.com"),
                    version: 1,
                    headers: Headers::Pairs(h),
                }),
                ..Facts::connection("192.0.2.7".parse().unwrap(), 80)
            };
            let out = set.on_request(&facts, &mut [], &ConnState::default(), sc, 0);
            picked.push(out.backend.map(|(_, b)| b));
        }
    };
    round(&mut sc, &mut picked);
    assert_eq!(picked, [Some(2), Some(2), Some(2), Some(1), Some(2)]);
    picked.reserve(5_000);
    let before = allocations();
    for _ in 0..1_000 {
        round(&mut sc, &mut picked);
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations in 1,000 warm rounds"
    );
    assert_eq!(picked.len(), 5_005);
}
