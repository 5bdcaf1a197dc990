//! Control → workers. Each worker has a crossbeam channel for updates and a
//! "doorbell" (a futures-aware channel of `()`, which monoio's `sync` feature lets us
//! wake from another thread). The control thread sends the update, then rings; the
//! worker wakes and drains the updates with `try_recv`.

use crossbeam_channel::{Receiver, Sender};
use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};

use super::update::Update;

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

    pub fn workers(&self) -> usize {
        self.outboxes.len()
    }

    /// Send `update` to one worker (if it is still there) and wake it.
    pub fn send(&self, worker: usize, update: Update) {
        if let Some((tx, bell)) = self.outboxes.get(worker) {
            if tx.send(update).is_ok() {
                let _ = bell.unbounded_send(());
            }
        }
    }

    /// Send the update `make` builds for each worker to every worker.
    pub fn send_all(&self, make: impl Fn() -> Update) {
        for worker in 0..self.outboxes.len() {
            self.send(worker, make());
        }
    }
}
