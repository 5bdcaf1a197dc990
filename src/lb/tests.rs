//! Tests of what every balancer shares: the servers' usable state, the empty set, one
//! server and all down for every algorithm, weights and evenness over many picks,
//! seeds, slow start, backups, full servers, `avoid`; and helpers the algorithms'
//! own tests use (`epoch`, `servers`).

use super::*;

/// A new epoch for every pick: tests change servers between picks freely.
pub fn epoch() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Servers of these weights, declared in slot order.
pub fn servers(weights: &[u32]) -> Vec<ServerState> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| ServerState {
            rank: i as u32,
            ..ServerState::new(w, false)
        })
        .collect()
}

#[test]
fn usable_is_derived_from_all_three_parts() {
    let mut s = ServerState::new(1, false);
    assert!(s.usable());
    s.oper = Oper::Down;
    assert!(!s.usable());
    s.oper = Oper::Up;
    s.admin = Admin::Drain;
    assert!(!s.usable());
    s.admin = Admin::Maint;
    assert!(!s.usable());
    s.admin = Admin::Ready;
    s.weight = 0;
    assert!(!s.usable());
}

/// `uri` here gets no key: its round-robin fallback.
const ALL: [Balance; 6] = [
    Balance::Roundrobin,
    Balance::Leastconn,
    Balance::Source,
    Balance::Random,
    Balance::P2c,
    Balance::Uri,
];

/// `hold`: picked connections stay open (counted in `active`); otherwise each one
/// finishes at once.
fn pick_n(b: &mut dyn Balancer, s: &mut [ServerState], n: u32, hold: bool) -> Vec<u32> {
    let mut seen = vec![0u32; s.len()];
    let now = Instant::now();
    for k in 0..n {
        let pick = Pick {
            avoid: None,
            client: Some(IpAddr::from((k.wrapping_mul(2_654_435_761)).to_be_bytes())),
            hash: None,
            now,
            epoch: 1,
        };
        let i = b.pick(s, &pick).expect("a usable server");
        seen[i] += 1;
        s[i].active += 1;
        b.active_changed(i, s);
        if !hold {
            s[i].active -= 1;
            b.active_changed(i, s);
        }
    }
    seen
}

#[test]
fn every_algorithm_handles_empty_single_and_all_down() {
    for balance in ALL {
        let mut b = new_balancer(balance, 0, 1);
        let pick = Pick {
            avoid: None,
            client: Some(IpAddr::from([10, 0, 0, 1])),
            hash: None,
            now: Instant::now(),
            epoch: epoch(),
        };
        assert_eq!(b.pick(&[], &pick), None, "{balance:?} empty");
        let one = servers(&[1]);
        let mut b = new_balancer(balance, 1, 1);
        assert_eq!(
            b.pick(
                &one,
                &Pick {
                    epoch: epoch(),
                    ..pick
                }
            ),
            Some(0),
            "{balance:?} one"
        );
        let mut down = servers(&[1, 1, 1]);
        down.iter_mut().for_each(|s| s.oper = Oper::Down);
        let mut b = new_balancer(balance, 3, 1);
        assert_eq!(
            b.pick(
                &down,
                &Pick {
                    epoch: epoch(),
                    ..pick
                }
            ),
            None,
            "{balance:?} all down"
        );
    }
}

#[test]
fn weights_0_1_and_256_over_10000_picks() {
    // Weight 0 never; 256 against 1: about 256/257 of the picks.
    for balance in [
        Balance::Roundrobin,
        Balance::Random,
        Balance::Source,
        Balance::Leastconn,
    ] {
        let mut s = servers(&[0, 1, 256]);
        let mut b = new_balancer(balance, 3, 7);
        // leastconn balances open connections by weight: hold them.
        let seen = pick_n(b.as_mut(), &mut s, 10_000, balance == Balance::Leastconn);
        assert_eq!(seen[0], 0, "{balance:?}: weight 0 picked");
        let expect = 10_000.0 * 256.0 / 257.0;
        let tolerance = match balance {
            Balance::Roundrobin | Balance::Leastconn => 40.0,
            _ => 150.0, // random and hashing: a few standard deviations
        };
        assert!(
            (f64::from(seen[2]) - expect).abs() <= tolerance,
            "{balance:?}: {seen:?}"
        );
    }
}

