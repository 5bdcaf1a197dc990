//! The control thread's state and the decisions it makes: health check results and
//! passive-health reports turn into server state changes, operator commands change
//! admin state and weight, and every change is broadcast to the workers as one
//! [`Update::Server`]. Only this thread writes the table; workers get copies.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::StreamExt;

use super::checks::{agent_loop, check_loop, Failure};
use super::history::History;
use super::reload::Listening;
use super::table::{CheckReport, Table};
use crate::config::{Config, HealthCheck, Server};
use crate::lb::{Admin, Oper};
use crate::logging::LogEvery;
use crate::msg::stats::WorkerStats;
use crate::msg::{Broadcaster, Driver, Layout, Slots, Update};

/// How often slow-start weights are recomputed while a server ramps up.
const RAMP_TICK: Duration = Duration::from_millis(250);
/// How long the admin API waits for workers' statistics.
const SNAPSHOT_WAIT: Duration = Duration::from_millis(500);

pub struct Control {
    pub config: RefCell<Arc<Config>>,
    /// The file reloads read; `None` for the demo.
    pub path: Option<PathBuf>,
    pub layout: RefCell<Layout>,
    pub slots: RefCell<Arc<Slots>>,
    pub table: RefCell<Table>,
    pub broadcaster: Broadcaster,
    pub listening: RefCell<Vec<Listening>>,
    pub drivers: RefCell<Vec<Option<Driver>>>,
    pub reloads: Cell<u64>,
    pub reload_failures: Cell<u64>,
    pub started: SystemTime,
    pub stopping: Cell<bool>,
    /// The virtual router, with `[vrrp]`.
    pub vrrp: Option<Rc<crate::vrrp::Vrrp>>,
    /// Service addresses announced through BIRD, with `[announce]` (set by the
    /// supervisor after `new`).
    pub announce: Option<Rc<crate::announce::Announcer>>,
    /// When each worker last answered a ping (VRRP health tracking).
    pub pongs: RefCell<Vec<Instant>>,
    /// Checks that could not run for want of descriptors, buffers or ports.
    pub checks_not_run: Cell<u64>,
    /// Bumped to stop the DNS resolution tasks (reload).
    pub resolve_generation: Cell<u64>,
    /// Runtime DNS resolutions that failed (the last addresses were kept).
    pub resolve_failures: Cell<u64>,
    /// The last ten minutes of rates, latencies and server states (stats page).
    pub history: RefCell<History>,
    pub resolve_log: LogEvery,
    /// `[mail]`: the alert mail queue and what was last mailed.
    pub mailer: super::mail::Mailer,
    local_log: LogEvery,
    pending: RefCell<HashMap<u64, UnboundedSender<Box<WorkerStats>>>>,
    next_snapshot: Cell<u64>,
    rng: Cell<u64>,
    ramping: Cell<bool>,
}

impl Control {
    pub fn new(
        config: Arc<Config>,
        path: Option<PathBuf>,
        broadcaster: Broadcaster,
        listening: Vec<Listening>,
        vrrp: Option<Rc<crate::vrrp::Vrrp>>,
    ) -> Self {
        let mut layout = Layout::default();
        let slots = layout.assign(&config);
        let mut table = Table::default();
        let workers = broadcaster.workers();
        table.apply(&config, &slots, workers);
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        Control {
            config: RefCell::new(config),
            path,
            layout: RefCell::new(layout),
            slots: RefCell::new(Arc::new(slots)),
            table: RefCell::new(table),
            broadcaster,
            listening: RefCell::new(listening),
            drivers: RefCell::new(vec![None; workers]),
            reloads: Cell::new(0),
            reload_failures: Cell::new(0),
            started: SystemTime::now(),
            stopping: Cell::new(false),
            vrrp,
            announce: None,
            pongs: RefCell::new(vec![Instant::now(); workers]),
            checks_not_run: Cell::new(0),
            resolve_generation: Cell::new(0),
            resolve_failures: Cell::new(0),
            history: RefCell::new(History::default()),
            resolve_log: LogEvery::default(),
            mailer: super::mail::Mailer::default(),
            local_log: LogEvery::default(),
            pending: RefCell::new(HashMap::new()),
            next_snapshot: Cell::new(0),
            rng: Cell::new(seed),
            ramping: Cell::new(false),
        }
    }

