//! Runtime DNS resolution of servers (`resolve_interval`, server templates): one task
//! per server, or per template, asks the nameservers again when the interval or the
//! records' TTL says so, and turns changed addresses into [`Update::Address`] for the
//! workers plus the usual state update (a server without an address takes no
//! traffic). A failed resolution keeps the last good addresses and is logged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use super::dns;
use super::plane::Control;
use crate::config::{Config, Resolve};
use crate::msg::Update;

/// Never resolve a name more often than this, whatever its TTL.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Slots for a template's servers: a server whose address is still found keeps it,
/// one whose address went away loses it, and new addresses fill the empty slots in
/// order (so a change of one record moves no other server).
pub fn assign(current: &[Option<SocketAddr>], found: &[SocketAddr]) -> Vec<Option<SocketAddr>> {
    let mut out: Vec<Option<SocketAddr>> = current
        .iter()
        .map(|c| c.filter(|ip| found.contains(ip)))
        .collect();
    let kept = out.clone();
    let mut fresh = found.iter().filter(|ip| !kept.contains(&Some(**ip)));
    for slot in out.iter_mut().filter(|s| s.is_none()) {
        match fresh.next() {
            Some(ip) => *slot = Some(*ip),
            None => break,
        }
    }
    out
}

/// A single server's address: the current one while it is still found, else the
/// first one found.
pub fn pick(current: Option<SocketAddr>, found: &[SocketAddr]) -> Option<SocketAddr> {
    current
        .filter(|c| found.contains(c))
        .or_else(|| found.first().copied())
}

/// When to ask again: after `interval`, sooner when the TTL is shorter, never sooner
/// than [`MIN_INTERVAL`].
pub fn next_delay(interval: Duration, ttl: Duration) -> Duration {
    interval.min(ttl).max(MIN_INTERVAL)
}

impl Control {
    /// (Re)start one resolution task per runtime-resolved server or template; tasks
    /// of an earlier generation end at their next wake-up.
    pub fn start_resolvers(self: &Rc<Self>) {
        let generation = self.resolve_generation.get() + 1;
        self.resolve_generation.set(generation);
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        {
            let table = self.table.borrow();
            for (bi, b) in table.backends.iter().enumerate().filter(|(_, b)| b.live) {
                let mut templates: Vec<(&Resolve, Vec<usize>)> = Vec::new();
                for (si, s) in b.servers.iter().enumerate().filter(|(_, s)| s.live) {
                    let Some(r) = &s.config.resolve else { continue };
                    if r.template.is_none() {
                        groups.push((bi, vec![si]));
                        continue;
                    }
                    let same =
                        |t: &&mut (&Resolve, Vec<usize>)| t.0.host == r.host && t.0.port == r.port;
                    match templates.iter_mut().find(same) {
                        Some(t) => t.1.push(si),
                        None => templates.push((r, vec![si])),
                    }
                }
                groups.extend(templates.into_iter().map(|(_, v)| (bi, v)));
            }
        }
        for (b, servers) in groups {
            monoio::spawn(resolve_loop(Rc::clone(self), b, servers, generation));
        }
    }

    /// Give runtime-resolved servers of a new configuration the addresses they have
    /// now (same name, same resolution settings), so that a reload moves no one.
    pub fn carry_addresses(&self, config: &mut Config) {
        let table = self.table.borrow();
        for b in &mut config.backends {
            let Some(old) = table
                .backends
                .iter()
                .find(|o| o.live && o.config.name == b.name)
            else {
                continue;
            };
            for s in b.servers.iter_mut().filter(|s| s.resolve.is_some()) {
                let kept = old.servers.iter().find(|o| {
                    o.live
                        && o.config.name == s.name
                        && o.config.resolve == s.resolve
                        && o.config.resolved
                });
                if let Some(o) = kept {
                    s.address = o.config.address;
                    s.resolved = true;
                }
            }
        }
    }

