//! The process supervisor: bind every listener, prepare VRRP and the admin socket,
//! start the workers and the signal thread, run the control plane on this thread,
//! and handle the lifecycle (ready, reload on SIGHUP, graceful stop, a worker that
//! dies) until every worker is done.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_channel::mpsc::{unbounded, UnboundedReceiver};
use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::admin;
use crate::config::{Config, Mode};
use crate::control::{ping_loop, Control, Listening};
use crate::listen::{self, BindError, BoundListener};
use crate::msg::{Broadcaster, Event, Update};
use crate::vrrp;
use crate::worker::{self, WorkerSetup};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("global.admin_bind: cannot listen on {0}: {1}")]
    AdminBind(SocketAddr, #[source] io::Error),
    #[error("cannot start worker {0}: {1}")]
    Spawn(usize, #[source] io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] io::Error),
    #[error("cannot start the control thread's runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("worker {0} stopped unexpectedly")]
    WorkerDied(usize),
    #[error(transparent)]
    Vrrp(#[from] vrrp::VrrpError),
    #[error("global.access_log: cannot start the writer thread: {0}")]
    AccessLog(#[source] io::Error),
    #[error("vrrp: cannot start on the control thread: {0}")]
    VrrpStart(#[source] io::Error),
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

/// Bind, start the workers and run until a signal stops them. `path` is the file a
/// reload reads again (`None`: reloads are refused). Returns once the workers are
/// done, or when the process must exit without waiting for them.
pub fn run(config: Config, path: Option<PathBuf>) -> Result<Exit, RunError> {
    run_with(config, path, |_| {})
}

/// The addresses ringlb listens on, ports resolved.
pub struct Bound<'a> {
    /// `(frontend index, address)`.
    pub frontends: &'a [(usize, SocketAddr)],
    pub admin: Option<SocketAddr>,
}

/// [`run`], calling `on_bound` once every listener is bound, before workers start.
pub fn run_with(
    config: Config,
    path: Option<PathBuf>,
    on_bound: impl FnOnce(Bound<'_>),
) -> Result<Exit, RunError> {
    let config = Arc::new(config);
    let listeners = listen::bind_all(&config)?;
    // Sockets and interface facts first: without them there is no failover to offer.
    let vrrp = config.vrrp.as_ref().map(vrrp::prepare).transpose()?;
    let admin = match config.global.admin_bind {
        Some(addr) => Some(admin::bind(addr).map_err(|e| RunError::AdminBind(addr, e))?),
        None => None,
    };
    log_startup(&config, &listeners);
    let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(a) = admin_addr {
        tracing::info!("admin API listening on {a}");
    }
    let bound: Vec<(usize, SocketAddr)> = listeners
        .first()
        .map(|l| l.iter().map(|b| (b.frontend, b.addr)).collect())
        .unwrap_or_default();
    on_bound(Bound {
        frontends: &bound,
        admin: admin_addr,
    });
    let listening = bound
        .iter()
        .zip(
            config
                .frontends
                .iter()
                .flat_map(|f| f.binds.iter().map(move |b| (f, b))),
        )
        .map(|((_, addr), (fe, requested))| Listening {
            requested: *requested,
            bound: *addr,
            frontend: fe.name.clone(),
        })
        .collect();

    let (events_tx, events) = unbounded();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(RunError::Signals)?;
    let signal_tx = events_tx.clone();
    std::thread::Builder::new()
        .name("ringlb-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if signal_tx.unbounded_send(Event::Signal(sig)).is_err() {
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
    let access = if config.global.access_log {
        Some(worker::AccessWriter::start().map_err(RunError::AccessLog)?)
    } else {
        None
    };
    let mut broadcaster = Broadcaster::default();
    for (id, listeners) in listeners.into_iter().enumerate() {
        let setup = WorkerSetup {
            id,
            config: Arc::clone(&config),
            listeners,
            inbox: broadcaster.add_worker(),
            events: events_tx.clone(),
            core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
            access: access.as_ref().and_then(|a| a.sender()),
        };
        worker::spawn(setup).map_err(|e| RunError::Spawn(id, e))?;
    }
    drop(events_tx);

    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(RunError::Runtime)?;
    let exit = rt.block_on(async move {
        let vrrp = match vrrp {
            Some(p) => Some(vrrp::Vrrp::start(p).map_err(RunError::VrrpStart)?),
            None => None,
        };
        let tracking = config.vrrp.as_ref().is_some_and(|v| v.track_frontends);
        let control = Rc::new(Control::new(config, path, broadcaster, listening, vrrp));
        control.start_checks();
        if tracking {
            control.track();
            monoio::spawn(ping_loop(Rc::clone(&control)));
        }
        if let Some(listener) = admin {
            monoio::spawn(admin::serve(Rc::clone(&control), listener));
        }
        let exit = lifecycle(Rc::clone(&control), events).await;
        if let Some(v) = &control.vrrp {
            v.finish();
        }
        exit
    });
    // Every worker is done: write the last lines they handed over.
    if let (Some(a), Ok(Exit::Graceful)) = (access, &exit) {
        a.finish();
    }
    exit
}

/// Handle events until the workers are done (or must be abandoned).
async fn lifecycle(
    control: Rc<Control>,
    mut events: UnboundedReceiver<Event>,
) -> Result<Exit, RunError> {
    let workers = control.broadcaster.workers();
    let grace = control.config.borrow().global.grace_period;
    let mut started = 0;
    let mut running = workers;
    let mut stop_deadline: Option<Instant> = None;
    loop {
        let event = match stop_deadline {
            None => events.next().await,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match monoio::time::timeout(left, events.next()).await {
                    Ok(e) => e,
                    Err(_) => {
                        tracing::warn!(
                            "grace period of {grace:?} is over: closing the connections still open"
                        );
                        return Ok(Exit::GraceExpired);
                    }
                }
            }
        };
        let Some(event) = event else {
            return Ok(Exit::Graceful);
        };
        match event {
            Event::WorkerStarted { id, driver } => {
                if let Some(d) = control.drivers.borrow_mut().get_mut(id) {
                    *d = Some(driver);
                }
                started += 1;
                if started == workers {
                    tracing::info!(workers, "ringlb ready");
                }
            }
            Event::Signal(SIGHUP) => {
                if stop_deadline.is_none() && control.reload("SIGHUP").is_ok() {
                    let c = Rc::clone(&control);
                    monoio::spawn(async move {
                        c.barrier().await;
                        tracing::info!("SIGHUP: the new configuration is in use by every worker");
                    });
                }
            }
            Event::Signal(sig) => {
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if stop_deadline.is_some() {
                    tracing::warn!("{name} again: exiting now");
                    return Ok(Exit::Forced);
                }
                tracing::info!("{name}: stopped accepting; open connections have {grace:?} to finish (signal again to exit now)");
                control.stopping.set(true);
                if let Some(v) = &control.vrrp {
                    // Hand the virtual IPs over now (priority 0), not after the grace period.
                    v.stop();
                }
                control.broadcaster.send_all(|| Update::Shutdown);
                stop_deadline = Some(Instant::now() + grace);
            }
            Event::WorkerStopped(id) => {
                running -= 1;
                if stop_deadline.is_none() {
                    tracing::error!(worker = id, "worker stopped unexpectedly: stopping");
                    control.broadcaster.send_all(|| Update::Shutdown);
                    return Err(RunError::WorkerDied(id));
                }
                if running == 0 {
                    tracing::info!("all connections finished: exiting");
                    return Ok(Exit::Graceful);
                }
            }
            Event::ServerErrors {
                worker,
                backend,
                server,
                streak,
            } => control.server_errors(worker, backend, server, streak),
            Event::Stats { id, stats } => control.stats_arrived(id, stats),
            Event::Pong(worker) => control.pong(worker),
        }
    }
}

fn log_startup(config: &Config, listeners: &[Vec<BoundListener>]) {
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
