//! Binary upgrade without dropping a connection (HAProxy's master-worker reload with
//! `expose-fd listeners`, as one process per generation). `ringlb upgrade` (or
//! SIGUSR2) makes the running process start the new binary with a takeover
//! socketpair; the new process validates its file, receives the very listening
//! sockets (SCM_RIGHTS) and the operators' server states, starts its workers and says
//! it is ready; only then does the old process stop accepting (without shutting the
//! shared sockets down) and drain its connections within the grace period. A new
//! process that fails, exits or stays silent leaves the old one serving.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`State`]: the lifecycle's side of an upgrade, old process and new |
//! | `wire.rs` | the messages and their transport (JSON packets, SCM_RIGHTS) |
//! | `socket.rs` | the upgrade socket: its path, its serving thread, `ringlb upgrade`'s request |
//! | `launch.rs` | old side: start the new binary, hand over, wait until it is ready |
//! | `takeover.rs` | new side: receive the sockets and match them to the file's addresses |
//! | `tables.rs` | tracking tables: saved by the old workers, merged, dealt to the new ones by client |
//!
//! Virtual routers and `[announce]` carry over too (`vrrp/handover.rs`, the TUN
//! device's descriptor): an upgrade causes no failover and no withdrawal.

mod launch;
pub mod socket;
pub mod tables;
pub mod takeover;
pub mod wire;

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc::UnboundedSender;

use crate::config::Steering;
use crate::control::Control;
use crate::lb::{Admin, Oper};
use crate::msg::tables::SavedTable;
use crate::msg::Update;
use wire::{Answer, Offer, OfferedListener, ServerState, Status};

/// How long a new process may take from receiving the sockets to being ready.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// To the control thread: a request to upgrade, or how one ended.
pub enum Msg {
    Call {
        binary: Option<PathBuf>,
        reply: Option<Sender<Answer>>,
    },
    Done {
        result: Result<Took, String>,
        reply: Option<Sender<Answer>>,
    },
    /// The workers' tables did not all come in time (the save with this number).
    SaveTimeout(u64),
}

/// The new process took over: its pid and the virtual routers it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Took {
    pub pid: u32,
    pub vrrp: Vec<crate::vrrp::RouterId>,
}

/// An upgrade waiting for the workers' tables before it starts the new binary.
struct Saving {
    id: u64,
    binary: Option<PathBuf>,
    reply: Option<Sender<Answer>>,
    answers: Vec<Vec<SavedTable>>,
    workers: usize,
    /// `global.upgrade_table_entries`.
    max: usize,
}

/// What the lifecycle keeps for upgrades.
pub struct State {
    pub to_control: UnboundedSender<Msg>,
    /// The binary to start when the request names none.
    binary: Option<PathBuf>,
    busy: bool,
    /// Second descriptors of the admin listener and the upgrade socket, to hand over.
    admin: Option<(SocketAddr, OwnedFd)>,
    socket: Option<(PathBuf, OwnedFd)>,
    /// The upgrade socket, served once this process is ready.
    server: Option<socket::Server>,
    /// Stops the upgrade socket's thread and the admin listener once handed over.
    socket_stop: Arc<AtomicBool>,
    pub admin_stop: Option<futures_channel::oneshot::Sender<()>>,
    /// New process: the old process, to tell once ready.
    takeover: Option<OwnedFd>,
    /// Old process: handed over, and whether a stop signal came since.
    handed_over: bool,
    signalled: bool,
    saving: Option<Saving>,
    next_save: u64,
}

impl State {
    pub fn new(
        to_control: UnboundedSender<Msg>,
        admin: Option<(SocketAddr, OwnedFd)>,
        socket: Option<(PathBuf, OwnedFd)>,
        server: Option<socket::Server>,
        takeover: Option<OwnedFd>,
    ) -> Self {
        let socket_stop = server.as_ref().map_or_else(
            || Arc::new(AtomicBool::new(false)),
            socket::Server::stop_flag,
        );
        State {
            to_control,
            binary: launch::own_binary(),
            busy: false,
            admin,
            socket,
            server,
            socket_stop,
            admin_stop: None,
            takeover,
            handed_over: false,
            signalled: false,
            saving: None,
            next_save: 0,
        }
    }

    /// A stop signal to a process draining after an upgrade: the first one changes
    /// nothing (it drains already), the next one ends it.
    pub fn first_signal_after_handover(&mut self) -> bool {
        let first = self.handed_over && !self.signalled;
        self.signalled = true;
        first
    }

    /// Every worker runs: serve the upgrade socket from now on. Not before: a new
    /// process that may still fail (and be killed by the old one) must not take a
    /// caller, nor start an upgrade of its own before it took over; a caller who
    /// comes earlier waits in the socket's backlog.
    pub fn serve_socket(&mut self) {
        if let Some(server) = self.server.take() {
            server.start(self.to_control.clone());
        }
    }

