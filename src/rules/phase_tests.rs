//! Tests of tracking, connection and response rules, load-time checks and the
//! scratch space (the request actions are in eval_tests.rs).

use super::{builder, get, ip, path_acl, req, run, table_cfg, Pairs};
use crate::rules::scratch::Memo;
use crate::rules::{
    count_bytes, count_error, Acl, Cmp, ConnAction, ConnState, Counter, Edit, Facts, HeaderEdit,
    HeaderOp, IpSet, KeyKind, Method, PathRewrite, Reply, ReqAction, RuleError, RuleSet,
    RuleSetBuilder, Scratch, Table, Test, When, SLOTS,
};

fn rate_set(limit: u64) -> RuleSet {
    let mut b = RuleSetBuilder::new(&[table_cfg(KeyKind::Addr)], true);
    let over = Test::Counter {
        slot: 0,
        counter: Counter::HttpReqRate,
        cmp: Cmp::Gt,
        value: limit,
    };
    b.acl(Acl::new("too_fast", over).expect("valid"))
        .expect("new");
    b.request(ReqAction::Track { slot: 0, table: 0 }, None)
        .expect("ok");
    b.request(ReqAction::Deny(Reply::new(429)), Some(When::If("too_fast")))
        .expect("ok");
    b.build()
}

/// `http-request track-sc0 src` + `deny if { sc_http_req_rate(0) gt 100 }`: exactly
/// 100 requests pass in the window, the 101st is refused, and other clients are not.
#[test]
fn rate_limit_admits_exactly_the_limit() {
    let set = rate_set(100);
    let mut tables = [Table::new(table_cfg(KeyKind::Addr)).expect("valid")];
    let mut sc = Scratch::default();
    let conn = ConnState::default();
    let f = get("/");
    let mut passed = 0;
    for i in 0..200u64 {
        let out = set.on_request(&f, &mut tables, &conn, &mut sc, i * 10);
        if out.forwards() {
            passed += 1;
        } else {
            assert_eq!(passed, 100, "request {} refused", i + 1);
            assert_eq!(out.rule, Some(1));
        }
    }
    assert_eq!(passed, 100);
    let mut other = get("/");
    other.client = ip("192.0.2.11");
    assert!(set
        .on_request(&other, &mut tables, &conn, &mut sc, 2_000)
        .forwards());
    // Two quiet periods later the client is welcome again.
    assert!(set
        .on_request(&f, &mut tables, &conn, &mut sc, 22_000)
        .forwards());
}

#[test]
fn connection_rules_reject_accept_and_track() {
    let mut b = RuleSetBuilder::new(&[table_cfg(KeyKind::NETWORK)], true);
    let bad = IpSet::from_strs(["203.0.113.0/24"]).expect("valid");
    b.acl(Acl::new("blocked", Test::Src(bad)).expect("valid"))
        .expect("new");
    let busy = Test::Counter {
        slot: 0,
        counter: Counter::ConnCur,
        cmp: Cmp::Gt,
        value: 3,
    };
    b.acl(Acl::new("busy", busy).expect("valid")).expect("new");
    b.connection(ConnAction::Reject, Some(When::If("blocked")))
        .expect("ok");
    b.connection(ConnAction::Track { slot: 0, table: 0 }, None)
        .expect("ok");
    b.connection(ConnAction::Reject, Some(When::If("busy")))
        .expect("ok");
    b.connection(ConnAction::Accept, None).expect("ok");
    let set = b.build();
    let mut tables = [Table::new(table_cfg(KeyKind::NETWORK)).expect("valid")];
    let mut sc = Scratch::default();

    let mut conn = ConnState::default();
    let out = set.on_connect(
        &Facts::connection(ip("203.0.113.5"), 80),
        &mut tables,
        &mut conn,
        &mut sc,
        0,
    );
    assert!(out.reject && out.rule == Some(0) && out.hits == [0]);
    assert_eq!(conn, ConnState::default(), "rejected before tracking");

    // `conn_cur` counts the connection being decided on, as HAProxy's `sc_conn_cur`:
    // three connections from one /24 pass, the fourth is over `conn_cur > 3`.
    let mut open = Vec::new();
    for (i, addr) in [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ]
    .iter()
    .enumerate()
    {
        let mut conn = ConnState::default();
        let out = set.on_connect(
            &Facts::connection(ip(addr), 80),
            &mut tables,
            &mut conn,
            &mut sc,
            1,
        );
        assert_eq!(out.reject, i == 3, "{addr}");
        assert_eq!(out.hits, if i == 3 { [1, 2] } else { [1, 3] });
        open.push(conn);
    }
    for conn in &mut open {
        conn.close(&mut tables, 2);
    }
    let key = KeyKind::NETWORK
        .addr_key(ip("198.51.100.0"))
        .expect("address key");
    let id = tables[0].find(key).expect("tracked");
    let c = tables[0].counters(id, 2).expect("live");
    assert_eq!((c.conn_cur, c.conn_total), (0, 4));
}

