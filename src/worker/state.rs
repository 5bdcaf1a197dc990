//! What one worker owns: its copy of the frontends and backends, the servers'
//! state as this worker sees it, a balancer per backend, the connection gate and a
//! pool of relay buffers. Everything here is touched by this worker's thread only.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use super::local::{Flag, Gate};
use super::pool::Pool;
use crate::config::{self, Config};
use crate::http::Limits;
use crate::lb::{self, Balancer, Pick, ServerState};

/// Size of one buffer (HAProxy's default `tune.bufsize`); a session uses two. Larger
/// buffers move bulk data in fewer operations but cost memory per connection.
pub const BUF_SIZE: usize = 16 * 1024;
/// Buffers kept for reuse; beyond this, returned buffers are freed.
const POOL_MAX: usize = 256;

pub struct Worker {
    pub id: usize,
    pub frontends: Vec<config::Frontend>,
    pub backends: RefCell<Vec<BackendState>>,
    pub gate: Rc<Gate>,
    /// Raised when the worker must stop accepting (shutdown).
    pub stopping: Flag,
    /// Idle keep-alive connections to servers (HTTP mode).
    pub pool: Pool,
    pub http_limits: Limits,
    /// 0 = unlimited.
    pub max_body_bytes: u64,
    buffers: RefCell<Vec<Vec<u8>>>,
    /// Buffers freed (pool full) since the heap was last trimmed.
    freed: std::cell::Cell<usize>,
}

/// One backend as this worker sees it.
pub struct BackendState {
    pub config: config::Backend,
    pub servers: Vec<ServerState>,
    balancer: Box<dyn Balancer>,
}

impl Worker {
    pub fn new(id: usize, config: &Config, connection_limit: usize) -> Self {
        let backends = config
            .backends
            .iter()
            .map(|b| BackendState {
                servers: b
                    .servers
                    .iter()
                    .map(|s| ServerState::new(s.weight, s.backup))
                    .collect(),
                balancer: lb::new_balancer(b.balance, b.servers.len(), 0x9E37_79B9 ^ id as u64),
                config: b.clone(),
            })
            .collect();
        Worker {
            id,
            frontends: config.frontends.clone(),
            backends: RefCell::new(backends),
            gate: Rc::new(Gate::new(connection_limit)),
            stopping: Flag::default(),
            pool: Pool::new(config.backends.iter().map(|b| b.servers.len())),
            http_limits: Limits {
                max_request_line: config.global.max_request_line,
                max_header_bytes: config.global.max_header_bytes,
                max_headers: config
                    .global
                    .max_headers
                    .min(super::http_heads::MAX_HEADERS),
            },
            max_body_bytes: config.global.max_body_bytes,
            buffers: RefCell::new(Vec::new()),
            freed: std::cell::Cell::new(0),
        }
    }

    /// Pick a server of `backend` with its balancer and lease it (see [`Worker::lease`]).
    pub fn pick(
        self: &Rc<Self>,
        backend: usize,
        avoid: Option<usize>,
        client: IpAddr,
    ) -> Option<(ServerLease, SocketAddr)> {
        let server = {
            let mut backends = self.backends.borrow_mut();
            let b = backends.get_mut(backend)?;
            let pick = Pick {
                avoid,
                client: Some(client),
                now: Instant::now(),
            };
            b.balancer.pick(&b.servers, &pick)?
        };
        self.lease(backend, server)
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
        let state = b.servers.get_mut(server).filter(|s| s.usable())?;
        state.active += 1;
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

    /// Feed a latency sample of `server` to its estimate (for `p2c`).
    pub fn observe_latency(&self, backend: usize, server: usize, rtt: std::time::Duration) {
        let mut backends = self.backends.borrow_mut();
        if let Some(s) = backends
            .get_mut(backend)
            .and_then(|b| b.servers.get_mut(server))
        {
            s.latency.observe(rtt, Instant::now());
        }
    }

    /// A buffer of `BUF_SIZE` capacity, reused when one is free.
    pub fn take_buffer(&self) -> Vec<u8> {
        self.buffers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
    }

    pub fn give_buffer(&self, buf: Vec<u8>) {
        let mut pool = self.buffers.borrow_mut();
        if pool.len() < POOL_MAX && buf.capacity() >= BUF_SIZE {
            pool.push(buf);
        } else if buf.capacity() > 0 {
            self.freed.set(self.freed.get() + 1);
        }
    }

    /// Give freed buffer memory back to the system. glibc keeps free chunks between
    /// live allocations resident; after a burst of busy connections turns idle that is
    /// most of the process's memory (HAProxy trims its pools for the same reason).
    /// Called off the request path, once a second at most, only after frees.
    pub fn trim_heap(&self) {
        if self.freed.replace(0) > 0 {
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
        if let Some(b) = self.worker.backends.borrow_mut().get_mut(self.backend) {
            if let Some(s) = b.servers.get_mut(self.server) {
                s.active = s.active.saturating_sub(1);
            }
        }
    }
}
