//! The statistics history the stats page charts: every [`SAMPLE_EVERY`] the control
//! plane reads the workers' counters ([`super::sampler`]) and keeps, per frontend and
//! per backend, the rates since the sample before (requests, errors by kind) and the
//! latency percentiles of that interval, plus each server's state, in a ring of
//! [`SAMPLES`] samples (ten minutes; memory is bounded). Workers keep nothing of it:
//! they only answer a request for a copy of their counters, like for the admin API.
//! Pure: time is passed in, unit-tested without threads.

use std::collections::VecDeque;
use std::time::Duration;

use super::table::ServerEntry;
use crate::lb::{Admin, Oper};
use crate::msg::buckets::Buckets;

/// How often a sample is taken.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// How many samples are kept: ten minutes.
pub const SAMPLES: usize = 300;

/// A ring of at most `capacity` items: pushing onto a full ring drops the oldest.
#[derive(Debug)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Self {
        Ring {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.capacity == 0 {
            return;
        }
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + DoubleEndedIterator {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One frontend's or backend's counters, every worker's added up, since start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// HTTP requests (a tcp frontend: connections; a backend: requests sent to its
    /// servers, tcp: sessions).
    pub requests: u64,
    /// 5xx responses: a frontend's sent to clients (ringlb's own 502/503/504
    /// included), a backend's received from its servers.
    pub http_5xx: u64,
    /// A backend's connects to servers that failed or timed out.
    pub connect_errors: u64,
    /// A backend's responses that failed: timed out, malformed, cut short.
    pub response_errors: u64,
    /// Time to the final response head (tcp: to connect).
    pub latency: Buckets,
}

/// What happened in one interval: per second, and the latency percentiles of the
/// requests answered in it (`None`: none were).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    pub requests: f32,
    pub http_5xx: f32,
    pub connect_errors: f32,
    pub response_errors: f32,
    pub p50_ms: Option<f32>,
    pub p99_ms: Option<f32>,
}

impl Rates {
    /// Every kind of error: 5xx, failed connects, failed responses.
    pub fn errors(&self) -> f32 {
        self.http_5xx + self.connect_errors + self.response_errors
    }

    /// From two readings `seconds` apart. A counter that went down was started again
    /// (a reload that reuses a slot): all of it is new.
    pub fn between(now: &Counts, then: &Counts, seconds: f64) -> Rates {
        let per_s = |a: u64, b: u64| (a.checked_sub(b).unwrap_or(a) as f64 / seconds) as f32;
        let latency = now.latency.since(&then.latency);
        let ms = |q| latency.quantile_us(q).map(|us| (us / 1000.0) as f32);
        Rates {
            requests: per_s(now.requests, then.requests),
            http_5xx: per_s(now.http_5xx, then.http_5xx),
            connect_errors: per_s(now.connect_errors, then.connect_errors),
            response_errors: per_s(now.response_errors, then.response_errors),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
        }
    }
}

/// A server's state as the page colours it and the JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Up,
    Down,
    Drain,
    Maint,
    /// A check result is changing the state (`UP, going down 1/3`).
    Changing,
}

impl Shown {
    pub fn of(e: &ServerEntry, fall: u32, rise: u32) -> Shown {
        let needed = e.health.needed_to_change();
        match (e.admin, e.oper()) {
            _ if !e.config.resolved => Shown::Maint,
            (Admin::Maint, _) => Shown::Maint,
            (Admin::Drain, _) => Shown::Drain,
            _ if e.agent_down().is_some() => Shown::Down,
            (Admin::Ready, Oper::Up) if e.config.check && needed < fall => Shown::Changing,
            (Admin::Ready, Oper::Down) if needed < rise => Shown::Changing,
            (Admin::Ready, Oper::Up) => Shown::Up,
            (Admin::Ready, Oper::Down) => Shown::Down,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Shown::Up => "up",
            Shown::Down => "down",
            Shown::Drain => "drain",
            Shown::Maint => "maint",
            Shown::Changing => "changing",
        }
    }
}

/// A server at one sample: its state, and whether it changed since the sample
/// before (also when it changed and changed back in between).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub state: Shown,
    pub changed: bool,
}

/// Counters by slot; `None`: no such frontend or backend (now).
#[derive(Debug, Clone, Default)]
pub struct BySlot {
    pub frontends: Vec<Option<Counts>>,
    pub backends: Vec<Option<Counts>>,
}

/// What the sampler read at one moment. Indexed by slot; `None`: no such server
/// (now).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// `None` when some worker did not answer: the sums would be short.
    pub counts: Option<BySlot>,
    /// Per backend slot, per server slot: state and operational transitions so far.
    pub servers: Vec<Vec<Option<(Shown, u64)>>>,
}

/// One sample: when (Unix ms) and what, by slot.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub at_ms: u64,
    pub frontends: Vec<Option<Rates>>,
    pub backends: Vec<Option<Rates>>,
    pub servers: Vec<Vec<Option<Mark>>>,
}

