//! The history's sampler: every [`SAMPLE_EVERY`] ask every worker for a copy of its
//! counters (`Update::Sample`: no tracking tables), add them up by slot and record
//! them with the servers' states in [`Control::history`]. Runs on the control thread
//! while the admin listener does (nothing else reads the history).

use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::history::{BySlot, Counts, Reading, Shown, SAMPLE_EVERY};
use super::plane::Control;
use crate::config::Mode;
use crate::msg::stats::{FrontendStats, WorkerStats};
use crate::msg::Update;

pub async fn history_loop(control: Rc<Control>) {
    while !control.stopping.get() {
        monoio::time::sleep(SAMPLE_EVERY).await;
        let stats = control.gather(Update::Sample).await;
        let whole = stats.len() == control.broadcaster.workers();
        let reading = control.reading(&stats, whole);
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        control.history.borrow_mut().record(at_ms, reading);
    }
}

impl Control {
    /// The counters of `stats` by slot (only when `whole`: every worker answered) and
    /// every server's state, as the history records them.
    pub fn reading(&self, stats: &[Box<WorkerStats>], whole: bool) -> Reading {
        let config = self.config.borrow();
        let slots = self.slots.borrow();
        let table = self.table.borrow();
        let counts = whole.then(|| {
            let mut frontends = vec![None; slots.frontend_slots];
            for (i, fe) in config.frontends.iter().enumerate() {
                let slot = slots.frontends[i];
                if let Some(f) = frontends.get_mut(slot) {
                    *f = Some(frontend_counts(stats, slot, fe.mode));
                }
            }
            let backends = table
                .backends
                .iter()
                .enumerate()
                .map(|(b, entry)| entry.live.then(|| backend_counts(stats, b)))
                .collect();
            BySlot {
                frontends,
                backends,
            }
        });
        let servers = table
            .backends
            .iter()
            .map(|be| {
                let (fall, rise) = (be.config.check.fall, be.config.check.rise);
                be.servers
                    .iter()
                    .map(|e| (be.live && e.live).then(|| (Shown::of(e, fall, rise), e.transitions)))
                    .collect()
            })
            .collect();
        Reading { counts, servers }
    }
}

/// A frontend's counters, every worker's added up (tcp: connections count as
/// requests).
fn frontend_counts(stats: &[Box<WorkerStats>], slot: usize, mode: Mode) -> Counts {
    let mut c = Counts::default();
    for f in stats.iter().filter_map(|w| w.frontends.get(slot)) {
        let FrontendStats {
            connections,
            requests,
            responses,
            latency_buckets,
            ..
        } = f;
        c.requests += match mode {
            Mode::Http => requests,
            Mode::Tcp => connections,
        };
        c.http_5xx += responses[4];
        c.latency += latency_buckets;
    }
    c
}

/// A backend's counters: its servers', every worker's, added up.
fn backend_counts(stats: &[Box<WorkerStats>], slot: usize) -> Counts {
    let mut c = Counts::default();
    let servers = stats
        .iter()
        .filter_map(|w| w.backends.get(slot))
        .flat_map(|b| &b.servers);
    for s in servers {
        c.requests += s.requests;
        c.http_5xx += s.responses[4];
        c.connect_errors += s.connect_errors;
        c.response_errors += s.response_errors;
        c.latency += &s.latency_buckets;
    }
    c
}