    /// xorshift64*: jitter for check intervals.
    pub fn random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// (Re)start a check task for every live server with `check = true`, and an agent
    /// task for every one with an agent; tasks of an earlier generation end at their
    /// next wake-up. First checks (and first agent reads) are spread evenly over one
    /// interval.
    pub fn start_checks(self: &Rc<Self>) {
        let mut jobs = Vec::new();
        let mut agents = Vec::new();
        {
            let mut table = self.table.borrow_mut();
            for (bi, b) in table.backends.iter_mut().enumerate() {
                for (si, s) in b.servers.iter_mut().enumerate() {
                    s.check_generation += 1;
                    if !(b.live && s.live) {
                        continue;
                    }
                    if s.config.check {
                        jobs.push((bi, si, s.check_generation, b.config.check.interval));
                    }
                    if let Some(a) = &s.config.probe.agent {
                        agents.push((bi, si, s.check_generation, a.interval));
                    }
                }
            }
        }
        let n = jobs.len() as u32;
        for (i, (b, s, generation, interval)) in jobs.into_iter().enumerate() {
            let first = interval * i as u32 / n.max(1);
            monoio::spawn(check_loop(Rc::clone(self), b, s, generation, first));
        }
        let n = agents.len() as u32;
        for (i, (b, s, generation, interval)) in agents.into_iter().enumerate() {
            let first = interval * i as u32 / n.max(1);
            monoio::spawn(agent_loop(Rc::clone(self), b, s, generation, first));
        }
    }

    /// What to probe, unless the task is stale.
    pub fn check_target(
        &self,
        b: usize,
        s: usize,
        generation: u64,
    ) -> Option<(HealthCheck, Server)> {
        if self.stopping.get() {
            return None;
        }
        let table = self.table.borrow();
        let backend = table.backends.get(b)?;
        let server = backend.servers.get(s)?;
        (server.check_generation == generation && server.live)
            .then(|| (backend.config.check.clone(), server.config.clone()))
    }

    /// Count a check result; log and broadcast a change; the time to the next check.
    pub fn check_done(
        self: &Rc<Self>,
        b: usize,
        s: usize,
        generation: u64,
        result: Result<(), Failure>,
        took: Duration,
    ) -> Option<Duration> {
        let now = Instant::now();
        let mut transition = None;
        let interval = {
            let mut table = self.table.borrow_mut();
            let backend = table.backends.get_mut(b)?;
            let check = backend.config.check.clone();
            let name = backend.config.name.clone();
            let entry = backend.servers.get_mut(s)?;
            if entry.check_generation != generation || self.stopping.get() {
                return None;
            }
            if let Err(Failure::Local(e)) = &result {
                // ringlb's own shortage says nothing about the server: no count.
                self.checks_not_run.set(self.checks_not_run.get() + 1);
                if self.local_log.due(now) {
                    tracing::warn!(
                        "{name}/{}: check not run: {e} (not counted against the server; {} such checks so far, {} lines left out)",
                        entry.config.name,
                        self.checks_not_run.get(),
                        self.local_log.take_skipped()
                    );
                }
                return Some(entry.health.interval(&check));
            }
            let ok = result.is_ok();
            let detail = match &result {
                Ok(()) => format!("{} check passed in {took:.1?}", check.kind_name()),
                Err(e) => e.to_string(),
            };
            entry.failures_in_row = if ok { 0 } else { entry.failures_in_row + 1 };
            let before = entry.oper();
            entry.health.record(ok);
            let after = entry.oper();
            if after != before {
                let to = after;
                entry.changed(to, now);
                let server = &entry.config.name;
                transition = Some((
                    to,
                    detail.clone(),
                    match to {
                        Oper::Down => format!(
                            "{name}/{server} DOWN: {} consecutive failed check(s) ({detail})",
                            entry.failures_in_row
                        ),
                        Oper::Up => format!(
                            "{name}/{server} UP: {} consecutive successful check(s) ({detail})",
                            check.rise
                        ),
                    },
                ));
            }
            entry.last_check = Some(CheckReport {
                at: SystemTime::now(),
                ok,
                detail,
                took,
            });
            entry.health.interval(&check)
        };
        // Broadcast first: once the line is in the log, every worker has been told.
        self.sync(b, s);
        if let Some((to, detail, line)) = transition {
            tracing::info!("{line}");
            self.mail_server(b, s, to, &detail);
        }
        Some(interval)
    }

    /// A worker's run of errors on a server changed (passive health).
    pub fn server_errors(self: &Rc<Self>, worker: usize, b: usize, s: usize, streak: u32) {
        let line = {
            let mut table = self.table.borrow_mut();
            let Some(backend) = table.backends.get_mut(b) else {
                return;
            };
            let limit = backend.config.error_limit;
            let name = backend.config.name.clone();
            let Some(entry) = backend.servers.get_mut(s) else {
                return;
            };
            if let Some(w) = entry.streaks.get_mut(worker) {
                *w = streak;
            }
            let total: u32 = entry.streaks.iter().sum();
            if limit == 0 || !entry.config.check || total < limit || !entry.health.force_down() {
                return;
            }
            entry.changed(Oper::Down, Instant::now());
            format!(
                "{name}/{} DOWN: {total} consecutive errors seen by the proxy (error_limit {limit}); checks will bring it back",
                entry.config.name
            )
        };
        self.sync(b, s);
        tracing::info!("{line}");
        self.mail_server(b, s, Oper::Down, "consecutive errors seen by the proxy");
    }

