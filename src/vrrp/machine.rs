//! The VRRPv3 state machine (RFC 9568 §6.4), pure: [`Router::handle`] takes an event
//! and the time, changes the state and returns what to do (send an advertisement,
//! take or give up the virtual addresses). The caller owns sockets, addresses and
//! timers; [`Router::deadline`] says when to call back with [`Event::Timer`].

use std::net::Ipv4Addr;
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
        from: Ipv4Addr,
        priority: u8,
        interval: Duration,
    },
    /// The deadline passed.
    Timer,
    /// Our own priority changed (health tracking).
    Priority(u8),
    /// The interface lost its link (or was set down), or got it back.
    LinkDown,
    LinkUp,
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
}

#[derive(Debug, Clone)]
pub struct Config {
    pub priority: u8,
    pub interval: Duration,
    pub preempt: bool,
    /// Wait this long before preempting a lower-priority master (keepalived's
    /// `preempt_delay`).
    pub preempt_delay: Duration,
    /// Our primary address (ties between equal priorities go to the higher one).
    pub address: Ipv4Addr,
}

#[derive(Debug, Clone)]
pub struct Router {
    pub config: Config,
    pub state: State,
    /// The interval the current master advertises (learnt from its adverts).
    pub master_interval: Duration,
    /// Who we last heard as master (for the stats page).
    pub master: Option<Ipv4Addr>,
    /// Master: next advertisement. Backup: when the master is declared down.
    timer: Option<Instant>,
    /// Backup with `preempt_delay`: when a lower-priority master was first heard.
    lower_since: Option<Instant>,
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
        }
    }

    /// When to send [`Event::Timer`], if anything is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.timer
    }

    fn down_timer(&self, now: Instant) -> Option<Instant> {
        Some(now + master_down_interval(self.config.priority, self.master_interval))
    }

    fn become_master(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.state = State::Master;
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
                if self.config.priority == 255 {
                    self.become_master(now, &mut out);
                } else {
                    self.master_interval = self.config.interval;
                    self.master = None;
                    self.become_backup(now, &mut out);
                }
            }
            // Tracking may change the priority in any state (before startup too: the
            // first adverts then carry it).
            (_, Event::Priority(p)) => {
                self.config.priority = p;
                if self.state == State::Master {
                    // Say it now: a backup with preemption may take over at once.
                    out.push(Action::Advertise(p));
                    self.timer = Some(now + self.config.interval);
                }
            }
            // Before startup nothing else happens; a second startup changes nothing.
            (State::Initialize, _) | (_, Event::Startup) => {}
            (_, Event::Shutdown) => {
                if self.state == State::Master {
                    out.push(Action::Advertise(0));
                    out.push(Action::RemoveAddresses);
                }
                self.state = State::Initialize;
                self.timer = None;
                out.push(Action::Entered(State::Initialize));
            }
            (State::Fault, _) | (_, Event::LinkUp) => {}
            (_, Event::LinkDown) => {
                // Nothing can be sent on a dead link: give the addresses up and wait.
                if self.state == State::Master {
                    out.push(Action::RemoveAddresses);
                }
                self.state = State::Fault;
                self.timer = None;
                self.lower_since = None;
                out.push(Action::Entered(State::Fault));
            }
            (State::Backup, Event::Timer) => self.become_master(now, &mut out),
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
            ) => {
                if priority == 0 {
                    // The master is leaving: take over after the skew time only.
                    self.timer = Some(now + skew_time(self.config.priority, self.master_interval));
                } else if !self.config.preempt || priority >= self.config.priority {
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
            (
                State::Master,
                Event::Advert {
                    from,
                    priority,
                    interval,
                },
            ) => {
                if priority == 0 {
                    out.push(Action::Advertise(self.config.priority));
                    self.timer = Some(now + self.config.interval);
                } else if priority > self.config.priority
                    || (priority == self.config.priority && from > self.config.address)
                {
                    self.master = Some(from);
                    self.master_interval = interval;
                    self.become_backup(now, &mut out);
                }
                // else: a lower (or equal, lower address) router: ignore it.
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const SEC: Duration = Duration::from_secs(1);

    fn router(priority: u8, preempt: bool) -> Router {
        Router::new(Config {
            priority,
            interval: SEC,
            preempt,
            preempt_delay: Duration::ZERO,
            address: ME,
        })
    }

    fn advert(priority: u8) -> Event {
        Event::Advert {
            from: PEER,
            priority,
            interval: SEC,
        }
    }

    #[test]
    fn timer_arithmetic_follows_the_rfc() {
        assert_eq!(
            skew_time(100, SEC),
            Duration::from_millis(609) + Duration::from_micros(375)
        );
        assert_eq!(skew_time(255, SEC), SEC / 256);
        assert_eq!(
            master_down_interval(100, SEC),
            Duration::from_micros(3_609_375)
        );
        assert_eq!(
            master_down_interval(200, Duration::from_millis(100)),
            Duration::from_micros(321_875)
        );
    }

    #[test]
    fn an_owner_starts_as_master_others_as_backup() {
        let t = Instant::now();
        let mut owner = router(255, true);
        let acts = owner.handle(Event::Startup, t);
        assert_eq!(owner.state, State::Master);
        assert!(acts.contains(&Action::Advertise(255)) && acts.contains(&Action::TakeAddresses));
        assert_eq!(owner.deadline(), Some(t + SEC));
        let mut b = router(100, true);
        b.handle(Event::Startup, t);
        assert_eq!(b.state, State::Backup);
        assert_eq!(b.deadline(), Some(t + master_down_interval(100, SEC)));
    }

    #[test]
    fn a_backup_takes_over_when_the_master_goes_silent() {
        let t = Instant::now();
        let mut b = router(100, true);
        b.handle(Event::Startup, t);
        b.handle(advert(150), t + SEC);
        assert_eq!(b.master, Some(PEER));
        let down = b.deadline().unwrap();
        assert_eq!(down, t + SEC + master_down_interval(100, SEC));
        let acts = b.handle(Event::Timer, down);
        assert_eq!(b.state, State::Master);
        assert_eq!(
            acts,
            vec![
                Action::Advertise(100),
                Action::TakeAddresses,
                Action::Entered(State::Master)
            ]
        );
    }

    #[test]
    fn priority_zero_means_take_over_after_skew_only() {
        let t = Instant::now();
        let mut b = router(100, true);
        b.handle(Event::Startup, t);
        b.handle(advert(0), t);
        assert_eq!(b.deadline(), Some(t + skew_time(100, SEC)));
    }

    #[test]
    fn a_master_yields_to_higher_priority_and_equal_priority_higher_address() {
        let t = Instant::now();
        let mut m = router(200, true);
        m.handle(Event::Startup, t);
        m.handle(Event::Timer, t + master_down_interval(200, SEC));
        assert_eq!(m.state, State::Master);
        assert!(
            m.handle(advert(150), t).is_empty(),
            "lower priority is ignored"
        );
        let acts = m.handle(advert(200), t); // equal priority, PEER > ME
        assert_eq!(m.state, State::Backup);
        assert!(acts.contains(&Action::RemoveAddresses));
        let mut m2 = router(200, true);
        m2.config.address = Ipv4Addr::new(10, 0, 0, 9);
        m2.handle(Event::Startup, t);
        m2.handle(Event::Timer, t + master_down_interval(200, SEC));
        assert!(
            m2.handle(advert(200), t).is_empty(),
            "equal priority, lower peer address"
        );
        assert_eq!(m2.state, State::Master);
    }

    #[test]
    fn preemption_on_and_off() {
        let t = Instant::now();
        // With preempt, a higher backup ignores a lower master and takes over.
        let mut b = router(150, true);
        b.handle(Event::Startup, t);
        let before = b.deadline();
        b.handle(advert(100), t + SEC);
        assert_eq!(
            b.deadline(),
            before,
            "a lower master does not reset the timer"
        );
        b.handle(Event::Timer, before.unwrap());
        assert_eq!(b.state, State::Master);
        // Without preempt, it stays backup as long as the master advertises.
        let mut b = router(150, false);
        b.handle(Event::Startup, t);
        b.handle(advert(100), t + SEC);
        assert_eq!(b.deadline(), Some(t + SEC + master_down_interval(150, SEC)));
    }

    #[test]
    fn preempt_delay_holds_off_the_takeover() {
        let t = Instant::now();
        let mut b = router(150, true);
        b.config.preempt_delay = Duration::from_secs(5);
        b.handle(Event::Startup, t);
        for k in 1..5 {
            b.handle(advert(100), t + SEC * k);
            assert_eq!(
                b.deadline(),
                Some(t + SEC * k + master_down_interval(150, SEC))
            );
        }
        // Past the delay, the timer is no longer reset: it runs out.
        let last = b.deadline();
        b.handle(advert(100), t + SEC * 6);
        assert_eq!(b.deadline(), last);
    }

    #[test]
    fn shutdown_and_priority_changes() {
        let t = Instant::now();
        let mut m = router(255, true);
        m.handle(Event::Startup, t);
        let acts = m.handle(Event::Priority(90), t);
        assert_eq!(acts, vec![Action::Advertise(90)]);
        let acts = m.handle(Event::Shutdown, t);
        assert_eq!(
            acts,
            vec![
                Action::Advertise(0),
                Action::RemoveAddresses,
                Action::Entered(State::Initialize)
            ]
        );
        assert_eq!(m.deadline(), None);
        // A master that hears a priority-0 advert answers at once.
        let mut m = router(255, true);
        m.handle(Event::Startup, t);
        assert_eq!(m.handle(advert(0), t), vec![Action::Advertise(255)]);
        // Nothing happens before startup.
        let mut i = router(100, true);
        assert!(i.handle(Event::Timer, t).is_empty());
        assert_eq!(i.state, State::Initialize);
        // Except a priority change (tracking at start-up), kept for the first adverts,
        // and a backup's timers follow it.
        assert!(i.handle(Event::Priority(40), t).is_empty());
        i.handle(Event::Startup, t);
        assert_eq!(i.config.priority, 40);
        assert_eq!(i.deadline(), Some(t + master_down_interval(40, SEC)));
    }

    #[test]
    fn a_dead_link_is_a_fault_until_it_comes_back() {
        let t = Instant::now();
        let mut m = router(150, true);
        m.handle(Event::Startup, t);
        m.handle(Event::Timer, t + 4 * SEC); // master
        assert_eq!(m.state, State::Master);
        let acts = m.handle(Event::LinkDown, t + 5 * SEC);
        assert_eq!(
            acts,
            vec![Action::RemoveAddresses, Action::Entered(State::Fault)]
        );
        assert_eq!((m.state, m.deadline()), (State::Fault, None));
        // In FAULT nothing is sent and adverts or timers change nothing.
        assert!(m.handle(advert(200), t + 6 * SEC).is_empty());
        assert!(m.handle(Event::Timer, t + 7 * SEC).is_empty());
        assert!(m.handle(Event::LinkDown, t + 7 * SEC).is_empty());
        // Back: a backup first, whose down timer decides, as at startup.
        let acts = m.handle(Event::LinkUp, t + 8 * SEC);
        assert_eq!(acts, vec![Action::Entered(State::Backup)]);
        assert_eq!(
            m.deadline(),
            Some(t + 8 * SEC + master_down_interval(150, SEC))
        );
        // A backup that loses its link has no addresses to give up.
        let acts = m.handle(Event::LinkDown, t + 9 * SEC);
        assert_eq!(acts, vec![Action::Entered(State::Fault)]);
        // Stopping from FAULT sends nothing.
        let acts = m.handle(Event::Shutdown, t + 10 * SEC);
        assert_eq!(acts, vec![Action::Entered(State::Initialize)]);
    }
}