#[test]
fn requests_count_in_entries_tracked_on_connect() {
    let mut b = RuleSetBuilder::new(&[table_cfg(KeyKind::Addr)], true);
    b.connection(ConnAction::Track { slot: 2, table: 0 }, None)
        .expect("ok");
    b.request(ReqAction::Track { slot: 2, table: 0 }, None)
        .expect("ignored: slot taken");
    let set = b.build();
    let mut tables = [Table::new(table_cfg(KeyKind::Addr)).expect("valid")];
    let mut sc = Scratch::default();
    let mut conn = ConnState::default();
    let f = get("/");
    let _ = set.on_connect(&f, &mut tables, &mut conn, &mut sc, 0);
    for now in 1..=3 {
        let out = set.on_request(&f, &mut tables, &conn, &mut sc, now);
        assert_eq!(out.tracked, conn.tracked);
        assert!(out.hits().is_empty(), "the slot was taken: no second track");
    }
    // A backend's set runs on the same requests: they are not counted again.
    let backend = RuleSetBuilder::new(&[table_cfg(KeyKind::Addr)], true).build();
    for now in 1..=3 {
        let _ = set.on_request(&f, &mut tables, &conn, &mut sc, now);
        let _ = backend.on_request_after(&f, &mut tables, &conn, &mut sc, now);
    }
    let t = conn.tracked[2].expect("tracked");
    let c = tables[0].counters(t.entry, 3).expect("live");
    assert_eq!((c.conn_cur, c.http_req_total, c.http_req_rate), (1, 6, 6));
    count_error(&mut tables, &conn.tracked, 4);
    count_bytes(&mut tables, &conn.tracked, 10, 20, 4);
    conn.close(&mut tables, 5);
    assert_eq!(conn, ConnState::default());
    let c = tables[0].counters(t.entry, 5).expect("live");
    assert_eq!(
        (c.conn_cur, c.http_err_rate, c.bytes_in, c.bytes_out),
        (0, 1, 10, 20)
    );
}

#[test]
fn header_keyed_tables_track_requests_only() {
    let kind = KeyKind::Header {
        name: "x-api-key".into(),
        max_len: 64,
    };
    let mut b = RuleSetBuilder::new(&[table_cfg(kind.clone())], true);
    assert!(b
        .connection(ConnAction::Track { slot: 0, table: 0 }, None)
        .is_err());
    b.request(ReqAction::Track { slot: 0, table: 0 }, None)
        .expect("ok");
    let set = b.build();
    let mut tables = [Table::new(table_cfg(kind)).expect("valid")];
    let mut sc = Scratch::default();
    let hs: &Pairs<'_> = &[(b"X-API-Key", b"k1")];
    let keyed = req("/", Some("h"), hs);
    let out = set.on_request(&keyed, &mut tables, &ConnState::default(), &mut sc, 0);
    assert!(out.tracked[0].is_some());
    let out = set.on_request(&get("/"), &mut tables, &ConnState::default(), &mut sc, 0);
    assert!(out.tracked[0].is_none(), "no key, not tracked");
    assert_eq!(tables[0].len(), 1);
}

#[test]
fn response_edits() {
    let mut b = builder();
    let err = Acl::new("server_error", Test::Status([(500, 599)].into())).expect("valid");
    b.acl(err).expect("new");
    let hsts = HeaderEdit::new(
        HeaderOp::Set,
        "Strict-Transport-Security",
        b"max-age=31536000",
    )
    .expect("valid");
    b.response(hsts, None).expect("ok");
    b.response(
        HeaderEdit::new(HeaderOp::Del, "Server", b"").expect("valid"),
        None,
    )
    .expect("ok");
    let retry = HeaderEdit::new(HeaderOp::Add, "Retry-After", b"5").expect("valid");
    b.response(retry, Some(When::If("server_error api")))
        .expect("ok");
    let set = b.build();
    let tables: [Table; 0] = [];
    let mut sc = Scratch::default();
    let mut f = get("/api/x");
    f.status = Some(503);
    let out = set.on_response(&f, &tables, &[None; SLOTS], &mut sc, 0);
    let names: Vec<&str> = out.edits().map(|(e, _)| &*e.name).collect();
    assert_eq!(
        names,
        ["Strict-Transport-Security", "Server", "Retry-After"]
    );
    f.status = Some(200);
    let out = set.on_response(&f, &tables, &[None; SLOTS], &mut sc, 0);
    assert_eq!(out.hits(), [0, 1]);
}