#[derive(Debug)]
pub struct History {
    samples: Ring<Sample>,
    /// The last whole reading of the counters, and when.
    counts: Option<(u64, BySlot)>,
    states: Vec<Vec<Option<(Shown, u64)>>>,
}

impl Default for History {
    fn default() -> Self {
        History::new(SAMPLES)
    }
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            samples: Ring::new(capacity),
            counts: None,
            states: Vec::new(),
        }
    }

    /// Oldest first.
    pub fn samples(&self) -> &Ring<Sample> {
        &self.samples
    }

    /// Add the sample read at `at_ms` (Unix ms). Rates need the reading before: the
    /// first sample, one after a clock step back, and one after an incomplete
    /// reading have none for the gap (an incomplete reading has none itself; the
    /// next whole one spans the gap).
    pub fn record(&mut self, at_ms: u64, reading: Reading) {
        let mut sample = Sample {
            at_ms,
            ..Sample::default()
        };
        if let Some(now) = reading.counts {
            if let Some((then_ms, then)) = &self.counts {
                if at_ms > *then_ms {
                    let seconds = (at_ms - then_ms) as f64 / 1000.0;
                    sample.frontends = rates_by_slot(&now.frontends, &then.frontends, seconds);
                    sample.backends = rates_by_slot(&now.backends, &then.backends, seconds);
                }
            }
            self.counts = Some((at_ms, now));
        }
        sample.servers = reading
            .servers
            .iter()
            .enumerate()
            .map(|(b, servers)| {
                servers
                    .iter()
                    .enumerate()
                    .map(|(s, now)| {
                        let (state, transitions) = (*now)?;
                        let before = self.states.get(b).and_then(|v| v.get(s)).copied().flatten();
                        let changed = before.is_some_and(|b| b != (state, transitions));
                        Some(Mark { state, changed })
                    })
                    .collect()
            })
            .collect();
        self.states = reading.servers;
        self.samples.push(sample);
    }
}

