//! `notify` programs, run on every state change, one after another in the order of
//! the changes, on a thread of their own: a slow or hung script never delays an
//! advertisement.
//!
//! - A virtual router's `notify` runs as `PROGRAM STATE PRIORITY` (STATE is MASTER,
//!   BACKUP, FAULT or STOP, keepalived's words), with `RINGLB_VRRP_STATE`,
//!   `RINGLB_VRRP_PRIORITY` and `RINGLB_VRRP_NAME` (the router's name) in its
//!   environment.
//! - A sync group's `notify` runs as `PROGRAM STATE` once every member is in STATE,
//!   with `RINGLB_VRRP_STATE` and `RINGLB_VRRP_GROUP` (the group's name).
//!
//! Both run as `global.script_user` when it is set (see `script.rs`).

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use super::script;
use crate::config::RunAs;

enum Job {
    Run {
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
    },
    /// Answer once every earlier job is done.
    Flush(Sender<()>),
}

pub struct Notifier {
    tx: Sender<Job>,
}

impl Notifier {
    /// `program` run as `who` (`global.script_user`; `None`: as ringlb).
    pub fn start(program: PathBuf, who: Option<RunAs>) -> Notifier {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("ringlb-notify".into())
            .spawn(move || {
                for job in rx {
                    let (args, env) = match job {
                        Job::Run { args, env } => (args, env),
                        Job::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let status = script::command(&program, who.as_ref())
                        .args(&args)
                        .envs(env)
                        .stdin(std::process::Stdio::null())
                        .status();
                    let what = args.join(" ");
                    match status {
                        Ok(s) if s.success() => {
                            tracing::debug!("vrrp: notify {} {what} done", program.display())
                        }
                        Ok(s) => tracing::warn!("vrrp: notify {} {what}: {s}", program.display()),
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

    /// A virtual router named `name` entered `state`.
    pub fn tell(&self, name: &str, state: &'static str, priority: u8) {
        let _ = self.tx.send(Job::Run {
            args: vec![state.into(), priority.to_string()],
            env: vec![
                ("RINGLB_VRRP_STATE", state.into()),
                ("RINGLB_VRRP_PRIORITY", priority.to_string()),
                ("RINGLB_VRRP_NAME", name.into()),
            ],
        });
    }

    /// Every member of sync group `group` is in `state`.
    pub fn tell_group(&self, group: &str, state: &'static str) {
        let _ = self.tx.send(Job::Run {
            args: vec![state.into()],
            env: vec![
                ("RINGLB_VRRP_STATE", state.into()),
                ("RINGLB_VRRP_GROUP", group.into()),
            ],
        });
    }

    /// At exit: let the programs still queued (STOP) run, for at most `limit`.
    pub fn flush(&self, limit: Duration) {
        let (done, wait) = channel();
        if self.tx.send(Job::Flush(done)).is_ok() && wait.recv_timeout(limit).is_err() {
            tracing::warn!("vrrp: notify still running after {limit:?}; exiting without waiting");
        }
    }
}
