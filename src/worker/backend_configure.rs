//! Applying a configuration to a worker's backends (a child of `backend.rs`): each
//! backend laid into its slot, its servers placed and given the control thread's
//! states, slots that left retired (a tombstone server keeps their place), and a
//! frontend's backend references turned into slots.

use std::net::SocketAddr;
use std::time::Duration;

use super::{share, BackendState};
use crate::config;
use crate::lb::{self, Admin, ServerState};
use crate::msg::{SetServer, Slots};

impl BackendState {
    /// Take backend `b` of a new configuration. `placed[i]` is the slot of its server
    /// `i`, `n` the number of server slots; `set[i]`, the control thread's state for
    /// server `i`. Slots no server takes any more are retired (`retired` is told).
    pub fn configure(
        &mut self,
        b: &config::Backend,
        placed: &[usize],
        n: usize,
        set: Option<&[SetServer]>,
        mut retired: impl FnMut(usize),
    ) {
        let mut configs: Vec<Option<config::Server>> = std::mem::take(&mut self.config.servers)
            .into_iter()
            .map(Some)
            .collect();
        configs.resize(n, None);
        self.servers.resize_with(n, || ServerState::new(0, false));
        self.stats.resize_with(n, Default::default);
        let mut keep = vec![false; n];
        self.dynamic.clear();
        if config::dynamic_limits(&b.servers) {
            self.dynamic.resize(n, (0, 0));
            self.full = share(b.full_connections as usize, self.workers) as u32;
        }
        for (si, s) in b.servers.iter().enumerate() {
            let ss = placed[si];
            keep[ss] = true;
            configs[ss] = Some(s.clone());
            let st = &mut self.servers[ss];
            st.backup = s.backup;
            st.rank = si as u32;
            st.limit = share(s.max_connections as usize, self.workers) as u32;
            if let Some(d) = self.dynamic.get_mut(ss).filter(|_| s.min_connections > 0) {
                *d = (
                    share(s.min_connections as usize, self.workers) as u32,
                    st.limit,
                );
            }
            let now = set.and_then(|v| v.get(si).copied());
            let now = now.unwrap_or_else(|| SetServer::initial_of(s));
            st.oper = now.oper;
            st.admin = now.admin;
            st.weight = now.weight;
        }
        for (ss, kept) in keep.iter().enumerate() {
            if !kept {
                retire(&mut self.servers[ss]);
                retired(ss);
            }
        }
        self.config = b.clone();
        if b.rules.is_some() {
            self.config.rule_servers = placed.to_vec();
        }
        self.config.servers = configs
            .into_iter()
            .map(|s| s.unwrap_or_else(tombstone_server))
            .collect();
        self.balancer = lb::backend_balancer(b, n, self.seed);
        self.epoch += 1;
        self.queue.capacity = share(b.max_queue, self.workers);
        self.load = self.servers.iter().map(|s| s.active).sum();
        self.load_changed(0);
    }

    /// The backend left the configuration: its slot stays, taking no traffic.
    pub fn retire_all(&mut self, mut retired: impl FnMut(usize)) {
        self.epoch += 1;
        for (ss, s) in self.servers.iter_mut().enumerate() {
            retire(s);
            retired(ss);
        }
    }
}

/// Lay `config`'s backends into their slots (appending new ones, `seed` giving each
/// its balancer seed), apply the control thread's server states, and retire slots
/// that left the configuration. `clear(backend, server)` closes a server's pooled
/// connections.
pub fn configure_backends(
    backends: &mut Vec<BackendState>,
    config: &config::Config,
    slots: &Slots,
    servers: Option<&[Vec<SetServer>]>,
    seed: impl Fn(usize) -> u64,
    workers: usize,
    clear: impl Fn(usize, usize),
) {
    let mut live = vec![false; slots.server_slots.len()];
    for (bi, b) in config.backends.iter().enumerate() {
        let slot = slots.backends[bi];
        live[slot] = true;
        if slot >= backends.len() {
            backends.push(BackendState::new(b, seed(slot), workers));
        }
        let set = servers.and_then(|v| v.get(bi)).map(Vec::as_slice);
        let n = slots.server_slots[slot];
        backends[slot].configure(b, &slots.servers[bi], n, set, |ss| clear(slot, ss));
        if b.rules.is_some() {
            backends[slot].config.rule_backends = slots.backends.clone();
        }
    }
    for (slot, state) in backends.iter_mut().enumerate() {
        if !live[slot] {
            state.retire_all(|ss| clear(slot, ss));
        }
    }
}

/// A frontend of a new configuration, with the backends it names turned into slots.
pub fn slotted_frontend(fe: &config::Frontend, slots: &Slots) -> config::Frontend {
    let mut fe = fe.clone();
    fe.default_backend = fe.default_backend.map(|b| slots.backends[b]);
    for r in &mut fe.routes {
        r.backend = slots.backends[r.backend];
    }
    for r in &mut fe.sni_routes {
        r.backend = slots.backends[r.backend];
    }
    for b in &mut fe.rule_backends {
        *b = slots.backends[*b];
    }
    fe
}

/// A server slot that left the configuration: no traffic ever again.
fn retire(s: &mut ServerState) {
    s.admin = Admin::Maint;
    s.weight = 0;
}

fn tombstone_server() -> config::Server {
    config::Server {
        proto: config::ServerProto::Http1,
        name: String::new(),
        address_text: String::new(),
        address: SocketAddr::from(([0, 0, 0, 0], 0)),
        weight: 0,
        check: false,
        backup: false,
        max_connections: 0,
        min_connections: 0,
        slow_start: Duration::ZERO,
        tls: None,
        send_proxy: None,
        probe: config::ServerProbe::default(),
        cookie: String::new(),
        resolve: None,
        resolved: false,
        disabled: false,
        shutdown_on_down: false,
    }
}
