//! Stopping a worker: a shutdown (stop accepting, close idle keep-alive connections,
//! finish the others) or a binary upgrade's release (stop accepting but leave the
//! shared listening sockets open, finish every connection at its next request).

use super::state::Worker;

impl Worker {
    pub fn stop(&self) {
        self.stopping.raise();
        self.closing_idle.raise();
        self.hot.end_all();
    }

    /// A binary upgrade: stop accepting but leave the listening sockets to the new
    /// process; an idle keep-alive connection is not closed under a client that may be
    /// sending on it, it gets `connection: close` on its next response (or its
    /// keep-alive timeout, or the grace period, ends it).
    pub fn release_listeners(&self) {
        self.released.set(true);
        self.stopping.raise();
    }

    /// Whether stopping must leave the listening sockets open for another process.
    pub fn released(&self) -> bool {
        self.released.get()
    }

    /// Whether idle keep-alive connections must close now (a shutdown).
    pub fn is_closing_idle(&self) -> bool {
        self.closing_idle.is_raised()
    }

    /// Resolves once a keep-alive connection's hot wait begun now is over (1 to 1.5 s,
    /// `hot_ticks.rs`), or idle keep-alive connections must close.
    pub async fn hot_wait_over(&self) {
        self.hot.wait().await
    }

    /// The worker's tick for the hot waits (a task for its whole life).
    pub async fn run_hot_ticks(&self) {
        super::hot_ticks::run(&self.hot).await
    }

    /// Resolves once idle keep-alive connections must close.
    pub async fn until_closing_idle(&self) {
        self.closing_idle.wait().await
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.is_raised()
    }

    /// Resolves once the worker must stop accepting.
    pub async fn until_stopping(&self) {
        self.stopping.wait().await
    }

    /// An accept loop starts (`+1`) or ends (`-1`).
    pub fn count_accept_loop(&self, starts: bool) {
        let n = self.accept_loops.get();
        self.accept_loops
            .set(if starts { n + 1 } else { n.saturating_sub(1) });
    }

    /// Accept loops still running.
    pub fn accept_loops(&self) -> usize {
        self.accept_loops.get()
    }
}
