//! Starting the threads: workers (pinned to cores or not) and the signal thread; the start-up log lines.

use std::sync::Arc;

use futures_channel::mpsc::UnboundedSender;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};

use crate::config::{Config, Mode};
use crate::listen::BoundListener;
use crate::msg::{Broadcaster, Event};
use crate::worker::{self, WorkerSetup};

use super::RunError;

/// The cores workers are pinned to (none when `pin_workers` is off).
pub(super) fn worker_cores(config: &Config) -> Vec<core_affinity::CoreId> {
    if config.global.pin_workers {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// A thread that turns SIGINT, SIGTERM and SIGHUP into events for the lifecycle.
pub(super) fn spawn_signal_thread(events: UnboundedSender<Event>) -> Result<(), RunError> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR2])
        .map_err(RunError::Signals)?;
    std::thread::Builder::new()
        .name("ringlb-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if events.unbounded_send(Event::Signal(sig)).is_err() {
                    return;
                }
            }
        })
        .map_err(RunError::Signals)?;
    Ok(())
}

/// Start one worker per set of listeners (pinned to `cores` round robin when there
/// are any); the broadcaster reaches them all.
pub(super) fn spawn_workers(
    config: &Arc<Config>,
    listeners: Vec<Vec<BoundListener>>,
    events: &UnboundedSender<Event>,
    cores: &[core_affinity::CoreId],
    access: Option<&worker::AccessWriter>,
) -> Result<Broadcaster, RunError> {
    let mut broadcaster = Broadcaster::default();
    for (id, listeners) in listeners.into_iter().enumerate() {
        let setup = WorkerSetup {
            id,
            config: Arc::clone(config),
            listeners,
            inbox: broadcaster.add_worker(),
            events: events.clone(),
            core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
            access: access.and_then(|a| a.sender()),
        };
        worker::spawn(setup).map_err(|e| RunError::Spawn(id, e))?;
    }
    Ok(broadcaster)
}

pub(super) fn log_startup(config: &Config, listeners: &[Vec<BoundListener>], binds: usize) {
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
    for bound in first.iter().take(binds) {
        let fe = &config.frontends[bound.frontend];
        let backend = fe
            .default_backend
            .map(|b| config.backends[b].name.as_str())
            .unwrap_or("-");
        let mode = match fe.mode {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        };
        let steering = fe.steering.as_str();
        tracing::info!(frontend = %fe.name, mode, backend, steering, "listening on {}", bound.addr);
    }
}