    /// Whether this process took over from another (and has not said ready yet).
    pub fn taking_over(&self) -> bool {
        self.takeover.is_some()
    }

    /// New process, every worker started: tell the old process it may stop, and
    /// which virtual routers this process runs now.
    pub fn say_ready(&mut self, vrrp: Vec<crate::vrrp::RouterId>) {
        if let Some(fd) = self.takeover.take() {
            let ready = Status::Ready {
                pid: std::process::id(),
                vrrp,
            };
            if let Err(e) = wire::send_json(&fd, &ready) {
                tracing::warn!("upgrade: cannot tell the old process we are ready: {e}");
            }
        }
    }

    /// Start an upgrade: first the workers' tables when there are any (a message
    /// each, answered with `Event::Tables`), then the new binary (on a thread). A
    /// refusal is logged and told to the caller.
    pub fn start(
        &mut self,
        control: &Control,
        binary: Option<PathBuf>,
        reply: Option<Sender<Answer>>,
    ) {
        let why = if self.busy {
            Some("an upgrade is already under way".to_string())
        } else if control.stopping.get() {
            Some("this process is stopping".into())
        } else {
            None
        };
        if let Some(why) = why {
            return refused(why, reply);
        }
        let workers = control.broadcaster.workers();
        let max = {
            let config = control.config.borrow();
            let carried = config.global.upgrade_table_entries;
            (!config.tables.is_empty()).then_some(carried)
        };
        let Some(max) = max.filter(|&m| m > 0 && workers > 0) else {
            return self.launch(control, binary, reply, Vec::new());
        };
        self.busy = true;
        let id = self.next_save;
        self.next_save += 1;
        self.saving = Some(Saving {
            id,
            binary,
            reply,
            answers: Vec::new(),
            workers,
            max,
        });
        control
            .broadcaster
            .send_all(|| Update::SaveTables { id, max });
        let back = self.to_control.clone();
        monoio::spawn(async move {
            monoio::time::sleep(tables::SAVE_WITHIN).await;
            let _ = back.unbounded_send(Msg::SaveTimeout(id));
        });
    }

    /// A worker's tables (`Event::Tables`); the last one starts the new binary.
    pub fn tables_arrived(&mut self, control: &Control, id: u64, tables: Vec<SavedTable>) {
        let Some(saving) = self.saving.as_mut().filter(|s| s.id == id) else {
            return;
        };
        saving.answers.push(tables);
        if saving.answers.len() == saving.workers {
            self.saved(control);
        }
    }

    /// The workers' tables did not all come within `SAVE_WITHIN`: go on without.
    pub fn save_timeout(&mut self, control: &Control, id: u64) {
        if let Some(s) = self.saving.as_ref().filter(|s| s.id == id) {
            tracing::warn!(
                "upgrade: {} of {} workers sent their tracking tables in time; the others' entries are not carried over",
                s.answers.len(),
                s.workers
            );
            self.saved(control);
        }
    }

