//! Weighted random. Pure and reproducible: the generator (xorshift64*) lives in the
//! balancer, seeded per worker.

use super::{Balancer, Eligible, Pick, ServerState};

#[derive(Debug)]
pub struct Random {
    state: u64,
    eligible: Eligible,
}

impl Random {
    pub fn new(seed: u64) -> Self {
        Random {
            state: seed | 1,
            eligible: Eligible::default(),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Balancer for Random {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        self.eligible.refresh(servers, pick.epoch);
        let draw = self.next_u64();
        let skip = self.eligible.skip(pick.avoid);
        let e = &self.eligible;
        let total = *e.cumulative.last()?;
        if total == 0 {
            return None;
        }
        // Leaving a server out: draw over the others' weights and step over its range.
        let (skip_from, skip_weight) = match skip.and_then(|a| e.list.binary_search(&a).ok()) {
            Some(k) => {
                let before = if k == 0 { 0 } else { e.cumulative[k - 1] };
                (before, e.cumulative[k] - before)
            }
            None => (u64::MAX, 0),
        };
        if total == skip_weight {
            return None;
        }
        let mut r = draw % (total - skip_weight);
        if r >= skip_from {
            r += skip_weight;
        }
        let k = e.cumulative.partition_point(|&c| c <= r);
        e.list.get(k).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::servers;
    use crate::lb::Oper;
    use std::time::Instant;

    fn pick(r: &mut Random, s: &[ServerState]) -> Option<usize> {
        r.pick(
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
    fn empty_single_and_down() {
        let mut r = Random::new(7);
        assert_eq!(pick(&mut r, &[]), None);
        assert_eq!(pick(&mut r, &servers(&[5])), Some(0));
        let mut s = servers(&[1, 1]);
        s[0].oper = Oper::Down;
        for _ in 0..50 {
            assert_eq!(pick(&mut r, &s), Some(1));
        }
    }

    #[test]
    fn shares_follow_weights() {
        let s = servers(&[1, 3]);
        let mut r = Random::new(42);
        let mut n = [0u32; 2];
        for _ in 0..40_000 {
            n[pick(&mut r, &s).unwrap()] += 1;
        }
        // 10,000 / 30,000 expected; 3% tolerance is > 10 standard deviations.
        assert!(n[0].abs_diff(10_000) < 300, "{n:?}");
    }
}
