use std::net::IpAddr;

use super::*;

fn cfg(max: u32) -> TableConfig {
    TableConfig {
        key: KeyKind::Addr,
        max_entries: max,
        expire_ms: 60_000,
        rate_period_ms: 10_000,
    }
}

fn key(n: u32) -> Key<'static> {
    Key::V4(n)
}

#[test]
fn memory_per_entry_is_what_the_docs_say() {
    assert_eq!(std::mem::size_of::<Entry>(), 120);
    assert_eq!(std::mem::size_of::<StoredKey>(), 24);
}

#[test]
fn counters_count() {
    let mut t = Table::new(cfg(10)).expect("valid");
    let id = t.track(key(1), 0).expect("room");
    t.conn_open(id, 0);
    t.conn_open(id, 1);
    t.conn_close(id, 2);
    for ms in 0..5 {
        t.request(id, ms);
    }
    t.error(id, 5);
    t.bytes(id, 100, 2_000, 6);
    let c = t.counters(id, 7).expect("live");
    assert_eq!(
        c,
        Counters {
            conn_cur: 1,
            conn_total: 2,
            conn_rate: 2,
            http_req_total: 5,
            http_req_rate: 5,
            http_err_total: 1,
            http_err_rate: 1,
            bytes_in: 100,
            bytes_out: 2_000,
            idle_ms: 1,
        }
    );
    assert_eq!(t.read(id, Counter::HttpReqRate, 7), Some(5));
    assert_eq!(t.read(id, Counter::ConnCur, 7), Some(1));
    assert_eq!(t.track(key(1), 8), Some(id), "same key, same entry");
    assert_eq!(t.len(), 1);
}

