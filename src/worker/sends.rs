//! The sends of one HTTP request, under its backend's policies (pure: they decide, they
//! do no I/O, and are tested here):
//!
//! - **Reuse** ([`Reuse::allowed`]): which idle server connection a request may take,
//!   by the backend's `http_reuse` (HAProxy's `http-reuse`) and whether it is the
//!   first request of its client connection.
//! - **Replays** ([`Replays`]): a bodyless idempotent request that got nothing back
//!   (the connection closed or failed before any response byte) is sent again, like
//!   HAProxy's `retry-on empty-response`: at once on a fresh connection when it had
//!   gone on a reused one (the server had closed it; not the server's fault), and up
//!   to `retries` times, to another server when `redispatch` allows, when a fresh
//!   connection failed. Any request whose head could not be written on a reused
//!   connection goes again too; one that may not ([`Attempt::close_silently`]) ends
//!   its client connection without a response when it was not the first on it.

use super::upstream::RetryPolicy;
use crate::config::HttpReuse;

/// Which connection a request may go on (whatever is allowed, a new one when there
/// is no such idle connection). Every idle connection is checked before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// A new connection only.
    Never,
    /// The idle server connection this client connection kept for itself, if any: the
    /// one its previous request used, when `http_reuse = "never"` or the server has
    /// `send_proxy` (its header named this client).
    Own,
    /// Its own, else an idle pooled connection (of any client) that has already
    /// carried more than one request: the server is known to keep connections alive.
    Proven,
    /// Its own, else any idle pooled connection to the picked server.
    Pooled,
}

impl Reuse {
    /// What a backend's `http_reuse` allows a request; `first`: the first request of
    /// its client connection. Like HAProxy: `never` shares no connection between
    /// client connections (each keeps its own); `safe` sends a first request on a new
    /// connection, so that if the server closes it the client (which sees its own
    /// connection close before any response) may retry, as for any keep-alive
    /// connection; `aggressive` lets a first request take a connection already reused
    /// once; `always` lets any request take any idle connection.
    pub fn allowed(policy: HttpReuse, first: bool) -> Reuse {
        match (policy, first) {
            (HttpReuse::Never, _) => Reuse::Own,
            (HttpReuse::Safe, true) => Reuse::Never,
            (HttpReuse::Aggressive, true) => Reuse::Proven,
            (HttpReuse::Always, _) | (_, false) => Reuse::Pooled,
        }
    }

    /// Whether the client connection's own idle connection may be taken.
    pub fn own(self) -> bool {
        self != Reuse::Never
    }

    /// Whether the worker's pool may be asked: `Some(proven_only)`.
    pub fn pool_asked(self) -> Option<bool> {
        match self {
            Reuse::Never | Reuse::Own => None,
            Reuse::Proven => Some(true),
            Reuse::Pooled => Some(false),
        }
    }
}

/// The sends of one HTTP request (see the module's doc).
#[derive(Debug, Clone)]
pub struct Replays {
    policy: RetryPolicy,
    /// Idempotent and without a body.
    replayable: bool,
    /// Replays left for failures on fresh connections.
    left: u32,
    reuse: Reuse,
    avoid: Option<usize>,
}

/// What the policy says about one send of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    replay: bool,
    reused: bool,
}

impl Replays {
    /// `reuse`: what the backend's `http_reuse` allows this request
    /// ([`Reuse::allowed`]); replays go on new connections whatever it is.
    pub fn new(policy: RetryPolicy, replayable: bool, reuse: Reuse) -> Replays {
        Replays {
            policy,
            replayable,
            left: policy.retries,
            reuse,
            avoid: None,
        }
    }

    /// How the next send connects: whether a pooled connection may carry it, and the
    /// server to leave out.
    pub fn next_send(&self) -> (Reuse, Option<usize>) {
        (self.reuse, self.avoid)
    }

    /// The request goes out on a connection to `server` (`reused`: a pooled one).
    pub fn start(&mut self, server: usize, reused: bool) -> Attempt {
        let replay = self.replayable && (reused || self.left > 0);
        if replay && !reused {
            // Should this send fail, the next one counts against `retries`.
            self.left -= 1;
            self.avoid = self.policy.redispatch.then_some(server);
        }
        Attempt { replay, reused }
    }

    /// Nothing came back from a send whose [`Attempt::may_replay`] was true: the next
    /// send goes on a fresh connection.
    pub fn replay(&mut self) {
        self.reuse = Reuse::Never;
    }
}

impl Attempt {
    /// The request may be sent again if nothing at all comes back.
    pub fn may_replay(self) -> bool {
        self.replay
    }

    /// A failure before any response byte counts against the server (passive health),
    /// except on a reused connection the server had closed, when the request is sent
    /// again: nobody's fault.
    pub fn counts_against_server(self) -> bool {
        !(self.replay && self.reused)
    }

    /// The connection had carried a request before this one.
    pub fn reused(self) -> bool {
        self.reused
    }

    /// Nothing at all came back for a request that may not be sent again: whether the
    /// client connection is closed without a response (so that the client sends the
    /// request again, as after any close of an idle keep-alive connection) rather than
    /// answered 502. HAProxy does so for every request but a client connection's first
    /// (`first`); ringlb only when the server connection was a reused one, where the
    /// server closing it as the request went out is the likely cause (a new connection
    /// that closes without answering is a server failure, worth its 502).
    pub fn close_silently(self, first: bool) -> bool {
        !first && self.reused
    }

