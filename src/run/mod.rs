//! The process supervisor: bind every listener, prepare VRRP and the admin socket,
//! start the workers and the signal thread, run the control plane on this thread,
//! and handle the lifecycle (ready, reload on SIGHUP, graceful stop, a worker that
//! dies) until every worker is done.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`run`] / [`run_with`] / [`run_takeover`]: start-up (bind, prepare, start) |
//! | `spawn.rs` | the worker threads (pinned or not), the signal thread, the start-up log lines |
//! | `control_thread.rs` | the control plane on this thread: VRRP, checks, admin API and CLI, then the lifecycle |
//! | `fds.rs` | file descriptors against `max_connections`: raise the limit or lower the connection limit |
//! | `exclusive.rs` | refuse to start on addresses another process already listens on (SO_REUSEPORT would share them) |
//! | `privs.rs` | `global.user`/`group`: give up root after binding, keep only the capabilities still needed |
//! | `lifecycle.rs` | the lifecycle loop: ready, reload on SIGHUP, graceful stop, upgrades, a worker that dies |
//! | `own_log.rs` | ringlb's own log lines: the subscriber and its writers (stderr, syslog, a syslog copy) |
//! | `notify.rs` | systemd's `sd_notify` protocol: ready, reloading, stopping, the watchdog |
//! | `upgrade/` | binary upgrade: hand the listening sockets to a new process, then drain |

mod control_thread;
mod exclusive;
mod fds;
mod lifecycle;
pub mod notify;
pub mod own_log;
pub mod privs;
mod spawn;
pub mod upgrade;

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use futures_channel::mpsc::unbounded;
use futures_util::StreamExt;

use crate::admin;
use crate::announce;
use crate::config::Config;
use crate::control::Listening;
use crate::listen::{self, BindError, BoundListener};
use crate::msg::Event;
use crate::vrrp;
use crate::worker;

