//! The VRRPv3 state machine (RFC 9568 §6.4), pure: [`Router::handle`] takes an event
//! and the time, changes the state and returns what to do (send an advertisement,
//! take or give up the virtual addresses). The caller owns sockets, addresses and
//! timers; [`Router::deadline`] says when to call back with [`Event::Timer`].
//!
//! One addition to the RFC: the machine remembers the priority of every router it
//! has heard ([`Router::peers`]). A master whose own priority drops (health tracking)
//! below that of a router it knows hands over at once, with a priority-0
//! advertisement, instead of leaving the backup to wait `Master_Down_Interval` while
//! it ignores the lowered adverts (what the RFC, and keepalived, do).

use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// The interface is down: no adverts, no addresses (keepalived's FAULT).
    Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Startup,
    /// Stop: a master says so with a priority-0 advertisement.
    Shutdown,
    /// An advertisement of our virtual router (already checked).
    Advert {
        from: IpAddr,
        priority: u8,
        interval: Duration,
    },
    /// The deadline passed.
    Timer,
    /// Our own priority changed (health tracking).
    Priority(u8),
    /// The router cannot serve (FAULT): its interface lost its link or was set down;
    /// and the end of any FAULT.
    LinkDown,
    LinkUp,
    /// FAULT with a working link (tracking with weight 0, a sync group member in
    /// FAULT): a master says priority 0 on the way out, so the peer takes over at once.
    Fault,
    /// Sync groups: every member wants to be master, go (from BACKUP).
    SyncMaster,
    /// Sync groups: a member left MASTER, leave too (priority 0, then BACKUP).
    SyncBackup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority.
    Advertise(u8),
    /// Add the virtual addresses and announce them (gratuitous ARP).
    TakeAddresses,
    RemoveAddresses,
    /// The state changed (log, notify program, statistics).
    Entered(State),
    /// A master whose priority fell below `priority`, that of `to` (a router heard
    /// before), hands over: it has just advertised priority 0 (for the log).
    HandOver {
        to: IpAddr,
        priority: u8,
    },
    /// A sync group member's down timer ran out: it would be master, but waits for
    /// the whole group to want it too ([`Event::SyncMaster`]).
    WantMaster,
}

/// Another router of this virtual router, as last heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub address: IpAddr,
    pub priority: u8,
    pub interval: Duration,
    pub heard: Instant,
}

/// Routers remembered at most (a virtual router has a handful).
const MAX_PEERS: usize = 16;

#[derive(Debug, Clone)]
pub struct Config {
    pub priority: u8,
    pub interval: Duration,
    pub preempt: bool,
    /// Wait this long before preempting a lower-priority master (keepalived's
    /// `preempt_delay`).
    pub preempt_delay: Duration,
    /// Our primary address (ties between equal priorities go to the higher one).
    pub address: IpAddr,
    /// A member of a sync group: become master only with the group.
    pub sync: bool,
}

#[derive(Debug, Clone)]
pub struct Router {
    pub config: Config,
    pub state: State,
    /// The interval the current master advertises (learnt from its adverts).
    pub master_interval: Duration,
    /// Who we last heard as master (for the stats page).
    pub master: Option<IpAddr>,
    /// Master: next advertisement. Backup: when the master is declared down.
    timer: Option<Instant>,
    /// Backup with `preempt_delay`: when a lower-priority master was first heard.
    lower_since: Option<Instant>,
    /// The other routers heard, with their last priority (see the module comment).
    pub peers: Vec<Peer>,
    /// Sync groups: a backup whose down timer ran out, waiting for its group.
    pub wants_master: bool,
}

/// `((256 − priority) × interval) / 256`.
pub fn skew_time(priority: u8, master_interval: Duration) -> Duration {
    master_interval * (256 - u32::from(priority)) / 256
}

/// `3 × interval + skew`.
pub fn master_down_interval(priority: u8, master_interval: Duration) -> Duration {
    3 * master_interval + skew_time(priority, master_interval)
}

impl Router {
    pub fn new(config: Config) -> Self {
        Router {
            master_interval: config.interval,
            config,
            state: State::Initialize,
            master: None,
            timer: None,
            lower_since: None,
            peers: Vec::new(),
            wants_master: false,
        }
    }

    /// Remember `from`'s priority; a priority-0 advert says it is leaving.
    fn heard(&mut self, from: IpAddr, priority: u8, interval: Duration, now: Instant) {
        self.peers.retain(|p| p.address != from);
        if priority == 0 {
            return;
        }
        if self.peers.len() == MAX_PEERS {
            self.peers.remove(0); // the least recently heard
        }
        self.peers.push(Peer {
            address: from,
            priority,
            interval,
            heard: now,
        });
    }

    /// The known router that would win the election against our priority `p`, if any
    /// (the highest one).
    fn outranked_by(&self, p: u8) -> Option<Peer> {
        self.peers
            .iter()
            .filter(|peer| (peer.priority, peer.address) > (p, self.config.address))
            .max_by_key(|peer| (peer.priority, peer.address))
            .copied()
    }

