//! Binary upgrade with virtual routers: the old process hands each router's state to
//! the new one, so an upgrade causes no failover. The old process snapshots its
//! routers ([`Vrrp::carried`]) into the takeover offer and keeps running them until
//! the new process is ready; the new one starts each router in that state
//! ([`Instance::resume`]: a master advertises at once and keeps its addresses, a
//! backup starts its down timer afresh), then the old one lets go of the routers the
//! new one runs without a word ([`Vrrp::hand_over`]: no priority-0 advert, addresses
//! kept, no `notify`), and gives up the others (removed from the file) as at a stop.
//! Both processes advertise for a moment with the same source address: each ignores
//! the other's adverts as its own.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::machine::{Action, Event, Peer, State};
use super::run::Instance;
use super::set::{Prepared, Vrrp};
use super::status::state_name;
use super::sync::Change;

/// Which virtual router: its interface and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterId {
    pub interface: String,
    pub vrid: u8,
}

/// One router's state as the old process hands it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    pub id: RouterId,
    pub name: String,
    /// `MASTER`, `BACKUP`, `FAULT` or `INIT` (keepalived's words).
    pub state: String,
    /// The priority it advertised (tracking included).
    pub priority: u8,
    /// The master last heard (a backup), as text.
    pub master: Option<String>,
    /// Milliseconds since that master's last advert (a backup), for the log.
    pub last_advert_ms: Option<u64>,
    /// For the log: `the old process`, or `the running configuration` (a reload).
    #[serde(default = "old_process")]
    pub from: String,
    /// The other routers heard, so that a master whose priority drops can still hand
    /// over at once (`machine.rs`).
    #[serde(default)]
    pub peers: Vec<CarriedPeer>,
}

/// A router heard, as carried: its address as text, and how long ago it was heard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedPeer {
    pub address: String,
    pub priority: u8,
    pub interval_ms: u64,
    pub age_ms: u64,
}

fn old_process() -> String {
    "the old process".into()
}

impl Carried {
    fn is_master(&self) -> bool {
        self.state == state_name(State::Master, false)
    }
}

impl Instance {
    pub(super) fn id(&self) -> RouterId {
        RouterId {
            interface: self.config.interface.clone(),
            vrid: self.config.vrid,
        }
    }

    pub(super) fn snapshot(&self, now: Instant) -> Carried {
        let router = self.router.borrow();
        let master = router.master.filter(|&m| m != self.iface.primary);
        let heard = master.and_then(|m| router.peers.iter().find(|p| p.address == m));
        Carried {
            id: self.id(),
            name: self.config.name.clone(),
            state: state_name(router.state, false).to_string(),
            priority: router.config.priority,
            master: master.map(|m: IpAddr| m.to_string()),
            last_advert_ms: heard
                .map(|p| now.saturating_duration_since(p.heard).as_millis() as u64),
            from: old_process(),
            peers: router
                .peers
                .iter()
                .map(|p| CarriedPeer {
                    address: p.address.to_string(),
                    priority: p.priority,
                    interval_ms: p.interval.as_millis() as u64,
                    age_ms: now.saturating_duration_since(p.heard).as_millis() as u64,
                })
                .collect(),
        }
    }

    /// Whether a carried state makes this router start as master (its addresses are
    /// then kept, not cleared as an earlier run's leftovers).
    pub(super) fn starts_as_master(carried: Option<&Carried>) -> bool {
        carried.is_some_and(Carried::is_master)
    }

    /// New process (or a reload): start in the carried state instead of from boot. A master sends
    /// an advert at once and keeps (re-adds, announces) its addresses; anything else
    /// starts as a backup with a fresh down timer. `notify` is not run: the state is
    /// not new.
    pub(super) fn resume(&self, c: &Carried) {
        let now = Instant::now();
        let mut actions = self.router.borrow_mut().handle(Event::Startup, now);
        if c.is_master() && self.router.borrow().state == State::Backup {
            actions = self.router.borrow_mut().handle(Event::SyncMaster, now);
        }
        for action in actions {
            match action {
                Action::Entered(state) => {
                    let priority = self.router.borrow().config.priority;
                    let heard = match (&c.master, c.last_advert_ms) {
                        (Some(m), Some(ms)) => format!(", master {m} heard {ms} ms before"),
                        _ => String::new(),
                    };
                    tracing::info!(
                        "vrrp: {} carried over from {} in {} state (priority {priority}; was {}{heard})",
                        self.config.name,
                        c.from,
                        state_name(state, false),
                        c.state
                    );
                }
                other => self.act(other),
            }
        }
        self.remember(c, now);
        let _ = self.wake.unbounded_send(());
        self.tell_group(Change::Entered);
    }

