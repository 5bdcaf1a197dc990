//! `[vrrp]` / `[[vrrp]]`: the virtual routers ringlb runs (VRRPv3 for IPv4 or IPv6,
//! like keepalived's `vrrp_instance`). Checked here so that `ringlb check` refuses what
//! the control thread could not run: priorities outside 1..=254, intervals the 12-bit
//! centisecond field cannot carry, a router mixing IPv4 and IPv6 (one family per
//! router, as in keepalived), a notify program that is not there. Keys are named `vrrp.KEY` for a single `[vrrp]` table and
//! `vrrp[i].KEY` in a `[[vrrp]]` list. Names and sync groups: `validate_vrrp_sync.rs`.

use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::raw::S;
use super::raw_vrrp::RawVrrp;
use super::validate::Validator;
use super::{Vrrp, VrrpChecksum};

/// The advertisement interval field: 12 bits of centiseconds.
const MAX_INTERVAL_CS: u128 = 4095;
/// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAMSIZ: usize = 15;

impl Validator {
    /// One virtual router: `v`, written at `span`, whose keys are named `k.KEY`.
    pub(super) fn vrrp(&mut self, span: Range<usize>, v: &RawVrrp, k: &str) -> Option<Vrrp> {
        let before = self.errors.len();
        let interface = self.vrrp_interface(v, k);
        let vrid = self.int_in(
            Some(&v.virtual_router_id),
            1,
            1..=255,
            &format!("{k}.virtual_router_id"),
        ) as u8;
        let priority =
            self.int_in(v.priority.as_ref(), 100, 1..=254, &format!("{k}.priority")) as u8;
        let advert_interval = self.advert_interval(v, k);
        let preempt_delay = self.preempt_delay(v, k);
        let (virtual_ips, virtual_ip_devs) = self.virtual_ips(span, v, k);
        let v6 = virtual_ips.first().is_some_and(|(a, _)| a.is_ipv6());
        let unicast_peers = self.unicast_peers(v, k, v6);
        let (track_frontends, track_weight) = self.tracking(v, priority, k);
        let notify = v
            .notify
            .as_ref()
            .and_then(|n| self.program(n, &format!("{k}.notify")));
        let notify_states = self.state_commands(
            [
                ("MASTER", v.notify_master.as_ref()),
                ("BACKUP", v.notify_backup.as_ref()),
                ("FAULT", v.notify_fault.as_ref()),
                ("STOP", v.notify_stop.as_ref()),
            ],
            k,
        );
        let checksum = self.vrrp_checksum(v, k, v6);
        let (garp_repeat, garp_delay) = self.garp(v, k);
        let (track_interfaces, track_scripts, track_files) = self.vrrp_tracks(v, k);
        let name = match &v.name {
            Some(n) => {
                self.name(n, &format!("{k}.name: virtual router"));
                n.get_ref().clone()
            }
            None => format!("VI_{vrid}"),
        };
        (self.errors.len() == before).then(|| Vrrp {
            name,
            interface,
            vrid,
            priority,
            advert_interval,
            preempt: v.preempt.unwrap_or(true),
            preempt_delay,
            virtual_ips,
            virtual_ip_devs,
            unicast_peers,
            track_frontends,
            track_weight,
            notify,
            notify_states,
            script_as: None,
            checksum,
            garp_repeat,
            garp_delay,
            track_interfaces,
            track_scripts,
            track_files,
        })
    }

    fn vrrp_interface(&mut self, v: &RawVrrp, k: &str) -> String {
        let interface = v.interface.get_ref().clone();
        if !is_interface_name(&interface) {
            self.error(
                v.interface.span(),
                format!("{k}.interface {interface:?} is not an interface name (1 to 15 characters, no '/' or space)"),
            );
        }
        interface
    }

    /// A whole number of centiseconds that fits the advert's 12-bit field.
    fn advert_interval(&mut self, v: &RawVrrp, k: &str) -> Duration {
        let advert_interval = self.duration(
            v.advert_interval.as_ref(),
            Duration::from_secs(1),
            &format!("{k}.advert_interval"),
        );
        let cs = advert_interval.as_millis() / 10;
        if let Some(span) = v.advert_interval.as_ref().map(|s| s.span()) {
            if advert_interval.as_millis() % 10 != 0 || !(1..=MAX_INTERVAL_CS).contains(&cs) {
                self.error(
                    span,
                    format!("{k}.advert_interval must be a whole number of centiseconds from 10ms to 40.95s (VRRPv3 carries it in 12 bits)"),
                );
            }
        }
        advert_interval
    }

