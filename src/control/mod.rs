//! The control plane. For now: start-up (bind, spawn workers), the lifecycle
//! (signals, graceful stop) and the one-way broadcast to workers. Health checks,
//! the admin API and VRRP will live here too, on this thread, never in workers.

mod broadcast;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::RecvTimeoutError;
use signal_hook::consts::{SIGINT, SIGTERM};

pub use broadcast::{Broadcaster, Inbox, Update};

use crate::config::{Config, Mode};
use crate::worker::{self, BindError, Driver, WorkerSetup};

/// What reaches the control thread.
#[derive(Debug)]
pub enum Event {
    Signal(i32),
    WorkerStarted { id: usize, driver: Driver },
    WorkerStopped(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot start worker {0}: {1}")]
    Spawn(usize, #[source] io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] io::Error),
    #[error("worker {0} stopped unexpectedly")]
    WorkerDied(usize),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every connection finished within the grace period.
    Graceful,
    /// The grace period ran out with connections still open.
    GraceExpired,
    /// A second signal asked to stop at once.
    Forced,
}

/// Bind, start the workers and run until a signal stops them. Returns once the workers
/// are done, or when the process must exit without waiting for them.
pub fn run(config: Config) -> Result<Exit, RunError> {
    run_with(config, |_| {})
}

/// [`run`], calling `on_bound` with each frontend's bound addresses (`(frontend index,
/// address)`, ports resolved) once every listener is bound, before workers start.
pub fn run_with(
    config: Config,
    on_bound: impl FnOnce(&[(usize, SocketAddr)]),
) -> Result<Exit, RunError> {
    let config = Arc::new(config);
    let listeners = worker::bind_all(&config)?;
    log_startup(&config, &listeners);
    let bound: Vec<(usize, SocketAddr)> = listeners
        .first()
        .map(|l| l.iter().map(|b| (b.frontend, b.addr)).collect())
        .unwrap_or_default();
    on_bound(&bound);

    let (events_tx, events) = crossbeam_channel::unbounded();
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(RunError::Signals)?;
    let signal_tx = events_tx.clone();
    std::thread::Builder::new()
        .name("ringlb-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if signal_tx.send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .map_err(RunError::Signals)?;

    let cores = if config.global.pin_workers {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let workers = listeners.len();
    let mut broadcaster = Broadcaster::default();
    for (id, listeners) in listeners.into_iter().enumerate() {
        let setup = WorkerSetup {
            id,
            config: Arc::clone(&config),
            listeners,
            inbox: broadcaster.add_worker(),
            events: events_tx.clone(),
            core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
        };
        worker::spawn(setup).map_err(|e| RunError::Spawn(id, e))?;
    }
    drop(events_tx);

    let grace = config.global.grace_period;
    let mut started = 0;
    let mut running = workers;
    let mut stop_deadline: Option<Instant> = None;
    loop {
        let event = match stop_deadline {
            None => events.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => events.recv_deadline(deadline),
        };
        let event = match event {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    "grace period of {grace:?} is over: closing the connections still open"
                );
                return Ok(Exit::GraceExpired);
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(Exit::Graceful),
        };
        match event {
            Event::WorkerStarted { .. } => {
                started += 1;
                if started == workers {
                    tracing::info!(workers, "ringlb ready");
                }
            }
            Event::Signal(sig) => {
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if stop_deadline.is_some() {
                    tracing::warn!("{name} again: exiting now");
                    return Ok(Exit::Forced);
                }
                tracing::info!("{name}: stopped accepting; open connections have {grace:?} to finish (signal again to exit now)");
                broadcaster.send_all(&Update::Shutdown);
                stop_deadline = Some(Instant::now() + grace);
            }
            Event::WorkerStopped(id) => {
                running -= 1;
                if stop_deadline.is_none() {
                    tracing::error!(worker = id, "worker stopped unexpectedly: stopping");
                    broadcaster.send_all(&Update::Shutdown);
                    return Err(RunError::WorkerDied(id));
                }
                if running == 0 {
                    tracing::info!("all connections finished: exiting");
                    return Ok(Exit::Graceful);
                }
            }
        }
    }
}

fn log_startup(config: &Config, listeners: &[Vec<worker::BoundListener>]) {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        workers = config.global.workers,
        pinned = config.global.pin_workers,
        max_connections = config.global.max_connections,
        "ringlb starting"
    );
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let Some(first) = listeners.first() else {
        return;
    };
    for bound in first {
        let fe = &config.frontends[bound.frontend];
        let backend = fe
            .default_backend
            .map(|b| config.backends[b].name.as_str())
            .unwrap_or("-");
        let mode = match fe.mode {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        };
        tracing::info!(frontend = %fe.name, mode, backend, "listening on {}", bound.addr);
    }
}
