//! A worker's listeners: the accept loop of each socket bound for it (see
//! `crate::listen`), which frontend each serves now, and stopping them on reload.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use monoio::io::Canceller;
use monoio::net::TcpStream;

use super::h2::serve_h2;
use super::http::serve_http;
use super::local::{Flag, GateTicket};
use super::preamble::{read_proxy_header, Origin};
use super::rules::{self, RuleConn};
use super::session::serve_tcp;
use super::state::Worker;
use crate::config::{Frontend, Mode};
use crate::listen::BoundListener;
use crate::tls::{accept_tls, ClientStream};

/// A listener of this worker: which frontend it serves now (a reload may change
/// that) and the flag that stops it (a reload that drops its address).
pub struct ListenerSlot {
    pub addr: SocketAddr,
    pub frontend: Rc<Cell<usize>>,
    pub stop: Rc<Flag>,
}

/// The negotiated TLS version and cipher suite of a client connection, for the log.
type TlsLabel = Option<(&'static str, &'static str)>;

/// Start accepting on `bound`.
pub fn start(worker: &Rc<Worker>, bound: BoundListener) {
    let slot = ListenerSlot {
        addr: bound.addr,
        frontend: Rc::new(Cell::new(bound.frontend)),
        stop: Rc::new(Flag::default()),
    };
    worker.count_accept_loop(true);
    let w = Rc::clone(worker);
    let accepting = accept_loop(
        Rc::clone(worker),
        bound,
        Rc::clone(&slot.frontend),
        Rc::clone(&slot.stop),
    );
    monoio::spawn(async move {
        accepting.await;
        w.count_accept_loop(false);
    });
    worker.add_listener(slot);
}

/// After a reload: listeners whose address stays serve the frontend `keep` names; the
/// others stop accepting (their open connections go on).
pub fn keep_only(worker: &Worker, keep: &[(SocketAddr, usize)]) {
    worker.retain_listeners(|l| match keep.iter().find(|(a, _)| *a == l.addr) {
        Some((_, fe)) => {
            l.frontend.set(*fe);
            true
        }
        None => {
            l.stop.raise();
            false
        }
    });
}

