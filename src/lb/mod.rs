//! Load-balancing algorithms, one file each, behind the [`Balancer`] trait (HAProxy's
//! `lb_*.c` + `lb_ops`). They are pure: no I/O, no clock (time comes in [`Pick`]),
//! no shared state. Each worker owns one balancer per backend and feeds it its own
//! view of the servers, so what "least connections" means is "of this worker".
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Balancer`], [`Pick`], [`ServerState`], candidates, weights, the factory |
//! | `roundrobin.rs` | weighted round robin (smooth, HAProxy's `roundrobin`) |
//! | `stride.rs` | stride scheduling: the weighted round robin of large backends (O(log n) a pick) |
//! | `leastconn.rs` | least connections, weighted, round robin among equals |
//! | `source.rs` | consistent source-IP hashing (Maglev table) |
//! | `random.rs` | weighted random |
//! | `p2c.rs` | power of two choices on a peak-EWMA latency estimate |
//! | `first.rs` | the first server (declaration order) with a free slot (HAProxy's `first`) |
//! | `hash.rs` | request hashing (`uri`, `url_param`, `hdr`): HAProxy's map-based or consistent lookup |
//! | `hashing.rs` | request keys and HAProxy's hash functions, shared by the hashing balancers |
//! | `dynlimit.rs` | dynamic server limits (HAProxy's `minconn` / `fullconn`) |

mod dynlimit;
mod first;
mod hash;
pub mod hashing;
mod leastconn;
mod p2c;
mod random;
mod roundrobin;
mod source;
mod stride;

pub use dynlimit::dynamic_limit;
pub use first::First;
pub use hash::Hash;
pub use leastconn::LeastConn;
pub use p2c::{P2c, PeakEwma};
pub use random::Random;
pub use roundrobin::RoundRobin;
pub use source::Source;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::config::Balance;

/// Operational state: what health checks say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oper {
    Up,
    Down,
}

/// Administrative state: what the operator says (HAProxy's `set server state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// Takes traffic.
    Ready,
    /// No new traffic; existing connections continue.
    Drain,
    /// No traffic at all.
    Maint,
}

/// One server as a balancer sees it: the three parts of HAProxy's server state
/// (operational, admin, weight) plus this worker's count of active connections.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerState {
    pub oper: Oper,
    pub admin: Admin,
    /// 0..=256; 0 takes no new traffic.
    pub weight: u32,
    pub backup: bool,
    /// Connections (TCP) or in-flight requests (HTTP) of this worker.
    pub active: u32,
    /// Most `active` this worker may have on the server (its share of the server's
    /// `max_connections`); 0 = no limit.
    pub limit: u32,
    /// This worker's latency estimate (connect time in TCP mode, time to the response
    /// head in HTTP mode), for `p2c`.
    pub latency: PeakEwma,
    /// The server's position in its backend's declaration (HAProxy's server id - 1),
    /// for `first` and the hashing balancers.
    pub rank: u32,
}

impl ServerState {
    pub fn new(weight: u32, backup: bool) -> Self {
        ServerState {
            oper: Oper::Up,
            admin: Admin::Ready,
            weight,
            backup,
            active: 0,
            limit: 0,
            latency: PeakEwma::default(),
            rank: 0,
        }
    }

    /// May take new traffic. Derived from the three parts, never stored.
    pub fn usable(&self) -> bool {
        self.oper == Oper::Up && self.admin == Admin::Ready && self.weight > 0
    }

    /// Takes requests that a persistence cookie sends to it: up and not in
    /// maintenance, even when draining or at weight 0 (HAProxy's behaviour).
    pub fn persistable(&self) -> bool {
        self.oper == Oper::Up && self.admin != Admin::Maint
    }

    /// Below its connection limit (HAProxy's `maxconn`): a usable server that is full
    /// is skipped, and when every usable server is full the request waits in the queue.
    pub fn has_room(&self) -> bool {
        self.limit == 0 || self.active < self.limit
    }
}

/// Configured weights (0..=256) are multiplied by this before balancers see them, so
/// that slow start can ramp even a weight-1 server in small steps (HAProxy's
/// `BE_WEIGHT_SCALE`). Every algorithm only uses weights relative to each other.
pub const WEIGHT_SCALE: u32 = 16;

/// The weight balancers use for a server of configured `weight` that came up `since_up`
/// ago with slow start `ramp` (HAProxy's `slowstart`): linear from 1 to the full
/// scaled weight; the full weight when there is no ramp or it is over.
pub fn effective_weight(weight: u32, since_up: Option<Duration>, ramp: Duration) -> u32 {
    let full = weight * WEIGHT_SCALE;
    match since_up {
        Some(t) if !ramp.is_zero() && t < ramp && full > 0 => {
            let w = (u128::from(full) * t.as_nanos()).div_ceil(ramp.as_nanos());
            (w as u32).clamp(1, full)
        }
        _ => full,
    }
}

