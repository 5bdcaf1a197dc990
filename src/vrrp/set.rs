//! Every virtual router of the process (`[vrrp]` or `[[vrrp]]`) and their sync
//! groups: prepared before the workers start (interfaces looked up, sockets open),
//! started together on the control thread, tracked, stopped and shown together. A [`Group`] relays what one member
//! did to the others (the decisions are `sync.rs`'s) and runs the group's `notify`
//! once every member agrees on a new state.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;

use super::io::{self, Sockets};
use super::machine::{Event, State};
use super::netlink::{Interface, Netlink};
use super::notify::Notifier;
use super::run::{Instance, VrrpError};
use super::status::{state_name, Status};
use super::sync::{self, Change, Order};
use super::track::Tracked;
use super::tracking::FaultFrom;
use crate::config::{SyncGroup, Vrrp as VrrpConfig};

/// Every router's sockets and interface facts, opened before the workers start.
pub struct Prepared {
    pub(super) routers: Vec<PreparedRouter>,
    groups: Vec<SyncGroup>,
}

/// `None` without any virtual router.
pub fn prepare(
    routers: &[VrrpConfig],
    groups: &[SyncGroup],
) -> Result<Option<Prepared>, VrrpError> {
    if routers.is_empty() {
        return Ok(None);
    }
    let mut prepared = Vec::new();
    for (i, r) in routers.iter().enumerate() {
        prepared.push(prepare_router(r, siblings(routers, i))?);
    }
    Ok(Some(Prepared {
        routers: prepared,
        groups: groups.to_vec(),
    }))
}

/// The ids of the routers other than `routers[i]` on its interface.
pub(super) fn siblings(routers: &[VrrpConfig], i: usize) -> Vec<u8> {
    routers
        .iter()
        .enumerate()
        .filter(|&(j, o)| {
            j != i && o.interface == routers[i].interface && o.is_v6() == routers[i].is_v6()
        })
        .map(|(_, o)| o.vrid)
        .collect()
}

/// Where a virtual IP goes: the interface's index, Ethernet address (for gratuitous
/// ARP or neighbour advertisements) and name.
#[derive(Debug, Clone)]
pub struct VipLink {
    pub index: u32,
    pub mac: [u8; 6],
    pub name: String,
}

/// One router's sockets and interface facts: everything that can fail, done before
/// the workers start.
pub struct PreparedRouter {
    pub(super) config: VrrpConfig,
    pub(super) iface: Interface,
    pub(super) vip_links: Vec<VipLink>,
    pub(super) netlink: Netlink,
    pub(super) sockets: Sockets,
    /// The ids of the other routers advertising on the same interface (their adverts
    /// are not drops).
    pub(super) siblings: Vec<u8>,
    /// Tracking's start: tracked interfaces as they are now.
    pub(super) tracked: Tracked,
    pub(super) track_links: Vec<u32>,
    /// A binary upgrade's new process: the state the old process had (`handover.rs`).
    pub(super) carried: Option<super::handover::Carried>,
}

pub(super) fn prepare_router(
    config: &VrrpConfig,
    siblings: Vec<u8>,
) -> Result<PreparedRouter, VrrpError> {
    let vips: Vec<IpAddr> = config.virtual_ips.iter().map(|(a, _)| *a).collect();
    let interface = |e| VrrpError::Interface(config.interface.clone(), e);
    let mut netlink = Netlink::open().map_err(interface)?;
    let iface = netlink
        .interface(&config.interface, &vips, config.is_v6())
        .map_err(interface)?;
    let mut vip_links = Vec::new();
    for dev in &config.virtual_ip_devs {
        vip_links.push(match dev {
            None => VipLink {
                index: iface.index,
                mac: iface.mac,
                name: iface.name.clone(),
            },
            Some(name) => {
                let (index, mac, _) = netlink
                    .link(name)
                    .map_err(|e| VrrpError::Dev(name.clone(), e))?;
                VipLink {
                    index,
                    mac,
                    name: name.clone(),
                }
            }
        });
    }
    let mut tracked = Tracked::new(config);
    let mut track_links = Vec::new();
    for (t, up) in config.track_interfaces.iter().zip(&mut tracked.interfaces) {
        let (index, _, is_up) = netlink
            .link(&t.interface)
            .map_err(|e| VrrpError::Track(t.interface.clone(), e))?;
        track_links.push(index);
        *up = is_up;
    }
    let link = super::netlink::link_watch().map_err(interface)?;
    let sockets = io::open(&iface, config.unicast_peers.is_empty(), link)
        .map_err(|e| VrrpError::Sockets(config.interface.clone(), e))?;
    Ok(PreparedRouter {
        config: config.clone(),
        iface,
        vip_links,
        netlink,
        sockets,
        siblings,
        tracked,
        track_links,
        carried: None,
    })
}

