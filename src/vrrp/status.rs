//! What the admin API shows of a virtual router: counters, a status snapshot, the
//! state names (keepalived's), and who is told of every state change ([`watch`]).

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::SystemTime;

use super::machine::State;
use super::packet::Drop;

/// Counters and facts for the stats page and /metrics.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// By [`Drop::index`].
    pub dropped: [u64; Drop::REASONS.len()],
    pub transitions: u64,
    pub became_master: u64,
    pub last_transition: Option<SystemTime>,
    /// Netlink or socket errors while acting (each is logged).
    pub errors: u64,
}

/// A snapshot for the admin API.
#[derive(Debug, Clone)]
pub struct Status {
    pub name: String,
    /// The sync group it belongs to.
    pub group: Option<String>,
    pub interface: String,
    pub primary: IpAddr,
    pub vrid: u8,
    pub state: State,
    pub base_priority: u8,
    pub priority: u8,
    pub master: Option<IpAddr>,
    pub virtual_ips: Vec<(IpAddr, u8)>,
    /// Why the priority is lowered (empty when it is not).
    pub tracking: Vec<String>,
    /// The other routers heard, with their last priority: a master hands over at
    /// once when its priority falls below one of them.
    pub peers: Vec<(IpAddr, u8)>,
    pub counters: Counters,
}

/// Told of every state change of a router (`group` false) or a sync group (true):
/// its name and keepalived's state name (STOP when stopping), in order.
pub type Watcher = Box<dyn Fn(&str, bool, &'static str)>;

thread_local! {
    /// The routers run on the control thread: its watcher (alert mails).
    static WATCHER: RefCell<Option<Watcher>> = const { RefCell::new(None) };
}

/// Tell `w` of every state change of the routers run on this thread from now on.
pub fn watch(w: Watcher) {
    WATCHER.with(|cell| *cell.borrow_mut() = Some(w));
}

/// A router or group entered `state` (called where notify programs are).
pub(super) fn changed(name: &str, group: bool, state: &'static str) {
    WATCHER.with(|cell| {
        if let Some(w) = &*cell.borrow() {
            w(name, group, state);
        }
    });
}

/// The names keepalived uses, so notify scripts read alike.
pub fn state_name(state: State, stopped: bool) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Initialize if stopped => "STOP",
        State::Initialize => "INIT",
        State::Fault => "FAULT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_keepalived_s() {
        assert_eq!(state_name(State::Master, false), "MASTER");
        assert_eq!(state_name(State::Backup, false), "BACKUP");
        assert_eq!(state_name(State::Initialize, true), "STOP");
    }
}