/// Accept on one listener until the worker stops or the listener is dropped. At the
/// worker's connection limit, accepting pauses (connections wait in the kernel's
/// backlog) until one ends.
async fn accept_loop(
    worker: Rc<Worker>,
    bound: BoundListener,
    frontend: Rc<Cell<usize>>,
    stop: Rc<Flag>,
) {
    let addr = bound.addr;
    // Once per listener, whoever bound it (a socket handed over by a binary upgrade
    // included): every accepted socket inherits TCP_NODELAY from it, so `serve` never
    // sets it per connection.
    let _ = socket2::SockRef::from(&bound.socket).set_tcp_nodelay(true);
    let listener = match monoio::net::TcpListener::from_std(bound.socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(worker = worker.id(), %addr, "cannot register listener: {e}");
            return;
        }
    };
    let mut burst = AcceptBurst::default();
    // One for the loop's life: each accept's registration in it is taken out when the
    // accept ends, and its set keeps its room (a fresh one per accept cost a shared
    // cell, a hash set and its first growth: about 600 instructions a connection).
    let mut canceller = Canceller::new();
    loop {
        monoio::select! {
            _ = worker.until_below_limit(frontend.get()) => {}
            _ = worker.until_stopping() => break,
            _ = stop.wait() => break,
        }
        // A stop cancels the accept and waits for the cancellation to complete: an
        // io_uring accept may have taken a connection meanwhile, and it is served
        // rather than lost (a binary upgrade counts on that).
        let mut waited = false;
        let (accepted, stopping) = {
            let mut accept = std::pin::pin!(listener.cancelable_accept(canceller.handle()));
            monoio::select! {
                r = noting_wait(accept.as_mut(), &mut waited) => (r, false),
                _ = until_stop(&worker, &stop) => {
                    let _canceller = std::mem::take(&mut canceller).cancel();
                    (accept.await, true)
                }
            }
        };
        match accepted {
            Ok((stream, peer)) => accepted_one(&worker, frontend.get(), stream, peer),
            Err(_) if stopping => {}
            Err(e) => {
                // EMFILE/ENFILE and the like: back off instead of spinning on the error.
                worker.faults().accept_failed(worker.id(), addr, &e);
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if stopping {
            take_queued(&worker, &listener, frontend.get());
            break;
        }
        // After the connection's task is queued, so that it runs in the yield too.
        if burst.after_accept(waited) {
            yield_to_queued().await;
        }
    }
    if worker.released() && !stop.is_raised() {
        // A binary upgrade: the new process accepts on these very sockets. Closing
        // this descriptor leaves them open; shutdown() would stop them for both.
        drop(listener);
        tracing::info!(worker = worker.id(), %addr, "stopped accepting (handed over)");
        return;
    }
    // Dropping the listener is not enough: the socket stays in its SO_REUSEPORT group
    // while another descriptor of it is open (the supervisor keeps one for a binary
    // upgrade). shutdown() takes it out of the group at once, so new connections are
    // refused right away.
    // SAFETY: plain syscall on a descriptor we own and keep open until the drop below.
    unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
    drop(listener);
    tracing::info!(worker = worker.id(), %addr, "stopped accepting");
}

/// Connections accepted in a row without waiting before the accept loop lets the
/// worker's other tasks run (HAProxy's `tune.maxaccept`, whose default is 4 too).
const ACCEPT_BURST: u32 = 4;

/// How many accepts in a row completed at once. With the legacy (epoll) driver an
/// accept on a listener with queued connections completes without waiting, so the
/// loop would drain the whole backlog (hundreds of connections after a failover or a
/// restart of the clients) before any established connection is served. With
/// io_uring every accept waits for the ring, one per loop turn, and this never counts.
#[derive(Debug, Default)]
struct AcceptBurst {
    in_a_row: u32,
}

impl AcceptBurst {
    /// After an accept: `waited` says whether it had to wait. True when the loop
    /// should now let the other tasks run.
    fn after_accept(&mut self, waited: bool) -> bool {
        if waited {
            self.in_a_row = 0;
            return false;
        }
        self.in_a_row += 1;
        if self.in_a_row < ACCEPT_BURST {
            return false;
        }
        self.in_a_row = 0;
        true
    }
}

/// `fut`, noting in `waited` whether it ever had to wait.
fn noting_wait<'a, F: Future + 'a>(
    mut fut: Pin<&'a mut F>,
    waited: &'a mut bool,
) -> impl Future<Output = F::Output> + 'a {
    std::future::poll_fn(move |cx| {
        let polled = fut.as_mut().poll(cx);
        *waited |= polled.is_pending();
        polled
    })
}

/// Let every task queued now run before this one goes on. A task that wakes itself
/// does not do that in monoio 0.2.4: it is put back at the *front* of the queue and
/// polled again at once. A task spawned now goes to the back, and its end wakes us.
pub(super) async fn yield_to_queued() {
    monoio::spawn(async {}).await;
}

/// Count a new connection of frontend `fe` and serve it in its own task.
fn accepted_one(worker: &Rc<Worker>, fe: usize, stream: TcpStream, peer: SocketAddr) {
    let ticket = worker.admit();
    worker.with_frontend_stats(fe, |s| {
        s.current += 1;
        s.connections += 1;
    });
    monoio::spawn(serve(Rc::clone(worker), ticket, fe, stream, peer));
}

/// Connections that wait in the queue as the accept loop stops are served, a bounded
/// number, rather than left behind. io_uring wakes one waiting accept per connection
/// (an exclusive wait): a wake-up that reached our accept as it was being cancelled
/// would leave its connection queued without waking another waiter (after a binary
/// upgrade, the new process's) until the next connection comes.
fn take_queued(worker: &Rc<Worker>, listener: &monoio::net::TcpListener, fe: usize) {
    use std::os::fd::FromRawFd;
    for _ in 0..64 {
        // SAFETY: accept4 on our listening descriptor; no address is asked for.
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        // SAFETY: accept4 just returned this descriptor, owned by nobody else.
        let std = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let Ok(peer) = std.peer_addr() else { continue };
        if let Ok(stream) = TcpStream::from_std(std) {
            accepted_one(worker, fe, stream, peer);
        }
    }
}

