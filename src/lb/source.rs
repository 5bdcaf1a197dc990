//! Consistent source-IP hashing with a Maglev lookup table (Eisenbud et al., NSDI'16).
//! Every worker builds the same table from the same weights, so a client maps to the
//! same server whichever worker accepts it. Changing one of N servers' weight to 0
//! moves about 1/N of the clients; a server that goes down is skipped by probing
//! the following table entries, without a rebuild, so clients of healthy servers keep
//! their server. The table is rebuilt only when weights change. Backup servers have a
//! table of their own, used when no other server is usable.

use std::net::IpAddr;

use super::hashing::mix;
use super::{Balancer, Eligible, Pick, ServerState};

/// Table size: a prime, at least 100 entries per server for up to 256 servers.
const M: usize = 65_537;
const EMPTY: u16 = u16::MAX;

#[derive(Debug, Default)]
pub struct Source {
    primary: Table,
    backup: Table,
    eligible: Eligible,
}

#[derive(Debug, Default)]
struct Table {
    /// The weights the table was built from (0 = not in this table).
    weights: Vec<u32>,
    entries: Vec<u16>,
}

impl Table {
    /// Rebuild if the tier's weights changed.
    fn refresh(&mut self, servers: &[ServerState], backup: bool) {
        let same = self.weights.len() == servers.len()
            && self
                .weights
                .iter()
                .zip(servers)
                .all(|(w, s)| *w == tier_weight(s, backup));
        if !same || self.entries.is_empty() {
            self.weights = servers.iter().map(|s| tier_weight(s, backup)).collect();
            self.entries = build(&self.weights);
        }
    }
}

fn tier_weight(s: &ServerState, backup: bool) -> u32 {
    if s.backup == backup {
        s.weight
    } else {
        0
    }
}

/// Fill the table: servers take turns (weight turns per round), each taking the next
/// free slot along its own permutation of the table.
fn build(weights: &[u32]) -> Vec<u16> {
    let mut entries = vec![EMPTY; M];
    let live: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
    if live.is_empty() {
        return entries;
    }
    let perm: Vec<(usize, usize)> = live
        .iter()
        .map(|&i| {
            let h = mix(i as u64 ^ 0x5151_5151);
            (
                (h % M as u64) as usize,
                (mix(h) % (M as u64 - 1)) as usize + 1,
            )
        })
        .collect();
    let mut next = vec![0usize; live.len()];
    let mut filled = 0;
    'fill: loop {
        for (k, &i) in live.iter().enumerate() {
            for _ in 0..weights[i] {
                let (offset, skip) = perm[k];
                loop {
                    let slot = (offset + next[k] * skip) % M;
                    next[k] += 1;
                    if entries[slot] == EMPTY {
                        entries[slot] = i as u16;
                        filled += 1;
                        break;
                    }
                }
                if filled == M {
                    break 'fill;
                }
            }
        }
    }
    entries
}

fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => mix(u64::from(u32::from(v4))),
        IpAddr::V6(v6) => {
            let b = u128::from(v6);
            mix((b >> 64) as u64 ^ mix(b as u64))
        }
    }
}

impl Balancer for Source {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        let changed = self.eligible.refresh(servers, pick.epoch);
        let e = &self.eligible;
        let table = if e.backup_tier {
            &mut self.backup
        } else {
            &mut self.primary
        };
        if changed || table.entries.is_empty() {
            table.refresh(servers, e.backup_tier);
        }
        let skip = e.skip(pick.avoid);
        let h = hash_ip(pick.client?) as usize;
        // The client's entry, or the first entry after it whose server can take it.
        (0..M)
            .map(|k| table.entries[(h + k) % M])
            .find(|&x| x != EMPTY && e.contains(x as usize) && Some(x as usize) != skip)
            .map(usize::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::servers;
    use crate::lb::Oper;
    use std::time::Instant;

    fn pick(src: &mut Source, s: &[ServerState], ip: IpAddr) -> Option<usize> {
        src.pick(
            s,
            &Pick {
                avoid: None,
                client: Some(ip),
                hash: None,
                now: Instant::now(),
                epoch: crate::lb::tests::epoch(),
            },
        )
    }

    fn ips(n: u32) -> impl Iterator<Item = IpAddr> {
        (0..n).map(|i| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i * 7919)))
    }

    #[test]
    fn empty_single_and_sticky() {
        let mut src = Source::default();
        assert_eq!(pick(&mut src, &[], "10.0.0.1".parse().unwrap()), None);
        assert_eq!(
            pick(&mut src, &servers(&[1]), "10.0.0.1".parse().unwrap()),
            Some(0)
        );
        let s = servers(&[1, 1, 1, 1]);
        for ip in ips(100) {
            let first = pick(&mut src, &s, ip);
            assert_eq!(pick(&mut src, &s, ip), first);
            // Another worker (another balancer) agrees.
            assert_eq!(pick(&mut Source::default(), &s, ip), first);
        }
    }

    #[test]
    fn removing_one_of_ten_moves_about_a_tenth() {
        let mut s = servers(&[1; 10]);
        let mut src = Source::default();
        let before: Vec<_> = ips(20_000)
            .map(|ip| pick(&mut src, &s, ip).unwrap())
            .collect();
        s[3].weight = 0;
        let after: Vec<_> = ips(20_000)
            .map(|ip| pick(&mut src, &s, ip).unwrap())
            .collect();
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let on_3 = before.iter().filter(|&&b| b == 3).count();
        assert!(after.iter().all(|&a| a != 3));
        // Everyone on server 3 moved; of the others, Maglev moves only a few percent.
        assert!(
            moved - on_3 < 20_000 / 25,
            "moved {moved}, of which {on_3} were on server 3"
        );
        assert!(
            (1_600..=2_400).contains(&on_3),
            "server 3 had {on_3} of 20000"
        );
    }

    #[test]
    fn a_down_server_is_skipped_and_nobody_else_moves() {
        let mut s = servers(&[1; 5]);
        let mut src = Source::default();
        let before: Vec<_> = ips(5_000)
            .map(|ip| pick(&mut src, &s, ip).unwrap())
            .collect();
        s[2].oper = Oper::Down;
        let after: Vec<_> = ips(5_000)
            .map(|ip| pick(&mut src, &s, ip).unwrap())
            .collect();
        for (b, a) in before.iter().zip(&after) {
            if *b != 2 {
                assert_eq!(a, b);
            } else {
                assert_ne!(*a, 2);
            }
        }
        // Back up: every client of server 2 returns to it.
        s[2].oper = Oper::Up;
        let again: Vec<_> = ips(5_000)
            .map(|ip| pick(&mut src, &s, ip).unwrap())
            .collect();
        assert_eq!(again, before);
    }

    #[test]
    fn shares_follow_weights() {
        let s = servers(&[1, 2, 1]);
        let mut src = Source::default();
        let mut n = [0u32; 3];
        for ip in ips(40_000) {
            n[pick(&mut src, &s, ip).unwrap()] += 1;
        }
        assert!(n[1].abs_diff(20_000) < 1_200, "{n:?}");
        assert!(n[0].abs_diff(10_000) < 1_000, "{n:?}");
    }

    #[test]
    fn backups_have_their_own_table() {
        let mut s = servers(&[1, 1, 1]);
        s[2].backup = true;
        let mut src = Source::default();
        for ip in ips(200) {
            assert_ne!(pick(&mut src, &s, ip), Some(2));
        }
        s[0].oper = Oper::Down;
        s[1].oper = Oper::Down;
        for ip in ips(200) {
            assert_eq!(pick(&mut src, &s, ip), Some(2));
        }
    }
}
