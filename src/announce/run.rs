//! [`Announcer`]: the control thread's side of `[announce]`. It owns the TUN device,
//! feeds health reports and the operator's switch to the [`Decider`], and carries its
//! decision out by adding or removing the service addresses over netlink. BIRD does
//! the rest: its `direct` protocol sees the addresses come and go, and BGP announces
//! or withdraws them. A failed netlink request is counted, logged at most once a
//! second, and retried at the next health report (every second).

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use super::decide::{Decider, Decision};
use super::tun::Tun;
use crate::config::Announce as AnnounceConfig;
use crate::logging::LogEvery;
use crate::vrrp::netlink::{Netlink, NetlinkError};

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("announce.interface {name:?}: cannot create the TUN device: {source}")]
    Device {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("announce: {0}")]
    Netlink(#[from] NetlinkError),
}

/// The device and the netlink socket, made before root is given up.
pub struct Prepared {
    config: AnnounceConfig,
    tun: Tun,
    index: u32,
    netlink: Netlink,
    carried: Option<Carried>,
}

/// What a binary upgrade hands over besides the device's descriptor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Carried {
    /// The addresses are on the device.
    pub announced: bool,
    /// The operator's switch (`POST /api/announce`).
    pub operator_on: bool,
}

/// Create the device (up, no address yet: nothing is announced before the first
/// health report).
pub fn prepare(config: &AnnounceConfig) -> Result<Prepared, AnnounceError> {
    let device = |source| AnnounceError::Device {
        name: config.interface.clone(),
        source,
    };
    let tun = Tun::create(&config.interface).map_err(device)?;
    prepared(config, tun, None)
}

fn prepared(
    config: &AnnounceConfig,
    tun: Tun,
    carried: Option<Carried>,
) -> Result<Prepared, AnnounceError> {
    let device = |source| AnnounceError::Device {
        name: config.interface.clone(),
        source,
    };
    if config.addresses.iter().any(IpAddr::is_ipv6) {
        tun.enable_ipv6().map_err(device)?;
    }
    let index = tun.index().map_err(device)?;
    let netlink = Netlink::open()?;
    Ok(Prepared {
        config: config.clone(),
        tun,
        index,
        netlink,
        carried,
    })
}

/// A binary upgrade's new process: adopt the old process's device (`fd`) and its
/// state, so the addresses stay announced throughout; a device of another name (the
/// file changed) is left to the old process, and a new one created.
pub fn adopt(
    config: &AnnounceConfig,
    fd: std::os::fd::OwnedFd,
    carried: Carried,
) -> Result<Prepared, AnnounceError> {
    let adopted = Tun::adopt(fd, &config.interface).map_err(|source| AnnounceError::Device {
        name: config.interface.clone(),
        source,
    })?;
    match adopted {
        Some(tun) => prepared(config, tun, Some(carried)),
        None => prepare(config),
    }
}

/// What the admin API shows.
#[derive(Debug, Clone)]
pub struct Status {
    pub interface: String,
    pub addresses: Vec<IpAddr>,
    /// The addresses are on the device (BIRD announces them).
    pub announced: bool,
    pub operator_on: bool,
    pub healthy: bool,
    pub reason: String,
    pub problems: Vec<String>,
    pub since: SystemTime,
    pub transitions: u64,
    pub errors: u64,
}

pub struct Announcer {
    config: AnnounceConfig,
    tun: Tun,
    index: u32,
    netlink: RefCell<Netlink>,
    decider: RefCell<Decider>,
    announced: Cell<bool>,
    since: Cell<SystemTime>,
    transitions: Cell<u64>,
    errors: Cell<u64>,
    error_log: LogEvery,
    /// The hold-down end a timer task is already waiting for.
    timer: Cell<Option<Instant>>,
    /// Adopted announced in an upgrade: nothing is withdrawn before the first health
    /// report (the old process's last one said healthy).
    keep_until_report: Cell<bool>,
    /// Old process after an upgrade: the new one decides now, this one does nothing.
    handed_over: Cell<bool>,
}

impl Announcer {
    pub fn start(p: Prepared) -> Rc<Announcer> {
        let mut decider = Decider::new(p.config.hold_down);
        match &p.carried {
            Some(c) => {
                decider.operator(c.operator_on);
                tracing::info!(
                    "announce: device {} adopted from the old process ({})",
                    p.config.interface,
                    if c.announced {
                        "announced"
                    } else {
                        "not announced"
                    }
                );
            }
            None => tracing::info!(
                "announce: device {} created for {} (announced once healthy)",
                p.config.interface,
                list(&p.config.addresses)
            ),
        }
        let announced = p.carried.as_ref().is_some_and(|c| c.announced);
        Rc::new(Announcer {
            decider: RefCell::new(decider),
            config: p.config,
            tun: p.tun,
            index: p.index,
            netlink: RefCell::new(p.netlink),
            announced: Cell::new(announced),
            keep_until_report: Cell::new(announced),
            handed_over: Cell::new(false),
            since: Cell::new(SystemTime::now()),
            transitions: Cell::new(0),
            errors: Cell::new(0),
            error_log: LogEvery::default(),
            timer: Cell::new(None),
        })
    }