#[test]
fn conditions_are_checked_at_load() {
    let mut b = builder();
    let hdr = Test::Header {
        name: (*b"x-debug").into(),
        values: None,
    };
    b.acl(Acl::new("debug", hdr).expect("valid")).expect("new");
    assert!(
        b.acl(path_acl("admin", Method::Exact, &["/"])).is_err(),
        "defined twice"
    );
    let e = b.connection(ConnAction::Reject, Some(When::If("office debug")));
    assert!(e.is_err(), "no headers at accept");
    assert!(b
        .connection(ConnAction::Reject, Some(When::If("office")))
        .is_ok());
    let e = b.request(ReqAction::Allow, Some(When::If("admin nosuch")));
    assert!(matches!(e, Err(RuleError::UnknownAcl(n)) if n == "nosuch"));
    assert!(b.request(ReqAction::Allow, Some(When::If(""))).is_err());
    assert!(b
        .request(ReqAction::Track { slot: 3, table: 0 }, None)
        .is_err());
    assert!(b
        .request(ReqAction::Track { slot: 0, table: 1 }, None)
        .is_err());
    b.request(ReqAction::Deny(Reply::deny()), Some(When::If("office")))
        .expect("ok");
    let set = b.build();
    assert_eq!(
        set.first_http_rule(),
        None,
        "deny on an address works in tcp mode"
    );
    let mut b = builder();
    b.request(ReqAction::Deny(Reply::deny()), Some(When::If("office")))
        .expect("ok");
    b.request(ReqAction::Deny(Reply::deny()), Some(When::If("admin")))
        .expect("ok");
    assert_eq!(b.build().first_http_rule(), Some(1));
}

#[test]
fn memo_is_cleared_when_tracking_changes_what_counters_say() {
    let mut b = RuleSetBuilder::new(&[table_cfg(KeyKind::Addr)], true);
    let tracked = Test::Counter {
        slot: 0,
        counter: Counter::HttpReqTotal,
        cmp: Cmp::Ge,
        value: 1,
    };
    b.acl(Acl::new("seen", tracked).expect("valid"))
        .expect("new");
    let edit = HeaderEdit::new(HeaderOp::Set, "X-Untracked", b"1").expect("valid");
    b.request(ReqAction::Header(edit), Some(When::Unless("seen")))
        .expect("ok");
    b.request(ReqAction::Track { slot: 0, table: 0 }, None)
        .expect("ok");
    b.request(ReqAction::Deny(Reply::new(429)), Some(When::If("seen")))
        .expect("ok");
    let set = b.build();
    let (v, _, _, headers, _) = run(&set, &get("/"));
    assert_eq!(v, "deny 429 ");
    assert!(headers.is_empty());
    let mut tables = [Table::new(table_cfg(KeyKind::Addr)).expect("valid")];
    let mut sc = Scratch::default();
    let out = set.on_request(&get("/"), &mut tables, &ConnState::default(), &mut sc, 0);
    assert_eq!(
        out.hits(),
        [0, 1, 2],
        "the same ACL gave two answers around the track"
    );
}

#[test]
fn memo_bitsets() {
    let mut m = Memo::default();
    m.reset(130);
    assert_eq!(m.get(129), None);
    m.set(129, true);
    m.set(3, false);
    assert_eq!(
        (m.get(129), m.get(3), m.get(4)),
        (Some(true), Some(false), None)
    );
    m.clear();
    assert_eq!(m.get(129), None);
    assert_eq!(m.get(1_000), None);
    m.set(1_000, true);
}