    fn saved(&mut self, control: &Control) {
        let Some(s) = self.saving.take() else { return };
        let (tables, dropped) = tables::merge(s.answers, s.max);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                kept = s.max,
                "upgrade: more tracking-table entries than global.upgrade_table_entries: the least recently used are not carried over"
            );
        }
        self.busy = false;
        self.launch(control, s.binary, s.reply, tables);
    }

    /// Start the new binary (on a thread) with the offer.
    fn launch(
        &mut self,
        control: &Control,
        binary: Option<PathBuf>,
        reply: Option<Sender<Answer>>,
        tables: Vec<SavedTable>,
    ) {
        if control.stopping.get() {
            return refused("this process is stopping".into(), reply);
        }
        let Some(config) = control.path.clone() else {
            return refused("started without a configuration file".into(), reply);
        };
        let Some(binary) = binary.or_else(|| self.binary.clone()) else {
            return refused(
                "cannot tell which binary this process was started from: name it (--binary)".into(),
                reply,
            );
        };
        let (mut offer, fds) = match self.offer(control) {
            Ok(o) => o,
            Err(e) => return refused(format!("cannot duplicate the sockets: {e}"), reply),
        };
        let entries: usize = tables.iter().map(|t| t.entries.len()).sum();
        offer.tables = tables;
        tracing::info!(
            routers = offer.vrrp.len(),
            table_entries = entries,
            "upgrade: starting {} to take over",
            binary.display()
        );
        self.busy = true;
        let back = self.to_control.clone();
        let spawned = std::thread::Builder::new()
            .name("ringlb-launch".into())
            .spawn(move || {
                let result = launch::launch(&binary, &config, &offer, &fds);
                drop(fds);
                let _ = back.unbounded_send(Msg::Done { result, reply });
            });
        if let Err(e) = spawned {
            self.busy = false;
            refused(format!("cannot start a thread: {e}"), None);
        }
    }

    /// The upgrade ended; once the new process took over, stop serving what it
    /// serves now (the upgrade socket, the admin listener).
    pub fn done(&mut self, result: &Result<Took, String>) {
        self.busy = false;
        self.handed_over = result.is_ok();
        if result.is_ok() {
            self.socket_stop.store(true, Ordering::Relaxed);
            if let Some(stop) = self.admin_stop.take() {
                let _ = stop.send(());
            }
        }
    }

    /// What to hand over, and a second descriptor of every socket in it.
    fn offer(&self, control: &Control) -> std::io::Result<(Offer, Vec<OwnedFd>)> {
        let mut offer = Offer::default();
        let mut fds = Vec::new();
        for l in control.listening.borrow().iter() {
            for (index, fd) in l.sockets.iter().enumerate() {
                offer.listeners.push(OfferedListener {
                    frontend: l.frontend.clone(),
                    requested: l.requested,
                    bound: l.bound,
                    index,
                    steered: l.steering == Steering::Source,
                });
                fds.push(fd.try_clone()?);
            }
        }
        if let Some((addr, fd)) = &self.admin {
            offer.admin = Some(*addr);
            fds.push(fd.try_clone()?);
        }
        if let Some((path, fd)) = &self.socket {
            offer.upgrade_socket = Some(path.clone());
            fds.push(fd.try_clone()?);
        }
        if let Some(a) = &control.announce {
            let (carried, fd) = a.carried()?;
            offer.announce = Some(carried);
            fds.push(fd);
        }
        offer.servers = server_states(control);
        offer.vrrp = control
            .vrrp
            .as_ref()
            .map(|v| v.carried())
            .unwrap_or_default();
        Ok((offer, fds))
    }
}

/// An upgrade that does not start: say why in the log and to the caller.
fn refused(why: String, reply: Option<Sender<Answer>>) {
    tracing::warn!("upgrade refused: {why}");
    answer(reply, false, None, why);
}

/// Answer a caller of `ringlb upgrade`, if there is one.
pub fn answer(reply: Option<Sender<Answer>>, ok: bool, pid: Option<u32>, message: String) {
    if let Some(r) = reply {
        let _ = r.send(Answer { ok, pid, message });
    }
}

/// Servers whose admin state or weight the operator changed at runtime, or that
/// their checks hold down.
fn server_states(control: &Control) -> Vec<ServerState> {
    let table = control.table.borrow();
    let mut out = Vec::new();
    for b in table.backends.iter().filter(|b| b.live) {
        for s in b.servers.iter().filter(|s| s.live) {
            let down = s.config.check && s.health.oper() == Oper::Down;
            if s.admin == Admin::Ready && !s.weight_set && !down {
                continue;
            }
            out.push(ServerState {
                backend: b.config.name.clone(),
                server: s.config.name.clone(),
                admin: admin_word(s.admin).into(),
                weight: s.weight_set.then_some(s.weight),
                down,
            });
        }
    }
    out
}

fn admin_word(a: Admin) -> &'static str {
    match a {
        Admin::Ready => "ready",
        Admin::Drain => "drain",
        Admin::Maint => "maint",
    }
}

/// New process: apply the operators' server states the old process had.
pub fn apply_servers(control: &Rc<Control>, servers: &[ServerState]) {
    for s in servers {
        let found = control.table.borrow().find(&s.backend, &s.server);
        let Some((b, i)) = found else {
            tracing::info!(
                "upgrade: server {}/{} is gone from the file: its state is dropped",
                s.backend,
                s.server
            );
            continue;
        };
        if s.down {
            if let Some(e) = control.table.borrow_mut().server_mut(b, i) {
                if e.config.check {
                    e.health.force_down();
                }
            }
        }
        let admin = match s.admin.as_str() {
            "drain" => Admin::Drain,
            "maint" => Admin::Maint,
            _ => Admin::Ready,
        };
        control.set_admin(b, i, Some(admin), s.weight);
        tracing::info!(backend = %s.backend, server = %s.server, admin = %s.admin, weight = ?s.weight, down = s.down, "upgrade: server state carried over");
    }
}

/// New process, before it serves: tell the old one why not.
pub fn refuse(to_old: &OwnedFd, reason: &str) {
    let failed = Status::Failed {
        reason: reason.to_string(),
    };
    let _ = wire::send_json(to_old, &failed);
}
