//! Active-active over BGP and ECMP: this node's service addresses are announced to
//! the routers by BIRD 2 while the node is healthy and not drained. ringlb speaks no
//! BGP: it decides *whether* the addresses are on its own TUN device, and BIRD's
//! `direct` protocol exports what is there. The device dies with the process, so a
//! killed ringlb is withdrawn without any helper (see `docs/scale-out.md`).
//!
//! | file | what |
//! |---|---|
//! | `decide.rs` | whether to announce: health, the operator's switch, stopping, hold-down (pure) |
//! | `tun.rs` | the non-persistent TUN device that carries the addresses |
//! | `run.rs` | [`Announcer`]: the device, netlink changes, status for the admin API |

mod decide;
mod run;
mod tun;

pub use decide::{Decider, Decision};
pub use run::{adopt, prepare, AnnounceError, Announcer, Carried, Prepared, Status};