#[test]
fn scratch_follows_the_rule_set_and_stops_growing() {
    let make = |pattern: &str| {
        let mut b = builder();
        let rw = PathRewrite::new(pattern, "/x\\1").expect("valid");
        b.request(ReqAction::ReplacePath(rw), None).expect("ok");
        b.build()
    };
    let (one, two) = (make("^/a(.*)$"), make("^/b/(c)(.*)$"));
    let mut tables = [Table::new(table_cfg(KeyKind::Addr)).expect("valid")];
    let mut sc = Scratch::default();
    let conn = ConnState::default();
    let f = get("/a/y");
    let out = one.on_request(&f, &mut tables, &conn, &mut sc, 0);
    assert_eq!(out.edits().last(), Some(Edit::Path(b"/x/y")));
    let f2 = get("/b/c/d");
    let out = two.on_request(&f2, &mut tables, &conn, &mut sc, 0);
    assert_eq!(out.edits().last(), Some(Edit::Path(b"/xc")));
    let caps = (sc.hits.capacity(), sc.location.capacity());
    for i in 0..1_000 {
        let _ = two.on_request(&f2, &mut tables, &conn, &mut sc, i);
    }
    assert_eq!((sc.hits.capacity(), sc.location.capacity()), caps);
    // A frontend's and a backend's sets alternate: each keeps its capture buffers.
    for i in 0..100 {
        let _ = one.on_request(&f, &mut tables, &conn, &mut sc, i);
        let out = two.on_request(&f2, &mut tables, &conn, &mut sc, i);
        assert_eq!(out.edits().last(), Some(Edit::Path(b"/xc")));
    }
    assert_eq!(sc.other_locs.len(), 1);
    assert!(sc.locs[0].is_some() && sc.other_locs[0].1[0].is_some());
}

/// `use-server`: the first rule whose condition holds and whose server is not down;
/// after request rules, conditions see the rewritten path.
#[test]
fn use_server_takes_the_first_usable_match() {
    let mut b = builder();
    b.acl(path_acl("pin", Method::Prefix, &["/pin"]))
        .expect("new");
    b.acl(path_acl("any", Method::Prefix, &["/"])).expect("new");
    b.request(
        ReqAction::SetPath(b"/pin/moved"[..].into()),
        Some(When::If("!pin")),
    )
    .expect("ok");
    b.use_server(3, Some(When::If("pin"))).expect("ok");
    b.use_server(1, Some(When::If("pin"))).expect("ok");
    b.use_server(0, Some(When::Unless("any"))).expect("ok");
    let set = b.build();
    assert_eq!(set.server_rules().len(), 3);
    let mut sc = Scratch::default();
    let conn = ConnState::default();
    let pin = get("/pin/a");
    let up = |s: u32| s != 2;
    assert_eq!(set.use_server(&pin, &[], &mut sc, 0, up), Some((0, 3)));
    let down3 = |s: u32| s != 3;
    assert_eq!(set.use_server(&pin, &[], &mut sc, 0, down3), Some((1, 1)));
    assert_eq!(set.use_server(&pin, &[], &mut sc, 0, |_| false), None);
    // Unmatched: no rule (rule 3's `unless any` is false for every path).
    let other = get("/other");
    assert_eq!(set.use_server(&other, &[], &mut sc, 0, up), None);
    // After the request rules moved it under /pin: pinned.
    let out = set.on_request(&other, &mut [], &conn, &mut sc, 0);
    assert_eq!(out.edits().last(), Some(Edit::Path(b"/pin/moved")));
    assert_eq!(
        set.use_server_after_request(&other, &[], &mut sc, 0, up),
        Some((0, 3))
    );
    // Conditions are checked at load: a response-phase ACL is refused.
    let mut b = builder();
    b.acl(Acl::new("ok", Test::Status([(200, 299)].into())).expect("valid"))
        .expect("new");
    assert!(b.use_server(0, Some(When::If("ok"))).is_err());
}

#[test]
fn rule_sets_can_be_shared_by_workers() {
    fn shared<T: Send + Sync>() {}
    shared::<RuleSet>();
    fn movable<T: Send>() {}
    movable::<Table>();
    movable::<Scratch>();
}

#[test]
fn response_values_with_samples() {
    use crate::rules::Format;
    let mut b = builder();
    let status = Format::parse("%[status] from %ci").expect("valid");
    let e = HeaderEdit::with_format(HeaderOp::Set, "X-Status", status).expect("valid");
    b.response(e, None).expect("ok");
    let host = Format::parse("%[req.hdr(host)]").expect("valid");
    let e = HeaderEdit::with_format(HeaderOp::Set, "X-Host", host).expect("valid");
    assert!(
        b.response(e, None).is_err(),
        "hdr() in a response is the response's header: refused"
    );
    b.response(
        HeaderEdit::new(HeaderOp::Set, "X-Lit", b"1").expect("valid"),
        None,
    )
    .expect("ok");
    let set = b.build();
    let mut sc = Scratch::default();
    let mut f = get("/");
    f.status = Some(503);
    let out = set.on_response(&f, &[], &[None; SLOTS], &mut sc, 0);
    let got: Vec<(&str, &[u8])> = out.edits().map(|(e, v)| (&*e.name, v)).collect();
    assert_eq!(
        got,
        [
            ("X-Status", &b"503 from 192.0.2.10"[..]),
            ("X-Lit", &b"1"[..])
        ]
    );
}