fn rates_by_slot(now: &[Option<Counts>], then: &[Option<Counts>], s: f64) -> Vec<Option<Rates>> {
    now.iter()
        .enumerate()
        .map(|(i, n)| match (n, then.get(i)) {
            (Some(n), Some(Some(t))) => Some(Rates::between(n, t, s)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_the_newest_and_no_more() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        for i in 0..5 {
            r.push(i);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), [2, 3, 4]);
        let mut none = Ring::new(0);
        none.push(1);
        assert!(none.is_empty());
    }

    fn counts(requests: u64, http_5xx: u64, latencies_ms: &[u64]) -> Counts {
        let mut c = Counts {
            requests,
            http_5xx,
            connect_errors: requests / 10,
            response_errors: 1,
            ..Counts::default()
        };
        for ms in latencies_ms {
            c.latency.record(Duration::from_millis(*ms));
        }
        c
    }

    fn reading(c: Option<Counts>) -> Reading {
        Reading {
            counts: Some(BySlot {
                frontends: vec![c.clone()],
                backends: vec![None, c],
            }),
            servers: vec![],
        }
    }

    #[test]
    fn rates_are_per_second_over_the_time_between_readings() {
        let then = counts(100, 5, &[1000; 50]);
        let now = counts(300, 9, &[1000; 50]);
        let mut now = now;
        for _ in 0..10 {
            now.latency.record(Duration::from_millis(4));
        }
        let r = Rates::between(&now, &then, 4.0);
        assert_eq!((r.requests, r.http_5xx), (50.0, 1.0));
        assert_eq!((r.connect_errors, r.response_errors), (5.0, 0.0));
        assert_eq!(r.errors(), 6.0);
        // Only the interval's latencies: the old 1 s ones are not in it.
        let p99 = r.p99_ms.unwrap();
        assert!((3.5..=5.0).contains(&p99), "{p99}");
        // Nothing answered in the interval: no percentiles, not zero.
        let idle = Rates::between(&then, &then, 2.0);
        assert_eq!((idle.requests, idle.p50_ms, idle.p99_ms), (0.0, None, None));
        // A counter started again counts whole.
        let restarted = Rates::between(&counts(10, 0, &[]), &then, 1.0);
        assert_eq!(restarted.requests, 10.0);
    }

    #[test]
    fn the_first_sample_has_no_rates_then_each_one_does() {
        let mut h = History::new(10);
        h.record(10_000, reading(Some(counts(0, 0, &[]))));
        h.record(12_000, reading(Some(counts(20, 2, &[3]))));
        let s: Vec<&Sample> = h.samples().iter().collect();
        assert_eq!(s.len(), 2);
        assert!(s[0].frontends.is_empty() && s[0].backends.is_empty());
        assert_eq!(s[1].at_ms, 12_000);
        assert_eq!(s[1].frontends[0].unwrap().requests, 10.0);
        // Slot 0 of the backends is gone, slot 1 is there.
        assert_eq!(s[1].backends[0], None);
        assert_eq!(s[1].backends[1].unwrap().http_5xx, 1.0);
    }

    #[test]
    fn an_incomplete_reading_leaves_a_gap_that_the_next_one_spans() {
        let mut h = History::new(10);
        h.record(0, reading(Some(counts(0, 0, &[]))));
        h.record(
            2_000,
            Reading {
                counts: None,
                servers: vec![],
            },
        );
        h.record(4_000, reading(Some(counts(40, 0, &[]))));
        let s: Vec<&Sample> = h.samples().iter().collect();
        assert!(s[1].frontends.is_empty());
        // 40 requests over the 4 s since the last whole reading, not over 2 s.
        assert_eq!(s[2].frontends[0].unwrap().requests, 10.0);
        // A clock stepped back: no rates rather than nonsense.
        h.record(3_000, reading(Some(counts(60, 0, &[]))));
        assert!(h.samples().iter().last().unwrap().frontends.is_empty());
    }

    #[test]
    fn a_new_entity_has_no_rate_until_its_second_reading() {
        let mut h = History::new(10);
        h.record(0, reading(None));
        h.record(2_000, reading(Some(counts(8, 0, &[]))));
        h.record(4_000, reading(Some(counts(12, 0, &[]))));
        let s: Vec<&Sample> = h.samples().iter().collect();
        assert_eq!(s[1].frontends, [None]);
        assert_eq!(s[2].frontends[0].unwrap().requests, 2.0);
    }

    #[test]
    fn server_marks_say_when_a_state_changed_even_and_back() {
        let mut h = History::new(10);
        let at = |state, transitions| Reading {
            counts: None,
            servers: vec![vec![Some((state, transitions)), None]],
        };
        h.record(0, at(Shown::Up, 0));
        h.record(2_000, at(Shown::Up, 0));
        h.record(4_000, at(Shown::Down, 1));
        // Down and back up between two samples: same state, one more transition.
        h.record(6_000, at(Shown::Down, 3));
        h.record(8_000, at(Shown::Drain, 3));
        let marks: Vec<(Shown, bool)> = h
            .samples()
            .iter()
            .map(|s| {
                let m = s.servers[0][0].unwrap();
                assert_eq!(s.servers[0][1], None);
                (m.state, m.changed)
            })
            .collect();
        assert_eq!(
            marks,
            [
                (Shown::Up, false),
                (Shown::Up, false),
                (Shown::Down, true),
                (Shown::Down, true),
                (Shown::Drain, true)
            ]
        );
    }

    #[test]
    fn a_server_is_shown_as_the_table_colours_it() {
        let text =
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\ndefault_backend = \"b\"\n\
                    [[backend]]\nname = \"b\"\n[backend.check]\nrise = 2\nfall = 3\n\
                    [[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:2\"\ncheck = true\n\
                    agent_check = true\nagent_port = 9\n";
        let config = crate::config::Config::parse(text, "test").expect("valid configuration");
        let mut table = super::super::table::Table::default();
        table.apply(&config, &crate::msg::Slots::identity(&config), 1);
        let e = &mut table.backends[0].servers[0];
        let shown = |e: &ServerEntry| Shown::of(e, 3, 2);
        // HAProxy's start: up, but the first failure takes it down (as the text
        // says, "UP, going down 2/3") until a check passes.
        assert_eq!(shown(e), Shown::Changing);
        e.health.record(true);
        assert_eq!(shown(e), Shown::Up);
        // One failed check of the three that take it down.
        e.health.record(false);
        assert_eq!(shown(e), Shown::Changing);
        e.health.record(false);
        e.health.record(false);
        assert_eq!(shown(e), Shown::Down);
        e.health.record(true);
        assert_eq!(shown(e), Shown::Changing);
        e.health.record(true);
        assert_eq!(shown(e), Shown::Up);
        // The agent holds it down; the operator's state wins over both.
        e.agent.down = Some("stopped");
        assert_eq!(shown(e), Shown::Down);
        e.admin = Admin::Drain;
        assert_eq!(shown(e), Shown::Drain);
        e.admin = Admin::Maint;
        assert_eq!(shown(e), Shown::Maint);
        // No address yet (runtime DNS): in maintenance whatever else it is.
        e.admin = Admin::Ready;
        e.config.resolved = false;
        assert_eq!(shown(e), Shown::Maint);
        assert_eq!(
            [
                Shown::Up,
                Shown::Down,
                Shown::Drain,
                Shown::Maint,
                Shown::Changing
            ]
            .map(Shown::word),
            ["up", "down", "drain", "maint", "changing"]
        );
    }

    #[test]
    fn memory_is_bounded_by_the_ring() {
        let mut h = History::new(SAMPLES);
        for i in 0..(SAMPLES as u64 * 3) {
            h.record(i * 2_000, reading(Some(counts(i, 0, &[]))));
        }
        assert_eq!(h.samples().len(), SAMPLES);
        let first = h.samples().iter().next().unwrap().at_ms;
        assert_eq!(first, (SAMPLES as u64 * 2) * 2_000);
    }
}
