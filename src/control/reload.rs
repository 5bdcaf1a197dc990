//! Hot reload (SIGHUP or `POST /api/reload`): validate the file, bind what is new,
//! then send every worker the new configuration with its new listeners. Nothing is
//! torn down before everything that can fail has succeeded, so a bad file or a busy
//! address leaves ringlb exactly as it was. Connections that are open stay open.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::plane::Control;
use crate::config::{Config, Steering};
use crate::listen::{bind_for_workers, BoundListener};
use crate::msg::{Reload, SetServer, Slots, Update};

/// One listening address of every worker.
#[derive(Debug, Clone)]
pub struct Listening {
    /// As written in the configuration (port 0 stays 0).
    pub requested: SocketAddr,
    /// As bound (port resolved).
    pub bound: SocketAddr,
    pub frontend: String,
    /// What the address's reuseport group runs (attached when it was bound).
    pub steering: Steering,
    /// A descriptor of every socket of the address's group, in group order (one per
    /// worker): kept for a binary upgrade, which hands these very sockets over.
    pub sockets: Arc<Vec<OwnedFd>>,
}

impl Control {
    /// The virtual routers of the new file, prepared (interfaces looked up, sockets
    /// open); `None` when nothing changes. Without running routers (ringlb started
    /// without `[vrrp]`) or with sync groups, a change takes a restart: the running
    /// routers stay as they were.
    fn plan_vrrp(
        &self,
        old: &Config,
        new: &mut Config,
    ) -> Result<Option<crate::vrrp::Plan>, String> {
        if old.vrrp == new.vrrp {
            return Ok(None);
        }
        let plan = match &self.vrrp {
            Some(v) => v.plan(&new.vrrp),
            None => {
                Err("ringlb started without [vrrp]: adding virtual routers takes a restart".into())
            }
        };
        match plan {
            Ok(p) => Ok(p.changes().then_some(p)),
            Err(why) if old.vrrp.is_empty() || !old.vrrp_sync_groups.is_empty() => {
                new.vrrp = old.vrrp.clone();
                tracing::warn!("reload: {why} (the virtual routers keep running as they were)");
                Ok(None)
            }
            Err(why) => Err(format!("vrrp: {why}")),
        }
    }

    /// Read the configuration file again and apply it. A file that does not validate,
    /// or an address that cannot be bound, leaves everything as it was. Returns the
    /// summary of the new configuration, or every error.
    pub fn reload(self: &Rc<Self>, why: &str) -> Result<String, String> {
        let result = self.try_reload();
        match &result {
            Ok(summary) => {
                self.reloads.set(self.reloads.get() + 1);
                tracing::info!("{why}: configuration reloaded: {summary}");
            }
            Err(errors) => {
                self.reload_failures.set(self.reload_failures.get() + 1);
                for line in errors.lines() {
                    tracing::error!("{line}");
                }
                tracing::error!("{why}: reload refused; the running configuration is unchanged");
            }
        }
        result
    }

    fn try_reload(self: &Rc<Self>) -> Result<String, String> {
        let path = self
            .path
            .as_ref()
            .ok_or("no configuration file to reload (demo mode)")?;
        let mut config = Config::load(path).map_err(|e| e.to_string())?;
        if self.broadcaster.workers() == 0 && !config.frontends.is_empty() {
            return Err("ringlb started without [[frontend]], so no worker runs: adding frontends takes a restart".into());
        }
        let old = Arc::clone(&self.config.borrow());
        carry_over(&old, &mut config);
        self.carry_addresses(&mut config);
        let vrrp = self.plan_vrrp(&old, &mut config)?;
        let workers = self.broadcaster.workers();
        let current = self.listening.borrow().clone();
        // The last step that can fail: after it, nothing is refused.
        let (listening, mut fresh) = bind_new(&config, &current, workers)?;

        let slots = Arc::new(self.layout.borrow_mut().assign(&config));
        let keep = frontend_slots(&config, &slots, &listening, &mut fresh);
        let servers = self.reload_states(&config, &slots, workers);
        let config = Arc::new(config);
        self.send_reloads(&config, &slots, &servers, &keep, fresh);
        log_listening_changes(&current, &listening);
        *self.listening.borrow_mut() = listening;
        let summary = config.summary();
        *self.config.borrow_mut() = config;
        *self.slots.borrow_mut() = slots;
        if let (Some(v), Some(plan)) = (&self.vrrp, vrrp) {
            v.apply(plan);
        }
        self.start_checks();
        self.start_resolvers();
        self.track();
        Ok(summary)
    }

