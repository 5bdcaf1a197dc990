//! Reload with virtual routers (SIGHUP, `POST /api/reload`), by the hand-over of
//! `handover.rs` inside one process: a router whose entry is unchanged keeps running
//! untouched; a changed one (priority, virtual IPs, advert interval...) is replaced by
//! a router with the new settings that starts in the old one's state (a master
//! advertises at once with the new settings and keeps its addresses, minus those no
//! longer listed; a backup restarts its down timer), while the old one stops without
//! a word; a removed one gives up (priority 0, addresses removed); a new one starts as
//! from boot. [`Vrrp::plan`] does everything that can fail (interfaces, sockets)
//! before the reload commits; [`Vrrp::apply`] cannot fail. Sync groups still take a
//! restart (their members are fixed at start).

use std::rc::Rc;
use std::time::Instant;

use super::handover::RouterId;
use super::machine::State;
use super::run::Instance;
use super::set::{prepare_router, siblings, PreparedRouter, Vrrp};
use crate::config::Vrrp as VrrpConfig;

/// What a reload does to the routers, prepared.
pub struct Plan {
    steps: Vec<Step>,
    gone: Vec<Rc<Instance>>,
}

enum Step {
    Keep(Rc<Instance>),
    Replace {
        old: Rc<Instance>,
        new: Box<PreparedRouter>,
    },
    Start(Box<PreparedRouter>),
}

fn id_of(c: &VrrpConfig) -> RouterId {
    RouterId {
        interface: c.interface.clone(),
        vrid: c.vrid,
    }
}

impl Plan {
    /// Whether the reload changes any router.
    pub fn changes(&self) -> bool {
        !self.gone.is_empty() || self.steps.iter().any(|s| !matches!(s, Step::Keep(_)))
    }
}

impl Vrrp {
    /// Prepare the routers of `configs` (matched to the running ones by interface and
    /// id); nothing changes yet. `Err` says why the reload cannot apply them.
    pub fn plan(&self, configs: &[VrrpConfig]) -> Result<Plan, String> {
        if !self.groups.is_empty() {
            return Err("[[vrrp_sync_group]] members are fixed at start: changing virtual routers takes a restart".into());
        }
        let now = Instant::now();
        let current = self.routers.borrow();
        let mut steps = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let had = current.iter().find(|r| r.id() == id_of(c));
            if let Some(r) = had.filter(|r| r.config == *c) {
                steps.push(Step::Keep(Rc::clone(r)));
                continue;
            }
            let mut p = prepare_router(c, siblings(configs, i)).map_err(|e| e.to_string())?;
            p.carried = had.map(|r| {
                let mut carried = r.snapshot(now);
                carried.from = "the running configuration".into();
                carried
            });
            steps.push(match had {
                Some(r) => Step::Replace {
                    old: Rc::clone(r),
                    new: Box::new(p),
                },
                None => Step::Start(Box::new(p)),
            });
        }
        let gone = current
            .iter()
            .filter(|r| !configs.iter().any(|c| id_of(c) == r.id()))
            .cloned()
            .collect();
        Ok(Plan { steps, gone })
    }

    /// Carry a plan out (after the reload committed).
    pub fn apply(&self, plan: Plan) {
        for r in &plan.gone {
            tracing::info!(
                "vrrp: {} is no longer in the file: giving it up",
                r.config.name
            );
            r.stop();
        }
        let mut routers = Vec::with_capacity(plan.steps.len());
        for step in plan.steps {
            let prepared = match step {
                Step::Keep(r) => {
                    routers.push(r);
                    continue;
                }
                Step::Replace { old, new } => {
                    let master = old.router.borrow().state == State::Master;
                    old.release("replaced by its new settings");
                    if master {
                        old.drop_unlisted(&new.config);
                    }
                    new
                }
                Step::Start(new) => new,
            };
            match Instance::new(*prepared, false) {
                Ok((r, woken)) => {
                    r.run(woken);
                    routers.push(r);
                }
                Err(e) => {
                    tracing::error!("vrrp: cannot start a virtual router of the reloaded file: {e}")
                }
            }
        }
        *self.routers.borrow_mut() = routers;
    }
}

impl Instance {
    /// A master replaced by a reload: remove its addresses the new settings no
    /// longer list (the new router keeps, or adds, the others).
    fn drop_unlisted(&self, new: &VrrpConfig) {
        let listed = |vip| new.virtual_ips.iter().any(|&(a, _)| a == vip);
        for (&(vip, prefix), link) in self.config.virtual_ips.iter().zip(&self.vip_links) {
            if listed(vip) {
                continue;
            }
            let removed = self
                .netlink
                .borrow_mut()
                .remove_address(link.index, vip, prefix);
            match removed {
                Ok(_) => tracing::info!(
                    "vrrp: {vip}/{prefix} removed from {}: no longer in the file",
                    link.name
                ),
                Err(e) => self.error(format_args!("cannot remove {vip}/{prefix}: {e}")),
            }
        }
    }
}