/// 100 per 10 s: the 101st request in the window is the first one over the limit,
/// and once the window has slid on, requests are allowed again.
#[test]
fn the_rate_window_admits_exactly_the_limit() {
    let mut t = Table::new(cfg(10)).expect("valid");
    let over = |t: &mut Table, now: u64| {
        let id = t.track(key(9), now).expect("room");
        t.request(id, now);
        t.read(id, Counter::HttpReqRate, now).expect("live") > 100
    };
    let mut allowed = 0;
    let mut first_refused = None;
    for i in 0..150u64 {
        let now = i * 20; // 150 requests within 3 s
        if over(&mut t, now) {
            first_refused.get_or_insert(i + 1);
        } else {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 100);
    assert_eq!(first_refused, Some(101));
    // Still over while the previous period weighs in: 150 × (1 - 0.3) + 1 > 100.
    assert!(over(&mut t, 13_000));
    // A full period later with no traffic, the window is empty again.
    assert!(!over(&mut t, 30_000));
    let id = t.find(key(9)).expect("present");
    assert_eq!(t.read(id, Counter::HttpReqRate, 30_000), Some(1));
}

#[test]
fn lru_eviction_when_full() {
    let mut t = Table::new(cfg(3)).expect("valid");
    let a = t.track(key(1), 0).expect("room");
    let _b = t.track(key(2), 1).expect("room");
    let _c = t.track(key(3), 2).expect("room");
    t.request(a, 3); // a is now the most recent; b the least
    let d = t.track(key(4), 4).expect("evicts b");
    assert_eq!(t.len(), 3);
    assert!(t.find(key(2)).is_none());
    assert!(t.find(key(1)).is_some() && t.find(key(4)) == Some(d));
    assert_eq!(t.stats().evicted, 1);
}

#[test]
fn entries_in_use_are_not_evicted_and_a_full_table_refuses() {
    let mut t = Table::new(cfg(2)).expect("valid");
    let a = t.track(key(1), 0).expect("room");
    let b = t.track(key(2), 0).expect("room");
    t.conn_open(a, 0);
    t.conn_open(b, 0);
    assert_eq!(t.track(key(3), 1), None);
    assert_eq!(t.stats().refused, 1);
    t.conn_close(a, 2);
    assert!(t.track(key(3), 3).is_some(), "a is free to go now");
    assert!(t.find(key(1)).is_none());
    // The evicted entry's handle is stale: using it touches nothing.
    t.conn_close(a, 4);
    t.request(a, 4);
    assert_eq!(t.counters(a, 4), None);
    assert_eq!(t.read(b, Counter::ConnCur, 4), Some(1));
}

#[test]
fn idle_entries_expire_but_busy_ones_stay() {
    let mut t = Table::new(cfg(10)).expect("valid");
    let idle = t.track(key(1), 0).expect("room");
    t.request(idle, 0);
    let busy = t.track(key(2), 0).expect("room");
    t.conn_open(busy, 0);
    assert_eq!(t.expire(59_999), 0);
    assert_eq!(t.expire(60_000), 1);
    assert_eq!(t.counters(idle, 60_000), None);
    assert!(t.find(key(2)).is_some());
    assert_eq!(t.stats().expired, 1);
    // `track` drops expired tail entries on its own.
    t.conn_close(busy, 60_000);
    let other = t.track(key(3), 200_000).expect("room");
    assert!(t.find(key(2)).is_none() && t.len() == 1);
    assert_eq!(t.track(key(3), 200_001), Some(other));
}

#[test]
fn an_expired_entry_seen_again_starts_from_zero() {
    let mut t = Table::new(cfg(10)).expect("valid");
    let old = t.track(key(1), 0).expect("room");
    t.request(old, 0);
    let new = t.track(key(1), 60_000).expect("room");
    assert_ne!(old, new, "old handles go stale");
    assert_eq!(t.read(new, Counter::HttpReqTotal, 60_000), Some(0));
}

#[test]
fn remove_iterate_top_and_resize() {
    let mut t = Table::new(cfg(100)).expect("valid");
    for n in 0..10u32 {
        let id = t.track(key(n), 0).expect("room");
        for _ in 0..n {
            t.request(id, 0);
        }
    }
    let top = t.top(3, Counter::HttpReqRate, 1);
    let keys: Vec<Key<'_>> = top.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, [key(9), key(8), key(7)]);
    assert_eq!(top[0].1.http_req_rate, 9);
    assert_eq!(t.iter(1).count(), 10);
    assert!(t.remove(key(9)) && !t.remove(key(9)));
    assert_eq!(t.len(), 9);
    t.resize_to(4);
    assert_eq!(t.len(), 4);
    // The least recently used (lowest keys, touched first) went.
    assert!(t.find(key(0)).is_none() && t.find(key(8)).is_some());
    // Freed slots are reused.
    for n in 100..104 {
        t.track(key(n), 2).expect("room");
    }
    assert_eq!(t.len(), 4);
}

#[test]
fn a_handle_means_nothing_to_another_table() {
    let mut one = Table::new(cfg(10)).expect("valid");
    let mut two = Table::new(cfg(10)).expect("valid");
    let a = one.track(key(1), 0).expect("room");
    let b = two.track(key(2), 0).expect("room");
    two.request(a, 1);
    assert_eq!(two.read(b, Counter::HttpReqTotal, 1), Some(0));
    assert_eq!(two.counters(a, 1), None);
    assert_eq!(one.read(a, Counter::HttpReqTotal, 1), Some(0));
}

#[test]
fn reconfigure_keeps_contents_unless_the_key_changes() {
    let mut t = Table::new(cfg(10)).expect("valid");
    let id = t.track(key(1), 0).expect("room");
    t.request(id, 0);
    let mut c = cfg(20);
    c.expire_ms = 5_000;
    t.reconfigure(c).expect("same key kind");
    assert_eq!(t.read(id, Counter::HttpReqTotal, 1), Some(1));
    let mut other = cfg(20);
    other.key = KeyKind::NETWORK;
    assert!(t.reconfigure(other).is_err());
    assert!(Table::new(cfg(0)).is_err());
}

#[test]
fn string_keys() {
    let kind = KeyKind::Header {
        name: "x-api-key".into(),
        max_len: 32,
    };
    let mut t = Table::new(TableConfig {
        key: kind,
        ..cfg(4)
    })
    .expect("valid");
    let a = t.track(Key::Bytes(b"alpha"), 0).expect("room");
    let b = t.track(Key::Bytes(b"beta"), 0).expect("room");
    assert_ne!(a, b);
    assert_eq!(t.track(Key::Bytes(b"alpha"), 1), Some(a));
    assert_eq!(t.find(Key::Bytes(b"alph")), None);
    let shown: Vec<String> = t.iter(1).map(|(k, _)| k.to_string()).collect();
    assert!(shown.contains(&"alpha".to_string()));
}

/// Many clients and churn: the index, the list and the free list stay consistent.
#[test]
fn churn_keeps_the_structure_consistent() {
    let mut t = Table::new(cfg(1_000)).expect("valid");
    let mut s = 0x1234_5678u64;
    for i in 0..100_000u64 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let ip = IpAddr::from(((s % 5_000) as u32).to_be_bytes());
        let k = KeyKind::Addr.addr_key(ip).expect("address key");
        let id = t.track(k, i).expect("never all in use");
        t.request(id, i);
        if s % 97 == 0 {
            t.remove(k);
        }
    }
    assert!(t.len() <= 1_000);
    assert_eq!(t.iter(100_000).count(), t.len());
    // Walk the LRU list both ways.
    let (mut n, mut cur) = (0, t.head);
    while cur != NIL {
        n += 1;
        cur = t.slab[cur as usize].next;
    }
    assert_eq!(n, t.len());
}
