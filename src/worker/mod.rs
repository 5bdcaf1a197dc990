//! The data plane. One worker per core, each a thread pinned to its core running its
//! own monoio runtime (io_uring, or epoll where io_uring is refused), its own
//! listeners and its own copy of backend state. Nothing here is shared between
//! workers: the control thread reaches a worker only through its inbox.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | worker thread and runtime set-up, the inbox (control thread's updates), the once-a-second sweep |
//! | `state.rs` | [`Worker`]: everything one worker owns, and the methods on it but those below |
//! | `state_configure.rs` | its methods for what the control thread sends: a configuration, decisions about servers |
//! | `state_servers.rs` | its methods on servers: pick, lease, wait in the backend's queue, a server's address and state |
//! | `stop.rs` | [`Worker`] methods that stop it: shutdown, or an upgrade's release of the listeners |
//! | `record.rs` | [`Worker`] methods that record: server outcomes (statistics, passive health), the access log |
//! | `backend.rs` | one backend as a worker sees it (servers, balancer, queue), [`Outcome`] |
//! | `backend_configure.rs` | a configuration applied to the backends: slots, servers placed and given their states, retired slots (a child of `backend.rs`) |
//! | `lease.rs` | `ServerLease`: a server counted as in use while it lives; what picking one ends in |
//! | `queue.rs` | a backend's FIFO wait queue for when every server is at its limit |
//! | `upstream.rs` | the connect retry policy (retries, redispatch) and connecting to a server |
//! | `sends.rs` | the sends of one HTTP request: which idle connection it may take (`http_reuse`), when it goes again |
//! | `pool.rs` | idle keep-alive server connections, closed as soon as data or EOF arrives on one |
//! | `pool_watch.rs` | the armed read-readiness wait each idle server connection has (a child of `pool.rs`) |
//! | `buffers.rs` | the relay buffer pool: buffers are emptied on give and on take |
//! | `slot.rs` | heap slots for the futures made per connection and per HTTP/2 stream, reused newest first (warm in cache) |
//! | `listener.rs` | accept loops, the connection limit, TLS handshakes, listeners kept or stopped on reload |
//! | `preamble.rs` | before the session: the PROXY header received, the ClientHello read for SNI routing, the `send_proxy` header sent |
//! | `session.rs` | a TCP-mode session: connect, then relay |
//! | `kill.rs` | `on_marked_down = "shutdown_sessions"`: the flag a server's sessions end on when it is marked down |
//! | `relay.rs` | the two-way byte relay (TCP mode, upgrades) with half-close and inactivity timeouts |
//! | `splice.rs` | the relay of plain TCP sessions: bulk moves socket → pipe → socket by `splice(2)` |
//! | `pipe.rs` | the splice relay's pipes: non-blocking, grown to 1 MiB within a per-worker share of the user's pipe allowance |
//! | `h2/` | HTTP/2: client connections (each stream served by the HTTP/1.1 code below through a pipe), and streams to `proto = "h2"` servers |
//! | `http.rs` | an HTTP-mode client connection: requests one after another, each read and routed, upgrades |
//! | `exchange.rs` | one request to a backend and its response, one method per phase |
//! | `exchange_server.rs` | its server connection: picked (own idle, pooled or new), given back to the pool or kept, failures counted (a child of `exchange.rs`) |
//! | `exchange_duplex.rs` | its request body streamed to an HTTP/2 server while the response comes back (a child of `exchange.rs`) |
//! | `http_answers.rs` | what a connection answers itself: redirects, a rule's answer, refusals; response rules on a server's head (a child of `http.rs`) |
//! | `http_sizes.rs` | tests only: the size of the futures a request's session is made of (a child of `http.rs`) |
//! | `http_heads.rs` | reading request and response heads, waiting for the next request, error responses |
//! | `http_keepalive.rs` | waiting for the next request on a keep-alive connection (a child of `http_heads.rs`) |
//! | `hot_ticks.rs` | the end of a keep-alive connection's hot wait, on a per-worker tick instead of a timer per wait |
//! | `body.rs` | streaming a message body through one bounded buffer |
//! | `timer.rs` | timeouts on a session's waits with no timer inside the waiting future (monoio's is 128-byte aligned) |
//! | `compress.rs` | response compression: negotiate, decide on the head, stream the body through a pooled encoder |
//! | `persist.rs` | cookie persistence: the server a request's cookie names, `Cookie` and `Set-Cookie` edits |
//! | `route.rs` | which way a request goes: redirect, backend, or none |
//! | `rules.rs` | the rule engine on a worker: tables, connection, request and response rules |
//! | `rules_answer.rs` | the responses rules answer with (`deny`, `return`, `redirect`, `tarpit`), written into the head buffer (a child of `rules.rs`) |
//! | `rules_backend.rs` | a backend's own rules: request rules after the frontend's, `use_server`, response rules |
//! | `access.rs` | the access log: per-worker line buffer, writer thread, the per-request record, termination flags |
//! | `access_tests.rs` | tests of the access log: line shape, a writer behind, err batches, early lines |
//! | `access_format.rs` | a line in a configured format (`access_log_format`: HAProxy aliases, `httplog`, `tcplog`) |
//! | `local.rs` | single-thread synchronisation: a list of waiting tasks, a flag tasks wait on, the connection gate |
//! | `error.rs` | why a session ended badly, and whose side it was |
//! | `faults.rs` | counted and rate-limited: accept errors, the connection limit reached, ringlb's own shortages |

