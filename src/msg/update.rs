//! What the control plane tells workers: [`Update`], and the server state it carries
//! ([`SetServer`]).

use super::reload::Reload;
use crate::lb::{Admin, Oper};

/// What the control thread tells workers.
#[derive(Debug)]
pub enum Update {
    /// Stop accepting; finish open connections; then end.
    Shutdown,
    /// A binary upgrade: another process accepts on the same listening sockets now.
    /// Stop accepting without shutting them down, finish open connections (an idle
    /// keep-alive one at its next request), then end.
    Release,
    /// A server's state as the control thread decided it (checks, operator, slow
    /// start). Indexes are slots, stable across reloads.
    Server {
        backend: usize,
        server: usize,
        set: SetServer,
    },
    /// Send a copy of your statistics, tagged with this number.
    Snapshot(u64),
    /// Send a copy of your counters without the tracking tables (whose busiest entries
    /// take a walk over every entry), tagged with this number: the history's sample,
    /// every few seconds.
    Sample(u64),
    /// Say you are alive (VRRP health tracking).
    Ping(u64),
    /// A new configuration, with this worker's new listeners.
    Reload(Box<Reload>),
    /// A runtime-resolved server's new address (DNS); a server without one is also
    /// told to take no traffic, in an `Update::Server` that follows.
    Address {
        backend: usize,
        server: usize,
        addr: std::net::SocketAddr,
    },
    /// Drop one entry of a tracking table (admin API): table name, key as text.
    ClearTableEntry { table: String, key: String },
}

/// A server's state as the workers must apply it (HAProxy's three parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetServer {
    pub oper: Oper,
    pub admin: Admin,
    /// The effective weight: the operator's weight with slow start applied.
    pub weight: u32,
}

impl SetServer {
    /// May take traffic (the workers derive the same from their copy).
    pub fn usable(&self) -> bool {
        self.oper == Oper::Up && self.admin == Admin::Ready && self.weight > 0
    }

    /// A server as it starts: up (checks may take it down), ready, its configured
    /// weight (scaled for the balancers).
    pub fn initial(weight: u32) -> Self {
        SetServer {
            oper: Oper::Up,
            admin: Admin::Ready,
            weight: weight * crate::lb::WEIGHT_SCALE,
        }
    }

    /// [`SetServer::initial`] for `s`, in maintenance while it has no address yet (a
    /// runtime-resolved server before its first answer).
    pub fn initial_of(s: &crate::config::Server) -> Self {
        let mut set = Self::initial(s.weight);
        if !s.resolved || s.disabled {
            set.admin = Admin::Maint;
        }
        set
    }
}
