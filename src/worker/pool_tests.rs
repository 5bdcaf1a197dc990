//! The pool's rules without sockets: the need (how many are kept), what taking and
//! watching do with idle connections whose wait fired (a fake wait stands in), what
//! one look at a connection's multishot watch decides (a fake watch and peek), and
//! what the wait on an idle TLS connection makes of the records that came.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use super::watch::{
    may_stay, tls_settle, tls_verdict, Look, TlsSeen, Verdict, Watched, TLS_LOOKS_MAX,
};
use super::{close_fired, take_from, Idle, Need};

#[test]
fn a_connection_is_kept_while_the_servers_connections_stay_within_the_recent_peak() {
    let mut n = Need::default();
    // One client after another: one in use at a time, so one idle is enough.
    assert!(n.keeps(1, 0));
    assert!(!n.keeps(1, 1));
    // A burst of 500 in flight: every one given back is kept as the burst ends.
    n.saw(500);
    for used in (1..=500).rev() {
        assert!(n.keeps(used, 500 - used), "used {used}");
    }
    assert!(!n.keeps(1, 500));
    assert_eq!(n.wanted(), 500);
}

#[test]
fn purges_close_half_the_excess_once_the_need_has_decayed() {
    let mut n = Need::default();
    n.saw(500);
    let mut idle = 500;
    let mut closed = Vec::new();
    for _ in 0..6 {
        let k = n.purge(0, idle);
        idle -= k;
        closed.push(k);
    }
    // The first two periods still remember the burst (its peak, then half of it
    // as the estimate); from then on half the excess goes each time.
    assert_eq!(closed, [0, 0, 125, 125, 94, 63]);
    assert_eq!(idle, 93);
    // Traffic that keeps using them keeps them: no excess, nothing closed.
    let mut n = Need::default();
    for _ in 0..5 {
        n.saw(200);
        assert_eq!(n.purge(150, 50), 0);
    }
}

#[test]
fn a_purge_never_closes_more_than_is_idle_and_rounds_up() {
    let mut n = Need::default();
    assert_eq!(n.purge(0, 3), 2);
    assert_eq!(n.purge(5, 0), 0);
    assert_eq!(Need::default().purge(0, 0), 0);
}