    /// New addresses for servers `servers` of backend `b` (all of one template, or
    /// one server), from the records `found`.
    fn apply_resolution(self: &Rc<Self>, b: usize, servers: &[usize], found: &[SocketAddr]) {
        let mut changed = Vec::new();
        {
            let mut table = self.table.borrow_mut();
            let Some(backend) = table.backends.get_mut(b) else {
                return;
            };
            let current: Vec<Option<SocketAddr>> = servers
                .iter()
                .map(|&s| {
                    let c = &backend.servers[s].config;
                    c.resolved.then_some(c.address)
                })
                .collect();
            let next = if servers.len() == 1
                && backend.servers[servers[0]]
                    .config
                    .resolve
                    .as_ref()
                    .is_some_and(|r| r.template.is_none())
            {
                vec![pick(current[0], found)]
            } else {
                assign(&current, found)
            };
            for ((&s, old), new) in servers.iter().zip(&current).zip(&next) {
                if old == new {
                    continue;
                }
                let e = &mut backend.servers[s];
                let port = e.config.address.port();
                e.config.address =
                    new.unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
                e.config.resolved = new.is_some();
                let host = e.config.resolve.as_ref().map_or("", |r| r.host.as_str());
                match new {
                    Some(addr) => tracing::info!(
                        "{}/{}: address {addr} (DNS {host})",
                        backend.config.name,
                        e.config.name
                    ),
                    None => tracing::info!(
                        "{}/{}: no address any more (DNS {host}): no traffic",
                        backend.config.name,
                        e.config.name
                    ),
                }
                changed.push((s, e.config.address));
            }
        }
        for (s, addr) in changed {
            self.broadcaster.send_all(|| Update::Address {
                backend: b,
                server: s,
                addr,
            });
            self.sync(b, s);
        }
    }
}

/// Resolve one server or template until the generation changes or ringlb stops.
async fn resolve_loop(control: Rc<Control>, b: usize, servers: Vec<usize>, generation: u64) {
    loop {
        if control.resolve_generation.get() != generation || control.stopping.get() {
            return;
        }
        let spec = {
            let table = control.table.borrow();
            table.backends[b].servers[servers[0]].config.resolve.clone()
        };
        let Some(spec) = spec else { return };
        let resolvers = control.config.borrow().resolvers.clone();
        let answer = if spec.srv {
            dns::resolve_srv(&resolvers, &spec.host, spec.prefer).await
        } else {
            dns::resolve(&resolvers, &spec.host, spec.prefer)
                .await
                .map(|a| {
                    (
                        a.addrs
                            .iter()
                            .map(|ip| SocketAddr::new(*ip, spec.port))
                            .collect(),
                        a.ttl,
                    )
                })
        };
        let delay = match answer {
            Ok((addrs, ttl)) => {
                if control.resolve_generation.get() != generation {
                    return;
                }
                control.apply_resolution(b, &servers, &addrs);
                next_delay(spec.interval, ttl)
            }
            Err(e) => {
                control
                    .resolve_failures
                    .set(control.resolve_failures.get() + 1);
                if control.resolve_log.due(std::time::Instant::now()) {
                    tracing::warn!("DNS {}: {e}; keeping the last addresses", spec.host);
                }
                spec.interval.min(Duration::from_secs(5)).max(MIN_INTERVAL)
            }
        };
        monoio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> SocketAddr {
        format!("{s}:80").parse().unwrap()
    }

    #[test]
    fn template_slots_keep_their_address_and_fill_in_order() {
        let (a, b, c, d) = (
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.0.3"),
            ip("10.0.0.4"),
        );
        assert_eq!(
            assign(&[None, None, None], &[a, b]),
            [Some(a), Some(b), None]
        );
        // b goes, c and d come: a stays in slot 0, c takes b's slot, d the free one.
        assert_eq!(
            assign(&[Some(a), Some(b), None], &[c, a, d]),
            [Some(a), Some(c), Some(d)]
        );
        // More records than slots: the extra ones wait.
        assert_eq!(assign(&[Some(a), None], &[b, c, a]), [Some(a), Some(b)]);
        assert_eq!(assign(&[Some(a), Some(b)], &[]), [None, None]);
        assert_eq!(assign(&[], &[a]), Vec::<Option<SocketAddr>>::new());
        // SRV: one address on two ports is two servers.
        let a81: SocketAddr = "10.0.0.1:81".parse().unwrap();
        assert_eq!(assign(&[Some(a), None], &[a, a81]), [Some(a), Some(a81)]);
    }

    #[test]
    fn a_single_server_keeps_its_address_while_it_is_found() {
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        assert_eq!(pick(Some(b), &[a, b]), Some(b));
        assert_eq!(pick(Some(b), &[a]), Some(a));
        assert_eq!(pick(None, &[a, b]), Some(a));
        assert_eq!(pick(Some(a), &[]), None);
    }

    #[test]
    fn the_ttl_shortens_the_interval_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(next_delay(s(10), s(300)), s(10));
        assert_eq!(next_delay(s(10), s(3)), s(3));
        assert_eq!(next_delay(s(10), s(0)), s(1));
    }
}
