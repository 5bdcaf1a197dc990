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
//! | `tests.rs` | tests of what every balancer shares (empty set, one server, weights, backups, `avoid`) and helpers the algorithms' own tests use |

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
pub(crate) mod tests;
