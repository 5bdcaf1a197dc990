//! Weighted random. Pure and reproducible: the generator (xorshift64*) lives in the
//! balancer, seeded per worker.

use super::{candidates, Balancer, Pick, ServerState};

#[derive(Debug)]
pub struct Random {
    state: u64,
}

impl Random {
    pub fn new(seed: u64) -> Self {
        Random { state: seed | 1 }
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
        let cands = candidates(servers, pick.avoid);
        let total: u64 = servers
            .iter()
            .enumerate()
            .filter(|(i, s)| cands.contains(*i, s))
            .map(|(_, s)| u64::from(s.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let mut r = self.next_u64() % total;
        for (i, s) in servers.iter().enumerate() {
            if !cands.contains(i, s) {
                continue;
            }
            let w = u64::from(s.weight);
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        None
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
                now: Instant::now(),
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
