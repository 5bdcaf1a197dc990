//! Least connections: the candidate with the fewest active connections (TCP) or
//! in-flight requests (HTTP) per unit of weight; ties go to the server picked least
//! recently, so an idle backend is not hammered on its first server. "Active" is this
//! worker's count.
//!
//! The candidates sit in a binary min-heap (HAProxy keeps them in a tree): a pick
//! reads the top, and the worker reports every change of a server's count
//! ([`Balancer::active_changed`]), which moves that one server in O(log n). The heap is
//! rebuilt only when the candidate set changes (a new epoch).

use super::{Balancer, Eligible, Pick, ServerState};

const NOT_IN_HEAP: usize = usize::MAX;

#[derive(Debug, Default)]
pub struct LeastConn {
    eligible: Eligible,
    built_for: Option<u64>,
    /// Server indexes, a min-heap by `less`.
    heap: Vec<usize>,
    /// Server index → its position in `heap`, or `NOT_IN_HEAP`.
    pos: Vec<usize>,
    /// When each server was last picked (for ties).
    last: Vec<u64>,
    clock: u64,
}

impl LeastConn {
    /// `i` goes before `j`: fewer active per weight (`a_i/w_i < a_j/w_j`, compared
    /// without division), then picked longer ago, then the lower index.
    fn less(&self, servers: &[ServerState], i: usize, j: usize) -> bool {
        let (si, sj) = (&servers[i], &servers[j]);
        let left = u64::from(si.active) * u64::from(sj.weight);
        let right = u64::from(sj.active) * u64::from(si.weight);
        (left, self.last[i], i) < (right, self.last[j], j)
    }

    fn rebuild(&mut self, servers: &[ServerState]) {
        self.pos.clear();
        self.pos.resize(servers.len(), NOT_IN_HEAP);
        self.last.resize(servers.len(), 0);
        self.heap.clear();
        self.heap.extend_from_slice(&self.eligible.list);
        for (k, &i) in self.heap.iter().enumerate() {
            self.pos[i] = k;
        }
        for k in (0..self.heap.len() / 2).rev() {
            self.sift_down(servers, k);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a]] = a;
        self.pos[self.heap[b]] = b;
    }

    fn sift_up(&mut self, servers: &[ServerState], mut k: usize) {
        while k > 0 {
            let parent = (k - 1) / 2;
            if !self.less(servers, self.heap[k], self.heap[parent]) {
                break;
            }
            self.swap(k, parent);
            k = parent;
        }
    }

    fn sift_down(&mut self, servers: &[ServerState], mut k: usize) {
        loop {
            let (l, r) = (2 * k + 1, 2 * k + 2);
            let mut best = k;
            if l < self.heap.len() && self.less(servers, self.heap[l], self.heap[best]) {
                best = l;
            }
            if r < self.heap.len() && self.less(servers, self.heap[r], self.heap[best]) {
                best = r;
            }
            if best == k {
                return;
            }
            self.swap(k, best);
            k = best;
        }
    }

    /// Restore the heap around server `i` after its key changed.
    fn fix(&mut self, servers: &[ServerState], i: usize) {
        let Some(&k) = self.pos.get(i).filter(|&&k| k != NOT_IN_HEAP) else {
            return;
        };
        self.sift_up(servers, k);
        self.sift_down(servers, self.pos[i]);
    }
}

