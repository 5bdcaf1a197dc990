//! `first` (HAProxy's `balance first`, `lb_fas.c`): the first server in declaration
//! order that has a free slot (`max_connections`) takes the connection; the next one
//! only when it is full. Weights only say whether a server takes traffic (0 does
//! not). Meant for servers with a limit: without one, the first server takes all.
//! Servers that were declared later than others (their `rank`) come later, whatever
//! slot a reload put them in.

use super::{Balancer, Eligible, Pick, ServerState};

#[derive(Debug, Default)]
pub struct First {
    eligible: Eligible,
    /// The candidates of the epoch, by rank.
    order: Vec<usize>,
}

impl Balancer for First {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        if self.eligible.refresh(servers, pick.epoch) {
            self.order.clear();
            self.order.extend_from_slice(&self.eligible.list);
            self.order.sort_by_key(|&i| servers[i].rank);
        }
        let skip = self.eligible.skip(pick.avoid);
        self.order.iter().copied().find(|&i| Some(i) != skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::{epoch, servers};
    use crate::lb::Oper;
    use std::time::Instant;

    fn pick(b: &mut First, s: &[ServerState], avoid: Option<usize>) -> Option<usize> {
        let p = Pick {
            avoid,
            client: None,
            hash: None,
            now: Instant::now(),
            epoch: epoch(),
        };
        b.pick(s, &p)
    }

    /// Take `n` connections, holding them (as `BackendState::lease` counts them).
    fn fill(b: &mut First, s: &mut [ServerState], n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let i = pick(b, s, None).expect("a server with room");
                s[i].active += 1;
                i
            })
            .collect()
    }

    #[test]
    fn fills_servers_in_declaration_order() {
        let mut s = servers(&[1, 1, 1]);
        for x in &mut s {
            x.limit = 2;
        }
        let mut b = First::default();
        assert_eq!(fill(&mut b, &mut s, 6), [0, 0, 1, 1, 2, 2]);
        assert_eq!(pick(&mut b, &s, None), None, "all full");
        // A slot frees on the first server: it takes the next one.
        s[0].active -= 1;
        assert_eq!(pick(&mut b, &s, None), Some(0));
    }

    #[test]
    fn rank_not_slot_decides() {
        let mut s = servers(&[1, 1]);
        s[0].rank = 5;
        s[1].rank = 1;
        let mut b = First::default();
        assert_eq!(pick(&mut b, &s, None), Some(1));
    }

    #[test]
    fn down_zero_weight_avoid_and_backups() {
        let mut s = servers(&[0, 1, 1, 1]);
        s[3].backup = true;
        let mut b = First::default();
        assert_eq!(pick(&mut b, &s, None), Some(1), "weight 0 takes nothing");
        assert_eq!(pick(&mut b, &s, Some(1)), Some(2), "avoid the failed one");
        s[1].oper = Oper::Down;
        s[2].oper = Oper::Down;
        assert_eq!(pick(&mut b, &s, Some(3)), Some(3), "the last choice");
        assert_eq!(pick(&mut b, &[], None), None);
        let one = servers(&[1]);
        assert_eq!(pick(&mut b, &one, None), Some(0));
    }

    #[test]
    fn without_limits_the_first_takes_everything() {
        let mut s = servers(&[1, 1, 1]);
        let mut b = First::default();
        assert!(fill(&mut b, &mut s, 100).iter().all(|&i| i == 0));
    }
}
