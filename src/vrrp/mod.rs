//! Virtual IP ownership over VRRPv3 (RFC 9568), run by the control thread, so that
//! ringlb does keepalived's job beside HAProxy's. The protocol itself is pure and
//! tested without I/O: the advertisement codec (`packet`, both checksum forms,
//! keepalived's and the RFC's; over IPv6 too), the frames around it (`wire`: IPv4
//! header with TTL 255, gratuitous ARP, IPv6 neighbour advertisements) and the state
//! machine (`machine`: RFC timing, preemption, priority 0 on the way out). `run` drives it with the sockets of `io`, the
//! addresses of `netlink` and the `notify` program; health tracking lowers the
//! priority through [`Vrrp::track`].
//!
//! | file | what |
//! |---|---|
//! | `packet.rs` | the advertisement codec, both checksum forms (pure) |
//! | `wire.rs` | IPv4 header and gratuitous ARP frames (pure) |
//! | `machine.rs` | the RFC 9568 state machine: a function of event and time (pure) |
//! | `machine_tests.rs` | its tests: timers, preemption, FAULT, hand-over to a known router |
//! | `receive.rs` | checks on a received advertisement before the machine sees it |
//! | `run.rs` | one virtual router at work: drives the machine, carries out its actions |
//! | `status.rs` | counters and the status snapshot the admin API shows; keepalived's state names; the state-change watcher |
//! | `set.rs` | every virtual router of the process and their sync groups: start, track, stop, status |
//! | `track.rs` | a router's priority and FAULT from what it tracks, keepalived's weights, rise/fall (pure) |
//! | `tracking.rs` | tracking at work: frontends, interfaces, check programs (a thread each), files |
//! | `handover.rs` | binary upgrade: a router's state handed to the new process, let go quietly by the old |
//! | `reconfigure.rs` | reload: unchanged routers untouched, changed ones replaced in their state, others given up or started |
//! | `sync.rs` | sync groups: what the other members do when one changes (pure) |
//! | `io.rs` | the raw protocol-112 socket and the packet socket for ARP |
//! | `io6.rs` | their IPv6 counterparts: raw next-header-112 and ICMPv6 sockets, hop limit and source beside each datagram |
//! | `netlink.rs` | interface facts, virtual IPs added and removed, link notifications |
//! | `notify.rs` | the `notify` program, run in order on its own thread |
//! | `script.rs` | starting notify and track programs as `global.script_user` |

mod handover;
mod io;
mod io6;
pub mod machine;
pub mod netlink;
mod notify;
pub mod packet;
mod receive;
mod reconfigure;
mod run;
mod script;
mod set;
mod status;
pub mod sync;
pub mod track;
mod tracking;
pub mod wire;

pub use handover::{Carried, CarriedPeer, RouterId};
pub use machine::{Action, Config, Event, Router, State};
pub use packet::{Advert, ChecksumForm, Drop};
pub use reconfigure::Plan;
pub use run::VrrpError;
pub use set::{prepare, Prepared, Vrrp};
pub use status::{state_name, watch, Counters, Status, Watcher};
