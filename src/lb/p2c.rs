//! Power of two choices on peak-EWMA latency (the algorithm of Finagle and linkerd):
//! pick two usable servers at random and send to the one with the lower
//! `latency × (active + 1) / weight`. The latency estimate jumps to a new peak at once,
//! so a server that slows down loses traffic on its next slow answer, and decays with
//! time, so it is tried again once it has had a rest.

use std::time::{Duration, Instant};

use super::random::Random;
use super::{candidates, Balancer, Pick, ServerState};

/// How fast the estimate forgets: after `DECAY` it keeps 1/e of its weight.
const DECAY: Duration = Duration::from_secs(2);

/// A latency estimate in nanoseconds: peak-sensitive, decaying over time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeakEwma {
    value_ns: f64,
    at: Option<Instant>,
}

impl PeakEwma {
    /// The estimate at `now`: the last value decayed by the time since.
    pub fn get(&self, now: Instant) -> f64 {
        match self.at {
            Some(at) => self.value_ns * decay(now.saturating_duration_since(at)),
            None => 0.0,
        }
    }

    pub fn observe(&mut self, rtt: Duration, now: Instant) {
        let sample = rtt.as_nanos() as f64;
        let current = self.get(now);
        self.value_ns = if sample > current {
            sample
        } else {
            let w = decay(
                self.at
                    .map_or(Duration::ZERO, |at| now.saturating_duration_since(at)),
            );
            current * w + sample * (1.0 - w)
        };
        self.at = Some(now);
    }
}

fn decay(elapsed: Duration) -> f64 {
    (-elapsed.as_secs_f64() / DECAY.as_secs_f64()).exp()
}

#[derive(Debug)]
pub struct P2c {
    rng: Random,
}

impl P2c {
    pub fn new(seed: u64) -> Self {
        P2c {
            rng: Random::new(seed),
        }
    }
}

/// Lower is better. A server never measured scores 0, so it gets tried.
fn score(s: &ServerState, now: Instant) -> f64 {
    s.latency.get(now) * f64::from(s.active + 1) / f64::from(s.weight.max(1))
}

impl Balancer for P2c {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        let cands = candidates(servers, pick.avoid);
        let count = servers
            .iter()
            .enumerate()
            .filter(|(i, s)| cands.contains(*i, s))
            .count();
        let nth = |n: usize| {
            servers
                .iter()
                .enumerate()
                .filter(|(i, s)| cands.contains(*i, s))
                .nth(n)
                .map(|(i, _)| i)
        };
        match count {
            0 => None,
            1 => nth(0),
            _ => {
                let a = (self.rng.next_u64() % count as u64) as usize;
                let b = (a + 1 + (self.rng.next_u64() % (count as u64 - 1)) as usize) % count;
                let (a, b) = (nth(a)?, nth(b)?);
                Some(
                    if score(&servers[b], pick.now) < score(&servers[a], pick.now) {
                        b
                    } else {
                        a
                    },
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::tests::servers;
    use crate::lb::Oper;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn peak_ewma_jumps_up_and_decays() {
        let t0 = Instant::now();
        let mut e = PeakEwma::default();
        assert_eq!(e.get(t0), 0.0);
        e.observe(ms(1), t0);
        assert_eq!(e.get(t0), 1e6);
        e.observe(ms(50), t0 + ms(10));
        assert_eq!(e.get(t0 + ms(10)), 50e6, "a peak is taken at once");
        // Lower samples pull it down only as time passes.
        e.observe(ms(1), t0 + ms(20));
        assert!(e.get(t0 + ms(20)) > 49e6);
        let later = e.get(t0 + Duration::from_secs(10));
        assert!(later < 1e6, "{later}");
    }

    fn pick(p: &mut P2c, s: &[ServerState], now: Instant) -> Option<usize> {
        p.pick(
            s,
            &Pick {
                avoid: None,
                client: None,
                now,
            },
        )
    }

    #[test]
    fn empty_single_and_down() {
        let now = Instant::now();
        let mut p = P2c::new(1);
        assert_eq!(pick(&mut p, &[], now), None);
        assert_eq!(pick(&mut p, &servers(&[1]), now), Some(0));
        let mut s = servers(&[1, 1]);
        s[0].oper = Oper::Down;
        assert_eq!(pick(&mut p, &s, now), Some(1));
    }

    #[test]
    fn the_slow_server_loses_its_traffic() {
        let now = Instant::now();
        let mut s = servers(&[1, 1]);
        s[0].latency.observe(ms(1), now);
        s[1].latency.observe(ms(20), now);
        let mut p = P2c::new(7);
        let to_fast = (0..1000)
            .filter(|_| pick(&mut p, &s, now) == Some(0))
            .count();
        // With two servers both are always compared: the fast one wins every time.
        assert_eq!(to_fast, 1000);
    }

    #[test]
    fn load_counts_too() {
        let now = Instant::now();
        let mut s = servers(&[1, 1]);
        s[0].latency.observe(ms(2), now);
        s[1].latency.observe(ms(3), now);
        s[0].active = 5; // 2 ms x 6 > 3 ms x 1
        assert_eq!(pick(&mut P2c::new(3), &s, now), Some(1));
    }

    #[test]
    fn spreads_over_many_equal_servers() {
        let now = Instant::now();
        let s = servers(&[1; 4]);
        let mut p = P2c::new(11);
        let mut n = [0u32; 4];
        for _ in 0..4000 {
            n[pick(&mut p, &s, now).unwrap()] += 1;
        }
        assert!(n.iter().all(|&c| c > 500), "{n:?}");
    }
}