    /// The frontends whose health counts (`None`: all).
    pub fn tracked(&self) -> Option<&[String]> {
        self.config.track_frontends.as_deref()
    }

    pub fn withdraw_grace(&self) -> Duration {
        self.config.withdraw_grace
    }

    /// Health tracking's findings (empty: healthy).
    pub fn health(self: &Rc<Self>, problems: Vec<String>) {
        self.keep_until_report.set(false);
        let now = Instant::now();
        self.decider.borrow_mut().health(problems, now);
        self.apply(now);
    }

    /// Before the first health report: why the node waits.
    pub fn pending(self: &Rc<Self>, why: String) {
        self.decider.borrow_mut().pending(why);
        self.apply(Instant::now());
    }

    /// `POST /api/announce on|off`.
    pub fn set_operator(self: &Rc<Self>, on: bool) {
        let was = self.decider.borrow().operator_on();
        self.decider.borrow_mut().operator(on);
        if was != on {
            let word = if on { "on" } else { "off" };
            tracing::info!("announce: operator switched announcing {word} (admin API)");
        }
        self.apply(Instant::now());
    }

    /// The process stops: withdraw now, for good.
    pub fn stop(self: &Rc<Self>) {
        self.decider.borrow_mut().stop();
        self.apply(Instant::now());
    }

    /// Old process: what to hand over besides the device, and its descriptor.
    pub fn carried(&self) -> std::io::Result<(Carried, std::os::fd::OwnedFd)> {
        let carried = Carried {
            announced: self.announced.get(),
            operator_on: self.decider.borrow().operator_on(),
        };
        Ok((carried, self.tun.duplicate()?))
    }

    /// Old process, the new one ready: it owns the decision from now on (this one
    /// keeps its descriptor until it exits, which changes nothing).
    pub fn hand_over(&self) {
        self.handed_over.set(true);
        tracing::info!(
            "announce: {} handed over to the new process",
            self.config.interface
        );
    }

    /// Old process, an upgrade that failed: the new process may have changed the
    /// shared device before it gave up; put this process's decision back on it.
    pub fn reassert(&self) {
        if self.announced.get() {
            if let Err(e) = self.set_addresses(true) {
                tracing::error!("announce: cannot add the service addresses again: {e}");
            }
        }
    }

    /// Carry the decision out; start a timer for a hold-down that ends.
    fn apply(self: &Rc<Self>, now: Instant) {
        if self.handed_over.get() {
            return;
        }
        let Decision {
            announce,
            reason,
            recheck_at,
        } = self.decider.borrow().decide(now);
        let keep = !announce && self.keep_until_report.get();
        if announce != self.announced.get() && !keep {
            match self.set_addresses(announce) {
                Ok(()) => {
                    self.announced.set(announce);
                    self.since.set(SystemTime::now());
                    self.transitions.set(self.transitions.get() + 1);
                    let addrs = list(&self.config.addresses);
                    if announce {
                        tracing::info!(
                            "announce: {addrs} added to {}: BIRD announces them ({reason})",
                            self.config.interface
                        );
                    } else {
                        tracing::warn!(
                            "announce: {addrs} withdrawn from {}: {reason}",
                            self.config.interface
                        );
                    }
                }
                Err(e) => {
                    self.errors.set(self.errors.get() + 1);
                    if self.error_log.due(now) {
                        let what = if announce { "add" } else { "remove" };
                        tracing::error!(
                            "announce: cannot {what} the service addresses on {}: {e} (retried every second; {} lines left out)",
                            self.config.interface,
                            self.error_log.take_skipped()
                        );
                    }
                }
            }
        }
        if let Some(at) = recheck_at {
            if self.timer.get() != Some(at) {
                self.timer.set(Some(at));
                let me = Rc::clone(self);
                monoio::spawn(async move {
                    monoio::time::sleep(at.saturating_duration_since(Instant::now())).await;
                    if me.timer.get() == Some(at) {
                        me.timer.set(None);
                        me.apply(Instant::now());
                    }
                });
            }
        }
    }

    /// Add (or remove) every service address, each a single host (/32 or /128;
    /// IPv6 ones without duplicate address detection, so BIRD sees them at once);
    /// stops at the first failure.
    fn set_addresses(&self, present: bool) -> Result<(), NetlinkError> {
        let mut netlink = self.netlink.borrow_mut();
        for &addr in &self.config.addresses {
            let host = if addr.is_ipv4() { 32 } else { 128 };
            if present {
                netlink.add_address(self.index, addr, host)?;
            } else {
                netlink.remove_address(self.index, addr, host)?;
            }
        }
        Ok(())
    }

    pub fn status(&self) -> Status {
        let decider = self.decider.borrow();
        Status {
            interface: self.config.interface.clone(),
            addresses: self.config.addresses.clone(),
            announced: self.announced.get(),
            operator_on: decider.operator_on(),
            healthy: decider.problems().is_empty(),
            reason: decider.decide(Instant::now()).reason,
            problems: decider.problems().to_vec(),
            since: self.since.get(),
            transitions: self.transitions.get(),
            errors: self.errors.get(),
        }
    }
}

fn list(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
