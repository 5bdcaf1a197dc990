//! The validated virtual router types: [`Vrrp`] (one `[vrrp]` / `[[vrrp]]` entry),
//! its tracking ([`TrackInterface`], [`TrackScript`], [`TrackFile`]) and
//! [`SyncGroup`] (`[[vrrp_sync_group]]`).

use std::time::Duration;

/// `[[vrrp_sync_group]]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Indexes into [`Config::vrrp`].
    pub routers: Vec<usize>,
    pub notify: Option<std::path::PathBuf>,
    /// `notify_master`, `notify_backup`, `notify_fault`.
    pub notify_states: StateCommands,
    /// Whom `notify` runs as (`global.script_user`); `None`: as ringlb.
    pub script_as: Option<super::RunAs>,
}

/// keepalived's `notify_master` etc.: per state (`MASTER`, `BACKUP`, `FAULT`,
/// `STOP`), a program and its arguments run as written on entering it.
pub type StateCommands = Vec<(&'static str, Vec<String>)>;

/// One `[vrrp]` (or `[[vrrp]]` entry), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vrrp {
    /// `name`, or `VI_<vrid>`: unique among the routers.
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// 1..=254 (255 is the address owner's, which ringlb never is).
    pub priority: u8,
    /// A whole number of centiseconds.
    pub advert_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// Address and prefix length; all of one family (IPv4, or IPv6: VRRPv3 over IPv6,
    /// see [`Vrrp::is_v6`]).
    pub virtual_ips: Vec<(std::net::IpAddr, u8)>,
    /// For each of `virtual_ips`, in order: the interface it is added to when that is
    /// not `interface` (`"a.b.c.d/len dev eth1"`).
    pub virtual_ip_devs: Vec<Option<String>>,
    /// Empty: multicast to 224.0.0.18 (ff02::12 for IPv6). Of the virtual IPs' family.
    pub unicast_peers: Vec<std::net::IpAddr>,
    pub track_frontends: bool,
    pub track_weight: u8,
    pub notify: Option<std::path::PathBuf>,
    /// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`.
    pub notify_states: StateCommands,
    /// Whom `notify` and the track scripts run as (`global.script_user`); `None`:
    /// as ringlb.
    pub script_as: Option<super::RunAs>,
    pub checksum: VrrpChecksum,
    /// Gratuitous ARPs (or neighbour advertisements) per virtual IP on becoming
    /// master (`garp_master_repeat`), and again after `garp_delay` (zero: not again).
    pub garp_repeat: u8,
    pub garp_delay: Duration,
    /// `[[vrrp.track_interface]]`, `[[vrrp.track_script]]`, `[[vrrp.track_file]]`.
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackScript>,
    pub track_files: Vec<TrackFile>,
}

impl Vrrp {
    /// An IPv6 virtual router (its virtual IPs are IPv6: keepalived's `native_ipv6`).
    pub fn is_v6(&self) -> bool {
        self.virtual_ips.first().is_some_and(|(a, _)| a.is_ipv6())
    }
}

/// keepalived's weights: 0 = FAULT while failing; positive = added while fine;
/// negative = added (subtracted) while failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    pub interface: String,
    pub weight: i32,
}

/// A program run every `interval` (killed after `timeout`); exit status 0 is success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    pub name: String,
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

/// A file holding an integer, read every `interval`; value × `weight` is added to the
/// priority (weight 0: a non-zero value is a FAULT; a result ≤ −254 too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    pub path: std::path::PathBuf,
    pub weight: i32,
    pub interval: Duration,
}

/// Which checksum form adverts are sent with (both are accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpChecksum {
    Keepalived,
    Rfc9568,
}
