//! `vrrp.notify`: the operator's program, run on every state change as
//! `PROGRAM STATE PRIORITY` (STATE is MASTER, BACKUP, FAULT or STOP, keepalived's words),
//! with `RINGLB_VRRP_STATE` and `RINGLB_VRRP_PRIORITY` also in its environment.
//! Programs run one after another, in the order of the changes, on a thread of their
//! own: a slow or hung script never delays an advertisement.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

enum Job {
    Run(&'static str, u8),
    /// Answer once every earlier job is done.
    Flush(Sender<()>),
}

pub struct Notifier {
    tx: Sender<Job>,
}

impl Notifier {
    pub fn start(program: PathBuf) -> Notifier {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("ringlb-notify".into())
            .spawn(move || {
                for job in rx {
                    let (state, priority) = match job {
                        Job::Run(state, priority) => (state, priority),
                        Job::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let status = std::process::Command::new(&program)
                        .arg(state)
                        .arg(priority.to_string())
                        .env("RINGLB_VRRP_STATE", state)
                        .env("RINGLB_VRRP_PRIORITY", priority.to_string())
                        .stdin(std::process::Stdio::null())
                        .status();
                    match status {
                        Ok(s) if s.success() => {
                            tracing::debug!("vrrp: notify {} {state} done", program.display())
                        }
                        Ok(s) => tracing::warn!("vrrp: notify {} {state}: {s}", program.display()),
                        Err(e) => {
                            tracing::warn!("vrrp: cannot run notify {}: {e}", program.display())
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("vrrp: cannot start the notify thread: {e}; notify is off");
        }
        Notifier { tx }
    }

    pub fn tell(&self, state: &'static str, priority: u8) {
        let _ = self.tx.send(Job::Run(state, priority));
    }

    /// At exit: let the programs still queued (STOP) run, for at most `limit`.
    pub fn flush(&self, limit: Duration) {
        let (done, wait) = channel();
        if self.tx.send(Job::Flush(done)).is_ok() && wait.recv_timeout(limit).is_err() {
            tracing::warn!("vrrp: notify still running after {limit:?}; exiting without waiting");
        }
    }
}