    /// The peers and the master the old router knew (for the immediate hand-over
    /// and the status page).
    fn remember(&self, c: &Carried, now: Instant) {
        let mut router = self.router.borrow_mut();
        for p in &c.peers {
            let Ok(address) = p.address.parse() else {
                continue;
            };
            router.peers.push(Peer {
                address,
                priority: p.priority,
                interval: Duration::from_millis(p.interval_ms),
                heard: now
                    .checked_sub(Duration::from_millis(p.age_ms))
                    .unwrap_or(now),
            });
        }
        if router.state == State::Backup {
            router.master = c.master.as_deref().and_then(|m| m.parse().ok());
        }
    }

    /// Old process, the new one runs this router now (or a reload replaced it):
    /// stop without a word (no priority-0 advert, addresses kept, no `notify`).
    /// Events change nothing after.
    pub(super) fn release(&self, why: &str) {
        if self.stopped.replace(true) {
            return;
        }
        self.announce_again.set(None);
        let was = self.router.borrow().state;
        self.router.borrow_mut().state = State::Initialize;
        let _ = self.wake.unbounded_send(());
        tracing::info!(
            "vrrp: {} {why} in {} state (no priority-0 advert, addresses kept)",
            self.config.name,
            state_name(was, false)
        );
    }
}

impl Vrrp {
    /// Old process: every router's state, for the offer.
    pub fn carried(&self) -> Vec<Carried> {
        let now = Instant::now();
        self.routers
            .borrow()
            .iter()
            .map(|r| r.snapshot(now))
            .collect()
    }

    /// The routers this process runs (the new process tells the old one).
    pub fn ids(&self) -> Vec<RouterId> {
        self.routers.borrow().iter().map(|r| r.id()).collect()
    }

    /// Old process, the new one ready: let go of the routers it runs (`kept`)
    /// quietly; the others were removed from the file and give up (priority 0,
    /// addresses removed), as at a stop.
    pub fn hand_over(&self, kept: &[RouterId]) {
        for r in self.routers.borrow().iter() {
            if kept.contains(&r.id()) {
                r.release("handed over to the new process");
            } else {
                tracing::info!(
                    "vrrp: {} is not in the new process's file: giving it up",
                    r.config.name
                );
                r.stop();
            }
        }
    }

    /// New process, not ready after all (it exits): let go without a word, the old
    /// process still runs these routers.
    pub fn release_all(&self) {
        for r in self.routers.borrow().iter() {
            r.release("left to the old process");
        }
    }
}

impl Prepared {
    /// New process: the states the old process handed over, matched to the file's
    /// routers by interface and id (a router new in the file starts as from boot).
    pub fn carry(&mut self, carried: Vec<Carried>) {
        for r in &mut self.routers {
            let id = RouterId {
                interface: r.config.interface.clone(),
                vrid: r.config.vrid,
            };
            r.carried = carried.iter().find(|c| c.id == id).cloned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_state_round_trips_and_names_keepalived_states() {
        let c = Carried {
            id: RouterId {
                interface: "eth0".into(),
                vrid: 51,
            },
            name: "VI_1".into(),
            state: "MASTER".into(),
            priority: 150,
            master: None,
            last_advert_ms: None,
            from: old_process(),
            peers: vec![CarriedPeer {
                address: "192.0.2.2".into(),
                priority: 100,
                interval_ms: 1000,
                age_ms: 300,
            }],
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Carried>(&text).unwrap(), c);
        assert!(Instance::starts_as_master(Some(&c)));
        let backup = Carried {
            state: "BACKUP".into(),
            ..c
        };
        assert!(!Instance::starts_as_master(Some(&backup)));
        assert!(!Instance::starts_as_master(None));
    }
}
