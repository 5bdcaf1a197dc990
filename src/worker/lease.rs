//! A server taken for one connection or request: [`ServerLease`] counts it in the
//! server's active connections for as long as it lives, and what picking one can end
//! in ([`Picked`], [`NoSlot`]).

use std::net::SocketAddr;
use std::rc::Rc;

use super::queue::Refused;
use super::state::Worker;

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

/// One active connection (or attempt) on a server, counted in `ServerState::active`;
/// dropping it gives the count back and may wake a queued request.
pub struct ServerLease {
    worker: Rc<Worker>,
    pub backend: usize,
    pub server: usize,
}

impl ServerLease {
    /// Only [`Worker::lease`] makes one, after counting it.
    pub(super) fn counted(worker: Rc<Worker>, backend: usize, server: usize) -> ServerLease {
        ServerLease {
            worker,
            backend,
            server,
        }
    }

    pub fn server_name(&self) -> String {
        self.worker.server_name(self.backend, self.server)
    }
}

impl Drop for ServerLease {
    fn drop(&mut self) {
        self.worker.release(self.backend, self.server);
        self.worker.wake_next(self.backend);
    }
}