/// The virtual routers ringlb runs.
pub struct Vrrp {
    /// Replaced by a reload that changes them (`reconfigure.rs`).
    pub(super) routers: RefCell<Vec<Rc<Instance>>>,
    pub(super) groups: Vec<Rc<Group>>,
}

impl Vrrp {
    /// Take the sockets over on this (the control thread's) runtime and start.
    pub fn start(p: Prepared) -> std::io::Result<Rc<Vrrp>> {
        let in_group = |i: usize| p.groups.iter().any(|g| g.routers.contains(&i));
        let mut routers = Vec::new();
        let mut serving = Vec::new();
        for (i, r) in p.routers.into_iter().enumerate() {
            let (router, woken) = Instance::new(r, in_group(i))?;
            routers.push(Rc::clone(&router));
            serving.push((router, woken));
        }
        let groups: Vec<Rc<Group>> = p
            .groups
            .iter()
            .map(|g| {
                let members: Vec<Rc<Instance>> =
                    g.routers.iter().map(|&i| Rc::clone(&routers[i])).collect();
                let group = Rc::new(Group {
                    name: g.name.clone(),
                    members,
                    notified: Cell::new(None),
                    notifier: Notifier::start(
                        g.notify.clone(),
                        g.notify_states.clone(),
                        g.script_as.clone(),
                    ),
                });
                for (index, m) in group.members.iter().enumerate() {
                    *m.group.borrow_mut() = Some((Rc::downgrade(&group), index));
                }
                group
            })
            .collect();
        for (router, woken) in serving {
            router.run(woken);
        }
        Ok(Rc::new(Vrrp {
            routers: RefCell::new(routers),
            groups,
        }))
    }

    /// Every router's snapshot, in configuration order.
    pub fn statuses(&self) -> Vec<Status> {
        self.routers.borrow().iter().map(|r| r.status()).collect()
    }

    /// Every sync group: name, members' names and the state they agree on.
    pub fn groups(&self) -> Vec<(String, Vec<String>, Option<State>)> {
        self.groups
            .iter()
            .map(|g| {
                let names = g.members.iter().map(|m| m.config.name.clone()).collect();
                (g.name.clone(), names, g.state())
            })
            .collect()
    }

    /// Health tracking (see [`Instance::track`]), for every router.
    pub fn track(&self, problems: Vec<String>) {
        for r in self.routers.borrow().iter() {
            r.track(problems.clone());
        }
    }

    /// Leave: every master says so with priority 0 and gives its addresses up.
    pub fn stop(&self) {
        for r in self.routers.borrow().iter() {
            r.stop();
        }
    }

    /// At exit: wait (bounded) for the notify programs of the last changes.
    pub fn finish(&self) {
        for r in self.routers.borrow().iter() {
            r.finish();
        }
        for g in &self.groups {
            if let Some(n) = &g.notifier {
                n.flush(super::run::NOTIFY_AT_EXIT);
            }
        }
    }
}

/// A sync group at work.
pub struct Group {
    pub name: String,
    members: Vec<Rc<Instance>>,
    /// The state the group's `notify` last ran for.
    notified: Cell<Option<State>>,
    notifier: Option<Notifier>,
}

impl Group {
    fn state(&self) -> Option<State> {
        let members: Vec<sync::Member> = self.members.iter().map(|m| m.member()).collect();
        sync::group_state(&members)
    }

    /// Member `who` did `change`: carry out what the others must do, then tell the
    /// group's `notify` if they now agree on a new state. Members' own handling may
    /// come back here (nested, bounded by the group's size: orders are idempotent).
    pub(super) fn changed(&self, who: usize, change: Change) {
        let members: Vec<sync::Member> = self.members.iter().map(|m| m.member()).collect();
        for (i, order) in sync::follow(&members, who, change) {
            let m = &self.members[i];
            match order {
                Order::Master => m.handle(Event::SyncMaster),
                Order::Backup => m.handle(Event::SyncBackup),
                Order::GroupFault(on) => m.set_fault(FaultFrom::Group, on),
            }
        }
        self.tell();
    }

    fn tell(&self) {
        let Some(state) = self.state() else { return };
        if self.notified.replace(Some(state)) == Some(state) {
            return;
        }
        let stopped = self.members.iter().any(|m| m.stopped.get());
        let name = state_name(state, stopped);
        tracing::info!("vrrp: sync group {} entering {name} state", self.name);
        if let Some(n) = &self.notifier {
            n.tell_group(&self.name, name);
        }
        super::status::changed(&self.name, true, name);
    }
}
