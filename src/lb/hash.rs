//! Request hashing (`uri`, `url_param`, `hdr`): the request's key hash (see
//! `hashing.rs`, computed where the request is parsed and carried in [`Pick::hash`])
//! picks the server, with either of HAProxy's two lookups, built as HAProxy builds
//! them so that a key goes to the server HAProxy would choose:
//!
//! - **map-based** (`lb_map.c`, the default): a table of the tier's usable servers,
//!   each as many times as its weight divided by the weights' common divisor, spread
//!   by smooth weighted round robin (first declared first among equals); the server
//!   is `table[hash % len]`. A server going down or coming back changes the table:
//!   most keys move.
//! - **consistent** (`lb_chash.c`): each usable server has `weight` points on a
//!   32-bit ring at `avalanche(id * 4096 + n)` (`id`: its declaration rank + 1); a key
//!   goes to the point nearest its hash. A server going down takes only its own
//!   points out: only its keys move, and they come back when it does.
//!
//! A full server (or the one to avoid) is passed over for the next entry, where
//! HAProxy would queue on it. Without a key (no such parameter or header), round
//! robin, as HAProxy falls back to.

use super::roundrobin::RoundRobin;
use super::{Balancer, Eligible, Pick, ServerState};
use crate::lb::hashing::avalanche;

/// HAProxy's `SRV_EWGHT_RANGE`: a server's ring points start at `id * 4096`.
const POINTS_PER_ID: u32 = 4096;

#[derive(Debug)]
pub struct Hash {
    consistent: bool,
    eligible: Eligible,
    /// The weight of each slot in the tables (0: not in them).
    weights: Vec<u32>,
    built: bool,
    /// map-based: server slots.
    map: Vec<u16>,
    /// consistent: `(point, server slot)`, by point.
    ring: Vec<(u32, u16)>,
    fallback: RoundRobin,
}

impl Hash {
    pub fn new(consistent: bool, servers: usize) -> Hash {
        Hash {
            consistent,
            eligible: Eligible::default(),
            weights: Vec::new(),
            built: false,
            map: Vec::new(),
            ring: Vec::new(),
            fallback: RoundRobin::new(servers),
        }
    }