#[test]
fn equal_weights_share_evenly_over_10000_picks() {
    for balance in ALL {
        let mut s = servers(&[1, 1, 1, 1]);
        let mut b = new_balancer(balance, 4, 3);
        let seen = pick_n(b.as_mut(), &mut s, 10_000, false);
        for n in &seen {
            assert!(n.abs_diff(2_500) <= 250, "{balance:?}: {seen:?}");
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_picks() {
    for balance in ALL {
        let mut s1 = servers(&[1, 2, 3, 4]);
        let mut s2 = servers(&[1, 2, 3, 4]);
        let a = pick_n(new_balancer(balance, 4, 99).as_mut(), &mut s1, 1_000, false);
        let b = pick_n(new_balancer(balance, 4, 99).as_mut(), &mut s2, 1_000, false);
        assert_eq!(a, b, "{balance:?}");
    }
}

#[test]
fn slow_start_ramps_linearly_from_one() {
    let ramp = Duration::from_secs(10);
    assert_eq!(effective_weight(1, None, ramp), WEIGHT_SCALE);
    assert_eq!(effective_weight(1, Some(Duration::ZERO), ramp), 1);
    assert_eq!(effective_weight(10, Some(Duration::from_secs(5)), ramp), 80);
    assert_eq!(
        effective_weight(10, Some(Duration::from_secs(10)), ramp),
        160
    );
    assert_eq!(
        effective_weight(10, Some(Duration::from_secs(3)), Duration::ZERO),
        160
    );
    assert_eq!(effective_weight(0, Some(Duration::ZERO), ramp), 0);
    assert_eq!(
        effective_weight(256, Some(Duration::from_millis(9999)), ramp),
        4096
    );
}

#[test]
fn backups_only_when_no_primary_is_usable() {
    let mut s = servers(&[1, 1]);
    s[1].backup = true;
    let c = candidates(&s, None);
    assert!(c.contains(0, &s[0]));
    assert!(!c.contains(1, &s[1]));
    s[0].oper = Oper::Down;
    let c = candidates(&s, None);
    assert!(!c.contains(0, &s[0]));
    assert!(c.contains(1, &s[1]));
}

#[test]
fn full_servers_are_skipped_and_do_not_bring_backups_in() {
    let mut s = servers(&[1, 1, 1]);
    s[2].backup = true;
    s[0].limit = 2;
    s[0].active = 2;
    let c = candidates(&s, None);
    assert!(!c.contains(0, &s[0]));
    assert!(c.contains(1, &s[1]));
    s[1].limit = 1;
    s[1].active = 1;
    let c = candidates(&s, None);
    assert!(
        !(0..3).any(|i| c.contains(i, &s[i])),
        "all primaries full: wait, no backup"
    );
    s[0].active = 1;
    assert!(candidates(&s, None).contains(0, &s[0]));
    for b in [
        Box::new(RoundRobin::new(3)) as Box<dyn Balancer>,
        Box::new(LeastConn::default()),
        Box::new(Source::default()),
        Box::new(Random::new(1)),
        Box::new(P2c::new(1)),
    ] {
        let mut b = b;
        let pick = Pick {
            avoid: None,
            client: Some(IpAddr::from([10, 0, 0, 1])),
            hash: None,
            now: Instant::now(),
            epoch: epoch(),
        };
        for _ in 0..20 {
            assert_eq!(b.pick(&s, &pick), Some(0));
        }
    }
}

#[test]
fn avoid_is_kept_only_when_it_is_the_last_choice() {
    let s = servers(&[1, 1]);
    let c = candidates(&s, Some(0));
    assert!(!c.contains(0, &s[0]));
    assert!(c.contains(1, &s[1]));
    let one = servers(&[1]);
    let c = candidates(&one, Some(0));
    assert!(c.contains(0, &one[0]));
}
