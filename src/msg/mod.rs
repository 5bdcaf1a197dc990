//! The messages between the control plane and the workers, and nothing else: both
//! sides depend on this module, neither on the other.
//!
//! | file | what |
//! |---|---|
//! | `update.rs` | control → worker: [`Update`] (shutdown, server state, reload, snapshot, sample, ping) and [`SetServer`] |
//! | `channel.rs` | the per-worker channel + doorbell: [`Broadcaster`] (control's end), [`Inbox`] (worker's end) |
//! | `event.rs` | worker → control: [`Event`], and the worker's I/O [`Driver`] |
//! | `slots.rs` | [`Slots`]: stable indexes of frontends, backends, servers across reloads; [`Layout`] assigns them |
//! | `reload.rs` | [`Reload`]: the new configuration, slots, server states and listeners a worker gets |
//! | `stats.rs` | per-worker statistics: counters and histograms a worker keeps and sends as copies |
//! | `stats_tests.rs` | its tests |
//! | `tables.rs` | [`tables::SavedTable`]: tracking tables' entries carried over a binary upgrade |
//! | `buckets.rs` | [`buckets::Buckets`]: a small fixed-bucket latency histogram whose copies subtract (the history's percentiles) |

pub mod buckets;
mod channel;
mod event;
mod reload;
mod slots;
pub mod stats;
pub mod tables;
mod update;

pub use channel::{Broadcaster, Inbox};
pub use event::{Driver, Event};
pub use reload::Reload;
pub use slots::{Layout, Slots};
pub use update::{SetServer, Update};