mod access;
mod access_format;
mod backend;
mod body;
mod buffers;
mod compress;
mod error;
mod exchange;
mod faults;
mod h2;
mod hot_ticks;
mod http;
mod http_heads;
mod kill;
mod lease;
mod listener;
mod local;
mod persist;
mod pipe;
mod pool;
mod preamble;
mod queue;
mod record;
mod relay;
mod route;
mod rules;
mod rules_backend;
mod sends;
mod session;
mod slot;
mod splice;
mod state;
mod stop;
mod timer;
mod upstream;

use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use futures_channel::mpsc::UnboundedSender;
use futures_util::StreamExt;

pub use access::AccessWriter;
pub use backend::Outcome;
pub use error::{SessionError, Side};
pub use relay::{relay, RelayStats, Timeouts};
pub use state::Worker;

use crate::config::{Config, IoDriver};
use crate::listen::BoundListener;
use crate::msg::{Driver, Event, Inbox, Update};

/// Everything a worker thread starts with.
pub struct WorkerSetup {
    pub id: usize,
    pub config: Arc<Config>,
    pub listeners: Vec<BoundListener>,
    pub inbox: Inbox,
    pub events: UnboundedSender<Event>,
    pub core: Option<core_affinity::CoreId>,
    /// The access log writer's queue, with `global.access_log`.
    pub access: Option<crossbeam_channel::Sender<crate::logging::sink::Batch>>,
}

/// Start a worker thread. It reports `Event::WorkerStarted` once its runtime runs and
/// `Event::WorkerStopped` when it ends, however it ends (also on panic).
pub fn spawn(setup: WorkerSetup) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(format!("ringlb-worker-{}", setup.id)).spawn(move || {
        let id = setup.id;
        let _stopped = StopReporter { id, events: setup.events.clone() };
        let pinned = setup.core.map(core_affinity::set_for_current);
        let driver_pref = setup.config.global.io_driver;
        let result = run_on_runtime(driver_pref, |driver| {
            match pinned {
                Some(true) => tracing::info!(worker = id, core = setup.core.map(|c| c.id), %driver, "worker started"),
                Some(false) => tracing::warn!(worker = id, %driver, "worker started, but pinning to a core failed"),
                None => tracing::info!(worker = id, %driver, "worker started (not pinned)"),
            }
            worker_main(setup, driver)
        });
        if let Err(e) = result {
            tracing::error!(worker = id, "cannot start an I/O runtime: {e}");
        }
    })
}

struct StopReporter {
    id: usize,
    events: UnboundedSender<Event>,
}

impl Drop for StopReporter {
    fn drop(&mut self) {
        let _ = self.events.unbounded_send(Event::WorkerStopped(self.id));
    }
}

