//! The virtual router at work on the control thread: it feeds the state machine
//! with received advertisements, its timer and priority changes, and carries out
//! what the machine decides: send advertisements, add or remove the virtual IPs
//! (netlink) and announce them (gratuitous ARP, 5 at once and 5 more after
//! `GARP_REPEAT_AFTER`, as keepalived does), log, count and call `notify`.

use std::cell::{Cell, RefCell};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures_util::StreamExt;

use super::io::{self, Io, Sockets};
use super::machine::{self, Action, Event, Router, State};
use super::netlink::{Interface, Netlink, NetlinkError};
use super::notify::Notifier;
use super::packet::{Advert, ChecksumForm, Drop, GROUP};
use super::wire;
use crate::config::{Vrrp as VrrpConfig, VrrpChecksum};

/// Gratuitous ARPs per virtual IP on becoming master, and again after a pause.
const GARP_BURST: usize = 5;
const GARP_REPEAT_AFTER: Duration = Duration::from_secs(5);
/// How long the exit waits for the last notify program.
const NOTIFY_AT_EXIT: Duration = Duration::from_secs(5);
/// Dropped adverts are logged at most this often (they are all counted).
pub(super) const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum VrrpError {
    #[error("vrrp.interface {0:?}: {1}")]
    Interface(String, #[source] NetlinkError),
    #[error("vrrp: cannot open the VRRP and ARP sockets on {0:?} (ringlb needs CAP_NET_RAW and CAP_NET_ADMIN for [vrrp]): {1}")]
    Sockets(String, #[source] std::io::Error),
}

/// Everything that can fail, done before the workers start.
pub struct Prepared {
    config: VrrpConfig,
    iface: Interface,
    netlink: Netlink,
    sockets: Sockets,
}

pub fn prepare(config: &VrrpConfig) -> Result<Prepared, VrrpError> {
    let vips: Vec<Ipv4Addr> = config.virtual_ips.iter().map(|(a, _)| *a).collect();
    let interface = |e| VrrpError::Interface(config.interface.clone(), e);
    let mut netlink = Netlink::open().map_err(interface)?;
    let iface = netlink
        .interface(&config.interface, &vips)
        .map_err(interface)?;
    let link = super::netlink::link_watch().map_err(interface)?;
    let sockets = io::open(&iface, config.unicast_peers.is_empty(), link)
        .map_err(|e| VrrpError::Sockets(config.interface.clone(), e))?;
    Ok(Prepared {
        config: config.clone(),
        iface,
        netlink,
        sockets,
    })
}

/// Counters and facts for the stats page and /metrics.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// By [`Drop::index`].
    pub dropped: [u64; Drop::REASONS.len()],
    pub transitions: u64,
    pub became_master: u64,
    pub last_transition: Option<SystemTime>,
    /// Netlink or socket errors while acting (each is logged).
    pub errors: u64,
}

/// A snapshot for the admin API.
#[derive(Debug, Clone)]
pub struct Status {
    pub interface: String,
    pub primary: Ipv4Addr,
    pub vrid: u8,
    pub state: State,
    pub base_priority: u8,
    pub priority: u8,
    pub master: Option<Ipv4Addr>,
    pub virtual_ips: Vec<(Ipv4Addr, u8)>,
    /// Why the priority is lowered (empty when it is not).
    pub tracking: Vec<String>,
    /// The other routers heard, with their last priority: a master hands over at
    /// once when its priority falls below one of them.
    pub peers: Vec<(Ipv4Addr, u8)>,
    pub counters: Counters,
}

pub struct Vrrp {
    pub(super) config: VrrpConfig,
    pub(super) iface: Interface,
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
}

impl Vrrp {
    /// Take the sockets over on this (the control thread's) runtime and start.
    pub fn start(p: Prepared) -> std::io::Result<Rc<Vrrp>> {
        let io = Io::register(p.sockets, p.iface.index)?;
        let router = Router::new(machine::Config {
            priority: p.config.priority,
            interval: p.config.advert_interval,
            preempt: p.config.preempt,
            preempt_delay: p.config.preempt_delay,
            address: p.iface.primary,
        });
        let (wake, woken) = unbounded();
        let vrrp = Rc::new(Vrrp {
            form: match p.config.checksum {
                VrrpChecksum::Keepalived => ChecksumForm::Keepalived,
                VrrpChecksum::Rfc9568 => ChecksumForm::Rfc9568,
            },
            notifier: p.config.notify.clone().map(Notifier::start),
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
            "vrrp: virtual router {} on {} ({}, {}), priority {}, advert every {:?}, {}",
            vrrp.config.vrid,
            vrrp.iface.name,
            vrrp.iface.primary,
            mac_text(vrrp.iface.mac),
            vrrp.config.priority,
            vrrp.config.advert_interval,
            if vrrp.config.unicast_peers.is_empty() {
                "multicast 224.0.0.18".to_string()
            } else {
                format!("unicast to {:?}", vrrp.config.unicast_peers)
            }
        );
        vrrp.release_leftovers();
        monoio::spawn(serve(Rc::clone(&vrrp), woken));
        Ok(vrrp)
    }

    pub fn status(&self) -> Status {
        let router = self.router.borrow();
        Status {
            interface: self.iface.name.clone(),
            primary: self.iface.primary,
            vrid: self.config.vrid,
            state: router.state,
            base_priority: self.config.priority,
            priority: router.config.priority,
            master: router.master,
            virtual_ips: self.config.virtual_ips.clone(),
            tracking: self.tracking.borrow().clone(),
            peers: router
                .peers
                .iter()
                .map(|p| (p.address, p.priority))
                .collect(),
            counters: self.counters.borrow().clone(),
        }
    }

    /// Health tracking: `problems` lists what is wrong (frontends without a usable
    /// server, stuck workers). Any problem lowers the priority by `track_weight`.
    pub fn track(&self, problems: Vec<String>) {
        if !self.config.track_frontends || self.stopped.get() {
            return;
        }
        let want = lowered_priority(
            self.config.priority,
            self.config.track_weight,
            !problems.is_empty(),
        );
        let had = self.router.borrow().config.priority;
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
        if want != had {
            self.handle(Event::Priority(want));
        }
    }

    /// Leave: a master says so with priority 0 and gives the addresses up at once.
    pub fn stop(&self) {
        if self.stopped.replace(true) {
            return;
        }
        self.handle(Event::Shutdown);
        let _ = self.wake.unbounded_send(());
    }

    /// At exit: wait (bounded) for the notify program of the last change.
    pub fn finish(&self) {
        self.stop();
        if let Some(n) = &self.notifier {
            n.flush(NOTIFY_AT_EXIT);
        }
    }

    /// A previous run killed with SIGKILL leaves its addresses behind: a backup must
    /// not answer for them.
    fn release_leftovers(&self) {
        for &(vip, prefix) in &self.config.virtual_ips {
            match self
                .netlink
                .borrow_mut()
                .remove_address(self.iface.index, vip, prefix)
            {
                Ok(true) => tracing::warn!(
                    "vrrp: removed {vip}/{prefix} from {}, left behind by an earlier run",
                    self.iface.name
                ),
                Ok(false) => {}
                Err(e) => self.error(format_args!("cannot remove {vip}/{prefix}: {e}")),
            }
        }
    }

    pub(super) fn handle(&self, event: Event) {
        let actions = self.router.borrow_mut().handle(event, Instant::now());
        for action in actions {
            self.act(action);
        }
        // The deadline may have moved: let the serving task look again.
        let _ = self.wake.unbounded_send(());
    }

    fn act(&self, action: Action) {
        match action {
            Action::Advertise(priority) => self.advertise(priority),
            Action::TakeAddresses => {
                self.change_addresses(true);
                self.announce();
                self.announce_again
                    .set(Some(Instant::now() + GARP_REPEAT_AFTER));
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
        }
    }

    /// Add (or remove) every virtual IP on the interface; failures are logged and counted.
    fn change_addresses(&self, add: bool) {
        for &(vip, prefix) in &self.config.virtual_ips {
            let mut netlink = self.netlink.borrow_mut();
            let done = if add {
                netlink.add_address(self.iface.index, vip, prefix)
            } else {
                netlink.remove_address(self.iface.index, vip, prefix)
            };
            drop(netlink);
            if let Err(e) = done {
                let verb = if add { "add" } else { "remove" };
                self.error(format_args!(
                    "cannot {verb} {vip}/{prefix} on {}: {e}",
                    self.iface.name
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
        let destinations: &[Ipv4Addr] = if peers.is_empty() { &[GROUP] } else { peers };
        for &dst in destinations {
            let message = advert.encode(self.form, self.iface.primary, dst);
            let packet = wire::ipv4_packet(self.iface.primary, dst, &message);
            match self.io.send(&packet, dst) {
                Ok(()) => self.counters.borrow_mut().adverts_sent += 1,
                Err(e) => self.error(format_args!("cannot send an advertisement to {dst}: {e}")),
            }
        }
    }

    /// Gratuitous ARP for every virtual IP, so neighbours stop sending to the old master.
    fn announce(&self) {
        for &(vip, _) in &self.config.virtual_ips {
            let frame = wire::gratuitous_arp(self.iface.mac, vip);
            for _ in 0..GARP_BURST {
                if let Err(e) = self.io.send_frame(&frame) {
                    self.error(format_args!("cannot send gratuitous ARP for {vip}: {e}"));
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
            .map(|(a, p)| format!("{a}/{p}"))
            .collect();
        match state {
            State::Master => tracing::info!(
                "vrrp: entering MASTER state (priority {priority}): {} on {}",
                vips.join(", "),
                self.iface.name
            ),
            _ => tracing::info!("vrrp: entering {name} state (priority {priority})"),
        }
        if let Some(n) = &self.notifier {
            n.tell(name, priority);
        }
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

/// The priority to advertise: lowered by `weight` while something tracked is wrong,
/// never below 1 (0 means "leaving").
pub fn lowered_priority(base: u8, weight: u8, failing: bool) -> u8 {
    if failing {
        base.saturating_sub(weight).max(1)
    } else {
        base
    }
}

/// The names keepalived uses, so notify scripts read alike.
pub fn state_name(state: State, stopped: bool) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Initialize if stopped => "STOP",
        State::Initialize => "INIT",
        State::Fault => "FAULT",
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Wait for adverts, the timer or a nudge (priority change, stop), until stopped.
async fn serve(vrrp: Rc<Vrrp>, mut woken: UnboundedReceiver<()>) {
    vrrp.handle(Event::Startup);
    if !vrrp.iface.up {
        tracing::warn!("vrrp: {} is down or has no carrier", vrrp.iface.name);
        vrrp.handle(Event::LinkDown);
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
                        Ok(Some(n)) => vrrp.received(&buf[..n]),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_lowers_priority_but_never_to_zero() {
        assert_eq!(lowered_priority(150, 60, false), 150);
        assert_eq!(lowered_priority(150, 60, true), 90);
        assert_eq!(lowered_priority(50, 60, true), 1);
        assert_eq!(lowered_priority(60, 60, true), 1);
    }

    #[test]
    fn state_names_are_keepalived_s() {
        assert_eq!(state_name(State::Master, false), "MASTER");
        assert_eq!(state_name(State::Backup, false), "BACKUP");
        assert_eq!(state_name(State::Initialize, true), "STOP");
    }
}