impl Balancer for LeastConn {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        self.eligible.refresh(servers, pick.epoch);
        if self.built_for != Some(pick.epoch) || self.pos.len() != servers.len() {
            self.rebuild(servers);
            self.built_for = Some(pick.epoch);
        }
        let skip = self.eligible.skip(pick.avoid);
        let top = *self.heap.first()?;
        let chosen = if Some(top) == skip {
            // The next best is one of the top's children.
            match (self.heap.get(1), self.heap.get(2)) {
                (Some(&a), Some(&b)) if self.less(servers, b, a) => b,
                (Some(&a), _) => a,
                _ => top,
            }
        } else {
            top
        };
        self.clock += 1;
        self.last[chosen] = self.clock;
        self.fix(servers, chosen);
        Some(chosen)
    }

    fn active_changed(&mut self, server: usize, servers: &[ServerState]) {
        if self.pos.len() == servers.len() {
            self.fix(servers, server);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::servers;
    use std::time::Instant;

    fn pick(lc: &mut LeastConn, s: &[ServerState]) -> Option<usize> {
        lc.pick(
            s,
            &Pick {
                avoid: None,
                client: None,
                hash: None,
                now: Instant::now(),
                epoch: crate::lb::tests::epoch(),
            },
        )
    }

    #[test]
    fn empty_and_single() {
        let mut lc = LeastConn::default();
        assert_eq!(pick(&mut lc, &[]), None);
        assert_eq!(pick(&mut lc, &servers(&[1])), Some(0));
    }

    #[test]
    fn fewest_active_per_weight_wins() {
        let mut s = servers(&[1, 1, 2]);
        s[0].active = 3;
        s[1].active = 1;
        s[2].active = 3; // 1.5 per weight unit
        assert_eq!(pick(&mut LeastConn::default(), &s), Some(1));
        s[1].active = 2; // 2 > 1.5
        assert_eq!(pick(&mut LeastConn::default(), &s), Some(2));
    }

    #[test]
    fn ties_rotate() {
        let s = servers(&[1, 1, 1]);
        let mut lc = LeastConn::default();
        let seq: Vec<_> = (0..6).map(|_| pick(&mut lc, &s).unwrap()).collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn counts_reported_one_by_one_keep_the_heap_right() {
        // One epoch throughout: the heap is built once and kept up to date only by
        // `active_changed`, as in the worker.
        let mut s = servers(&[1, 2, 1, 4, 1, 1, 3, 1, 1, 2]);
        let mut lc = LeastConn::default();
        let at = |lc: &mut LeastConn, s: &[ServerState]| {
            lc.pick(
                s,
                &Pick {
                    avoid: None,
                    client: None,
                    hash: None,
                    now: Instant::now(),
                    epoch: 7,
                },
            )
        };
        let mut x = 12345u64;
        for _ in 0..2000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            if x >> 62 == 0 {
                // Release a random busy server.
                if let Some(i) =
                    (0..s.len()).find(|&i| s[(i + (x >> 20) as usize) % s.len()].active > 0)
                {
                    let i = (i + (x >> 20) as usize) % s.len();
                    s[i].active -= 1;
                    lc.active_changed(i, &s);
                }
                continue;
            }
            let i = at(&mut lc, &s).unwrap();
            // The pick is a least loaded one per weight.
            let best = s
                .iter()
                .map(|v| f64::from(v.active) / f64::from(v.weight))
                .fold(f64::INFINITY, f64::min);
            assert_eq!(f64::from(s[i].active) / f64::from(s[i].weight), best);
            s[i].active += 1;
            lc.active_changed(i, &s);
        }
    }

    #[test]
    fn avoid_takes_the_next_best() {
        let mut s = servers(&[1, 1, 1]);
        s[0].active = 0;
        s[1].active = 5;
        s[2].active = 2;
        let mut lc = LeastConn::default();
        let p = Pick {
            avoid: Some(0),
            client: None,
            hash: None,
            now: Instant::now(),
            epoch: crate::lb::tests::epoch(),
        };
        assert_eq!(lc.pick(&s, &p), Some(2));
    }

    #[test]
    fn filling_up_evenly() {
        let mut s = servers(&[1, 3]);
        let mut lc = LeastConn::default();
        for _ in 0..40 {
            let i = pick(&mut lc, &s).unwrap();
            s[i].active += 1;
        }
        assert_eq!((s[0].active, s[1].active), (10, 30));
    }
}
