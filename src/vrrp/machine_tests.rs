//! Tests of the state machine: RFC timing, preemption, FAULT, and the hand-over of a
//! master whose priority falls below a router it knows.

use std::net::Ipv4Addr;

use super::*;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const SEC: Duration = Duration::from_secs(1);

fn router(priority: u8, preempt: bool) -> Router {
    Router::new(Config {
        priority,
        interval: SEC,
        preempt,
        preempt_delay: Duration::ZERO,
        address: ME,
        sync: false,
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
    m2.config.address = [10, 0, 0, 9].into();
    m2.handle(Event::Startup, t);
    m2.handle(Event::Timer, t + master_down_interval(200, SEC));
    assert!(
        m2.handle(advert(200), t).is_empty(),
        "equal priority, lower peer address"
    );
    assert_eq!(m2.state, State::Master);
}

#[test]
fn ipv6_ties_go_to_the_higher_link_local_address() {
    let t = Instant::now();
    let mut m = router(200, true);
    m.config.address = "fe80::1".parse().unwrap();
    m.handle(Event::Startup, t);
    m.handle(Event::Timer, t + master_down_interval(200, SEC));
    assert_eq!(m.state, State::Master);
    let from = |a: &str| Event::Advert {
        from: a.parse().unwrap(),
        priority: 200,
        interval: SEC,
    };
    assert!(
        m.handle(from("fe80::0:1"), t).is_empty(),
        "the same address"
    );
    let acts = m.handle(from("fe80::1:0"), t);
    assert_eq!(
        (m.state, m.master),
        (State::Backup, "fe80::1:0".parse().ok())
    );
    assert!(acts.contains(&Action::RemoveAddresses));
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

/// A router at 150 that preempted PEER (100): it has heard PEER's adverts.
fn master_over_a_known_peer(t: Instant) -> Router {
    let mut m = router(150, true);
    m.handle(Event::Startup, t);
    for k in 1..=3 {
        m.handle(advert(100), t + SEC * k);
    }
    let down = m.deadline().unwrap();
    m.handle(Event::Timer, down);
    assert_eq!(m.state, State::Master);
    m
}

#[test]
fn a_master_below_a_known_peer_hands_over_at_once() {
    let t = Instant::now();
    let mut m = master_over_a_known_peer(t);
    let now = t + 10 * SEC;
    let acts = m.handle(Event::Priority(90), now);
    assert_eq!(
        acts,
        vec![
            Action::Advertise(0),
            Action::HandOver {
                to: PEER,
                priority: 100
            },
            Action::RemoveAddresses,
            Action::Entered(State::Backup)
        ]
    );
    assert_eq!((m.state, m.master), (State::Backup, Some(PEER)));
    assert_eq!(m.deadline(), Some(now + master_down_interval(90, SEC)));
    // The peer answers as master: we stay backup (90 < 100), it is the master.
    m.handle(advert(100), now + SEC / 2);
    assert_eq!(m.state, State::Backup);
    // Back to health: preemption takes over again, as always.
    assert!(m.handle(Event::Priority(150), now + SEC).is_empty());
    m.handle(advert(100), now + 2 * SEC);
    let down = m.deadline().unwrap();
    assert_eq!(down, now + SEC / 2 + master_down_interval(90, SEC));
    m.handle(Event::Timer, down);
    assert_eq!(m.state, State::Master);
}

#[test]
fn a_master_keeps_the_addresses_unless_a_known_peer_would_win() {
    let t = Instant::now();
    // Still above the peer: advertise the new priority, stay master.
    let mut m = master_over_a_known_peer(t);
    assert_eq!(
        m.handle(Event::Priority(101), t + 10 * SEC),
        vec![Action::Advertise(101)]
    );
    assert_eq!(m.state, State::Master);
    // Equal priority: the higher address wins, as in the election.
    assert_eq!(
        m.handle(Event::Priority(100), t + 11 * SEC)[0],
        Action::Advertise(0)
    );
    assert_eq!(m.state, State::Backup);
    let mut high = master_over_a_known_peer(t);
    high.config.address = [10, 0, 0, 9].into();
    assert_eq!(
        high.handle(Event::Priority(100), t + 10 * SEC),
        vec![Action::Advertise(100)]
    );
    // No router heard at all (a master since start-up): nobody to hand over to.
    let mut alone = router(150, true);
    alone.handle(Event::Startup, t);
    alone.handle(Event::Timer, alone.deadline().unwrap());
    assert_eq!(
        alone.handle(Event::Priority(1), t + 10 * SEC),
        vec![Action::Advertise(1)]
    );
    assert_eq!(alone.state, State::Master);
}

#[test]
fn silent_and_leaving_routers_are_forgotten() {
    let t = Instant::now();
    // The master we took over from by its silence is not a router to hand over to.
    let mut b = router(100, true);
    b.handle(Event::Startup, t);
    b.handle(advert(150), t + SEC);
    b.handle(Event::Timer, b.deadline().unwrap());
    assert_eq!((b.state, b.peers.len()), (State::Master, 0));
    assert_eq!(
        b.handle(Event::Priority(40), t + 10 * SEC),
        vec![Action::Advertise(40)]
    );
    // A router that said priority 0 left: forgotten too.
    let mut m = master_over_a_known_peer(t);
    m.handle(advert(0), t + 10 * SEC);
    assert!(m.peers.is_empty());
    assert_eq!(
        m.handle(Event::Priority(90), t + 11 * SEC),
        vec![Action::Advertise(90)]
    );
    // At most MAX_PEERS are remembered, the latest heard.
    let mut m = router(254, true);
    m.handle(Event::Startup, t);
    for k in 0..40u8 {
        let from = IpAddr::from([10, 0, 1, k]);
        let ev = Event::Advert {
            from,
            priority: 1,
            interval: SEC,
        };
        m.handle(ev, t);
    }
    assert_eq!(m.peers.len(), MAX_PEERS);
    assert_eq!(m.peers[MAX_PEERS - 1].address, IpAddr::from([10, 0, 1, 39]));
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
    // FAULT with a working link (tracking, the group): a master says priority 0.
    let mut m2 = router(150, true);
    m2.handle(Event::Startup, t);
    m2.handle(Event::Timer, t + 4 * SEC);
    let acts = m2.handle(Event::Fault, t + 5 * SEC);
    assert_eq!(
        acts,
        vec![
            Action::Advertise(0),
            Action::RemoveAddresses,
            Action::Entered(State::Fault)
        ]
    );
    assert_eq!(
        m2.handle(Event::LinkUp, t + 6 * SEC),
        vec![Action::Entered(State::Backup)]
    );
    // Stopping from FAULT sends nothing.
    let acts = m.handle(Event::Shutdown, t + 10 * SEC);
    assert_eq!(acts, vec![Action::Entered(State::Initialize)]);
}

#[test]
fn a_sync_group_member_waits_for_its_group_to_become_master() {
    let t = Instant::now();
    let mut m = router(150, true);
    m.config.sync = true;
    m.handle(Event::Startup, t);
    let down = m.deadline().unwrap();
    assert_eq!(m.handle(Event::Timer, down), vec![Action::WantMaster]);
    assert_eq!(
        (m.state, m.wants_master, m.deadline()),
        (State::Backup, true, None)
    );
    // A lower master (preempt) changes nothing; a higher one ends the wish.
    m.handle(advert(100), down + SEC);
    assert!(m.wants_master);
    m.handle(advert(200), down + 2 * SEC);
    assert!(!m.wants_master);
    assert_eq!(
        m.deadline(),
        Some(down + 2 * SEC + master_down_interval(150, SEC))
    );
    // The group says go: master, as after a timer.
    let acts = m.handle(Event::SyncMaster, down + 3 * SEC);
    assert_eq!(
        acts,
        vec![
            Action::Advertise(150),
            Action::TakeAddresses,
            Action::Entered(State::Master)
        ]
    );
    // A member left master: leave too, saying priority 0 so that the peer's member
    // takes over after its skew time.
    let acts = m.handle(Event::SyncBackup, down + 4 * SEC);
    assert_eq!(
        acts,
        vec![
            Action::Advertise(0),
            Action::RemoveAddresses,
            Action::Entered(State::Backup)
        ]
    );
    // Sync events elsewhere change nothing.
    assert!(m.handle(Event::SyncBackup, down + 5 * SEC).is_empty());
    m.handle(Event::LinkDown, down + 6 * SEC);
    assert!(m.handle(Event::SyncMaster, down + 7 * SEC).is_empty());
    assert_eq!(m.state, State::Fault);
}
