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
//! - keepalived's `notify_master`, `notify_backup`, `notify_fault`, `notify_stop` (of
//!   a router or a group): the command of the state entered runs as written, nothing
//!   appended (same environment), before `notify`, as in keepalived.
//!
//! All run as `global.script_user` when it is set (see `script.rs`).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use super::script;
use crate::config::{RunAs, StateCommands};

enum Job {
    Run {
        state: &'static str,
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
    /// `program` (`notify`) and the commands of `states` (`notify_master`...) run as
    /// `who` (`global.script_user`; `None`: as ringlb). `None` when there is neither.
    pub fn start(
        program: Option<PathBuf>,
        states: StateCommands,
        who: Option<RunAs>,
    ) -> Option<Notifier> {
        if program.is_none() && states.is_empty() {
            return None;
        }
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("ringlb-notify".into())
            .spawn(move || {
                for job in rx {
                    let (state, args, env) = match job {
                        Job::Run { state, args, env } => (state, args, env),
                        Job::Flush(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let command = states.iter().find(|(s, _)| *s == state);
                    if let Some((program, args)) = command.and_then(|(_, c)| c.split_first()) {
                        run(Path::new(program), args, &env, who.as_ref());
                    }
                    if let Some(program) = &program {
                        run(program, &args, &env, who.as_ref());
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("vrrp: cannot start the notify thread: {e}; notify is off");
        }
        Some(Notifier { tx })
    }

    /// A virtual router named `name` entered `state`.
    pub fn tell(&self, name: &str, state: &'static str, priority: u8) {
        let _ = self.tx.send(Job::Run {
            state,
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
            state,
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

/// Run one notify program to its end; its failure is logged.
fn run(program: &Path, args: &[String], env: &[(&'static str, String)], who: Option<&RunAs>) {
    let status = script::command(program, who)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .status();
    let what = args.join(" ");
    match status {
        Ok(s) if s.success() => tracing::debug!("vrrp: notify {} {what} done", program.display()),
        Ok(s) => tracing::warn!("vrrp: notify {} {what}: {s}", program.display()),
        Err(e) => tracing::warn!("vrrp: cannot run notify {}: {e}", program.display()),
    }
}
