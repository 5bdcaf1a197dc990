//! Power of two choices on peak-EWMA latency (the algorithm of Finagle and linkerd):
//! pick two usable servers at random and send to the one with the lower
//! `latency × (active + 1) / weight`. The latency estimate jumps to a new peak at once,
//! so a server that slows down loses traffic on its next slow answer, and decays with
//! time, so it is tried again once it has had a rest.

use std::time::{Duration, Instant};

use super::random::Random;
use super::{Balancer, Eligible, Pick, ServerState};

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
        // One decay for both uses (what `get` says, and the weight of the old value).
        let w = decay(
            self.at
                .map_or(Duration::ZERO, |at| now.saturating_duration_since(at)),
        );
        let current = if self.at.is_some() {
            self.value_ns * w
        } else {
            0.0
        };
        self.value_ns = if sample > current {
            sample
        } else {
            current * w + sample * (1.0 - w)
        };
        self.at = Some(now);
    }
}

/// `e^(-elapsed/DECAY)`, to about 1e-4 relative: plenty for ranking two servers, and a
/// few times cheaper than `f64::exp` (two of these per pick).
fn decay(elapsed: Duration) -> f64 {
    let x = elapsed.as_secs_f64() / DECAY.as_secs_f64();
    if x >= 700.0 {
        return 0.0;
    }
    // e^-x = 2^y with y = -x·log2(e) = i + f, i an integer, f in [0, 1).
    let y = -x * std::f64::consts::LOG2_E;
    let i = y.floor();
    let f = y - i;
    // 2^f on [0, 1): a degree-5 polynomial (Taylor of e^(f·ln 2)).
    let p = 1.0
        + f * (std::f64::consts::LN_2
            + f * (0.240_226_51 + f * (0.055_504_11 + f * (0.009_618_13 + f * 0.001_333_36))));
    // 2^i by building the exponent bits; i is in -1010..=0 here, a normal number.
    p * f64::from_bits(((i as i64 + 1023) as u64) << 52)
}

#[derive(Debug)]
pub struct P2c {
    rng: Random,
    eligible: Eligible,
}

impl P2c {
    pub fn new(seed: u64) -> Self {
        P2c {
            rng: Random::new(seed),
            eligible: Eligible::default(),
        }
    }
}

/// Lower is better. A server never measured scores 0, so it gets tried.
fn score(s: &ServerState, now: Instant) -> f64 {
    s.latency.get(now) * f64::from(s.active + 1) / f64::from(s.weight.max(1))
}

impl Balancer for P2c {
    fn pick(&mut self, servers: &[ServerState], pick: &Pick) -> Option<usize> {
        self.eligible.refresh(servers, pick.epoch);
        let skip = self.eligible.skip(pick.avoid);
        let list = &self.eligible.list;
        // Positions in `list` without the skipped server: 0..count, stepping over it.
        let hole = skip.and_then(|a| list.binary_search(&a).ok());
        let count = list.len() - usize::from(hole.is_some());
        let at = |k: usize| {
            list[if hole.is_some_and(|h| k >= h) {
                k + 1
            } else {
                k
            }]
        };
        match count {
            0 => None,
            1 => Some(at(0)),
            _ => {
                let a = (self.rng.next_u64() % count as u64) as usize;
                let b = (a + 1 + (self.rng.next_u64() % (count as u64 - 1)) as usize) % count;
                let (a, b) = (at(a), at(b));
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
    fn fast_decay_matches_exp() {
        for ms in [0u64, 1, 7, 100, 999, 2000, 3333, 10_000, 60_000, 1_000_000] {
            let d = Duration::from_millis(ms);
            let exact = (-d.as_secs_f64() / DECAY.as_secs_f64()).exp();
            let fast = decay(d);
            assert!(
                (fast - exact).abs() <= exact * 1e-4 + 1e-300,
                "{ms} ms: {fast} vs {exact}"
            );
        }
        assert_eq!(decay(Duration::from_secs(100_000)), 0.0);
    }

    #[test]
    fn observing_decays_once_with_the_same_result() {
        // The estimate as it was computed before `observe` shared its decay.
        fn reference(e: &PeakEwma, rtt: Duration, now: Instant) -> f64 {
            let (sample, current) = (rtt.as_nanos() as f64, e.get(now));
            if sample > current {
                return sample;
            }
            let w = decay(e.at.map_or(Duration::ZERO, |at| now.saturating_duration_since(at)));
            current * w + sample * (1.0 - w)
        }
        let t0 = Instant::now();
        let mut e = PeakEwma::default();
        for (i, rtt) in [0u64, 5, 1, 1, 20, 3, 0, 2].into_iter().enumerate() {
            let now = t0 + ms(i as u64 * 700);
            let want = reference(&e, ms(rtt), now);
            e.observe(ms(rtt), now);
            assert_eq!(e.value_ns, want, "sample {i}");
        }
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
                hash: None,
                now,
                epoch: crate::lb::tests::epoch(),
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