/// What happened to the fake connections: `(id, "reset" | "closed")`.
type Log = Rc<RefCell<Vec<(u32, &'static str)>>>;

/// An idle connection whose wait fires when the test says so.
struct Fake {
    id: u32,
    fired: Rc<Cell<bool>>,
    log: Log,
}

impl Watched for Fake {
    type Conn = u32;

    fn fired(&mut self, _: &mut Context<'_>) -> bool {
        self.fired.get()
    }

    fn disarm(self) -> Option<u32> {
        if self.fired.get() {
            self.log.borrow_mut().push((self.id, "closed"));
            return None;
        }
        Some(self.id)
    }

    fn give_up(&self) {
        self.log.borrow_mut().push((self.id, "reset"));
    }
}

/// A server's idle list of fakes, oldest first, given back 1 s apart from `t0`, with
/// the flags that fire them.
fn list(t0: Instant, proven: &[bool], log: &Log) -> (VecDeque<Idle<Fake>>, Vec<Rc<Cell<bool>>>) {
    let mut flags = Vec::new();
    let idle = (0..proven.len())
        .map(|i| {
            let fired = Rc::new(Cell::new(false));
            flags.push(Rc::clone(&fired));
            let conn = Fake {
                id: i as u32,
                fired,
                log: Rc::clone(log),
            };
            Idle {
                conn: Some(conn),
                since: t0 + Duration::from_secs(i as u64),
                proven: proven[i],
            }
        })
        .collect();
    (idle, flags)
}

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn taking_skips_a_connection_whose_wait_fired_and_closes_it_plainly() {
    let (t0, log) = (Instant::now(), Log::default());
    let (mut idle, fired) = list(t0, &[false, false, false], &log);
    fired[2].set(true);
    let now = t0 + Duration::from_secs(5);
    // The newest (2) fired: closed without a reset, and the next newest is taken.
    assert_eq!(take_from(&mut idle, now, TIMEOUT, false), Some(1));
    assert_eq!(*log.borrow(), [(2, "closed")]);
    assert_eq!(idle.len(), 1);
    // A quiet one is handed out as it is: neither closed nor reset.
    assert_eq!(take_from(&mut idle, now, TIMEOUT, false), Some(0));
    assert_eq!(take_from(&mut idle, now, TIMEOUT, false), None);
    assert_eq!(log.borrow().len(), 1);
}

#[test]
fn taking_a_proven_one_leaves_the_others_armed_and_skips_fired_ones() {
    let (t0, log) = (Instant::now(), Log::default());
    let (mut idle, fired) = list(t0, &[true, true, false], &log);
    fired[1].set(true);
    let now = t0 + Duration::from_secs(5);
    assert_eq!(take_from(&mut idle, now, TIMEOUT, true), Some(0));
    assert_eq!(*log.borrow(), [(1, "closed")]);
    // The unproven one stays, untouched.
    assert_eq!(idle.len(), 1);
    assert_eq!(take_from(&mut idle, now, TIMEOUT, true), None);
    drop(idle);
    assert_eq!(*log.borrow(), [(1, "closed"), (2, "reset")]);
}

#[test]
fn expired_connections_are_reset_whether_or_not_they_fired() {
    let (t0, log) = (Instant::now(), Log::default());
    let (mut idle, _) = list(t0, &[false, false, false], &log);
    // 0 and 1 are past the timeout (given back 0 s and 1 s after t0), 2 is not.
    let now = t0 + TIMEOUT + Duration::from_millis(1500);
    assert_eq!(take_from(&mut idle, now, TIMEOUT, true), None); // 2 is not proven
    assert_eq!(*log.borrow(), [(0, "reset"), (1, "reset")]);
    assert_eq!(take_from(&mut idle, now, TIMEOUT, false), Some(2));
}

#[test]
fn the_watcher_closes_exactly_the_fired_ones_plainly_and_keeps_the_order() {
    let (t0, log) = (Instant::now(), Log::default());
    let (mut idle, fired) = list(t0, &[false, false, false, false], &log);
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(close_fired(&mut idle, &mut cx), 0);
    fired[0].set(true);
    fired[2].set(true);
    assert_eq!(close_fired(&mut idle, &mut cx), 2);
    // Dropped without `give_up`: closed plainly, not reset.
    assert!(log.borrow().is_empty());
    let now = t0 + Duration::from_secs(5);
    assert_eq!(take_from(&mut idle, now, TIMEOUT, false), Some(3));
    assert_eq!(take_from(&mut idle, now, TIMEOUT, false), Some(1));
    assert!(idle.is_empty());
    // Nothing idle, nothing fired: nothing to do.
    assert_eq!(close_fired(&mut idle, &mut cx), 0);
    assert!(log.borrow().is_empty());
}

fn records(plaintext: usize, close_notify: bool, eof: bool) -> TlsSeen {
    TlsSeen::Records {
        plaintext,
        close_notify,
        eof,
    }
}

#[test]
fn an_idle_tls_connection_stays_armed_only_through_handshake_messages() {
    // Nothing came: quiet.
    assert_eq!(tls_verdict(TlsSeen::Nothing), Verdict::Quiet);
    // Session tickets (or a key update, or part of a record): no plaintext, no
    // close_notify, no end: look again.
    assert_eq!(tls_verdict(records(0, false, false)), Verdict::Again);
    // A response nobody asked for, however short; a close_notify (with or without
    // the TCP end); the end without one; a record rustls refuses or a failed read.
    for seen in [
        records(1, false, false),
        records(512, false, true),
        records(0, true, false),
        records(0, true, true),
        records(0, false, true),
        records(3, true, false),
        TlsSeen::Failed,
    ] {
        assert_eq!(tls_verdict(seen), Verdict::Close, "{seen:?}");
    }
}

/// `tls_settle` over a scripted series of looks: whether it closed, and how many
/// looks it took.
fn settle(script: &[TlsSeen]) -> (bool, usize) {
    let mut looks = 0;
    let closed = tls_settle(|| {
        looks += 1;
        script.get(looks - 1).copied().unwrap_or(TlsSeen::Nothing)
    });
    (closed, looks)
}

#[test]
fn tickets_then_quiet_keep_the_connection_and_anything_else_after_them_closes_it() {
    let ticket = records(0, false, false);
    assert_eq!(settle(&[TlsSeen::Nothing]), (false, 1));
    // Two tickets in two reads, then the read that would block: kept, re-armed.
    assert_eq!(settle(&[ticket, ticket, TlsSeen::Nothing]), (false, 3));
    // A ticket, then a late response or the server's close: closed.
    assert_eq!(settle(&[ticket, records(40, false, false)]), (true, 2));
    assert_eq!(settle(&[ticket, records(0, true, true)]), (true, 2));
    assert_eq!(settle(&[ticket, TlsSeen::Failed]), (true, 2));
}

#[test]
fn a_peer_that_never_stops_sending_handshake_messages_has_its_connection_closed() {
    let endless = vec![records(0, false, false); TLS_LOOKS_MAX + 5];
    assert_eq!(settle(&endless), (true, TLS_LOOKS_MAX));
    // Just under the bound: kept.
    let mut some = vec![records(0, false, false); TLS_LOOKS_MAX - 1];
    some.push(TlsSeen::Nothing);
    assert_eq!(settle(&some), (false, TLS_LOOKS_MAX));
}

/// A multishot watch for [`may_stay`]: the looks' answers in turn, the peek's answer,
/// and what was asked of it.
#[derive(Default)]
struct FakeWatch {
    /// What each look reports, in turn (then quiet): fired, or a failed re-arm.
    looks: VecDeque<std::io::Result<bool>>,
    /// What the peek finds: nothing there (`true`) or bytes, EOF, an error.
    quiet: bool,
    peeks: Cell<usize>,
    /// Per look: whether it was given a waker (it then wakes it on the next event).
    wakers: Vec<bool>,
}

impl Look for FakeWatch {
    fn look(&mut self, cx: Option<&mut Context<'_>>) -> std::io::Result<bool> {
        self.wakers.push(cx.is_some());
        self.looks.pop_front().unwrap_or(Ok(false))
    }

    fn quiet(&self) -> bool {
        self.peeks.set(self.peeks.get() + 1);
        self.quiet
    }
}

fn fake_watch(looks: Vec<std::io::Result<bool>>, quiet: bool) -> FakeWatch {
    FakeWatch {
        looks: looks.into(),
        quiet,
        ..FakeWatch::default()
    }
}

#[test]
fn a_quiet_watch_keeps_its_connection_without_a_syscall() {
    let mut w = fake_watch(vec![Ok(false)], false);
    let mut cx = Context::from_waker(Waker::noop());
    // Given back (the watcher's waker), then taken (none): no peek either time.
    assert!(may_stay(&mut w, Some(&mut cx)));
    assert!(may_stay(&mut w, None));
    assert_eq!(w.peeks.get(), 0);
    assert_eq!(w.wakers, [true, false]);
}

#[test]
fn a_fired_watch_is_peeked_once_and_a_stale_event_keeps_the_connection() {
    // The response's own data fired it while the connection was in use (or its
    // completion was reaped only after the give-back): the peek finds nothing.
    let mut w = fake_watch(vec![Ok(true), Ok(false)], true);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(may_stay(&mut w, Some(&mut cx)));
    assert_eq!(w.peeks.get(), 1);
    // The event was forgotten with that look: the next one is quiet, no peek.
    assert!(may_stay(&mut w, None));
    assert_eq!(w.peeks.get(), 1);
}

#[test]
fn a_fired_watch_over_bytes_or_an_end_closes_the_connection_whether_idle_or_taken() {
    let mut cx = Context::from_waker(Waker::noop());
    // While idle (the watcher's look), as it goes idle, and as it is taken.
    for cx in [Some(&mut cx), None] {
        let mut w = fake_watch(vec![Ok(true)], false);
        assert!(!may_stay(&mut w, cx));
        assert_eq!(w.peeks.get(), 1);
    }
}

#[test]
fn a_watch_that_could_not_be_armed_again_closes_its_connection_without_a_peek() {
    let mut w = fake_watch(vec![Err(std::io::ErrorKind::Other.into())], true);
    assert!(!may_stay(&mut w, None));
    assert_eq!(w.peeks.get(), 0);
}

#[test]
fn a_late_response_after_a_stale_event_still_closes_the_connection() {
    let mut cx = Context::from_waker(Waker::noop());
    // Given back with the response's event noted (peek: nothing), then that same
    // response's second completion reaped while idle (peek: nothing), then a byte
    // nobody asked for: the watcher's third look closes it.
    let mut w = fake_watch(vec![Ok(true), Ok(true), Ok(true)], true);
    assert!(may_stay(&mut w, Some(&mut cx)));
    assert!(may_stay(&mut w, Some(&mut cx)));
    w.quiet = false;
    assert!(!may_stay(&mut w, Some(&mut cx)));
    assert_eq!(w.peeks.get(), 3);
    assert_eq!(w.wakers, [true, true, true]);
}