/// Build the runtime `pref` asks for and run `f` on it. `Auto` takes io_uring when the
/// kernel offers every operation monoio needs, and falls back to the legacy (epoll)
/// driver otherwise, e.g. under Docker's default seccomp profile, saying so in the log.
fn run_on_runtime<F, Fut>(pref: IoDriver, f: F) -> io::Result<()>
where
    F: FnOnce(Driver) -> Fut,
    Fut: Future<Output = ()>,
{
    let want_uring = match pref {
        IoDriver::Legacy => false,
        IoDriver::IoUring => {
            if !monoio::utils::detect_uring() {
                return Err(io::Error::other("io_driver = \"io_uring\" but this kernel or its seccomp profile refuses io_uring"));
            }
            true
        }
        IoDriver::Auto => {
            let ok = monoio::utils::detect_uring();
            if !ok {
                tracing::warn!("io_uring is unavailable (old kernel or seccomp profile): using the legacy epoll driver");
            }
            ok
        }
    };
    if want_uring {
        // Completions arrive from the network stack on any CPU. By default io_uring
        // interrupts the worker (an IPI) to run them at once; with COOP_TASKRUN they run
        // when the worker next enters the kernel, which a busy worker does every loop
        // turn and an idle one does to wait: the same latency, without the interrupts.
        let mut uring = io_uring::IoUring::builder();
        uring.setup_coop_taskrun();
        let built = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(4096)
            .uring_builder(uring)
            .enable_timer()
            .build()
            .or_else(|_| {
                // Kernels before 5.19 refuse the flag: run without it.
                monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .with_entries(4096)
                    .enable_timer()
                    .build()
            });
        match built {
            Ok(mut rt) => {
                rt.block_on(f(Driver::IoUring));
                return Ok(());
            }
            Err(e) if pref == IoDriver::Auto => {
                tracing::warn!("cannot set up io_uring ({e}): using the legacy epoll driver");
            }
            Err(e) => return Err(e),
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(f(Driver::Legacy));
    Ok(())
}

async fn worker_main(setup: WorkerSetup, driver: Driver) {
    let WorkerSetup {
        id,
        config,
        listeners,
        inbox,
        events,
        access,
        ..
    } = setup;
    let workers = config.global.workers.max(1);
    // The process-wide limit is split across workers: each counts its own connections.
    let limit = config.global.max_connections.div_ceil(workers);
    let mut worker = Worker::new(id, &config, limit, events.clone());
    worker.set_access_log(access.map(access::AccessLog::new));
    let worker = Rc::new(worker);
    drop(config);
    monoio::spawn(read_inbox(Rc::clone(&worker), inbox));
    for bound in listeners {
        listener::start(&worker, bound);
    }
    monoio::spawn(sweep_pool(Rc::clone(&worker)));
    monoio::spawn(watch_pool(Rc::clone(&worker)));
    let ticks = Rc::clone(&worker);
    monoio::spawn(async move { ticks.run_hot_ticks().await });
    let _ = events.unbounded_send(Event::WorkerStarted { id, driver });
    worker.until_stopping().await;
    // Each accept loop ends once its cancelled accept completes: one that took a
    // connection meanwhile serves it. Ending the runtime before would leave such a
    // connection to be reset when the process exits (a binary upgrade counts on this).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while worker.accept_loops() > 0 && std::time::Instant::now() < deadline {
        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let open = worker.open_connections();
    if open > 0 {
        tracing::info!(worker = id, open, "waiting for open connections to finish");
    }
    worker.until_no_connections().await;
    let dropped = worker.close_access_log();
    if dropped > 0 {
        tracing::warn!(
            worker = id,
            dropped,
            "access log lines dropped: the log output was not read fast enough"
        );
    }
}

/// Apply the control thread's updates. The doorbell wakes this task; the updates
/// themselves are drained with `try_recv`, so the ring never blocks on a channel.
async fn read_inbox(worker: Rc<Worker>, mut inbox: Inbox) {
    loop {
        let rang = inbox.doorbell.next().await;
        while let Ok(update) = inbox.updates.try_recv() {
            match update {
                Update::Shutdown => worker.stop(),
                Update::Release => worker.release_listeners(),
                Update::Server {
                    backend,
                    server,
                    set,
                } => {
                    worker.set_server(backend, server, set);
                    // A readiness signal for tests and a trace for operators (debug).
                    tracing::debug!(
                        target: "ringlb::apply",
                        worker = worker.id(),
                        backend,
                        server,
                        ?set,
                        "server state applied"
                    );
                }
                Update::Address {
                    backend,
                    server,
                    addr,
                } => {
                    worker.set_address(backend, server, addr);
                    tracing::debug!(target: "ringlb::apply", worker = worker.id(), backend, server, %addr, "server address applied");
                }
                Update::ClearTableEntry { table, key } => {
                    let found = worker.with_rules(|r| r.clear(&table, &key));
                    tracing::debug!(target: "ringlb::apply", worker = worker.id(), %table, %key, found, "table entry cleared");
                }
                Update::Ping(_) => {
                    worker.report(Event::Pong(worker.id()));
                }
                Update::SaveTables { id, max } => {
                    let tables = Box::new(worker.with_rules(|r| r.save(max)));
                    let w = worker.id();
                    worker.report(Event::Tables {
                        id,
                        worker: w,
                        tables,
                    });
                }
                Update::RestoreTables(saved) => {
                    let (restored, left) = worker.with_rules(|r| r.restore(&saved));
                    tracing::info!(
                        worker = worker.id(),
                        restored,
                        left,
                        "upgrade: tracking-table entries carried over"
                    );
                }
                Update::Snapshot(id) => {
                    let stats = Box::new(worker.snapshot());
                    worker.report(Event::Stats { id, stats });
                }
                Update::Sample(id) => {
                    let stats = Box::new(worker.counters());
                    worker.report(Event::Stats { id, stats });
                }
                Update::Reload(reload) => {
                    worker.configure(&reload.config, &reload.slots, Some(&reload.servers));
                    tracing::debug!(target: "ringlb::apply", worker = worker.id(), "configuration applied");
                    listener::keep_only(&worker, &reload.keep);
                    if !worker.is_stopping() {
                        for bound in reload.listeners {
                            listener::start(&worker, bound);
                        }
                    }
                }
            }
        }
        if rang.is_none() {
            // The control thread is gone: nothing will ever tell us to stop, so stop now.
            worker.stop();
            return;
        }
    }
}

/// Close pooled server connections as data or EOF arrives on them, until the worker
/// stops.
async fn watch_pool(worker: Rc<Worker>) {
    monoio::select! {
        _ = worker.watch_pool() => {}
        _ = worker.until_stopping() => {}
    }
}

/// Once a second: close pooled server connections idle too long, drop tracking-table
/// entries past their `expire`, and give memory
/// freed since the last round back to the system.
async fn sweep_pool(worker: Rc<Worker>) {
    while !worker.is_stopping() {
        monoio::time::sleep(std::time::Duration::from_secs(1)).await;
        worker.sweep_pool(std::time::Instant::now());
        worker.with_rules(|r| r.expire());
        worker.trim_heap();
        worker.flush_access_log();
    }
}
