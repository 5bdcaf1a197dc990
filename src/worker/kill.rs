//! `on_marked_down = "shutdown_sessions"`: the sessions to a server end when its
//! health check marks it down. Each such session waits on its server's [`Flag`]
//! next to its relay; the control thread's "down" decision raises the flag (on every
//! worker, through its inbox) and replaces it, so that sessions opened after the
//! server came back wait on a fresh one.

use std::rc::Rc;

use super::local::Flag;
use super::state::Worker;

impl Worker {
    /// The flag a new session to `server` of `backend` waits on, when that server
    /// shuts its sessions down on being marked down.
    pub(super) fn kill_flag(&self, backend: usize, server: usize) -> Option<Rc<Flag>> {
        let on = self
            .backends
            .borrow()
            .get(backend)
            .and_then(|b| b.config.servers.get(server))
            .is_some_and(|s| s.shutdown_on_down);
        if !on {
            return None;
        }
        let mut kills = self.kills.borrow_mut();
        Some(Rc::clone(kills.entry((backend, server)).or_default()))
    }

    /// `server` of `backend` was just marked down: end the sessions waiting on its flag.
    pub(super) fn shut_sessions_down(&self, backend: usize, server: usize) {
        let flag = self.kills.borrow_mut().remove(&(backend, server));
        if let Some(f) = flag {
            f.raise();
        }
    }
}