    /// Rebuild the table if the tier's usable servers or their weights changed.
    fn refresh(&mut self, servers: &[ServerState]) {
        let tier = self.eligible.backup_tier;
        let weight = |s: &ServerState| {
            if s.usable() && s.backup == tier {
                s.weight
            } else {
                0
            }
        };
        let same = self.built
            && self.weights.len() == servers.len()
            && self
                .weights
                .iter()
                .zip(servers)
                .all(|(w, s)| *w == weight(s));
        if same {
            return;
        }
        self.weights.clear();
        self.weights.extend(servers.iter().map(weight));
        let mut by_rank: Vec<usize> = (0..servers.len())
            .filter(|&i| self.weights[i] > 0 && i <= usize::from(u16::MAX))
            .collect();
        by_rank.sort_by_key(|&i| servers[i].rank);
        if self.consistent {
            build_ring(&mut self.ring, &by_rank, &self.weights, servers);
        } else {
            // HAProxy divides by the common divisor of every server's weight.
            let g = servers
                .iter()
                .map(|s| s.weight)
                .filter(|&w| w > 0)
                .fold(0, gcd)
                .max(1);
            build_map(&mut self.map, &by_rank, &self.weights, g);
        }
        self.built = true;
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// HAProxy's `recalc_server_map`: smooth weighted round robin over `by_rank`, each
/// server's score growing by its weight, the best (first declared among equals)
/// taking the entry.
fn build_map(map: &mut Vec<u16>, by_rank: &[usize], weights: &[u32], g: u32) {
    map.clear();
    let w: Vec<i64> = by_rank.iter().map(|&i| i64::from(weights[i] / g)).collect();
    let tot: i64 = w.iter().sum();
    let mut score = vec![0i64; by_rank.len()];
    for _ in 0..tot {
        let mut best: Option<(usize, i64)> = None;
        for (k, wk) in w.iter().enumerate() {
            score[k] += wk;
            let v = (score[k] + tot) / tot;
            if best.is_none_or(|(_, max)| v > max) {
                best = Some((k, v));
            }
        }
        if let Some((k, _)) = best {
            score[k] -= tot;
            map.push(by_rank[k] as u16);
        }
    }
}

/// `weight` points per server at `avalanche((rank + 1) * 4096 + n)`, sorted (equal
/// points keep declaration order).
fn build_ring(ring: &mut Vec<(u32, u16)>, by_rank: &[usize], weights: &[u32], s: &[ServerState]) {
    ring.clear();
    for &i in by_rank {
        let base = (s[i].rank + 1).wrapping_mul(POINTS_PER_ID);
        for n in 0..weights[i] {
            ring.push((avalanche(base.wrapping_add(n)), i as u16));
        }
    }
    ring.sort_by_key(|&(point, _)| point);
}

impl Balancer for Hash {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        let Some(h) = pick.hash else {
            return self.fallback.pick(servers, pick);
        };
        let changed = self.eligible.refresh(servers, pick.epoch);
        if changed || !self.built {
            self.refresh(servers);
        }
        let e = &self.eligible;
        let skip = e.skip(pick.avoid);
        let ok = |x: u16| e.contains(usize::from(x)) && Some(usize::from(x)) != skip;
        if self.consistent {
            let n = self.ring.len();
            if n == 0 {
                return None;
            }
            let next = self.ring.partition_point(|&(p, _)| p < h) % n;
            let prev = (next + n - 1) % n;
            let dp = h.wrapping_sub(self.ring[prev].0);
            let dn = self.ring[next].0.wrapping_sub(h);
            let start = if dp <= dn { prev } else { next };
            (0..n)
                .map(|k| self.ring[(start + k) % n].1)
                .find(|&x| ok(x))
                .map(usize::from)
        } else {
            let n = self.map.len();
            if n == 0 {
                return None;
            }
            let start = h as usize % n;
            (0..n)
                .map(|k| self.map[(start + k) % n])
                .find(|&x| ok(x))
                .map(usize::from)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::{epoch, servers};
    use crate::lb::{Oper, WEIGHT_SCALE};
    use std::time::Instant;

    fn pick(b: &mut Hash, s: &[ServerState], hash: Option<u32>) -> Option<usize> {
        let p = Pick {
            avoid: None,
            client: None,
            hash,
            now: Instant::now(),
            epoch: epoch(),
        };
        b.pick(s, &p)
    }

    /// Servers of configured weights, scaled as balancers see them.
    fn scaled(weights: &[u32]) -> Vec<ServerState> {
        let mut s = servers(weights);
        for x in &mut s {
            x.weight *= WEIGHT_SCALE;
        }
        s
    }

    fn keys(n: u32) -> impl Iterator<Item = u32> {
        (0..n).map(|k| crate::lb::hashing::mix(u64::from(k)) as u32)
    }

    #[test]
    fn map_is_haproxys_smooth_table() {
        // HAProxy's map for weights 3, 1 (as its recalc_server_map computes it:
        // score + tot over tot, the first declared winning ties): a a a b.
        let s = servers(&[3, 1]);
        let mut b = Hash::new(false, 2);
        assert_eq!(pick(&mut b, &s, Some(0)), Some(0));
        assert_eq!(b.map, [0, 0, 0, 1]);
        // 2, 3: HAProxy's a b a b b order... computed by hand from its formula.
        let s = servers(&[2, 3]);
        let mut b = Hash::new(false, 2);
        pick(&mut b, &s, Some(0));
        assert_eq!(b.map, [0, 1, 0, 1, 1]);
        // Equal weights, scaled by 16: one entry each, in declaration order.
        let s = scaled(&[1, 1, 1]);
        let mut b = Hash::new(false, 3);
        for h in 0..30u32 {
            assert_eq!(pick(&mut b, &s, Some(h)), Some(h as usize % 3));
        }
    }

    #[test]
    fn ring_points_are_haproxys() {
        let s = scaled(&[1, 1]);
        let mut b = Hash::new(true, 2);
        pick(&mut b, &s, Some(1));
        assert_eq!(b.ring.len(), 32);
        let want: Vec<u32> = (0..16).map(|n| avalanche(4096 + n)).collect();
        for p in want {
            assert!(b.ring.contains(&(p, 0)));
        }
        // A key right on a point of server 1 goes there.
        let on_1 = avalanche(2 * 4096 + 3);
        assert_eq!(pick(&mut b, &s, Some(on_1)), Some(1));
    }

    #[test]
    fn empty_one_server_and_no_key() {
        for consistent in [false, true] {
            let mut b = Hash::new(consistent, 0);
            assert_eq!(pick(&mut b, &[], Some(7)), None);
            assert_eq!(pick(&mut b, &[], None), None);
            let one = scaled(&[1]);
            let mut b = Hash::new(consistent, 1);
            assert_eq!(pick(&mut b, &one, Some(7)), Some(0));
            // No key: round robin over the servers.
            let s = scaled(&[1, 1]);
            let mut b = Hash::new(consistent, 2);
            let got: Vec<_> = (0..4).map(|_| pick(&mut b, &s, None).unwrap()).collect();
            assert_eq!(got.iter().filter(|&&i| i == 0).count(), 2, "{got:?}");
        }
    }

    #[test]
    fn shares_follow_weights() {
        for consistent in [false, true] {
            let s = scaled(&[1, 2, 1]);
            let mut b = Hash::new(consistent, 3);
            let mut n = [0u32; 3];
            for h in keys(40_000) {
                n[pick(&mut b, &s, Some(h)).unwrap()] += 1;
            }
            // The ring has 16 points per weight unit: within a few percent.
            let tol = if consistent { 4_000 } else { 600 };
            assert!(n[1].abs_diff(20_000) < tol, "{consistent}: {n:?}");
            assert!(n[0].abs_diff(10_000) < tol, "{consistent}: {n:?}");
            let s = scaled(&[0, 1]);
            let mut b = Hash::new(consistent, 2);
            assert!(keys(100).all(|h| pick(&mut b, &s, Some(h)) == Some(1)));
        }
    }

    fn picks(b: &mut Hash, s: &[ServerState]) -> Vec<usize> {
        keys(5_000).map(|h| pick(b, s, Some(h)).unwrap()).collect()
    }

    #[test]
    fn consistent_down_server_moves_only_its_keys() {
        let mut s = scaled(&[1; 5]);
        let mut b = Hash::new(true, 5);
        let before = picks(&mut b, &s);
        s[2].oper = Oper::Down;
        let after = picks(&mut b, &s);
        for (x, y) in before.iter().zip(&after) {
            if *x == 2 {
                assert_ne!(*y, 2);
            } else {
                assert_eq!(x, y);
            }
        }
        s[2].oper = Oper::Up;
        assert_eq!(picks(&mut b, &s), before, "back up: its keys come back");
    }

    #[test]
    fn map_based_down_server_remaps_keys() {
        let mut s = scaled(&[1; 5]);
        let mut b = Hash::new(false, 5);
        let before = picks(&mut b, &s);
        s[2].oper = Oper::Down;
        let after = picks(&mut b, &s);
        assert!(after.iter().all(|&i| i != 2));
        let moved = before.iter().zip(&after).filter(|(x, y)| x != y).count();
        // hash % 4 instead of hash % 5: most keys move (HAProxy's map-based too).
        assert!(moved > 3_000, "moved {moved}");
    }

    #[test]
    fn full_or_avoided_server_passes_to_the_next_entry() {
        for consistent in [false, true] {
            let mut s = scaled(&[1, 1, 1]);
            let mut b = Hash::new(consistent, 3);
            let h = keys(1).next().unwrap();
            let first = pick(&mut b, &s, Some(h)).unwrap();
            s[first].limit = 1;
            s[first].active = 1;
            let other = pick(&mut b, &s, Some(h)).unwrap();
            assert_ne!(other, first);
            s[first].active = 0;
            assert_eq!(pick(&mut b, &s, Some(h)), Some(first), "room again");
            let p = Pick {
                avoid: Some(first),
                client: None,
                hash: Some(h),
                now: Instant::now(),
                epoch: epoch(),
            };
            assert_ne!(b.pick(&s, &p), Some(first));
        }
    }

    #[test]
    fn backups_only_when_no_primary() {
        for consistent in [false, true] {
            let mut s = scaled(&[1, 1, 1]);
            s[2].backup = true;
            let mut b = Hash::new(consistent, 3);
            assert!(keys(200).all(|h| pick(&mut b, &s, Some(h)) != Some(2)));
            s[0].oper = Oper::Down;
            s[1].oper = Oper::Down;
            assert!(keys(200).all(|h| pick(&mut b, &s, Some(h)) == Some(2)));
        }
    }
}
