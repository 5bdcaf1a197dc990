//! Workers → control plane: [`Event`]s (started, stopped, passive-health error runs,
//! statistics copies, ping answers), and the I/O [`Driver`] a worker reports.

use super::stats::WorkerStats;

/// The I/O driver a worker ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Legacy,
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Driver::IoUring => "io_uring",
            Driver::Legacy => "legacy (epoll)",
        })
    }
}

/// What reaches the control thread.
#[derive(Debug)]
pub enum Event {
    Signal(i32),
    WorkerStarted {
        id: usize,
        driver: Driver,
    },
    WorkerStopped(usize),
    /// Passive health: a worker's run of server-side errors on a server is now
    /// `streak` (0: a success ended it).
    ServerErrors {
        worker: usize,
        backend: usize,
        server: usize,
        streak: u32,
    },
    /// A worker's answer to `Update::Ping`.
    Pong(usize),
    /// A worker's answer to `Update::Snapshot(id)`.
    Stats {
        id: u64,
        stats: Box<WorkerStats>,
    },
    /// A worker's answer to `Update::SaveTables`.
    Tables {
        id: u64,
        worker: usize,
        tables: Box<Vec<super::tables::SavedTable>>,
    },
}
