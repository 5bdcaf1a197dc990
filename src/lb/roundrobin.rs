//! Smooth weighted round robin (nginx's algorithm): every pick adds each candidate's
//! weight to its running score, takes the highest score and subtracts the total
//! weight from it. Weights 5/1/1 give `a a b a c a a`, not `a a a a a b c`: no
//! bursts to the heaviest server. Scores survive weight changes, so a change takes
//! effect from the next pick without a reset.

use super::{Balancer, Eligible, Pick, ServerState};

#[derive(Debug, Default)]
pub struct RoundRobin {
    scores: Vec<i64>,
    eligible: Eligible,
}

impl RoundRobin {
    pub fn new(servers: usize) -> Self {
        RoundRobin {
            scores: vec![0; servers],
            eligible: Eligible::default(),
        }
    }
}

impl Balancer for RoundRobin {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        self.scores.resize(servers.len(), 0);
        self.eligible.refresh(servers, pick.epoch);
        let skip = self.eligible.skip(pick.avoid);
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for &i in &self.eligible.list {
            if Some(i) == skip {
                continue;
            }
            let w = i64::from(servers[i].weight);
            self.scores[i] += w;
            total += w;
            if best.is_none_or(|b| self.scores[i] > self.scores[b]) {
                best = Some(i);
            }
        }
        let b = best?;
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
