//! The receiving side of the virtual router: every packet from the raw socket is
//! checked (TTL or hop limit 255 for multicast, the sender for unicast, version,
//! length, checksum, virtual router id, interval) before the state machine sees it; what
//! fails is counted by reason and logged at a limited rate. Link notifications
//! (the interface down or without carrier, and back) move the router to and from
//! its FAULT state.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::io::Datagram;
use super::machine::Event;
use super::packet::{Advert, Drop};
use super::run::{Instance, DROP_LOG_EVERY};
use super::tracking::FaultFrom;
use super::wire;

impl Instance {
    /// One packet from the raw socket, read into `buf`.
    pub(super) fn received(&self, buf: &[u8], datagram: Datagram) {
        let ip = match datagram {
            Datagram::Ipv4(n) => wire::parse_ipv4(&buf[..n.min(buf.len())]),
            Datagram::Ipv6(n, meta) => Some(wire::Packet {
                src: meta.src.into(),
                dst: meta.dst.into(),
                ttl: meta.hop_limit,
                protocol: super::packet::PROTOCOL,
                payload: &buf[..n.min(buf.len())],
            }),
        };
        let Some(ip) = ip else {
            return self.dropped(Drop::Truncated, None);
        };
        if ip.src == self.iface.primary {
            return; // our own, looped back
        }
        match self.check(&ip) {
            // Another of our routers on this link: its own socket reads it.
            Err(Drop::OtherVrid(vrid)) if self.siblings.contains(&vrid) => {}
            Ok((priority, interval)) => {
                self.counters.borrow_mut().adverts_received += 1;
                let event = Event::Advert {
                    from: ip.src,
                    priority,
                    interval,
                };
                self.handle(event);
            }
            Err(reason) => self.dropped(reason, Some(ip.src)),
        }
    }

    fn check(&self, ip: &wire::Packet<'_>) -> Result<(u8, Duration), Drop> {
        let multicast = self.config.unicast_peers.is_empty();
        if multicast && ip.ttl != wire::TTL {
            return Err(Drop::Ttl(ip.ttl));
        }
        if !multicast && !self.config.unicast_peers.contains(&ip.src) {
            return Err(Drop::Peer(ip.src));
        }
        let advert = Advert::decode(ip.payload, ip.src, ip.dst)?;
        if advert.vrid != self.config.vrid {
            return Err(Drop::OtherVrid(advert.vrid));
        }
        if advert.interval_cs == 0 {
            return Err(Drop::Interval);
        }
        Ok((
            advert.priority,
            Duration::from_millis(10 * u64::from(advert.interval_cs)),
        ))
    }

    fn dropped(&self, reason: Drop, from: Option<IpAddr>) {
        let total = {
            let mut c = self.counters.borrow_mut();
            c.dropped[reason.index()] += 1;
            c.dropped.iter().sum::<u64>()
        };
        let now = Instant::now();
        let due = self
            .last_drop_log
            .get()
            .is_none_or(|at| now.duration_since(at) >= DROP_LOG_EVERY);
        if due {
            self.last_drop_log.set(Some(now));
            let from = from.map_or_else(|| "?".to_string(), |a| a.to_string());
            tracing::warn!(
                "vrrp: dropped an advertisement from {from}: {reason} ({total} dropped so far; logged at most every {DROP_LOG_EVERY:?})"
            );
        }
    }

    /// Read the pending link notifications; tell the machine if our link changed.
    pub(super) fn link_changes(&self, buf: &mut [u8]) {
        let mut up = None;
        loop {
            match self.io.recv_link(buf) {
                Ok(Some(n)) => {
                    if let Some(state) = super::netlink::link_state(&buf[..n], self.iface.index) {
                        up = Some(state);
                    }
                    for (i, &index) in self.track_links.iter().enumerate() {
                        if let Some(state) = super::netlink::link_state(&buf[..n], index) {
                            self.tracked_interface(i, state);
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.error(format_args!("reading link changes: {e}"));
                    break;
                }
            }
        }
        let down = self.link_down.get();
        match up {
            Some(false) if !down => {
                tracing::warn!("vrrp: {} is down or lost its carrier", self.iface.name);
                self.set_fault(FaultFrom::Link, true);
            }
            Some(true) if down => {
                tracing::info!("vrrp: {} is up again", self.iface.name);
                self.set_fault(FaultFrom::Link, false);
            }
            _ => {}
        }
    }
}
