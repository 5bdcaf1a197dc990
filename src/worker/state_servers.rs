//! `Worker`'s methods on servers: picking one with the backend's balancer, leasing it
//! (the lease counts the connection until dropped), waiting in the backend's queue
//! while every server is full, a server's address and state. A child of `state.rs`,
//! so it reaches the worker's fields.

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use super::Worker;
use crate::config;
use crate::lb::ServerState;
use crate::msg::stats::ServerStats;
use crate::worker::backend::Choice;
use crate::worker::lease::{NoSlot, Picked, ServerLease};
use crate::worker::queue;

impl Worker {
    /// Pick a server of `backend` with its balancer and lease it (see [`Worker::lease`]).
    /// `queued`: the caller was just woken from the queue (newcomers queue behind waiters).
    /// `now`: the clock, for the balancers that weigh by time.
    fn pick(
        self: &Rc<Self>,
        backend: usize,
        avoid: Option<usize>,
        key: (IpAddr, Option<u32>),
        (queued, now): (bool, Instant),
    ) -> Picked {
        let choice = match self.backends.borrow_mut().get_mut(backend) {
            Some(b) => b.pick(avoid, key, queued, now),
            None => Choice::NoServer,
        };
        match choice {
            Choice::Server(server) => match self.lease(backend, server) {
                Some((lease, addr)) => Picked::Lease(lease, addr),
                None => Picked::NoServer,
            },
            Choice::Full => Picked::Full,
            Choice::NoServer => Picked::NoServer,
        }
    }

    /// Pick and lease a server, waiting in the backend's queue (FIFO, `timeout_queue`)
    /// while every usable server is at its connection limit. `key`: the client's
    /// address and the request's key hash, for the hashing balancers. `now`: the clock
    /// as the caller read it; with the lease comes the clock at the pick that got it
    /// (`now`, unless it waited in the queue), one read per request.
    pub async fn acquire(
        self: &Rc<Self>,
        backend: usize,
        avoid: Option<usize>,
        key: (IpAddr, Option<u32>),
        mut now: Instant,
    ) -> Result<(ServerLease, SocketAddr, Instant), NoSlot> {
        let mut queued = false;
        let mut deadline = None;
        loop {
            let picked = self.pick(backend, avoid, key, (queued, now));
            if queued {
                // Pass the turn on if there is room for the next one too.
                self.wake_next(backend);
            }
            match picked {
                Picked::Lease(lease, addr) => return Ok((lease, addr, now)),
                Picked::NoServer => return Err(NoSlot::NoServer),
                Picked::Full => {}
            }
            let (waiter, timeout) = {
                let mut backends = self.backends.borrow_mut();
                let b = &mut backends[backend];
                let timeout = b.config.timeout_queue;
                let waiter = b.queue.join().map_err(NoSlot::Queue)?;
                b.joined();
                (waiter, timeout)
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
            now = Instant::now();
        }
    }

    /// A slot may have freed up in `backend`: wake the first waiter if a server has
    /// room, or every waiter if no server is usable at all (they get their 503 now).
    pub fn wake_next(&self, backend: usize) {
        if let Some(b) = self.backends.borrow_mut().get_mut(backend) {
            b.wake_next();
        }
    }

    /// Count one more active connection on `server` if it is usable; the lease gives
    /// the count back when dropped.
    pub fn lease(
        self: &Rc<Self>,
        backend: usize,
        server: usize,
    ) -> Option<(ServerLease, SocketAddr)> {
        let addr = self.backends.borrow_mut().get_mut(backend)?.lease(server)?;
        Some((ServerLease::counted(Rc::clone(self), backend, server), addr))
    }

    /// Lease `server` for a request its persistence cookie sends there (see
    /// `BackendState::lease_sticky`).
    pub fn lease_sticky(
        self: &Rc<Self>,
        backend: usize,
        server: usize,
    ) -> Option<(ServerLease, SocketAddr)> {
        let addr = self
            .backends
            .borrow_mut()
            .get_mut(backend)?
            .lease_sticky(server)?;
        Some((ServerLease::counted(Rc::clone(self), backend, server), addr))
    }

    /// A runtime-resolved server's new address: idle connections to the old one go.
    pub fn set_address(&self, backend: usize, server: usize, addr: SocketAddr) {
        if let Some(b) = self.backends.borrow_mut().get_mut(backend) {
            b.set_address(server, addr);
        }
        self.pool.clear(backend, server);
    }

    /// Read a backend's configuration (without holding the borrow across an await).
    pub fn with_backend_config<R>(
        &self,
        backend: usize,
        f: impl FnOnce(&config::Backend) -> R,
    ) -> R {
        f(&self.backends.borrow()[backend].config)
    }

    /// Give back one active connection of `server` (see [`ServerLease`]).
    pub(in crate::worker) fn release(&self, backend: usize, server: usize) {
        if let Some(b) = self.backends.borrow_mut().get_mut(backend) {
            b.release(server);
        }
    }

    /// Run `f` on a server's state and statistics, if the slot exists.
    pub(in crate::worker) fn with_server<R>(
        &self,
        backend: usize,
        server: usize,
        f: impl FnOnce(&mut ServerState, &mut ServerStats) -> R,
    ) -> Option<R> {
        let mut backends = self.backends.borrow_mut();
        let b = backends.get_mut(backend)?;
        Some(f(b.servers.get_mut(server)?, b.stats.get_mut(server)?))
    }
}
