//! One virtual router at work on the control thread: it feeds the state machine
//! with received advertisements, its timer and priority changes, and carries out
//! what the machine decides: send advertisements, add or remove the virtual IPs
//! (netlink, each on its interface) and announce them (gratuitous ARP or, for IPv6,
//! unsolicited neighbour advertisements: `garp_master_repeat` at once and as many
//! again after `garp_master_delay`, 5 and 5 s by default as in keepalived), log, count, call `notify` and tell its
//! sync group (`set.rs`) what it did.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_util::StreamExt;

use super::io::Io;
use super::machine::{self, Action, Event, Router, State};
use super::netlink::{Interface, Netlink, NetlinkError};
use super::notify::Notifier;
use super::packet::{self, Advert, ChecksumForm};
use super::set::Group;
use super::set::{PreparedRouter, VipLink};
use super::status::{state_name, Counters, Status};
use super::sync::{Change, Member};
use super::track::Tracked;
use crate::config::{Vrrp as VrrpConfig, VrrpChecksum};

/// How long the exit waits for the last notify program.
pub(super) const NOTIFY_AT_EXIT: Duration = Duration::from_secs(5);
/// Dropped adverts are logged at most this often (they are all counted).
pub(super) const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum VrrpError {
    #[error("vrrp.interface {0:?}: {1}")]
    Interface(String, #[source] NetlinkError),
    #[error("vrrp.virtual_ips: dev {0:?}: {1}")]
    Dev(String, #[source] NetlinkError),
    #[error("vrrp.track_interface {0:?}: {1}")]
    Track(String, #[source] NetlinkError),
    #[error("vrrp: cannot open the VRRP and ARP (or ICMPv6) sockets on {0:?} (ringlb needs CAP_NET_RAW and CAP_NET_ADMIN for [vrrp]): {1}")]
    Sockets(String, #[source] std::io::Error),
}

/// One virtual router (a `[vrrp]` or `[[vrrp]]` entry).
pub struct Instance {
    pub(super) config: VrrpConfig,
    pub(super) iface: Interface,
    pub(super) vip_links: Vec<VipLink>,
    pub(super) siblings: Vec<u8>,
    /// Its sync group and its index there, once the group is formed.
    pub(super) group: RefCell<Option<(Weak<Group>, usize)>>,
    /// FAULT reasons: its link, tracking (weight 0), the group (a member in FAULT).
    pub(super) link_down: Cell<bool>,
    pub(super) track_fault: Cell<bool>,
    pub(super) group_fault: Cell<bool>,
    /// What tracking sees (`tracking.rs`), and the indexes of tracked interfaces.
    pub(super) tracked: RefCell<Tracked>,
    pub(super) track_links: Vec<u32>,
    pub(super) form: ChecksumForm,
    pub(super) io: Io,
    pub(super) netlink: RefCell<Netlink>,
    pub(super) router: RefCell<Router>,
    pub(super) counters: RefCell<Counters>,
    pub(super) tracking: RefCell<Vec<String>>,
    pub(super) stopped: Cell<bool>,
    pub(super) last_drop_log: Cell<Option<Instant>>,
    /// When to send the second burst of gratuitous ARP.
    pub(super) announce_again: Cell<Option<Instant>>,
    pub(super) wake: UnboundedSender<()>,
    pub(super) notifier: Option<Notifier>,
    /// A binary upgrade's new process: the state to start in (`handover.rs`).
    pub(super) carried: RefCell<Option<super::handover::Carried>>,
}

impl Instance {
    /// Take the sockets over on this (the control thread's) runtime. `sync`: a
    /// member of a sync group. [`Instance::run`] starts it.
    pub(super) fn new(
        p: PreparedRouter,
        sync: bool,
    ) -> std::io::Result<(Rc<Instance>, UnboundedReceiver<()>)> {
        let io = Io::register(p.sockets)?;
        let router = Router::new(machine::Config {
            priority: p.config.priority,
            interval: p.config.advert_interval,
            preempt: p.config.preempt,
            preempt_delay: p.config.preempt_delay,
            address: p.iface.primary,
            sync,
        });
        let (wake, woken) = unbounded();
        let keep_addresses = Instance::starts_as_master(p.carried.as_ref());
        let vrrp = Rc::new(Instance {
            carried: RefCell::new(p.carried),
            vip_links: p.vip_links,
            siblings: p.siblings,
            group: RefCell::new(None),
            link_down: Cell::new(false),
            track_fault: Cell::new(false),
            group_fault: Cell::new(false),
            tracked: RefCell::new(p.tracked),
            track_links: p.track_links,
            form: match p.config.checksum {
                VrrpChecksum::Keepalived => ChecksumForm::Keepalived,
                VrrpChecksum::Rfc9568 => ChecksumForm::Rfc9568,
            },
            notifier: Notifier::start(
                p.config.notify.clone(),
                p.config.notify_states.clone(),
                p.config.script_as.clone(),
            ),
            config: p.config,
            iface: p.iface,
            io,
            netlink: RefCell::new(p.netlink),
            router: RefCell::new(router),
            counters: RefCell::new(Counters::default()),
            tracking: RefCell::new(Vec::new()),
            stopped: Cell::new(false),
            last_drop_log: Cell::new(None),
            announce_again: Cell::new(None),
            wake,
        });
        tracing::info!(
            "vrrp: virtual router {} {} on {} ({}, {}), priority {}, advert every {:?}, {}",
            vrrp.config.vrid,
            vrrp.config.name,
            vrrp.iface.name,
            vrrp.iface.primary,
            mac_text(vrrp.iface.mac),
            vrrp.config.priority,
            vrrp.config.advert_interval,
            if vrrp.config.unicast_peers.is_empty() {
                format!("multicast {}", packet::group(vrrp.iface.primary))
            } else {
                format!("unicast to {:?}", vrrp.config.unicast_peers)
            }
        );
        if !keep_addresses {
            vrrp.release_leftovers();
        }
        Ok((vrrp, woken))
    }

    /// Start serving (after the group, if any, is formed), and tracking.
    pub(super) fn run(self: &Rc<Self>, woken: UnboundedReceiver<()>) {
        monoio::spawn(serve(Rc::clone(self), woken));
        self.start_tracking();
    }

    pub fn status(&self) -> Status {
        let router = self.router.borrow();
        let group = self.group.borrow().as_ref().and_then(|(g, _)| g.upgrade());
        Status {
            name: self.config.name.clone(),
            group: group.map(|g| g.name.clone()),
            interface: self.iface.name.clone(),
            primary: self.iface.primary,
            vrid: self.config.vrid,
            state: router.state,
            base_priority: self.config.priority,
            priority: router.config.priority,
            master: router.master,
            virtual_ips: self.config.virtual_ips.clone(),
            tracking: self.reasons(),
            peers: router
                .peers
                .iter()
                .map(|p| (p.address, p.priority))
                .collect(),
            counters: self.counters.borrow().clone(),
        }
    }

    /// Leave: a master says so with priority 0 and gives the addresses up at once.
    pub(super) fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        self.handle(Event::Shutdown);
        let _ = self.wake.unbounded_send(());
    }

    /// At exit: wait (bounded) for the notify program of the last change.
    pub(super) fn finish(&self) {
        self.stop();
        if let Some(n) = &self.notifier {
            n.flush(NOTIFY_AT_EXIT);
        }
    }

    /// A previous run killed with SIGKILL leaves its addresses behind: a backup must
    /// not answer for them.
    fn release_leftovers(&self) {
        for (&(vip, prefix), link) in self.config.virtual_ips.iter().zip(&self.vip_links) {
            let removed = self
                .netlink
                .borrow_mut()
                .remove_address(link.index, vip, prefix);
            match removed {
                Ok(true) => tracing::warn!(
                    "vrrp: removed {vip}/{prefix} from {}, left behind by an earlier run",
                    link.name
                ),
                Ok(false) => {}
                Err(e) => self.error(format_args!("cannot remove {vip}/{prefix}: {e}")),
            }
        }
    }

    pub(super) fn handle(&self, event: Event) {
        let before = self.router.borrow().state;
        let actions = self.router.borrow_mut().handle(event, Instant::now());
        let mut want = false;
        for action in actions {
            want |= action == Action::WantMaster;
            self.act(action);
        }
        // The deadline may have moved: let the serving task look again.
        let _ = self.wake.unbounded_send(());
        let after = self.router.borrow().state;
        if want {
            self.tell_group(Change::WantMaster);
        } else if before == State::Master && after == State::Backup {
            self.tell_group(Change::LeftMaster);
        } else if before != after {
            self.tell_group(Change::Entered);
        }
    }

    /// What its sync group knows of it.
    pub(super) fn member(&self) -> Member {
        let router = self.router.borrow();
        Member {
            state: router.state,
            wants_master: router.wants_master,
            own_fault: self.link_down.get() || self.track_fault.get(),
        }
    }

    pub(super) fn tell_group(&self, change: Change) {
        let group = self.group.borrow().clone();
        if let Some((group, index)) = group.and_then(|(g, i)| Some((g.upgrade()?, i))) {
            group.changed(index, change);
        }
    }

    pub(super) fn act(&self, action: Action) {
        match action {
            Action::Advertise(priority) => self.advertise(priority),
            Action::TakeAddresses => {
                self.change_addresses(true);
                self.announce();
                // keepalived's garp_master_delay (0: no second burst).
                let delay = self.config.garp_delay;
                self.announce_again
                    .set((!delay.is_zero()).then(|| Instant::now() + delay));
            }
            Action::RemoveAddresses => {
                self.announce_again.set(None);
                self.change_addresses(false);
            }
            Action::Entered(state) => self.entered(state),
            Action::HandOver { to, priority } => tracing::warn!(
                "vrrp: priority {} is below {to}'s {priority}: handing over now (advertised priority 0)",
                self.router.borrow().config.priority
            ),
            Action::WantMaster => tracing::info!(
                "vrrp: {} would be master: waiting for its sync group",
                self.config.name
            ),
        }
    }

    /// Add (or remove) every virtual IP on its interface; failures are logged and counted.
    fn change_addresses(&self, add: bool) {
        for (&(vip, prefix), link) in self.config.virtual_ips.iter().zip(&self.vip_links) {
            let mut netlink = self.netlink.borrow_mut();
            let done = if add {
                netlink.add_address(link.index, vip, prefix)
            } else {
                netlink.remove_address(link.index, vip, prefix)
            };
            drop(netlink);
            if let Err(e) = done {
                let verb = if add { "add" } else { "remove" };
                self.error(format_args!(
                    "cannot {verb} {vip}/{prefix} on {}: {e}",
                    link.name
                ));
            }
        }
    }

    fn advertise(&self, priority: u8) {
        let advert = Advert {
            vrid: self.config.vrid,
            priority,
            interval_cs: (self.config.advert_interval.as_millis() / 10) as u16,
            addresses: self.config.virtual_ips.iter().map(|(a, _)| *a).collect(),
        };
        let peers = &self.config.unicast_peers;
        let src = self.iface.primary;
        let group = [packet::group(src)];
        let destinations: &[IpAddr] = if peers.is_empty() { &group } else { peers };
        for &dst in destinations {
            let message = advert.encode(self.form, src, dst);
            match self.io.send(&message, src, dst, self.iface.index) {
                Ok(()) => self.counters.borrow_mut().adverts_sent += 1,
                Err(e) => self.error(format_args!("cannot send an advertisement to {dst}: {e}")),
            }
        }
    }

    /// Gratuitous ARP (IPv4) or an unsolicited neighbour advertisement (IPv6) for
    /// every virtual IP, so neighbours stop sending to the old master.
    fn announce(&self) {
        for (&(vip, _), link) in self.config.virtual_ips.iter().zip(&self.vip_links) {
            for _ in 0..self.config.garp_repeat {
                if let Err(e) = self.io.announce(vip, link.mac, link.index) {
                    self.error(format_args!("cannot announce {vip} on {}: {e}", link.name));
                    break;
                }
            }
        }
    }

    fn entered(&self, state: State) {
        let priority = self.router.borrow().config.priority;
        {
            let mut c = self.counters.borrow_mut();
            c.transitions += 1;
            c.last_transition = Some(SystemTime::now());
            if state == State::Master {
                c.became_master += 1;
            }
        }
        let name = state_name(state, self.stopped.get());
        let vips: Vec<String> = self
            .config
            .virtual_ips
            .iter()
            .zip(&self.vip_links)
            .map(|((a, p), link)| format!("{a}/{p} on {}", link.name))
            .collect();
        // Alone, the router's name adds nothing (and the log lines stay keepalived's).
        let who = match self.siblings.is_empty() && self.group.borrow().is_none() {
            true => String::new(),
            false => format!("{} ", self.config.name),
        };
        match state {
            State::Master => tracing::info!(
                "vrrp: {who}entering MASTER state (priority {priority}): {}",
                vips.join(", ")
            ),
            _ => tracing::info!("vrrp: {who}entering {name} state (priority {priority})"),
        }
        if let Some(n) = &self.notifier {
            n.tell(&self.config.name, name, priority);
        }
        super::status::changed(&self.config.name, false, name);
    }

    pub(super) fn error(&self, what: std::fmt::Arguments<'_>) {
        self.counters.borrow_mut().errors += 1;
        tracing::error!("vrrp: {what}");
    }

    /// When the serving task must wake up next, and whether it is for the ARP repeat.
    fn next_wake(&self) -> Option<Instant> {
        let router = self.router.borrow().deadline();
        match (router, self.announce_again.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_time(&self, now: Instant) {
        if self.announce_again.get().is_some_and(|t| t <= now) {
            self.announce_again.set(None);
            if self.router.borrow().state == State::Master {
                self.announce();
            }
        }
        if self.router.borrow().deadline().is_some_and(|t| t <= now) {
            self.handle(Event::Timer);
        }
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Wait for adverts, the timer or a nudge (priority change, stop), until stopped.
async fn serve(vrrp: Rc<Instance>, mut woken: UnboundedReceiver<()>) {
    let carried = vrrp.carried.borrow_mut().take();
    match carried {
        Some(c) => vrrp.resume(&c),
        None => vrrp.handle(Event::Startup),
    }
    if !vrrp.iface.up {
        tracing::warn!("vrrp: {} is down or has no carrier", vrrp.iface.name);
        vrrp.link_down.set(true);
    }
    // Faults found before the start (the link, tracking) apply from now on.
    if vrrp.link_down.get() || vrrp.track_fault.get() || vrrp.group_fault.get() {
        vrrp.handle(Event::LinkDown);
        vrrp.tell_group(Change::Fault);
    }
    let mut buf = vec![0u8; 2048];
    let mut links = vec![0u8; 16 * 1024];
    while !vrrp.stopped.get() {
        let wait = vrrp.next_wake().map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(Instant::now())
        });
        monoio::select! {
            ready = vrrp.io.readable() => {
                if let Err(e) = ready {
                    vrrp.error(format_args!("waiting for advertisements: {e}"));
                    monoio::time::sleep(Duration::from_millis(100)).await;
                }
                loop {
                    match vrrp.io.recv(&mut buf) {
                        Ok(Some(datagram)) => vrrp.received(&buf, datagram),
                        Ok(None) => break,
                        Err(e) => {
                            vrrp.error(format_args!("reading an advertisement: {e}"));
                            break;
                        }
                    }
                }
            }
            ready = vrrp.io.link_readable() => {
                if let Err(e) = ready {
                    vrrp.error(format_args!("waiting for link changes: {e}"));
                    monoio::time::sleep(Duration::from_millis(100)).await;
                }
                vrrp.link_changes(&mut links);
            }
            _ = monoio::time::sleep(wait) => {}
            nudge = woken.next() => {
                if nudge.is_none() {
                    return;
                }
            }
        }
        vrrp.on_time(Instant::now());
    }
}