/// What one pick is about.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    /// The server that just failed (HAProxy's `prev_srv`): another one is preferred.
    pub avoid: Option<usize>,
    /// The client's address (for hashing algorithms).
    pub client: Option<IpAddr>,
    /// The request's key hash (`uri`, `url_param`, `hdr`); `None`: the request has
    /// no such key, or the backend does not hash requests.
    pub hash: Option<u32>,
    pub now: Instant,
    /// Changes whenever anything that decides which servers are candidates changed
    /// (operational or admin state, weight, backup, a limited server filling up or
    /// freeing a slot). Balancers keep what they derive from the servers until it
    /// changes, so a pick does not rescan every server.
    pub epoch: u64,
}

/// The candidates of the last epoch, as balancers cache them: their indexes, a
/// membership map and the running sums of their weights.
#[derive(Debug, Default)]
pub struct Eligible {
    epoch: Option<u64>,
    /// Candidate indexes, ascending.
    pub list: Vec<usize>,
    member: Vec<bool>,
    /// `cumulative[k]` = sum of the weights of `list[..=k]`.
    pub cumulative: Vec<u64>,
    /// The candidates are the backup tier.
    pub backup_tier: bool,
}

impl Eligible {
    /// Recompute for `epoch` if needed; true when it was recomputed.
    pub fn refresh(&mut self, servers: &[ServerState], epoch: u64) -> bool {
        if self.epoch == Some(epoch) && self.member.len() == servers.len() {
            return false;
        }
        let c = candidates(servers, None);
        self.list.clear();
        self.cumulative.clear();
        self.member.clear();
        self.member.resize(servers.len(), false);
        let mut sum = 0u64;
        for (i, s) in servers.iter().enumerate() {
            if c.contains(i, s) {
                self.list.push(i);
                self.member[i] = true;
                sum += u64::from(s.weight);
                self.cumulative.push(sum);
            }
        }
        self.backup_tier = c.use_backup;
        self.epoch = Some(epoch);
        true
    }

    pub fn contains(&self, index: usize) -> bool {
        self.member.get(index).copied().unwrap_or(false)
    }

    /// The server to leave out: `avoid`, unless it is the only candidate.
    pub fn skip(&self, avoid: Option<usize>) -> Option<usize> {
        avoid.filter(|&a| self.contains(a) && self.list.len() > 1)
    }
}

pub trait Balancer {
    /// Choose a server for a new connection or request, or `None` when no server is usable.
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize>;

    /// `servers[server].active` just changed (a connection taken or given back). For
    /// balancers that keep servers ordered by load; the others ignore it.
    fn active_changed(&mut self, _server: usize, _servers: &[ServerState]) {}
}

/// The balancer for a backend's `balance` setting (request hashing map-based).
/// `seed` makes random choices differ between workers.
pub fn new_balancer(balance: Balance, servers: usize, seed: u64) -> Box<dyn Balancer> {
    match balance {
        Balance::Leastconn => Box::new(LeastConn::default()),
        Balance::Source => Box::new(Source::default()),
        Balance::Random => Box::new(Random::new(seed)),
        Balance::P2c => Box::new(P2c::new(seed)),
        Balance::Roundrobin => Box::new(RoundRobin::new(servers)),
        Balance::First => Box::new(First::default()),
        Balance::Uri | Balance::UrlParam | Balance::Hdr => Box::new(Hash::new(false, servers)),
    }
}

/// The balancer for backend `b` (its `[backend.hash]` type included).
pub fn backend_balancer(
    b: &crate::config::Backend,
    servers: usize,
    seed: u64,
) -> Box<dyn Balancer> {
    match b.balance {
        Balance::Uri | Balance::UrlParam | Balance::Hdr => {
            Box::new(Hash::new(b.hash.consistent, servers))
        }
        other => new_balancer(other, servers, seed),
    }
}

/// Which servers a pick may choose from: the usable non-backup servers, or, when
/// none of them is usable, the usable backups (all of them, balanced, like HAProxy's
/// `option allbackups`); full servers are left out (a full primary does not bring the
/// backups in, as in HAProxy: the request waits for a slot instead). `avoid` is left out
/// when anything else remains.
pub fn candidates(servers: &[ServerState], avoid: Option<usize>) -> Candidates {
    let use_backup = !servers.iter().any(|s| !s.backup && s.usable());
    let eligible = |i: usize, s: &ServerState| {
        s.usable() && s.has_room() && s.backup == use_backup && Some(i) != avoid
    };
    let avoid = match avoid {
        Some(a) if servers.iter().enumerate().any(|(i, s)| eligible(i, s)) => Some(a),
        _ => None,
    };
    Candidates { use_backup, avoid }
}

/// The result of [`candidates`]: a predicate over server indexes.
#[derive(Debug, Clone, Copy)]
pub struct Candidates {
    use_backup: bool,
    avoid: Option<usize>,
}

impl Candidates {
    pub fn contains(&self, index: usize, server: &ServerState) -> bool {
        server.usable()
            && server.has_room()
            && server.backup == self.use_backup
            && Some(index) != self.avoid
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
}
