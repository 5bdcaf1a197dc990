//! The lifecycle loop on the control thread: ready, reload on SIGHUP, graceful stop
//! on SIGTERM/SIGINT, binary upgrades (SIGUSR2 or `ringlb upgrade`), a worker that
//! dies; until every worker is done.

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use signal_hook::consts::{SIGHUP, SIGINT, SIGUSR2};

use super::upgrade::{self, Msg};
use super::{notify, Exit, Input, RunError};
use crate::control::Control;
use crate::msg::{Event, Update};

/// Handle events until the workers are done (or must be abandoned).
pub(super) async fn run(
    control: Rc<Control>,
    notifier: Rc<notify::Notifier>,
    upgrade: upgrade::State,
    mut events: impl Stream<Item = Input> + Unpin,
) -> Result<Exit, RunError> {
    let mut state = Lifecycle::new(control, notifier, upgrade);
    if state.workers == 0 {
        // No frontend: the control plane alone (VRRP), ready as soon as it runs.
        state.ready();
    }
    loop {
        let event = match state.next_event(&mut events).await {
            Ok(event) => event,
            Err(exit) => return Ok(exit),
        };
        if let Some(end) = state.handle(event) {
            return end;
        }
    }
}

/// The lifecycle's state: how many workers started and still run, and once a stop
/// was asked for, when the grace period ends.
struct Lifecycle {
    control: Rc<Control>,
    notifier: Rc<notify::Notifier>,
    workers: usize,
    grace: Duration,
    started: usize,
    running: usize,
    stop_deadline: Option<Instant>,
    upgrade: upgrade::State,
}

impl Lifecycle {
    fn new(control: Rc<Control>, notifier: Rc<notify::Notifier>, upgrade: upgrade::State) -> Self {
        let workers = control.broadcaster.workers();
        let grace = control.config.borrow().global.grace_period;
        Lifecycle {
            control,
            notifier,
            workers,
            grace,
            started: 0,
            running: workers,
            stop_deadline: None,
            upgrade,
        }
    }