    /// Apply the new configuration to the server table and return the state of every
    /// server, as the workers are now told it.
    fn reload_states(
        &self,
        config: &Config,
        slots: &Slots,
        workers: usize,
    ) -> Arc<Vec<Vec<SetServer>>> {
        let now = Instant::now();
        let mut table = self.table.borrow_mut();
        table.apply(config, slots, workers);
        for b in &mut table.backends {
            for s in &mut b.servers {
                s.sent = s.target(now);
            }
        }
        Arc::new(table.states(config, slots, now))
    }

    /// Send every worker `Update::Reload` with its new listeners.
    fn send_reloads(
        &self,
        config: &Arc<Config>,
        slots: &Arc<Slots>,
        servers: &Arc<Vec<Vec<SetServer>>>,
        keep: &Arc<Vec<(SocketAddr, usize)>>,
        fresh: Vec<Vec<BoundListener>>,
    ) {
        for (w, listeners) in fresh.into_iter().enumerate() {
            self.broadcaster.send(
                w,
                Update::Reload(Box::new(Reload {
                    config: Arc::clone(config),
                    slots: Arc::clone(slots),
                    servers: Arc::clone(servers),
                    listeners,
                    keep: Arc::clone(keep),
                })),
            );
        }
    }
}

/// Listeners of the new configuration: the addresses that stay are kept, the new ones
/// bound for every worker (`[worker][listener]`, `frontend` fixed up to the slot by
/// [`frontend_slots`]). The first address that cannot be bound fails the reload.
fn bind_new(
    config: &Config,
    current: &[Listening],
    workers: usize,
) -> Result<(Vec<Listening>, Vec<Vec<BoundListener>>), String> {
    let mut listening = Vec::new();
    let mut fresh: Vec<Vec<BoundListener>> = (0..workers).map(|_| Vec::new()).collect();
    for fe in &config.frontends {
        for &requested in &fe.binds {
            // The same address as written, or the address a `:0` bind was given
            // (a configuration that now names that port keeps the socket: binding it
            // again would leave two listening groups on one address).
            let same = |l: &&Listening| {
                l.requested == requested || (requested.port() != 0 && l.bound == requested)
            };
            if let Some(l) = current.iter().find(same) {
                if l.steering != fe.steering {
                    tracing::warn!(
                        "reload: frontend {:?}: steering on {} stays {:?} until a restart (the address is kept; its group keeps its program)",
                        fe.name,
                        l.bound,
                        l.steering.as_str()
                    );
                }
                // The socket stays; the frontend's defer_accept may have changed.
                crate::listen::set_defer_accept(&l.sockets, fe.defer_accept, &fe.name);
                listening.push(Listening {
                    requested,
                    frontend: fe.name.clone(),
                    ..l.clone()
                });
                continue;
            }
            let freebind = config.is_virtual_ip(requested.ip());
            // Another process on it: refuse rather than share it (SO_REUSEPORT). A
            // port ringlb already listens on (say 0.0.0.0:80, and now 10.0.0.1:80)
            // would answer for itself: not probed.
            let ours = current.iter().any(|l| l.bound.port() == requested.port());
            if requested.port() != 0 && !ours && crate::listen::in_use(requested, freebind) {
                return Err(format!(
                    "frontend {:?}: cannot listen on {requested}: {}",
                    fe.name,
                    crate::listen::IN_USE_ELSEWHERE
                ));
            }
            // A new group: the steering program (if any) is attached to it here.
            let bound = bind_for_workers(
                workers,
                usize::MAX,
                &fe.name,
                requested,
                freebind,
                fe.steering,
            )
            .map_err(|e| e.to_string())?;
            let addr = bound.first().map_or(requested, |b| b.addr);
            let sockets = crate::listen::duplicates(&bound)
                .map_err(|e| format!("frontend {:?}: {requested}: {e}", fe.name))?;
            if fe.defer_accept {
                crate::listen::set_defer_accept(&sockets, true, &fe.name);
            }
            for (w, b) in bound.into_iter().enumerate() {
                fresh[w].push(b);
            }
            listening.push(Listening {
                requested,
                bound: addr,
                frontend: fe.name.clone(),
                steering: fe.steering,
                sockets: Arc::new(sockets),
            });
        }
    }
    Ok((listening, fresh))
}