    fn preempt_delay(&mut self, v: &RawVrrp, k: &str) -> Duration {
        let preempt_delay = self.duration(
            v.preempt_delay.as_ref(),
            Duration::ZERO,
            &format!("{k}.preempt_delay"),
        );
        if preempt_delay > Duration::from_secs(1000) {
            if let Some(d) = &v.preempt_delay {
                self.error(d.span(), format!("{k}.preempt_delay must be at most 1000s"));
            }
        }
        if v.preempt == Some(false) && v.preempt_delay.is_some() {
            if let Some(d) = &v.preempt_delay {
                self.warn(
                    d.span(),
                    format!("{k}.preempt_delay has no effect with preempt = false"),
                );
            }
        }
        preempt_delay
    }

    /// `garp_master_repeat` (1..=255, default 5) and `garp_master_delay` (default 5 s,
    /// at most 1000 s; `"0s"`: no second burst), keepalived's defaults.
    fn garp(&mut self, v: &RawVrrp, k: &str) -> (u8, Duration) {
        let key = format!("{k}.garp_master_repeat");
        let repeat = self.int_in(v.garp_master_repeat.as_ref(), 5, 1..=255, &key) as u8;
        let key = format!("{k}.garp_master_delay");
        let delay = self.duration(v.garp_master_delay.as_ref(), Duration::from_secs(5), &key);
        if delay > Duration::from_secs(1000) {
            if let Some(d) = &v.garp_master_delay {
                self.error(d.span(), format!("{key} must be at most 1000s"));
            }
        }
        (repeat, delay)
    }

    /// 1 to 20 distinct addresses (keepalived's limit for one advert), each with the
    /// interface it goes on when that is not `interface` (`"a.b.c.d/len dev eth1"`).
    #[allow(clippy::type_complexity)]
    fn virtual_ips(
        &mut self,
        span: Range<usize>,
        v: &RawVrrp,
        k: &str,
    ) -> (Vec<(IpAddr, u8)>, Vec<Option<String>>) {
        let mut virtual_ips: Vec<(IpAddr, u8)> = Vec::new();
        let mut devs = Vec::new();
        for (i, text) in v.virtual_ips.iter().enumerate() {
            let key = format!("{k}.virtual_ips[{i}]");
            let (address, dev) = match text.get_ref().split_once(" dev ") {
                Some((a, d)) => (a.trim(), Some(d.trim())),
                None => (text.get_ref().trim(), None),
            };
            if let Some(d) = dev.filter(|d| !is_interface_name(d)) {
                self.error(
                    text.span(),
                    format!("{key}: dev {d:?} is not an interface name (1 to 15 characters, no '/' or space)"),
                );
            }
            let Some(vip) = self.vip(text.span(), address, &key) else {
                continue;
            };
            if virtual_ips.iter().any(|(a, _)| *a == vip.0) {
                self.error(text.span(), format!("{key}: {} is listed twice", vip.0));
            }
            if let Some(&(first, _)) = virtual_ips
                .first()
                .filter(|(a, _)| a.is_ipv6() != vip.0.is_ipv6())
            {
                self.error(
                    text.span(),
                    format!("{key}: {} is not of the family of {k}.virtual_ips[0] ({first}): a virtual router is IPv4 or IPv6; put the others in another [[vrrp]] (keepalived: another vrrp_instance)", vip.0),
                );
                continue;
            }
            virtual_ips.push(vip);
            devs.push(
                dev.filter(|d| *d != v.interface.get_ref())
                    .map(str::to_string),
            );
        }
        if v.virtual_ips.is_empty() {
            self.error(
                span.clone(),
                format!("{k}.virtual_ips is empty: give at least one address such as \"192.168.1.100/24\""),
            );
        } else if v.virtual_ips.len() > 20 {
            self.error(
                span,
                format!("{k}.virtual_ips: at most 20 addresses (keepalived's limit for one advertisement)"),
            );
        }
        (virtual_ips, devs)
    }

    /// Unicast addresses of the virtual IPs' family (`v6`).
    fn unicast_peers(&mut self, v: &RawVrrp, k: &str, v6: bool) -> Vec<IpAddr> {
        let mut unicast_peers = Vec::new();
        let family = if v6 { "IPv6" } else { "IPv4" };
        for (i, text) in v.unicast_peers.iter().enumerate() {
            match text.get_ref().parse::<IpAddr>() {
                Ok(a) if a.is_ipv6() != v6 => self.error(
                    text.span(),
                    format!("{k}.unicast_peers[{i}]: {a} is not {family}, the family of the virtual IPs"),
                ),
                Ok(a) if !is_unicast(a) => self.error(
                    text.span(),
                    format!("{k}.unicast_peers[{i}]: {a} is not a unicast address"),
                ),
                Ok(a) => unicast_peers.push(a),
                Err(_) => self.error(
                    text.span(),
                    format!(
                        "{k}.unicast_peers[{i}]: {:?} is not an {family} address",
                        text.get_ref()
                    ),
                ),
            }
        }
        unicast_peers
    }

