//! Virtual IP ownership over VRRPv3 (RFC 9568), run by the control thread. This
//! first part is the protocol without I/O: the advertisement codec (`packet`, both
//! checksum forms, keepalived's and the RFC's) and the state machine (`machine`,
//! RFC timing, preemption, priority 0 on the way out). The sockets, the addresses
//! (netlink), gratuitous ARP and health-aware priority come next; until then a
//! `[vrrp]` section is refused by the configuration check.

pub mod machine;
pub mod packet;

pub use machine::{Action, Config, Event, Router, State};
pub use packet::{Advert, ChecksumForm, Drop};
