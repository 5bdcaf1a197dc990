//! The process supervisor: bind every listener, prepare VRRP and the admin socket,
//! start the workers and the signal thread, run the control plane on this thread,
//! and handle the lifecycle (ready, reload on SIGHUP, graceful stop, a worker that
//! dies) until every worker is done.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`run`] / [`run_with`]: start-up, the control thread, the lifecycle loop |
//! | `fds.rs` | file descriptors against `max_connections`: raise the limit or lower the connection limit |
//! | `exclusive.rs` | refuse to start on addresses another process already listens on (SO_REUSEPORT would share them) |
//! | `privs.rs` | `global.user`/`group`: give up root after binding, keep only the capabilities still needed |
//! | `notify.rs` | systemd's `sd_notify` protocol: ready, reloading, stopping, the watchdog |

mod exclusive;
mod fds;
pub mod notify;
pub mod privs;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_util::StreamExt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::admin;
use crate::announce;
use crate::config::{Config, Mode};
use crate::control::{history_loop, ping_loop, Control, Listening};
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
    #[error(transparent)]
    Privileges(#[from] privs::PrivError),
    #[error(transparent)]
    Announce(#[from] announce::AnnounceError),
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
    let mut config = config;
    let sockets = config.global.workers
        * config
            .frontends
            .iter()
            .map(|f| f.binds.len())
            .sum::<usize>();
    fds::apply(&mut config, sockets);
    let config = Arc::new(config);
    // No binary upgrade hands sockets over yet: every address must be free.
    exclusive::check(&config, &[])?;
    let listeners = listen::bind_all(&config)?;
    // Sockets and interface facts first: without them there is no failover to offer.
    let vrrp = vrrp::prepare(&config.vrrp, &config.vrrp_sync_groups)?;
    // The device dies with this process: a killed ringlb is withdrawn by the kernel.
    let announce = config
        .announce
        .as_ref()
        .map(announce::prepare)
        .transpose()?;
    let admin = match config.global.admin_bind {
        Some(addr) => Some(admin::bind(addr).map_err(|e| RunError::AdminBind(addr, e))?),
        None => None,
    };
    // Every privileged socket is open; no other thread runs yet.
    privs::apply(&config)?;
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
    let listening = listening(&config, &bound);

    let (events_tx, events) = unbounded();
    spawn_signal_thread(events_tx.clone())?;
    let cores = worker_cores(&config);
    let access = if config.global.access_log {
        Some(worker::AccessWriter::start(&config.global).map_err(RunError::AccessLog)?)
    } else {
        None
    };
    let broadcaster = spawn_workers(&config, listeners, &events_tx, &cores, access.as_ref())?;
    drop(events_tx);

    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(RunError::Runtime)?;
    let control = ControlStart {
        config,
        path,
        broadcaster,
        listening,
        vrrp,
        announce,
        admin,
    };
    let exit = rt.block_on(control_thread(control, events));
    // Every worker is done: write the last lines they handed over.
    if let (Some(a), Ok(Exit::Graceful)) = (access, &exit) {
        a.finish();
    }
    exit
}

/// The listening addresses as the control plane tracks them (for reloads): the
/// first worker's listeners, in configuration order, with what each asked for.
fn listening(config: &Config, bound: &[(usize, SocketAddr)]) -> Vec<Listening> {
    bound
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
            steering: fe.steering,
        })
        .collect()
}

/// The cores workers are pinned to (none when `pin_workers` is off).
fn worker_cores(config: &Config) -> Vec<core_affinity::CoreId> {
    if config.global.pin_workers {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    }
}