    /// The request head could not be written whole, so the server cannot have acted
    /// on it: it may go again (on a new connection) when the policy allows a replay,
    /// and whatever the request when the connection was a reused one the server had
    /// closed (HAProxy retries such a failure too: `retry-on conn-failure`). Its body,
    /// if any, has not been read from the client yet.
    pub fn unsent_may_go_again(self) -> bool {
        self.replay || self.reused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retries: u32, redispatch: bool) -> RetryPolicy {
        RetryPolicy {
            retries,
            redispatch,
        }
    }

    #[test]
    fn a_request_whose_head_could_not_be_written_on_a_reused_connection_goes_again() {
        // Not replayable (a body): again only when the connection was a reused one.
        let mut r = Replays::new(policy(3, true), false, Reuse::Pooled);
        assert!(r.start(1, true).unsent_may_go_again());
        r.replay();
        assert_eq!(r.next_send(), (Reuse::Never, None));
        assert!(!r.start(1, false).unsent_may_go_again());
        // Replayable: as for any failure before a response.
        let mut r = Replays::new(policy(1, false), true, Reuse::Never);
        assert!(r.start(1, false).unsent_may_go_again());
        r.replay();
        assert!(!r.start(1, false).unsent_may_go_again());
    }

    #[test]
    fn a_later_request_that_got_nothing_on_a_reused_connection_closes_the_client_silently() {
        let mut r = Replays::new(policy(3, true), false, Reuse::Pooled);
        let reused = r.start(1, true);
        assert!(reused.close_silently(false));
        // A client connection's first request gets its 502 (HAProxy's answer too).
        assert!(!reused.close_silently(true));
        // A new connection that closed without answering: the server's failure.
        assert!(!r.start(1, false).close_silently(false));
    }

    #[test]
    fn a_request_with_a_body_is_never_replayed() {
        let mut r = Replays::new(policy(3, true), false, Reuse::Pooled);
        assert_eq!(r.next_send(), (Reuse::Pooled, None));
        for reused in [true, false] {
            let a = r.start(1, reused);
            assert!(!a.may_replay());
            assert!(a.counts_against_server());
        }
    }

    #[test]
    fn a_replay_goes_on_a_new_connection_whatever_the_policy_allows() {
        for reuse in [Reuse::Own, Reuse::Proven, Reuse::Pooled] {
            let mut r = Replays::new(policy(3, true), true, reuse);
            assert_eq!(r.next_send(), (reuse, None));
            assert!(r.start(1, true).may_replay());
            r.replay();
            assert_eq!(r.next_send(), (Reuse::Never, None));
        }
    }

    #[test]
    fn what_each_http_reuse_allows_first_and_later_requests() {
        use HttpReuse::*;
        let allowed = |p| (Reuse::allowed(p, true), Reuse::allowed(p, false));
        // never: nothing shared; a client connection keeps its own connection.
        assert_eq!(allowed(Never), (Reuse::Own, Reuse::Own));
        // safe: a first request always on a new connection.
        assert_eq!(allowed(Safe), (Reuse::Never, Reuse::Pooled));
        // aggressive: a first request only on a proven one.
        assert_eq!(allowed(Aggressive), (Reuse::Proven, Reuse::Pooled));
        assert_eq!(allowed(Always), (Reuse::Pooled, Reuse::Pooled));
        assert_eq!(HttpReuse::default(), Safe);
    }

    #[test]
    fn which_connections_each_reuse_may_take() {
        let got = |r: Reuse| (r.own(), r.pool_asked());
        assert_eq!(got(Reuse::Never), (false, None));
        assert_eq!(got(Reuse::Own), (true, None));
        assert_eq!(got(Reuse::Proven), (true, Some(true)));
        assert_eq!(got(Reuse::Pooled), (true, Some(false)));
    }

    #[test]
    fn a_reused_connection_that_failed_is_replayed_at_once_and_not_held_against_the_server() {
        let mut r = Replays::new(policy(0, true), true, Reuse::Pooled);
        let a = r.start(4, true);
        assert!(a.may_replay());
        assert!(!a.counts_against_server());
        r.replay();
        // Fresh now, on any server; with no retries left, this one is final.
        assert_eq!(r.next_send(), (Reuse::Never, None));
        let a = r.start(4, false);
        assert!(!a.may_replay());
        assert!(a.counts_against_server());
    }

    #[test]
    fn fresh_connections_are_replayed_up_to_retries_times() {
        let mut r = Replays::new(policy(2, false), true, Reuse::Never);
        let mut sends = 0;
        loop {
            let (reuse, avoid) = r.next_send();
            assert_eq!(
                (reuse, avoid),
                (Reuse::Never, None),
                "no redispatch: no avoid"
            );
            let a = r.start(5, false);
            sends += 1;
            assert!(a.counts_against_server());
            if !a.may_replay() {
                break;
            }
            r.replay();
        }
        assert_eq!(sends, 3);
    }

    #[test]
    fn with_redispatch_a_replay_avoids_the_server_that_failed() {
        let mut r = Replays::new(policy(1, true), true, Reuse::Pooled);
        // A reused connection first: does not use up a retry, avoids nobody.
        assert!(r.start(2, true).may_replay());
        r.replay();
        assert_eq!(r.next_send(), (Reuse::Never, None));
        assert!(r.start(2, false).may_replay());
        r.replay();
        assert_eq!(r.next_send(), (Reuse::Never, Some(2)));
        let last = r.start(6, false);
        assert!(!last.may_replay());
        // The last send's server is not remembered: there is no next send.
        assert_eq!(r.next_send(), (Reuse::Never, Some(2)));
    }
}