    /// `(track_frontends, track_weight)`, with warnings for a weight that does nothing.
    fn tracking(&mut self, v: &RawVrrp, priority: u8, k: &str) -> (bool, u8) {
        let track_frontends = v.track_frontends.unwrap_or(false);
        let track_weight = self.int_in(
            v.track_weight.as_ref(),
            50,
            1..=254,
            &format!("{k}.track_weight"),
        ) as u8;
        if let (false, Some(w)) = (track_frontends, &v.track_weight) {
            self.warn(
                w.span(),
                format!("{k}.track_weight has no effect without track_frontends = true"),
            );
        }
        if track_frontends && priority <= track_weight {
            if let Some(w) = &v.track_weight {
                self.warn(
                    w.span(),
                    format!("{k}.track_weight {track_weight} is not below priority {priority}: a failed frontend leaves priority 1"),
                );
            }
        }
        (track_frontends, track_weight)
    }

    /// The IPv4 checksum form (IPv6 has one: message and pseudo-header, `v6`).
    fn vrrp_checksum(&mut self, v: &RawVrrp, k: &str, v6: bool) -> VrrpChecksum {
        if let (true, Some(c)) = (v6, &v.checksum) {
            self.warn(
                c.span(),
                format!("{k}.checksum has no effect on an IPv6 virtual router (RFC 9568 always sums the IPv6 pseudo-header)"),
            );
        }
        match v.checksum.as_ref().map(|c| c.get_ref().as_str()) {
            None | Some("keepalived") => VrrpChecksum::Keepalived,
            Some("rfc9568") => VrrpChecksum::Rfc9568,
            Some(other) => {
                if let Some(c) = &v.checksum {
                    self.error(
                        c.span(),
                        format!("{k}.checksum {other:?}: use \"keepalived\" (message and IPv4 pseudo-header, the default) or \"rfc9568\" (message only)"),
                    );
                }
                VrrpChecksum::Keepalived
            }
        }
    }

    /// `"192.0.2.10/24"` or `"192.0.2.10"` (a /32); `"2001:db8::10/64"` or
    /// `"2001:db8::10"` (a /128).
    fn vip(&mut self, span: Range<usize>, t: &str, key: &str) -> Option<(IpAddr, u8)> {
        let (addr, len) = match t.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (t, None),
        };
        let addr = addr.parse::<IpAddr>();
        let max = if t.contains(':') { 128 } else { 32 };
        let len = len.map_or(Some(max), |l| l.parse::<u8>().ok().filter(|l| *l <= max));
        match (addr, len) {
            (Ok(a), Some(l)) if is_unicast(a) => Some((a, l)),
            (Ok(a), Some(_)) => {
                self.error(span.clone(), format!("{key}: {a} cannot be a virtual IP"));
                None
            }
            _ => {
                self.error(
                    span.clone(),
                    format!("{key}: {t:?} is not an IPv4 or IPv6 address with an optional /prefix, such as \"192.168.1.100/24\" or \"2001:db8::100/64\""),
                );
                None
            }
        }
    }

    /// `notify_STATE` commands: each a program (checked as [`Self::program`]) and its
    /// arguments; `k` names the table.
    pub(super) fn state_commands<const N: usize>(
        &mut self,
        raws: [(&'static str, Option<&S<Vec<String>>>); N],
        k: &str,
    ) -> super::StateCommands {
        let mut out = Vec::new();
        for (state, raw) in raws {
            let Some(raw) = raw else { continue };
            let key = format!("{k}.notify_{}", state.to_lowercase());
            let Some(program) = raw.get_ref().first() else {
                self.error(raw.span(), format!("{key} is empty: give the program and its arguments, such as [\"/usr/local/bin/on-master\", \"MASTER\"]"));
                continue;
            };
            let program = S::new(raw.span(), program.clone());
            if self.program(&program, &key).is_some() {
                out.push((state, raw.get_ref().clone()));
            }
        }
        out
    }

    /// An absolute path to an executable file (`notify` programs), `key` naming it.
    pub(super) fn program(&mut self, raw: &S<String>, key: &str) -> Option<std::path::PathBuf> {
        let path = std::path::PathBuf::from(raw.get_ref());
        if !path.is_absolute() {
            self.error(
                raw.span(),
                format!("{key} {:?} must be an absolute path", raw.get_ref()),
            );
            return None;
        }
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Some(path),
            Ok(_) => {
                self.error(
                    raw.span(),
                    format!("{key} {}: not an executable file", path.display()),
                );
                None
            }
            Err(e) => {
                self.error(raw.span(), format!("{key} {}: {e}", path.display()));
                None
            }
        }
    }
}

/// Neither multicast, broadcast nor unspecified.
fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => !a.is_multicast() && !a.is_broadcast() && !a.is_unspecified(),
        IpAddr::V6(a) => !a.is_multicast() && !a.is_unspecified() && a != Ipv6Addr::LOCALHOST,
    }
}

/// A Linux interface name: 1 to 15 bytes (IFNAMSIZ - 1), no '/' or space.
pub(super) fn is_interface_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= IFNAMSIZ && !name.contains(['/', ' '])
}