/// A thread that turns SIGINT, SIGTERM and SIGHUP into events for the lifecycle.
fn spawn_signal_thread(events: UnboundedSender<Event>) -> Result<(), RunError> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
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
fn spawn_workers(
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

/// What the control plane starts with, prepared before the workers start.
struct ControlStart {
    config: Arc<Config>,
    path: Option<PathBuf>,
    broadcaster: Broadcaster,
    listening: Vec<Listening>,
    vrrp: Option<vrrp::Prepared>,
    announce: Option<announce::Prepared>,
    admin: Option<std::net::TcpListener>,
}

/// The control plane, on this thread's runtime: VRRP, checks, tracking, the admin
/// API, then the lifecycle until the workers are done.
async fn control_thread(
    start: ControlStart,
    events: UnboundedReceiver<Event>,
) -> Result<Exit, RunError> {
    let ControlStart {
        config,
        path,
        broadcaster,
        listening,
        vrrp,
        announce,
        admin,
    } = start;
    let vrrp = match vrrp {
        Some(p) => Some(vrrp::Vrrp::start(p).map_err(RunError::VrrpStart)?),
        None => None,
    };
    let tracking = config.vrrp.iter().any(|v| v.track_frontends) || announce.is_some();
    let mut control = Control::new(config, path, broadcaster, listening, vrrp);
    control.announce = announce.map(announce::Announcer::start);
    let control = Rc::new(control);
    let notifier = Rc::new(notify::Notifier::from_env());
    let watchdog = notifier
        .enabled()
        .then(|| {
            let usec = std::env::var("WATCHDOG_USEC").ok();
            let pid = std::env::var("WATCHDOG_PID").ok();
            notify::watchdog_every(usec.as_deref(), pid.as_deref())
        })
        .flatten();
    control.start_checks();
    control.start_resolvers();
    if tracking {
        control.track();
    }
    if tracking || watchdog.is_some() {
        monoio::spawn(ping_loop(Rc::clone(&control), tracking));
    }
    if let Some(every) = watchdog {
        monoio::spawn(notify::watchdog_loop(
            Rc::clone(&control),
            Rc::clone(&notifier),
            every,
        ));
    }
    if let Some(listener) = admin {
        monoio::spawn(admin::serve(Rc::clone(&control), listener));
        monoio::spawn(history_loop(Rc::clone(&control)));
    }
    let exit = lifecycle(Rc::clone(&control), notifier, events).await;
    if let Some(v) = &control.vrrp {
        v.finish();
    }
    exit
}

/// Handle events until the workers are done (or must be abandoned).
async fn lifecycle(
    control: Rc<Control>,
    notifier: Rc<notify::Notifier>,
    mut events: UnboundedReceiver<Event>,
) -> Result<Exit, RunError> {
    let mut state = Lifecycle::new(control, notifier);
    if state.workers == 0 {
        // No frontend: the control plane alone (VRRP), ready as soon as it runs.
        state.ready();
    }
    loop {
        let event = match state.next_event(&mut events).await {
            Ok(event) => event,
            Err(exit) => return Ok(exit),
        };
        if let Some(end) = state.handle(event) {
            return end;
        }
    }
}

/// The lifecycle's state: how many workers started and still run, and once a stop
/// was asked for, when the grace period ends.
struct Lifecycle {
    control: Rc<Control>,
    notifier: Rc<notify::Notifier>,
    workers: usize,
    grace: Duration,
    started: usize,
    running: usize,
    stop_deadline: Option<Instant>,
}

impl Lifecycle {
    fn new(control: Rc<Control>, notifier: Rc<notify::Notifier>) -> Self {
        let workers = control.broadcaster.workers();
        let grace = control.config.borrow().global.grace_period;
        Lifecycle {
            control,
            notifier,
            workers,
            grace,
            started: 0,
            running: workers,
            stop_deadline: None,
        }
    }

    /// The next event, or how the run ends: every worker is gone (the channel
    /// closed), or the grace period is over.
    async fn next_event(&self, events: &mut UnboundedReceiver<Event>) -> Result<Event, Exit> {
        let event = match self.stop_deadline {
            None => events.next().await,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match monoio::time::timeout(left, events.next()).await {
                    Ok(e) => e,
                    Err(_) => {
                        let grace = self.grace;
                        tracing::warn!(
                            "grace period of {grace:?} is over: closing the connections still open"
                        );
                        return Err(Exit::GraceExpired);
                    }
                }
            }
        };
        event.ok_or(Exit::Graceful)
    }

    /// Apply one event; `Some` when the run ends with it.
    fn handle(&mut self, event: Event) -> Option<Result<Exit, RunError>> {
        let control = &self.control;
        match event {
            Event::WorkerStarted { id, driver } => {
                if let Some(d) = control.drivers.borrow_mut().get_mut(id) {
                    *d = Some(driver);
                }
                self.started += 1;
                if self.started == self.workers {
                    self.ready();
                }
            }
            Event::Signal(SIGHUP) => self.reload(),
            Event::Signal(sig) => return self.stop(sig),
            Event::WorkerStopped(id) => return self.worker_stopped(id),
            Event::ServerErrors {
                worker,
                backend,
                server,
                streak,
            } => control.server_errors(worker, backend, server, streak),
            Event::Stats { id, stats } => control.stats_arrived(id, stats),
            Event::Pong(worker) => control.pong(worker),
        }
        None
    }

    /// Every worker runs: tell the log and systemd.
    fn ready(&self) {
        let workers = self.workers;
        tracing::info!(workers, "ringlb ready");
        let status = if workers == 0 {
            "STATUS=no frontend: running the virtual router(s) only".to_string()
        } else {
            format!("STATUS=serving with {workers} workers")
        };
        self.notifier.notify(&format!("READY=1\n{status}"));
    }

    /// SIGHUP: reload, unless ringlb is stopping. systemd hears `RELOADING=1` first
    /// and `READY=1` once every worker uses the new configuration (or at once, with
    /// the reason in `STATUS=`, when it was refused).
    fn reload(&self) {
        if self.stop_deadline.is_some() {
            return;
        }
        self.notifier.reloading();
        match self.control.reload("SIGHUP") {
            Ok(_) => {
                let c = Rc::clone(&self.control);
                let n = Rc::clone(&self.notifier);
                monoio::spawn(async move {
                    c.barrier().await;
                    tracing::info!("SIGHUP: the new configuration is in use by every worker");
                    n.notify("READY=1\nSTATUS=configuration reloaded");
                });
            }
            Err(_) => self.notifier.notify(
                "READY=1\nSTATUS=reload refused: the running configuration is unchanged (see the log)",
            ),
        }
    }

    /// SIGTERM/SIGINT: the first stops accepting and starts the grace period, a
    /// second one ends the run at once.
    fn stop(&mut self, sig: i32) -> Option<Result<Exit, RunError>> {
        let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
        if self.stop_deadline.is_some() {
            tracing::warn!("{name} again: exiting now");
            return Some(Ok(Exit::Forced));
        }
        let grace = self.grace;
        self.notifier
            .notify(&format!("STOPPING=1\nSTATUS={name}: draining connections"));
        if self.running > 0 {
            tracing::info!("{name}: stopped accepting; open connections have {grace:?} to finish (signal again to exit now)");
        }
        self.control.stopping.set(true);
        if let Some(v) = &self.control.vrrp {
            // Hand the virtual IPs over now (priority 0), not after the grace period.
            v.stop();
        }
        // Withdraw first; with `withdraw_grace`, keep accepting while routers converge.
        let converge = self.control.announce.as_ref().map_or(Duration::ZERO, |a| {
            a.stop();
            a.withdraw_grace()
        });
        if self.running == 0 {
            tracing::info!("{name}: no worker to wait for: exiting");
            return Some(Ok(Exit::Graceful));
        }
        if converge.is_zero() {
            self.control.broadcaster.send_all(|| Update::Shutdown);
        } else {
            tracing::info!("announce: withdrawn; still accepting for {converge:?} while routers converge (announce.withdraw_grace)");
            let control = Rc::clone(&self.control);
            monoio::spawn(async move {
                monoio::time::sleep(converge).await;
                control.broadcaster.send_all(|| Update::Shutdown);
            });
        }
        self.stop_deadline = Some(Instant::now() + converge + grace);
        None
    }

    /// A worker ended: expected while stopping (the last one ends the run), fatal
    /// otherwise.
    fn worker_stopped(&mut self, id: usize) -> Option<Result<Exit, RunError>> {
        self.running -= 1;
        if self.stop_deadline.is_none() {
            tracing::error!(worker = id, "worker stopped unexpectedly: stopping");
            self.notifier.notify(&format!(
                "STOPPING=1\nSTATUS=worker {id} stopped unexpectedly"
            ));
            self.control.broadcaster.send_all(|| Update::Shutdown);
            return Some(Err(RunError::WorkerDied(id)));
        }
        if self.running == 0 {
            tracing::info!("all connections finished: exiting");
            return Some(Ok(Exit::Graceful));
        }
        None
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
        let steering = fe.steering.as_str();
        tracing::info!(frontend = %fe.name, mode, backend, steering, "listening on {}", bound.addr);
    }
}