/// Every listening address (as bound) with the slot of the frontend it now serves;
/// the new listeners in `fresh` get their frontend slot from it.
fn frontend_slots(
    config: &Config,
    slots: &Slots,
    listening: &[Listening],
    fresh: &mut [Vec<BoundListener>],
) -> Arc<Vec<(SocketAddr, usize)>> {
    let front_slot = |name: &str| {
        config
            .frontends
            .iter()
            .position(|f| f.name == name)
            .map_or(0, |i| slots.frontends[i])
    };
    let keep: Arc<Vec<(SocketAddr, usize)>> = Arc::new(
        listening
            .iter()
            .map(|l| (l.bound, front_slot(&l.frontend)))
            .collect(),
    );
    for b in fresh.iter_mut().flatten() {
        b.frontend = keep
            .iter()
            .find(|(a, _)| *a == b.addr)
            .map_or(0, |(_, f)| *f);
    }
    keep
}

fn log_listening_changes(current: &[Listening], listening: &[Listening]) {
    for l in listening {
        if !current.iter().any(|c| c.bound == l.bound) {
            tracing::info!(frontend = %l.frontend, "listening on {}", l.bound);
        }
    }
    for c in current {
        if !listening.iter().any(|l| l.bound == c.bound) {
            tracing::info!(frontend = %c.frontend, "no longer listening on {}", c.bound);
        }
    }
}

/// Settings that a reload cannot change in a running process keep their running
/// values in the new configuration (so what the log says is what runs), except the
/// admin token: a new or changed token is applied at once (operators rotate tokens),
/// but a token removed from the file stays in force until a restart, so a reload never
/// opens the admin API.
fn carry_over(old: &Config, new: &mut Config) {
    let (o, n) = (&old.global, &mut new.global);
    let mut kept = Vec::new();
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if o.$field != n.$field {
                n.$field = o.$field.clone();
                kept.push(stringify!($field));
            }
        )*};
    }
    keep!(
        workers,
        pin_workers,
        io_driver,
        max_connections,
        access_log,
        log_target,
        admin_bind
    );
    if !kept.is_empty() {
        tracing::warn!(
            "reload: global {} changed; that takes a restart (the running values stay)",
            kept.join(", ")
        );
    }
    match (&o.admin_token, &n.admin_token) {
        (Some(_), None) => {
            n.admin_token = o.admin_token.clone();
            tracing::warn!(
                "reload: admin_token removed from the file: the running token stays in force until a restart (a reload never opens the admin API)"
            );
        }
        (old_token, Some(_)) if old_token != &n.admin_token => {
            tracing::info!("reload: admin_token changed: the new token is in force");
        }
        _ => {}
    }
    if old.announce != new.announce {
        new.announce = old.announce.clone();
        tracing::warn!(
            "reload: [announce] changed; that takes a restart (the running announcement settings stay)"
        );
    }
    if old.vrrp_sync_groups != new.vrrp_sync_groups {
        new.vrrp = old.vrrp.clone();
        new.vrrp_sync_groups = old.vrrp_sync_groups.clone();
        tracing::warn!(
            "reload: [[vrrp_sync_group]] changed; that takes a restart (the virtual routers keep running as they were)"
        );
    }
}