/// Resolves when the worker stops or this listener is dropped by a reload.
async fn until_stop(worker: &Worker, stop: &Flag) {
    monoio::select! {
        _ = worker.until_stopping() => {}
        _ = stop.wait() => {}
    }
}

/// One accepted connection of frontend `fe`, in its own task: the PROXY header when
/// the frontend takes one, connection rules, the TLS handshake when the frontend
/// terminates TLS, then the session of the frontend's mode.
async fn serve(w: Rc<Worker>, ticket: GateTicket, fe: usize, stream: TcpStream, peer: SocketAddr) {
    let _ticket = ticket;
    let frontend = w.frontend(fe);
    if frontend.tcp_keepalive {
        crate::listen::keep_alive(&stream);
    }
    let mut peer = peer;
    // The client's addresses from a PROXY header, before anything else looks at
    // the connection: rules, logs, balancing and headers all see the client.
    let mut told = None;
    if let Some(pp) = &frontend.proxy_protocol {
        // Boxed, like the other states most connections never enter (the TLS
        // handshake, HTTP/2): the task's future is only as large as its common
        // states, and it is copied whole when the task is spawned.
        match Box::pin(proxy_header(&w, fe, &frontend, &stream, peer, pp)).await {
            Some(addresses) => {
                told = addresses;
                if let Some((src, _)) = addresses {
                    peer = src;
                }
            }
            None => {
                w.with_frontend_stats(fe, |s| s.current -= 1);
                return;
            }
        }
    }
    // Connection rules, before the TLS handshake; a rejected connection is closed
    // at once (the stream is dropped).
    let dst_port = match (frontend.has_rules(), told) {
        (true, Some((_, dst))) => dst.port(),
        (true, None) => stream.local_addr().map_or(0, |a| a.port()),
        (false, _) => 0,
    };
    let Some(state) = rules::on_connect(&w, fe, &frontend, peer, dst_port) else {
        w.with_frontend_stats(fe, |s| s.current -= 1);
        return;
    };
    let mut rc = RuleConn {
        state,
        dst_port,
        ..RuleConn::default()
    };
    let mut origin = frontend.keeps_origin.then(|| Origin {
        addresses: told.or_else(|| stream.local_addr().ok().map(|dst| (peer, dst))),
        ..Origin::default()
    });
    let handshaken = handshake(&w, &frontend, fe, stream, peer, &mut rc, origin.as_mut()).await;
    if let Some((client, tls_label, alpn_h2)) = handshaken {
        let result = match frontend.mode {
            // Each session's future on the heap as well, so that the task's future
            // (copied twice when spawned) holds only this function's state: in a slot
            // of this thread's (`slot.rs`), written there in place. (`Box::pin` would
            // make the future, kilobytes, on the stack and copy it, into a block from
            // `malloc`'s bins, past its per-thread cache.)
            Mode::Tcp => {
                let w2 = Rc::clone(&w);
                let port = rc.dst_port;
                let slot = super::slot::empty();
                slot.write(serve_tcp(w2, fe, client, peer, tls_label, origin, port))
                    .await
            }
            Mode::Http => {
                let (w2, conn) = (Rc::clone(&w), rc.clone());
                if alpn_h2 || (frontend.h2.prior_knowledge && !client.is_tls()) {
                    let slot = super::slot::empty();
                    slot.write(serve_h2(w2, fe, client, peer, tls_label, conn, origin))
                        .await
                } else {
                    let slot = super::slot::empty();
                    slot.write(serve_http(w2, fe, client, peer, tls_label, conn, origin))
                        .await
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(worker = w.id(), %peer, "session ended: {e}");
        }
    }
    rules::close(&w, &mut rc.state);
    w.with_frontend_stats(fe, |s| s.current -= 1);
}

/// Read the PROXY header of a connection to a frontend with `proxy_protocol`.
/// `Some(addresses)`: accepted (`None` inside: LOCAL, keep the socket's addresses);
/// `None`: refused and counted; the caller closes the connection.
async fn proxy_header(
    w: &Worker,
    fe: usize,
    frontend: &Frontend,
    stream: &TcpStream,
    peer: SocketAddr,
    pp: &crate::config::ProxyProtocolIn,
) -> Option<Option<(SocketAddr, SocketAddr)>> {
    let limit = frontend.timeout_client_handshake;
    match read_proxy_header(w, stream, peer, pp, limit).await {
        Ok(addresses) => {
            w.with_frontend_stats(fe, |s| s.proxy_accepted += 1);
            Some(addresses)
        }
        Err(why) => {
            w.with_frontend_stats(fe, |s| s.proxy_refused[why.0] += 1);
            w.faults()
                .proxy_refused(w.id(), &frontend.name, peer, why.label());
            None
        }
    }
}

/// The client stream of an accepted connection, after the TLS handshake if the
/// frontend terminates TLS (with the negotiated version and cipher for the log, and
/// whether ALPN settled on HTTP/2). `None`: the handshake failed.
async fn handshake(
    w: &Worker,
    frontend: &Frontend,
    fe: usize,
    stream: TcpStream,
    peer: SocketAddr,
    rc: &mut RuleConn,
    origin: Option<&mut Origin>,
) -> Option<(ClientStream, TlsLabel, bool)> {
    // No TCP_NODELAY here: the accepted socket has it from its listener (see
    // `crate::listen`), which saves a setsockopt per connection.
    let Some(tls) = &frontend.tls else {
        return Some((ClientStream::Plain(stream), None, false));
    };
    let limit = frontend.timeout_client_handshake;
    match Box::pin(accept_tls(&tls.server_config, stream, limit)).await {
        Ok((c, info)) => {
            w.with_frontend_stats(fe, |s| match info.version {
                "TLSv1.3" => s.tls13 += 1,
                _ => s.tls12 += 1,
            });
            tracing::debug!(worker = w.id(), %peer, version = info.version, cipher = %info.cipher, sni = ?info.sni, "TLS handshake done");
            if let Some(o) = origin {
                // For the TLVs of a `send_proxy = "v2"` header.
                o.ssl = Some((info.version, info.cipher));
                o.sni = info.sni.clone().map(String::into_boxed_str);
                o.alpn = info.alpn.clone().map(Vec::into_boxed_slice);
            }
            let h2 = info.alpn.as_deref() == Some(b"h2");
            if frontend.has_rules() {
                // For `sni` and `alpn` conditions of the request rules.
                rc.sni = info.sni.map(String::into_boxed_str);
                rc.alpn = info.alpn.map(Vec::into_boxed_slice);
            }
            Some((c, Some((info.version, info.cipher)), h2))
        }
        Err(e) => {
            w.with_frontend_stats(fe, |s| s.tls_failures += 1);
            tracing::debug!(worker = w.id(), %peer, "{e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn a_burst_of_accepts_that_did_not_wait_yields_every_fourth() {
        let mut b = AcceptBurst::default();
        let yields: Vec<bool> = (0..9).map(|_| b.after_accept(false)).collect();
        assert_eq!(
            yields,
            [false, false, false, true, false, false, false, true, false]
        );
    }

    #[test]
    fn an_accept_that_waited_starts_the_count_again() {
        let mut b = AcceptBurst::default();
        for _ in 0..3 {
            assert!(!b.after_accept(false));
        }
        assert!(!b.after_accept(true));
        for _ in 0..3 {
            assert!(!b.after_accept(false));
        }
        assert!(b.after_accept(false));
        // io_uring: every accept waits, none ever yields.
        assert!((0..100).all(|_| !b.after_accept(true)));
    }

    #[test]
    fn yielding_lets_the_tasks_queued_before_run_first() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        let order = rt.block_on(async {
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut others = Vec::new();
            for i in 0..3 {
                let o = Rc::clone(&order);
                others.push(monoio::spawn(async move { o.borrow_mut().push(i) }));
            }
            let o = Rc::clone(&order);
            let me = monoio::spawn(async move {
                o.borrow_mut().push(10);
                // Queued before the yield: runs before this task goes on.
                let o2 = Rc::clone(&o);
                let queued = monoio::spawn(async move { o2.borrow_mut().push(15) });
                yield_to_queued().await;
                o.borrow_mut().push(11);
                queued.await;
            });
            for t in others {
                t.await;
            }
            me.await;
            let v = order.borrow().clone();
            v
        });
        assert_eq!(order, [0, 1, 2, 10, 15, 11], "order of the tasks' steps");
    }
}
