//! Smooth weighted round robin (nginx's algorithm): every pick adds each candidate's
//! weight to its running score, takes the highest score and subtracts the total
//! weight from it. Weights 5/1/1 give `a a b a c a a`, not `a a a a a b c`: no
//! bursts to the heaviest server. Scores survive weight changes, so a change takes
//! effect from the next pick without a reset.
//!
//! That looks at every candidate on every pick; beyond `SMALL` candidates the same
//! shares come from stride scheduling (`stride.rs`) in O(log n) instead.

use super::stride::Stride;
use super::{Balancer, Eligible, Pick, ServerState};

/// Candidates up to which smooth weighted round robin is used.
const SMALL: usize = 32;

#[derive(Debug, Default)]
pub struct RoundRobin {
    scores: Vec<i64>,
    eligible: Eligible,
    stride: Stride,
}

impl RoundRobin {
    pub fn new(servers: usize) -> Self {
        RoundRobin {
            scores: vec![0; servers],
            eligible: Eligible::default(),
            stride: Stride::default(),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        self.scores.resize(servers.len(), 0);
        let changed = self.eligible.refresh(servers, pick.epoch);
        let skip = self.eligible.skip(pick.avoid);
        if self.eligible.list.len() > SMALL {
            if changed {
                self.stride.rebuild(&self.eligible.list, servers);
            }
            return self.stride.next(skip);
        }
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for &i in &self.eligible.list {
            if Some(i) == skip {
                continue;
            }
            let w = i64::from(servers[i].weight);
            let score = &mut self.scores[i];
            *score += w;
            total += w;
            if best.is_none_or(|(_, top)| *score > top) {
                best = Some((i, *score));
            }
        }
        let (b, _) = best?;
        self.scores[b] -= total;
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::servers;
    use crate::lb::Oper;
    use std::time::Instant;

    fn pick(rr: &mut RoundRobin, s: &[ServerState], avoid: Option<usize>) -> Option<usize> {
        rr.pick(
            s,
            &Pick {
                avoid,
                client: None,
                hash: None,
                now: Instant::now(),
                epoch: crate::lb::tests::epoch(),
            },
        )
    }

    #[test]
    fn empty_set_gives_none() {
        let mut rr = RoundRobin::new(0);
        assert_eq!(pick(&mut rr, &[], None), None);
        let mut s = servers(&[1]);
        s[0].oper = Oper::Down;
        assert_eq!(pick(&mut rr, &s, None), None);
    }

    #[test]
    fn one_server_always_wins() {
        let s = servers(&[3]);
        let mut rr = RoundRobin::new(1);
        for _ in 0..10 {
            assert_eq!(pick(&mut rr, &s, None), Some(0));
        }
    }

    #[test]
    fn smooth_sequence_matches_nginx() {
        let s = servers(&[5, 1, 1]);
        let mut rr = RoundRobin::new(3);
        let seq: Vec<usize> = (0..7).map(|_| pick(&mut rr, &s, None).unwrap()).collect();
        assert_eq!(seq, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn shares_follow_weights() {
        let s = servers(&[1, 2, 3]);
        let mut rr = RoundRobin::new(3);
        let mut n = [0; 3];
        for _ in 0..600 {
            n[pick(&mut rr, &s, None).unwrap()] += 1;
        }
        assert_eq!(n, [100, 200, 300]);
    }

    #[test]
    fn zero_weight_and_down_servers_are_skipped() {
        let mut s = servers(&[1, 0, 1]);
        s[2].oper = Oper::Down;
        let mut rr = RoundRobin::new(3);
        for _ in 0..5 {
            assert_eq!(pick(&mut rr, &s, None), Some(0));
        }
    }

    #[test]
    fn avoid_moves_to_another_server() {
        let s = servers(&[1, 1, 1]);
        let mut rr = RoundRobin::new(3);
        for _ in 0..20 {
            let first = pick(&mut rr, &s, None).unwrap();
            let second = pick(&mut rr, &s, Some(first)).unwrap();
            assert_ne!(first, second);
        }
    }

    #[test]
    fn large_backends_keep_the_shares_with_stride_scheduling() {
        let weights: Vec<u32> = (0..100).map(|i| 1 + i % 4).collect();
        let s = servers(&weights);
        let mut rr = RoundRobin::new(s.len());
        let mut count = vec![0u32; s.len()];
        let total: u32 = weights.iter().sum();
        // One epoch: the heap is built once.
        let p = Pick {
            avoid: None,
            client: None,
            hash: None,
            now: Instant::now(),
            epoch: 1,
        };
        for _ in 0..total * 10 {
            count[rr.pick(&s, &p).unwrap()] += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            assert!(
                count[i].abs_diff(w * 10) <= 1,
                "server {i}: {} for weight {w}",
                count[i]
            );
        }
        // No burst: a weight-4 server never gets two turns in a row among 100.
        let mut prev = None;
        for _ in 0..500 {
            let i = rr.pick(&s, &p).unwrap();
            assert_ne!(Some(i), prev);
            prev = Some(i);
        }
        // Avoid is honoured.
        let q = Pick {
            avoid: Some(3),
            ..p
        };
        for _ in 0..200 {
            assert_ne!(rr.pick(&s, &q), Some(3));
        }
    }

    #[test]
    fn weight_change_applies_without_reset() {
        let mut s = servers(&[1, 1]);
        let mut rr = RoundRobin::new(2);
        for _ in 0..4 {
            pick(&mut rr, &s, None);
        }
        s[1].weight = 3;
        let mut n = [0; 2];
        for _ in 0..400 {
            n[pick(&mut rr, &s, None).unwrap()] += 1;
        }
        assert_eq!(n, [100, 300]);
    }
}