    /// When to send [`Event::Timer`], if anything is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.timer
    }

    fn down_timer(&self, now: Instant) -> Option<Instant> {
        Some(now + master_down_interval(self.config.priority, self.master_interval))
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        // Routers silent for three of their intervals are gone (the master whose
        // silence made us take over, among others): never hand over to them.
        self.peers
            .retain(|p| now.saturating_duration_since(p.heard) < 3 * p.interval);
        self.state = State::Master;
        self.wants_master = false;
        self.master = Some(self.config.address);
        self.lower_since = None;
        self.timer = Some(now + self.config.interval);
        out.push(Action::Advertise(self.config.priority));
        out.push(Action::TakeAddresses);
        out.push(Action::Entered(State::Master));
    }

    fn become_backup(&mut self, now: Instant, out: &mut Vec<Action>) {
        let was_master = self.state == State::Master;
        self.state = State::Backup;
        self.wants_master = false;
        self.timer = self.down_timer(now);
        if was_master {
            out.push(Action::RemoveAddresses);
        }
        out.push(Action::Entered(State::Backup));
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match (self.state, event) {
            (State::Initialize, Event::Startup) | (State::Fault, Event::LinkUp) => {
                self.start(now, &mut out)
            }
            // Tracking may change the priority in any state (before startup too: the
            // first adverts then carry it).
            (_, Event::Priority(p)) => self.set_priority(p, now, &mut out),
            // Before startup nothing else happens; a second startup changes nothing.
            (State::Initialize, _) | (_, Event::Startup) => {}
            (_, Event::Shutdown) => self.shut_down(&mut out),
            (State::Fault, _) | (_, Event::LinkUp) => {}
            (_, Event::LinkDown | Event::Fault) => self.enter_fault(event, &mut out),
            (State::Backup, Event::Timer) if self.config.sync => {
                self.timer = None;
                self.wants_master = true;
                out.push(Action::WantMaster);
            }
            (State::Backup, Event::Timer) | (State::Backup, Event::SyncMaster) => {
                self.become_master(now, &mut out)
            }
            (State::Master, Event::SyncBackup) => {
                out.push(Action::Advertise(0));
                self.become_backup(now, &mut out);
            }
            (_, Event::SyncMaster | Event::SyncBackup) => {}
            (State::Master, Event::Timer) => {
                out.push(Action::Advertise(self.config.priority));
                self.timer = Some(now + self.config.interval);
            }
            (
                State::Backup,
                Event::Advert {
                    from,
                    priority,
                    interval,
                },
            ) => self.backup_heard(from, priority, interval, now),
            (
                State::Master,
                Event::Advert {
                    from,
                    priority,
                    interval,
                },
            ) => self.master_heard(from, priority, interval, now, &mut out),
        }
        out
    }

    /// Startup, or the end of a FAULT: an address owner (priority 255) is master at
    /// once, any other router a backup waiting to hear one.
    fn start(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.config.priority == 255 {
            self.become_master(now, out);
        } else {
            self.master_interval = self.config.interval;
            self.master = None;
            self.become_backup(now, out);
        }
    }

    /// Our priority is now `p`: a master a known router would beat hands over at
    /// once, any other master says its new priority at once.
    fn set_priority(&mut self, p: u8, now: Instant, out: &mut Vec<Action>) {
        self.config.priority = p;
        if self.state != State::Master {
            // A backup's timers follow the new priority from the next advert.
        } else if let Some(peer) = self.outranked_by(p) {
            // A router we know would win now: hand over at once.
            out.push(Action::Advertise(0));
            out.push(Action::HandOver {
                to: peer.address,
                priority: peer.priority,
            });
            self.master = Some(peer.address);
            self.master_interval = peer.interval;
            self.become_backup(now, out);
        } else {
            // Say it now: a backup with preemption may take over.
            out.push(Action::Advertise(p));
            self.timer = Some(now + self.config.interval);
        }
    }

    /// Stop: a master says priority 0 and gives its addresses up.
    fn shut_down(&mut self, out: &mut Vec<Action>) {
        if self.state == State::Master {
            out.push(Action::Advertise(0));
            out.push(Action::RemoveAddresses);
        }
        self.state = State::Initialize;
        self.timer = None;
        out.push(Action::Entered(State::Initialize));
    }

    /// FAULT (`event`: [`Event::LinkDown`] or [`Event::Fault`]).
    fn enter_fault(&mut self, event: Event, out: &mut Vec<Action>) {
        // Nothing can be sent on a dead link: give the addresses up and wait.
        if self.state == State::Master {
            if event == Event::Fault {
                out.push(Action::Advertise(0));
            }
            out.push(Action::RemoveAddresses);
        }
        self.state = State::Fault;
        self.timer = None;
        self.lower_since = None;
        self.wants_master = false;
        out.push(Action::Entered(State::Fault));
    }

    /// A backup hears an advertisement.
    fn backup_heard(&mut self, from: IpAddr, priority: u8, interval: Duration, now: Instant) {
        self.heard(from, priority, interval, now);
        if priority == 0 {
            // The master is leaving: take over after the skew time only.
            self.timer = Some(now + skew_time(self.config.priority, self.master_interval));
        } else if !self.config.preempt || priority >= self.config.priority {
            self.wants_master = false;
            self.master = Some(from);
            self.master_interval = interval;
            self.lower_since = None;
            self.timer = self.down_timer(now);
        } else if !self.config.preempt_delay.is_zero() {
            // A lower master: preempt only once it has been so for the delay.
            let since = *self.lower_since.get_or_insert(now);
            self.master = Some(from);
            if now.saturating_duration_since(since) < self.config.preempt_delay {
                self.master_interval = interval;
                self.timer = self.down_timer(now);
            }
        }
        // else: preempt, lower priority: let the timer run out and take over.
    }

    /// A master hears an advertisement.
    fn master_heard(
        &mut self,
        from: IpAddr,
        priority: u8,
        interval: Duration,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.heard(from, priority, interval, now);
        if priority == 0 {
            out.push(Action::Advertise(self.config.priority));
            self.timer = Some(now + self.config.interval);
        } else if priority > self.config.priority
            || (priority == self.config.priority && from > self.config.address)
        {
            self.master = Some(from);
            self.master_interval = interval;
            self.become_backup(now, out);
        }
        // else: a lower (or equal, lower address) router: ignore it.
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