    /// The next event, or how the run ends: every worker is gone (the channel
    /// closed), or the grace period is over.
    async fn next_event(
        &self,
        events: &mut (impl Stream<Item = Input> + Unpin),
    ) -> Result<Input, Exit> {
        let event = match self.stop_deadline {
            None => events.next().await,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match monoio::time::timeout(left, events.next()).await {
                    Ok(e) => e,
                    Err(_) => {
                        let grace = self.grace;
                        tracing::warn!(
                            "grace period of {grace:?} is over: closing the connections still open"
                        );
                        return Err(Exit::GraceExpired);
                    }
                }
            }
        };
        event.ok_or(Exit::Graceful)
    }

    /// Apply one input; `Some` when the run ends with it.
    fn handle(&mut self, input: Input) -> Option<Result<Exit, RunError>> {
        let event = match input {
            Input::Event(e) => e,
            Input::Upgrade(Msg::Call { binary, reply }) => {
                self.upgrade_start(binary, reply);
                return None;
            }
            Input::Upgrade(Msg::Done { result, reply }) => {
                self.upgrade_done(result, reply);
                return None;
            }
            Input::Upgrade(Msg::SaveTimeout(id)) => {
                self.upgrade.save_timeout(&self.control, id);
                return None;
            }
        };
        let control = &self.control;
        match event {
            Event::WorkerStarted { id, driver } => {
                if let Some(d) = control.drivers.borrow_mut().get_mut(id) {
                    *d = Some(driver);
                }
                self.started += 1;
                if self.started == self.workers {
                    self.ready();
                }
            }
            Event::Signal(SIGHUP) => self.reload(),
            Event::Signal(SIGUSR2) => self.upgrade_start(None, None),
            Event::Signal(sig) => return self.stop(sig),
            Event::WorkerStopped(id) => return self.worker_stopped(id),
            Event::ServerErrors {
                worker,
                backend,
                server,
                streak,
            } => control.server_errors(worker, backend, server, streak),
            Event::Stats { id, stats } => control.stats_arrived(id, stats),
            Event::Pong(worker) => control.pong(worker),
            Event::Tables { id, tables, .. } => {
                self.upgrade.tables_arrived(&self.control, id, *tables)
            }
        }
        None
    }

    /// SIGHUP: reload, unless ringlb is stopping. systemd hears `RELOADING=1` first
    /// and `READY=1` once every worker uses the new configuration (or at once, with
    /// the reason in `STATUS=`, when it was refused).
    fn reload(&self) {
        if self.stop_deadline.is_some() {
            return;
        }
        self.notifier.reloading();
        match self.control.reload("SIGHUP") {
            Ok(_) => {
                let c = Rc::clone(&self.control);
                let n = Rc::clone(&self.notifier);
                monoio::spawn(async move {
                    c.barrier().await;
                    tracing::info!("SIGHUP: the new configuration is in use by every worker");
                    n.notify("READY=1\nSTATUS=configuration reloaded");
                });
            }
            Err(_) => self.notifier.notify(
                "READY=1\nSTATUS=reload refused: the running configuration is unchanged (see the log)",
            ),
        }
    }

    /// Every worker runs: tell the log and systemd (or, taking over from an old
    /// process, that process: it tells systemd, being the main process until then).
    fn ready(&mut self) {
        let workers = self.workers;
        tracing::info!(workers, "ringlb ready");
        self.upgrade.serve_socket();
        if self.upgrade.taking_over() {
            let routers = self.control.vrrp.as_ref().map(|v| v.ids());
            self.upgrade.say_ready(routers.unwrap_or_default());
            return;
        }
        let status = if workers == 0 {
            "STATUS=no frontend: running the virtual router(s) only".to_string()
        } else {
            format!("STATUS=serving with {workers} workers")
        };
        self.notifier.notify(&format!("READY=1\n{status}"));
    }

    /// SIGTERM/SIGINT: the first stops accepting and starts the grace period, a
    /// second one ends the run at once.
    fn stop(&mut self, sig: i32) -> Option<Result<Exit, RunError>> {
        let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
        if self.stop_deadline.is_some() {
            if self.upgrade.first_signal_after_handover() {
                tracing::info!(
                    "{name}: already draining after an upgrade (signal again to exit now)"
                );
                return None;
            }
            tracing::warn!("{name} again: exiting now");
            return Some(Ok(Exit::Forced));
        }
        let grace = self.grace;
        self.notifier
            .notify(&format!("STOPPING=1\nSTATUS={name}: draining connections"));
        if self.running > 0 {
            tracing::info!("{name}: stopped accepting; open connections have {grace:?} to finish (signal again to exit now)");
        }
        self.control.stopping.set(true);
        if let Some(v) = &self.control.vrrp {
            // Hand the virtual IPs over now (priority 0), not after the grace period.
            v.stop();
        }
        // Withdraw first; with `withdraw_grace`, keep accepting while routers converge.
        let converge = self.control.announce.as_ref().map_or(Duration::ZERO, |a| {
            a.stop();
            a.withdraw_grace()
        });
        if self.running == 0 {
            tracing::info!("{name}: no worker to wait for: exiting");
            return Some(Ok(Exit::Graceful));
        }
        if converge.is_zero() {
            self.control.broadcaster.send_all(|| Update::Shutdown);
        } else {
            tracing::info!("announce: withdrawn; still accepting for {converge:?} while routers converge (announce.withdraw_grace)");
            let control = Rc::clone(&self.control);
            monoio::spawn(async move {
                monoio::time::sleep(converge).await;
                control.broadcaster.send_all(|| Update::Shutdown);
            });
        }
        self.stop_deadline = Some(Instant::now() + converge + grace);
        None
    }

    /// A worker ended: expected while stopping (the last one ends the run), fatal
    /// otherwise.
    fn worker_stopped(&mut self, id: usize) -> Option<Result<Exit, RunError>> {
        self.running -= 1;
        if self.stop_deadline.is_none() {
            tracing::error!(worker = id, "worker stopped unexpectedly: stopping");
            if let Some(v) = self
                .control
                .vrrp
                .as_ref()
                .filter(|_| self.upgrade.taking_over())
            {
                // Never ready: the old process still runs the virtual routers.
                v.release_all();
            }
            self.notifier.notify(&format!(
                "STOPPING=1\nSTATUS=worker {id} stopped unexpectedly"
            ));
            self.control.broadcaster.send_all(|| Update::Shutdown);
            return Some(Err(RunError::WorkerDied(id)));
        }
        if self.running == 0 {
            tracing::info!("all connections finished: exiting");
            return Some(Ok(Exit::Graceful));
        }
        None
    }

    /// SIGUSR2 or `ringlb upgrade`: start the new binary (on a thread); refused
    /// (and said so) while stopping or already upgrading.
    fn upgrade_start(
        &mut self,
        binary: Option<std::path::PathBuf>,
        reply: Option<std::sync::mpsc::Sender<upgrade::wire::Answer>>,
    ) {
        self.upgrade.start(&self.control, binary, reply);
    }

    /// The new process is ready (it accepts on the same sockets): tell systemd it is
    /// the main process now, stop accepting without closing the sockets, and drain
    /// within the grace period. Or it failed: keep serving, say why.
    fn upgrade_done(
        &mut self,
        result: Result<upgrade::Took, String>,
        reply: Option<std::sync::mpsc::Sender<upgrade::wire::Answer>>,
    ) {
        self.upgrade.done(&result);
        let took = match result {
            Ok(took) if self.stop_deadline.is_none() => took,
            Ok(upgrade::Took { pid, .. }) => {
                // Stopping since the upgrade began: the shared sockets are shut down,
                // and the service is to stop. The new process stops too.
                // SAFETY: plain syscall; `pid` is our child, not yet reaped.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                tracing::warn!("upgrade: stopping, so the new process {pid} is stopped too");
                let why = format!("ringlb is stopping: the new process {pid} was stopped too");
                upgrade::answer(reply, false, None, why);
                return;
            }
            Err(why) => {
                tracing::error!("upgrade failed, this process keeps serving: {why}");
                if let Some(a) = &self.control.announce {
                    a.reassert();
                }
                upgrade::answer(
                    reply,
                    false,
                    None,
                    format!("upgrade failed, the running process keeps serving: {why}"),
                );
                return;
            }
        };
        let pid = took.pid;
        // The new process runs the virtual routers and owns the announce device now.
        if let Some(v) = &self.control.vrrp {
            v.hand_over(&took.vrrp);
        }
        if let Some(a) = &self.control.announce {
            a.hand_over();
        }
        let grace = self.grace;
        self.notifier.notify(&format!(
            "MAINPID={pid}\nREADY=1\nSTATUS=upgraded: process {pid} serves"
        ));
        // Not the main process any more: whatever it says now is not the service's.
        self.notifier.mute();
        tracing::info!("upgrade: process {pid} took over; stopped accepting, open connections have {grace:?} to finish");
        self.control.stopping.set(true);
        self.control.broadcaster.send_all(|| Update::Release);
        self.stop_deadline = Some(Instant::now() + grace);
        upgrade::answer(reply, true, Some(pid), format!("process {pid} took over; process {} drains its connections (grace period {grace:?})", std::process::id()));
    }
}
