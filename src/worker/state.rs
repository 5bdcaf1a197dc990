//! What one worker owns: its copy of the frontends and backends, the servers'
//! state as this worker sees it, a balancer per backend, its statistics, the
//! connection gate and a pool of relay buffers. Everything here is touched by this
//! worker's thread only. Frontends and backends are indexed by slot (see
//! `control::layout`), so indexes held by open connections survive a reload.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use futures_channel::mpsc::UnboundedSender;

use super::buffers::Buffers;
use super::local::{Flag, Gate};
use super::pool::Pool;
use super::queue::{self, Queue, Refused};
use crate::msg::stats::{FrontendStats, ServerStats};
use crate::config::{self, Config, Frontend};
use crate::msg::{Event, Slots};
use crate::http::Limits;
use crate::lb::{self, Balancer, Pick, ServerState};

pub struct Worker {
    pub id: usize,
    /// How many workers share the limits (`max_connections`, `max_queue`).
    pub workers: usize,
    /// By frontend slot; a removed frontend keeps its last configuration.
    pub frontends: RefCell<Vec<Rc<Frontend>>>,
    pub frontend_stats: RefCell<Vec<FrontendStats>>,
    /// By backend slot.
    pub backends: RefCell<Vec<BackendState>>,
    pub gate: Rc<Gate>,
    /// Raised when the worker must stop accepting (shutdown).
    pub stopping: Flag,
    /// Idle keep-alive connections to servers (HTTP mode).
    pub pool: Pool,
    pub http_limits: Cell<Limits>,
    /// 0 = unlimited.
    pub max_body_bytes: Cell<u64>,
    pub listeners: RefCell<Vec<super::listener::ListenerSlot>>,
    /// To the control thread: passive health reports and statistics.
    pub events: UnboundedSender<Event>,
    /// With `global.access_log`: this worker's buffered access log.
    pub access: Option<super::access::AccessLog>,
    buffers: Buffers,
}

/// One backend as this worker sees it. `config.servers`, `servers` and `stats` are
/// indexed by server slot; a removed server keeps its slot, never usable again.
pub struct BackendState {
    pub config: config::Backend,
    pub servers: Vec<ServerState>,
    pub stats: Vec<ServerStats>,
    /// Requests refused because no server was usable.
    pub no_server: u64,
    pub balancer: Box<dyn Balancer>,
    /// Requests waiting for a server slot.
    pub queue: Queue,
    /// Bumped whenever which servers are candidates may have changed (see `Pick::epoch`).
    pub epoch: u64,
}

/// The result of [`Worker::pick`].
pub enum Picked {
    Lease(ServerLease, SocketAddr),
    /// Usable servers exist but all are at their limit (or others wait already).
    Full,
    NoServer,
}

/// Why [`Worker::acquire`] found no server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    NoServer,
    Queue(Refused),
}

impl Worker {
    pub fn new(
        id: usize,
        config: &Config,
        connection_limit: usize,
        events: UnboundedSender<Event>,
    ) -> Self {
        let worker = Worker {
            id,
            workers: config.global.workers.max(1),
            frontends: RefCell::new(Vec::new()),
            frontend_stats: RefCell::new(Vec::new()),
            backends: RefCell::new(Vec::new()),
            gate: Rc::new(Gate::new(connection_limit)),
            stopping: Flag::default(),
            pool: Pool::default(),
            http_limits: Cell::new(Limits::default()),
            max_body_bytes: Cell::new(0),
            events,
            listeners: RefCell::new(Vec::new()),
            access: None,
            buffers: Buffers::default(),
        };
        worker.configure(config, &Slots::identity(config), None);
        worker
    }

    /// The frontend of `slot` as configured now.
    pub fn frontend(&self, slot: usize) -> Rc<Frontend> {
        Rc::clone(&self.frontends.borrow()[slot])
    }

    /// Pick a server of `backend` with its balancer and lease it (see [`Worker::lease`]).
    /// `queued`: the caller was just woken from the queue (newcomers queue behind waiters).
    pub fn pick(
        self: &Rc<Self>,
        backend: usize,
        avoid: Option<usize>,
        client: IpAddr,
        queued: bool,
    ) -> Picked {
        let server = {
            let mut backends = self.backends.borrow_mut();
            let Some(b) = backends.get_mut(backend) else {
                return Picked::NoServer;
            };
            if queued {
                b.queue.resumed();
            } else if b.queue.busy() {
                return Picked::Full;
            }
            let pick = Pick {
                avoid,
                client: Some(client),
                now: Instant::now(),
                epoch: b.epoch,
            };
            match b.balancer.pick(&b.servers, &pick) {
                Some(s) => s,
                None if b.servers.iter().any(|s| s.usable()) => return Picked::Full,
                None => {
                    b.no_server += 1;
                    return Picked::NoServer;
                }
            }
        };
        match self.lease(backend, server) {
            Some((lease, addr)) => Picked::Lease(lease, addr),
            None => Picked::NoServer,
        }
    }