    /// The operator sets a server's admin state or weight (runtime API).
    pub fn set_admin(
        self: &Rc<Self>,
        b: usize,
        s: usize,
        admin: Option<Admin>,
        weight: Option<u32>,
    ) {
        if let Some(entry) = self.table.borrow_mut().server_mut(b, s) {
            if let Some(a) = admin {
                if entry.admin != a {
                    entry.admin = a;
                    entry.last_change = SystemTime::now();
                }
            }
            if let Some(w) = weight {
                entry.weight = w;
                entry.weight_set = true;
                // The last to set the weight wins, the operator or the agent.
                entry.agent.percent = None;
            }
        }
        self.sync(b, s);
    }

    /// Tell the workers a server's state if it changed; keep slow start ramping.
    pub fn sync(self: &Rc<Self>, b: usize, s: usize) {
        let now = Instant::now();
        let (set, ramping) = {
            let mut table = self.table.borrow_mut();
            let Some(entry) = table.server_mut(b, s) else {
                return;
            };
            let target = entry.target(now);
            let ramping = entry.ramping(now);
            if target == entry.sent {
                (None, ramping)
            } else {
                entry.sent = target;
                (Some(target), ramping)
            }
        };
        if let Some(set) = set {
            tracing::debug!(backend = b, server = s, ?set, "server state broadcast");
            self.broadcaster.send_all(|| Update::Server {
                backend: b,
                server: s,
                set,
            });
            self.track();
        }
        if ramping && !self.ramping.replace(true) {
            monoio::spawn(ramp_loop(Rc::clone(self)));
        }
    }

    /// Statistics of every worker (those that answer within `SNAPSHOT_WAIT`).
    pub async fn collect(&self) -> Vec<Box<WorkerStats>> {
        self.gather(Update::Snapshot).await
    }

    /// Every worker's answer to `ask(id)` (a snapshot or a sample), those that answer
    /// within `SNAPSHOT_WAIT`, by worker.
    pub async fn gather(&self, ask: fn(u64) -> Update) -> Vec<Box<WorkerStats>> {
        let id = self.next_snapshot.get();
        self.next_snapshot.set(id + 1);
        let (tx, mut rx) = unbounded();
        self.pending.borrow_mut().insert(id, tx);
        self.broadcaster.send_all(|| ask(id));
        let workers = self.broadcaster.workers();
        let deadline = Instant::now() + SNAPSHOT_WAIT;
        let mut got = Vec::with_capacity(workers);
        while got.len() < workers {
            let left = deadline.saturating_duration_since(Instant::now());
            match monoio::time::timeout(left, rx.next()).await {
                Ok(Some(stats)) => got.push(stats),
                _ => break,
            }
        }
        self.pending.borrow_mut().remove(&id);
        got.sort_by_key(|s| s.worker);
        got
    }

    /// Returns once every worker has applied everything sent to it before (their
    /// inboxes are first in, first out), or after `SNAPSHOT_WAIT`.
    pub async fn barrier(&self) {
        let _ = self.collect().await;
    }

    pub fn stats_arrived(&self, id: u64, stats: Box<WorkerStats>) {
        if let Some(tx) = self.pending.borrow().get(&id) {
            let _ = tx.unbounded_send(stats);
        }
    }
}

/// While any server ramps up under slow start, push its growing weight to the workers.
async fn ramp_loop(control: Rc<Control>) {
    loop {
        monoio::time::sleep(RAMP_TICK).await;
        let now = Instant::now();
        let servers: Vec<(usize, usize)> = {
            let table = control.table.borrow();
            table
                .backends
                .iter()
                .enumerate()
                .flat_map(|(b, be)| {
                    be.servers
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.up_since.is_some())
                        .map(move |(s, _)| (b, s))
                })
                .collect()
        };
        let mut still = false;
        for (b, s) in servers {
            control.sync(b, s);
            let mut table = control.table.borrow_mut();
            if let Some(e) = table.server_mut(b, s) {
                if e.ramping(now) {
                    still = true;
                } else {
                    e.up_since = None;
                }
            }
        }
        if !still {
            control.ramping.set(false);
            return;
        }
    }
}
