//! A virtual router's tracking at work: what its frontends, tracked interfaces
//! (link notifications, read in `receive.rs`), check programs and track files say
//! is folded by `track.rs` into a priority and a FAULT flag; a change is logged and
//! handed to the state machine. Check programs run on a thread each (a slow program
//! never holds the control thread), killed after their `timeout`; track files are
//! read every `interval` on the control thread (a small read of a local file).

use std::process::Stdio;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::StreamExt;

use super::machine::{Event, State};
use super::run::Instance;
use super::sync::Change;
use crate::config::{RunAs, TrackScript};

/// Why a router is in FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultFrom {
    Link,
    /// A tracked interface, program or file with weight 0.
    Track,
    /// A member of its sync group is in FAULT.
    Group,
}

impl Instance {
    /// Health tracking of the frontends: `problems` lists what is wrong (frontends
    /// without a usable server, stuck workers); any problem takes `track_weight` off.
    pub(super) fn track(&self, problems: Vec<String>) {
        if !self.config.track_frontends || self.stopped.get() {
            return;
        }
        self.tracked.borrow_mut().frontends_failing = !problems.is_empty();
        let (want, _) = self.tracked.borrow().priority(&self.config);
        if *self.tracking.borrow() != problems {
            if problems.is_empty() {
                tracing::info!(
                    "vrrp: every tracked frontend has a usable server again: priority {want}"
                );
            } else {
                tracing::warn!("vrrp: {}: priority {want}", problems.join("; "));
            }
        }
        *self.tracking.borrow_mut() = problems;
        self.retrack();
    }

    /// Every reason the priority is changed now.
    pub(super) fn reasons(&self) -> Vec<String> {
        let mut out = self.tracking.borrow().clone();
        out.extend(self.tracked.borrow().reasons(&self.config));
        out
    }

    /// Apply what tracking says: FAULT or not, and the priority.
    fn retrack(&self) {
        if self.stopped.get() {
            return;
        }
        let (priority, fault) = self.tracked.borrow().priority(&self.config);
        self.set_fault(FaultFrom::Track, fault);
        if priority != self.router.borrow().config.priority {
            self.handle(Event::Priority(priority));
        }
    }

    /// A tracked interface (`track_interfaces[i]`) went up or down.
    pub(super) fn tracked_interface(&self, i: usize, up: bool) {
        let Some(was) = self.tracked.borrow().interfaces.get(i).copied() else {
            return;
        };
        if was == up {
            return;
        }
        self.tracked.borrow_mut().interfaces[i] = up;
        let name = &self.config.track_interfaces[i].interface;
        let (p, fault) = self.tracked.borrow().priority(&self.config);
        let what = if up { "up again" } else { "down" };
        tracing::warn!(
            "vrrp: tracked interface {name} is {what}: {}",
            outcome(p, fault)
        );
        self.retrack();
    }

    fn script_result(&self, i: usize, ok: bool) {
        let script = &self.config.track_scripts[i];
        let changed = self.tracked.borrow_mut().scripts[i].record(ok, script.rise, script.fall);
        if changed {
            let (p, fault) = self.tracked.borrow().priority(&self.config);
            let what = if ok { "succeeds again" } else { "fails" };
            tracing::warn!(
                "vrrp: track script {} {what}: {}",
                script.name,
                outcome(p, fault)
            );
            self.retrack();
        }
    }

    fn file_value(&self, i: usize, value: i64) {
        if self.tracked.borrow().files[i] == value {
            return;
        }
        self.tracked.borrow_mut().files[i] = value;
        let (p, fault) = self.tracked.borrow().priority(&self.config);
        let path = self.config.track_files[i].path.display();
        tracing::warn!(
            "vrrp: track file {path} holds {value}: {}",
            outcome(p, fault)
        );
        self.retrack();
    }

    /// FAULT from one source begins or ends: enter or leave it when the sources
    /// together say so; the group hears of a change of the router's own.
    pub(super) fn set_fault(&self, from: FaultFrom, on: bool) {
        let cell = match from {
            FaultFrom::Link => &self.link_down,
            FaultFrom::Track => &self.track_fault,
            FaultFrom::Group => &self.group_fault,
        };
        if cell.replace(on) == on {
            return;
        }
        let faulty = self.link_down.get() || self.track_fault.get() || self.group_fault.get();
        let in_fault = self.router.borrow().state == State::Fault;
        if faulty && !in_fault {
            let link = self.link_down.get();
            self.handle(if link { Event::LinkDown } else { Event::Fault });
        } else if !faulty && in_fault {
            self.handle(Event::LinkUp);
        }
        if from != FaultFrom::Group {
            self.tell_group(Change::Fault);
        }
    }

    /// Start the check programs' threads and the track files' readers.
    pub(super) fn start_tracking(self: &Rc<Self>) {
        if !self.config.track_scripts.is_empty() {
            let (tx, mut rx) = unbounded();
            for (i, script) in self.config.track_scripts.iter().enumerate() {
                let who = self.config.script_as.clone();
                spawn_checker(i, script.clone(), who, tx.clone());
            }
            let me = Rc::clone(self);
            monoio::spawn(async move {
                while let Some((i, ok)) = rx.next().await {
                    if me.stopped.get() {
                        return;
                    }
                    me.script_result(i, ok);
                }
            });
        }
        for i in 0..self.config.track_files.len() {
            let me = Rc::clone(self);
            monoio::spawn(async move {
                let every = me.config.track_files[i].interval;
                while !me.stopped.get() {
                    let value = read_value(&me.config.track_files[i].path);
                    me.file_value(i, value);
                    monoio::time::sleep(every).await;
                }
            });
        }
        self.retrack();
    }
}

fn outcome(priority: u8, fault: bool) -> String {
    if fault {
        "FAULT".to_string()
    } else {
        format!("priority {priority}")
    }
}

/// The integer a track file holds; 0 when it is missing or holds no integer
/// (keepalived reads it so).
fn read_value(path: &std::path::Path) -> i64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// A thread running `script` every `interval` (as `who`, `global.script_user`),
/// sending `(i, success)`; it ends when the router is gone (the channel closed).
fn spawn_checker(
    i: usize,
    script: TrackScript,
    who: Option<RunAs>,
    tx: UnboundedSender<(usize, bool)>,
) {
    let name = script.name.clone();
    let spawned = std::thread::Builder::new()
        .name("ringlb-track".into())
        .spawn(move || loop {
            let ok = run_once(&script, who.as_ref());
            if tx.unbounded_send((i, ok)).is_err() {
                return;
            }
            std::thread::sleep(script.interval);
        });
    if let Err(e) = spawned {
        tracing::error!("vrrp: cannot start track script {name}: {e}");
    }
}

/// Run the program once: success is exit status 0 within `timeout`.
fn run_once(script: &TrackScript, who: Option<&RunAs>) -> bool {
    let Some((program, args)) = script.command.split_first() else {
        return false;
    };
    let child = super::script::command(program, who)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("vrrp: cannot run track script {}: {e}", script.name);
            return false;
        }
    };
    let deadline = Instant::now() + script.timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::warn!(
                    "vrrp: track script {} did not finish within {:?}: failed",
                    script.name,
                    script.timeout
                );
                return false;
            }
        }
    }
}
