//! Least connections: the candidate with the fewest active connections (TCP) or
//! in-flight requests (HTTP) per unit of weight; ties go round robin, so an idle
//! backend is not hammered on its first server. "Active" is this worker's count.

use super::{candidates, Balancer, Pick, ServerState};

#[derive(Debug, Default)]
pub struct LeastConn {
    /// Where the tie-breaking scan starts next time.
    next: usize,
}

impl Balancer for LeastConn {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        let n = servers.len();
        if n == 0 {
            return None;
        }
        let cands = candidates(servers, pick.avoid);
        let mut best: Option<usize> = None;
        for k in 0..n {
            let i = (self.next + k) % n;
            let s = &servers[i];
            if !cands.contains(i, s) {
                continue;
            }
            // active/weight < best.active/best.weight, without division.
            let better = best.is_none_or(|b| {
                let bs = &servers[b];
                u64::from(s.active) * u64::from(bs.weight)
                    < u64::from(bs.active) * u64::from(s.weight)
            });
            if better {
                best = Some(i);
            }
        }
        let b = best?;
        self.next = (b + 1) % n;
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
