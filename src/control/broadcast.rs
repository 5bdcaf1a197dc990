//! Control → workers. Each worker has a crossbeam channel for updates and a
//! "doorbell" (a futures-aware channel of `()`, which monoio's `sync` feature lets us
//! wake from another thread). The control thread sends the update, then rings; the
//! worker wakes and drains the updates with `try_recv`.

use crossbeam_channel::{Receiver, Sender};
use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};

/// What the control thread tells workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Stop accepting; finish open connections; then end.
    Shutdown,
}

/// A worker's end.
pub struct Inbox {
    pub updates: Receiver<Update>,
    pub doorbell: UnboundedReceiver<()>,
}

/// The control thread's end: one outbox per worker.
#[derive(Default)]
pub struct Broadcaster {
    outboxes: Vec<(Sender<Update>, UnboundedSender<()>)>,
}

impl Broadcaster {
    /// Make the channels of one more worker.
    pub fn add_worker(&mut self) -> Inbox {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (bell_tx, bell_rx) = unbounded();
        self.outboxes.push((tx, bell_tx));
        Inbox {
            updates: rx,
            doorbell: bell_rx,
        }
    }

    /// Send `update` to every worker that is still there.
    pub fn send_all(&self, update: &Update) {
        for (tx, bell) in &self.outboxes {
            if tx.send(update.clone()).is_ok() {
                let _ = bell.unbounded_send(());
            }
        }
    }
}