use control_thread::{control_thread, ControlStart};
use spawn::{log_startup, spawn_signal_thread, spawn_workers, worker_cores};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("global.admin_bind: cannot listen on {0}: {1}")]
    AdminBind(SocketAddr, #[source] io::Error),
    #[error("global.admin_socket: cannot listen on {0}: {1}")]
    AdminSocket(PathBuf, #[source] io::Error),
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
    #[error("upgrade: {0}")]
    Upgrade(String),
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
    let config = limit_fds(config);
    exclusive::check(&config, &[])?;
    let listeners = listen::bind_all(&config)?;
    let listening = listening(&config, &listeners)?;
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
    let cli = bind_cli(&config, false)?;
    let upgrade_socket = upgrade::socket::path(&config).and_then(|p| {
        upgrade::socket::bind(&p)
            .map_err(|e| tracing::warn!("upgrade socket {}: {e}; `ringlb upgrade` cannot reach this process (SIGUSR2 still upgrades)", p.display()))
            .ok()
            .map(|l| (p, l))
    });
    let sockets = Sockets {
        listeners,
        listening,
        vrrp,
        announce,
        admin,
        cli,
        upgrade_socket,
        takeover: None,
        servers: Vec::new(),
        tables: Vec::new(),
    };
    start(config, path, sockets, on_bound)
}

/// A binary upgrade's new process: take the old process's sockets over (`handed`,
/// received on `from`, the socketpair it started this process with), then run as
/// [`run`] does. Any failure
/// before the workers start is told to the old process, which keeps serving.
pub fn run_takeover(
    config: Config,
    path: PathBuf,
    from: OwnedFd,
    handed: (upgrade::wire::Offer, Vec<OwnedFd>),
) -> Result<Exit, RunError> {
    let config = limit_fds(config);
    let sockets = match upgrade::takeover::sockets(&config, handed) {
        Ok(s) => s,
        Err(e) => {
            upgrade::refuse(&from, &e.to_string());
            return Err(e);
        }
    };
    let sockets = Sockets {
        takeover: Some(from),
        ..sockets
    };
    start(config, Some(path), sockets, |_| {})
}

/// Descriptors against `max_connections` ([`fds`]).
fn limit_fds(mut config: Config) -> Arc<Config> {
    let sockets = config.global.workers
        * config
            .frontends
            .iter()
            .map(|f| f.binds.len())
            .sum::<usize>();
    // Twice: the supervisor keeps a second descriptor of each, for an upgrade.
    fds::apply(&mut config, 2 * sockets);
    Arc::new(config)
}

/// `global.admin_socket`, bound before privileges are dropped. `replace`: an
/// upgrade's new process takes the path over from the old one.
fn bind_cli(config: &Config, replace: bool) -> Result<Option<admin::CliSocket>, RunError> {
    config
        .global
        .admin_socket
        .as_ref()
        .map(|s| {
            let owner = config.global.run_as.as_ref().map(|r| (r.uid, r.gid));
            admin::bind_cli(s, replace, owner).map_err(|e| RunError::AdminSocket(s.path.clone(), e))
        })
        .transpose()
}

/// Every socket ringlb serves on, bound or handed over.
struct Sockets {
    listeners: Vec<Vec<BoundListener>>,
    listening: Vec<Listening>,
    vrrp: Option<vrrp::Prepared>,
    announce: Option<announce::Prepared>,
    admin: Option<std::net::TcpListener>,
    /// `global.admin_socket`, HAProxy's runtime CLI.
    cli: Option<admin::CliSocket>,
    upgrade_socket: Option<(PathBuf, std::os::unix::net::UnixListener)>,
    /// New process of an upgrade: the old process.
    takeover: Option<OwnedFd>,
    /// New process of an upgrade: the operators' server states to apply.
    servers: Vec<upgrade::wire::ServerState>,
    /// New process of an upgrade: the old workers' tracking-table entries.
    tables: Vec<crate::msg::tables::SavedTable>,
}

/// Give up privileges, start the workers and run the control plane until the end.
fn start(
    config: Arc<Config>,
    path: Option<PathBuf>,
    sockets: Sockets,
    on_bound: impl FnOnce(Bound<'_>),
) -> Result<Exit, RunError> {
    let Sockets {
        listeners,
        listening,
        vrrp,
        announce,
        admin,
        cli,
        upgrade_socket,
        takeover,
        servers,
        tables,
    } = sockets;
    // Every privileged socket is open; no other thread runs yet.
    privs::apply(&config)?;
    let binds = listening.len();
    log_startup(&config, &listeners, binds);
    let admin_addr = admin.as_ref().and_then(|l| l.local_addr().ok());
    if let Some(a) = admin_addr {
        tracing::info!("admin API listening on {a}");
    }
    let bound: Vec<(usize, SocketAddr)> = listeners
        .first()
        .map(|l| l.iter().take(binds).map(|b| (b.frontend, b.addr)).collect())
        .unwrap_or_default();
    on_bound(Bound {
        frontends: &bound,
        admin: admin_addr,
    });
    let dup = |fd: std::io::Result<OwnedFd>| fd.map_err(RunError::Runtime);
    let admin_dup = match (&admin, admin_addr) {
        (Some(l), Some(a)) => Some((a, dup(l.try_clone().map(Into::into))?)),
        _ => None,
    };
    let socket_dup = match &upgrade_socket {
        Some((p, l)) => Some((p.clone(), dup(l.try_clone().map(Into::into))?)),
        None => None,
    };

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

    let (upgrades_tx, upgrades) = unbounded();
    let (server, serving) = match upgrade_socket {
        Some((p, l)) => {
            let (server, serving) = upgrade::socket::prepare(p, l);
            (Some(server), Some(serving))
        }
        None => (None, None),
    };
    let state = upgrade::State::new(upgrades_tx, admin_dup, socket_dup, server, takeover);
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(RunError::Runtime)?;
    let remove_cli = cli.as_ref().map(admin::CliSocket::remover);
    let control = ControlStart {
        config,
        path,
        broadcaster,
        listening,
        vrrp,
        announce,
        admin,
        cli,
        upgrade: state,
        servers,
        tables,
    };
    let inputs =
        futures_util::stream::select(events.map(Input::Event), upgrades.map(Input::Upgrade));
    let exit = rt.block_on(control_thread(control, inputs));
    if let Some(remove) = remove_cli {
        remove();
    }
    // An upgrade's caller hears its answer before this process is gone.
    if let Some(s) = serving {
        s.finish();
    }
    // Every worker is done: write the last lines they handed over.
    if let (Some(a), Ok(Exit::Graceful)) = (access, &exit) {
        a.finish();
    }
    exit
}

/// What the lifecycle hears: the workers and signals, or the upgrade machinery.
enum Input {
    Event(Event),
    Upgrade(upgrade::Msg),
}

/// The listening addresses as the control plane tracks them (for reloads and
/// upgrades): the first worker's listeners, in configuration order, with what each
/// asked for and a second descriptor of every worker's socket on it.
fn listening(
    config: &Config,
    listeners: &[Vec<BoundListener>],
) -> Result<Vec<Listening>, RunError> {
    let requested = config
        .frontends
        .iter()
        .flat_map(|f| f.binds.iter().map(move |b| (f, b)));
    let first = listeners.first().map(Vec::as_slice).unwrap_or_default();
    first
        .iter()
        .zip(requested)
        .enumerate()
        .map(|(i, (b, (fe, requested)))| {
            let group: Vec<OwnedFd> = listeners
                .iter()
                .map(|w| w[i].socket.try_clone().map(Into::into))
                .collect::<Result<_, _>>()
                .map_err(RunError::Runtime)?;
            Ok(Listening {
                requested: *requested,
                bound: b.addr,
                frontend: fe.name.clone(),
                steering: fe.steering,
                sockets: Arc::new(group),
            })
        })
        .collect()
}