    /// Pick and lease a server, waiting in the backend's queue (FIFO, `timeout_queue`)
    /// while every usable server is at its connection limit.
    pub async fn acquire(
        self: &Rc<Self>,
        backend: usize,
        avoid: Option<usize>,
        client: IpAddr,
    ) -> Result<(ServerLease, SocketAddr), NoSlot> {
        let mut queued = false;
        let mut deadline = None;
        loop {
            let picked = self.pick(backend, avoid, client, queued);
            if queued {
                // Pass the turn on if there is room for the next one too.
                self.wake_next(backend);
            }
            match picked {
                Picked::Lease(lease, addr) => return Ok((lease, addr)),
                Picked::NoServer => return Err(NoSlot::NoServer),
                Picked::Full => {}
            }
            let (waiter, timeout) = {
                let mut backends = self.backends.borrow_mut();
                let b = &mut backends[backend];
                let timeout = b.config.timeout_queue;
                (b.queue.join().map_err(NoSlot::Queue)?, timeout)
            };
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + timeout);
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = queue::wait(&waiter, left).await {
                let mut backends = self.backends.borrow_mut();
                let q = &mut backends[backend].queue;
                q.leave(&waiter);
                q.timeouts += 1;
                return Err(NoSlot::Queue(e));
            }
            queued = true;
        }
    }

    /// Which servers are candidates may have changed in `backend`.
    pub fn bump_epoch(&self, backend: usize) {
        if let Some(b) = self.backends.borrow_mut().get_mut(backend) {
            b.epoch += 1;
        }
    }

    /// A slot may have freed up in `backend`: wake the first waiter if a server has
    /// room, or every waiter if no server is usable at all (they get their 503 now).
    pub fn wake_next(&self, backend: usize) {
        let mut backends = self.backends.borrow_mut();
        let Some(b) = backends.get_mut(backend) else {
            return;
        };
        if b.queue.is_empty() {
            return;
        }
        if !b.servers.iter().any(|s| s.usable()) {
            b.queue.wake_all();
            return;
        }
        let c = lb::candidates(&b.servers, None);
        if b.servers.iter().enumerate().any(|(i, s)| c.contains(i, s)) {
            b.queue.wake_first();
        }
    }

    /// Count one more active connection on `server` if it is usable; the lease gives
    /// the count back when dropped.
    pub fn lease(
        self: &Rc<Self>,
        backend: usize,
        server: usize,
    ) -> Option<(ServerLease, SocketAddr)> {
        let mut backends = self.backends.borrow_mut();
        let b = backends.get_mut(backend)?;
        let state = b
            .servers
            .get_mut(server)
            .filter(|s| s.usable() && s.has_room())?;
        state.active += 1;
        if state.limit > 0 && state.active == state.limit {
            b.epoch += 1; // now full: no longer a candidate
        }
        b.balancer.active_changed(server, &b.servers);
        let addr = b.config.servers[server].address;
        Some((
            ServerLease {
                worker: Rc::clone(self),
                backend,
                server,
            },
            addr,
        ))
    }

    /// Give back one active connection of `server` (see [`ServerLease`]).
    fn release(&self, backend: usize, server: usize) {
        let mut backends = self.backends.borrow_mut();
        let Some(b) = backends.get_mut(backend) else {
            return;
        };
        let Some(s) = b.servers.get_mut(server) else {
            return;
        };
        let was_full = s.limit > 0 && s.active >= s.limit;
        s.active = s.active.saturating_sub(1);
        if was_full && s.has_room() {
            b.epoch += 1; // a candidate again
        }
        b.balancer.active_changed(server, &b.servers);
    }

    /// Run `f` on a server's state and statistics, if the slot exists.
    pub fn with_server<R>(
        &self,
        backend: usize,
        server: usize,
        f: impl FnOnce(&mut ServerState, &mut ServerStats) -> R,
    ) -> Option<R> {
        let mut backends = self.backends.borrow_mut();
        let b = backends.get_mut(backend)?;
        Some(f(b.servers.get_mut(server)?, b.stats.get_mut(server)?))
    }

    pub fn with_frontend_stats(&self, slot: usize, f: impl FnOnce(&mut FrontendStats)) {
        if let Some(s) = self.frontend_stats.borrow_mut().get_mut(slot) {
            f(s);
        }
    }

    /// An empty relay buffer, reused when one is free (see [`Buffers`]).
    pub fn take_buffer(&self) -> Vec<u8> {
        self.buffers.take()
    }

    /// Give a relay buffer back; whatever it still holds is discarded.
    pub fn give_buffer(&self, buf: Vec<u8>) {
        self.buffers.give(buf);
    }

    /// Give freed buffer memory back to the system. glibc keeps free chunks between
    /// live allocations resident; after a burst of busy connections turns idle that is
    /// most of the process's memory (HAProxy trims its pools for the same reason).
    /// Called off the request path, once a second at most, only after frees.
    pub fn trim_heap(&self) {
        if self.buffers.take_freed() > 0 {
            // SAFETY: malloc_trim has no preconditions; it only releases free memory.
            unsafe { libc::malloc_trim(0) };
        }
    }
}

/// One active connection (or attempt) on a server, counted in `ServerState::active`.
pub struct ServerLease {
    worker: Rc<Worker>,
    pub backend: usize,
    pub server: usize,
}

impl ServerLease {
    pub fn server_name(&self) -> String {
        let backends = self.worker.backends.borrow();
        backends[self.backend].config.servers[self.server]
            .name
            .clone()
    }
}

impl Drop for ServerLease {
    fn drop(&mut self) {
        self.worker.release(self.backend, self.server);
        self.worker.wake_next(self.backend);
    }
}
