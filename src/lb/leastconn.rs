//! Least connections: the candidate with the fewest active connections (TCP) or
//! in-flight requests (HTTP) per unit of weight; ties go round robin, so an idle
//! backend is not hammered on its first server. "Active" is this worker's count.

use super::{Balancer, Eligible, Pick, ServerState};

#[derive(Debug, Default)]
pub struct LeastConn {
    /// Server index the tie-breaking scan starts from next time.
    next: usize,
    eligible: Eligible,
}

impl Balancer for LeastConn {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        self.eligible.refresh(servers, pick.epoch);
        let skip = self.eligible.skip(pick.avoid);
        let list = &self.eligible.list;
        // Start at the first candidate at or after `next`, going round.
        let start = list.partition_point(|&i| i < self.next);
        let (before, after) = list.split_at(start);
        // The best so far as (index, active, weight); "fewer per weight" compared as
        // a1 * w2 < a2 * w1, without division.
        let mut best: Option<(usize, u64, u64)> = None;
        for &i in after.iter().chain(before) {
            if Some(i) == skip {
                continue;
            }
            let s = &servers[i];
            let (a, w) = (u64::from(s.active), u64::from(s.weight));
            if best.is_none_or(|(_, ba, bw)| a * bw < ba * w) {
                best = Some((i, a, w));
            }
        }
        let b = best?.0;
        self.next = b + 1;
        Some(b)
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
