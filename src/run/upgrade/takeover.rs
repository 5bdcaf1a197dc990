//! The new process's side: receive the offer and the descriptors, and give each
//! listening address of the configuration the old process's very sockets.
//!
//! Sockets are matched by address (as written, or as bound) and by their place in the
//! address's reuseport group. With more workers than the old process had, the extra
//! workers bind a socket of their own on the same address (it joins the group). With
//! fewer, the surplus sockets stay in the group and are served too: socket *j* goes to
//! worker *j mod workers*, so no socket holds connections nobody accepts. A group
//! whose size changes gets its steering program again, for its new size.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::Duration;

use super::wire::{self, Offer, OfferedListener};
use crate::config::{Config, Steering};
use crate::control::Listening;
use crate::listen::{self, steer, BoundListener};
use crate::run::{exclusive, RunError, Sockets};

/// How long to wait for the offer.
const OFFER_WITHIN: Duration = Duration::from_secs(10);

/// Where one configured address's sockets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPlan {
    /// Frontend index and the address as written.
    pub frontend: usize,
    pub requested: SocketAddr,
    /// Offered sockets of the group, in group order (indexes into the offer).
    pub offered: Vec<usize>,
    /// Sockets to bind for the workers the group has no socket for.
    pub extra: usize,
}

/// Match the offered sockets to `wanted` (frontend, address as written) for
/// `workers` workers. Offered sockets no address wants are left out (closed).
pub fn assign(
    offered: &[OfferedListener],
    wanted: &[(usize, SocketAddr)],
    workers: usize,
) -> Vec<AddressPlan> {
    let mut used = vec![false; offered.len()];
    wanted
        .iter()
        .map(|&(frontend, requested)| {
            let first = offered
                .iter()
                .enumerate()
                .find(|(i, o)| !used[*i] && (o.requested == requested || o.bound == requested));
            let mut group: Vec<usize> = match first {
                Some((_, f)) => (0..offered.len())
                    .filter(|&i| !used[i] && offered[i].bound == f.bound)
                    .collect(),
                None => Vec::new(),
            };
            group.sort_by_key(|&i| offered[i].index);
            for &i in &group {
                used[i] = true;
            }
            AddressPlan {
                frontend,
                requested,
                extra: workers.saturating_sub(group.len()),
                offered: group,
            }
        })
        .collect()
}

/// What the old process handed over, ready for start-up.
pub struct Received {
    pub listeners: Vec<Vec<BoundListener>>,
    pub listening: Vec<Listening>,
    /// Addresses whose sockets were handed over (exempt from the in-use probe).
    pub handed_over: Vec<SocketAddr>,
    pub admin: Option<(SocketAddr, std::net::TcpListener)>,
    pub upgrade_socket: Option<(std::path::PathBuf, UnixListener)>,
    pub servers: Vec<wire::ServerState>,
}

/// Read the offer and its descriptors from the old process.
pub fn receive(from: &OwnedFd) -> std::io::Result<(Offer, Vec<OwnedFd>)> {
    let offer: Offer = wire::recv_json(from, OFFER_WITHIN)?;
    let fds = wire::recv_fds(from, offer.fds(), OFFER_WITHIN)?;
    Ok((offer, fds))
}

/// Build every worker's listeners from the offer, binding what it lacks.
pub fn build(config: &Config, offer: Offer, fds: Vec<OwnedFd>) -> Result<Received, String> {
    let workers = config.global.workers;
    let mut fds = fds.into_iter();
    let mut sockets: Vec<Option<OwnedFd>> =
        fds.by_ref().take(offer.listeners.len()).map(Some).collect();
    let admin = offer.admin.zip(fds.next());
    let upgrade_socket = offer.upgrade_socket.clone().zip(fds.next());
    let wanted: Vec<(usize, SocketAddr)> = config
        .frontends
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.binds.iter().map(move |&b| (i, b)))
        .collect();
    let plans = assign(&offer.listeners, &wanted, workers);
    let mut per_worker: Vec<Vec<BoundListener>> = (0..workers).map(|_| Vec::new()).collect();
    let mut surplus: Vec<(usize, BoundListener)> = Vec::new();
    let mut listening = Vec::with_capacity(plans.len());
    let mut handed_over = Vec::new();
    for plan in &plans {
        let fe = &config.frontends[plan.frontend];
        let freebind = config.is_virtual_ip(plan.requested.ip());
        let err = |e: std::io::Error| format!("frontend {:?}: {}: {e}", fe.name, plan.requested);
        let group: Vec<BoundListener> = if plan.offered.is_empty() {
            listen::bind_for_workers(
                workers,
                plan.frontend,
                &fe.name,
                plan.requested,
                freebind,
                fe.steering,
            )
            .map_err(|e| e.to_string())?
        } else {
            let addr = offer.listeners[plan.offered[0]].bound;
            handed_over.push(addr);
            let mut group = Vec::with_capacity(plan.offered.len() + plan.extra);
            for &i in &plan.offered {
                let fd = sockets[i]
                    .take()
                    .ok_or_else(|| err(std::io::ErrorKind::NotFound.into()))?;
                group.push(BoundListener {
                    frontend: plan.frontend,
                    addr,
                    socket: fd.into(),
                });
            }
            for _ in 0..plan.extra {
                let socket = listen::bind_one(addr, freebind).map_err(err)?;
                group.push(BoundListener {
                    frontend: plan.frontend,
                    addr,
                    socket,
                });
            }
            let steered = offer.listeners[plan.offered[0]].steered;
            if fe.steering == Steering::Source
                && (plan.extra > 0 || !steered || plan.offered.len() != workers)
            {
                steer::attach(&group[0].socket, group.len()).map_err(err)?;
            }
            group
        };
        // Handed over with the old process's setting: this configuration's now.
        listen::set_defer_accept(
            &group.iter().map(|b| &b.socket).collect::<Vec<_>>(),
            fe.defer_accept,
            &fe.name,
        );
        listening.push(Listening {
            requested: plan.requested,
            bound: group[0].addr,
            frontend: fe.name.clone(),
            steering: fe.steering,
            sockets: Arc::new(listen::duplicates(&group).map_err(err)?),
        });
        for (j, b) in group.into_iter().enumerate() {
            if j < workers {
                per_worker[j].push(b);
            } else {
                surplus.push((j % workers, b));
            }
        }
    }
    // After every address, so that each worker's first listeners follow the file.
    for (w, b) in surplus {
        per_worker[w].push(b);
    }
    Ok(Received {
        listeners: per_worker,
        listening,
        handed_over,
        admin: admin.map(|(a, fd)| (a, fd.into())),
        upgrade_socket: upgrade_socket.map(|(p, fd)| (p, fd.into())),
        servers: offer.servers,
    })
}

/// Every socket the new process serves on: the old process's, matched to the file,
/// plus what it must bind itself.
pub(in crate::run) fn sockets(
    config: &Config,
    (offer, fds): (Offer, Vec<OwnedFd>),
) -> Result<Sockets, RunError> {
    let fail = |e: String| RunError::Upgrade(e);
    let (mut offer, mut fds) = (offer, fds);
    // The announce device is the last descriptor.
    let tun = offer.announce.is_some().then(|| fds.pop()).flatten();
    let routers = std::mem::take(&mut offer.vrrp);
    let announced = offer.announce.take();
    let tables = std::mem::take(&mut offer.tables);
    let mut vrrp = crate::vrrp::prepare(&config.vrrp, &config.vrrp_sync_groups)?;
    if let Some(v) = &mut vrrp {
        v.carry(routers);
    }
    let announce = match (&config.announce, announced.zip(tun)) {
        (Some(a), Some((c, fd))) => Some(crate::announce::adopt(a, fd, c)?),
        (Some(a), None) => Some(crate::announce::prepare(a)?),
        (None, _) => None,
    };
    let got = build(config, offer, fds).map_err(fail)?;
    exclusive::check(config, &got.handed_over)?;
    let admin = match (config.global.admin_bind, got.admin) {
        (Some(want), Some((had, l))) if same_admin(want, had) => Some(l),
        (Some(addr), _) => {
            Some(crate::admin::bind(addr).map_err(|e| RunError::AdminBind(addr, e))?)
        }
        (None, _) => None,
    };
    let want = super::socket::path(config);
    let upgrade_socket = match (want, got.upgrade_socket) {
        (Some(w), Some((had, l))) if w == had => Some((w, l)),
        (Some(w), _) => super::socket::bind(&w)
            .map_err(|e| tracing::warn!("upgrade socket {}: {e}", w.display()))
            .ok()
            .map(|l| (w, l)),
        (None, _) => None,
    };
    Ok(Sockets {
        listeners: got.listeners,
        listening: got.listening,
        vrrp,
        announce,
        admin,
        cli: super::super::bind_cli(config, true)?,
        upgrade_socket,
        takeover: None,
        servers: got.servers,
        tables,
    })
}

/// The admin address the file asks for is the one handed over (port 0: any port).
fn same_admin(want: SocketAddr, had: SocketAddr) -> bool {
    want == had || (want.port() == 0 && want.ip() == had.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(bound: &str, requested: &str, index: usize) -> OfferedListener {
        OfferedListener {
            frontend: "f".into(),
            requested: requested.parse().unwrap(),
            bound: bound.parse().unwrap(),
            index,
            steered: false,
        }
    }

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn same_workers_take_the_same_places() {
        let o = vec![
            offered("127.0.0.1:81", "127.0.0.1:81", 1),
            offered("127.0.0.1:80", "127.0.0.1:80", 0),
            offered("127.0.0.1:81", "127.0.0.1:81", 0),
            offered("127.0.0.1:80", "127.0.0.1:80", 1),
        ];
        let plans = assign(&o, &[(0, a("127.0.0.1:80")), (1, a("127.0.0.1:81"))], 2);
        assert_eq!(plans[0].offered, vec![1, 3]);
        assert_eq!(plans[1].offered, vec![2, 0]);
        assert!(plans.iter().all(|p| p.extra == 0));
    }

    #[test]
    fn port_zero_matches_as_written_and_a_bound_port_as_bound() {
        let o = vec![offered("127.0.0.1:4321", "127.0.0.1:0", 0)];
        let plans = assign(&o, &[(0, a("127.0.0.1:0"))], 1);
        assert_eq!(plans[0].offered, vec![0]);
        let plans = assign(&o, &[(0, a("127.0.0.1:4321"))], 1);
        assert_eq!(plans[0].offered, vec![0]);
    }

    #[test]
    fn more_workers_bind_extra_fewer_keep_the_surplus() {
        let o: Vec<_> = (0..3)
            .map(|i| offered("127.0.0.1:80", "127.0.0.1:80", i))
            .collect();
        let more = assign(&o, &[(0, a("127.0.0.1:80"))], 5);
        assert_eq!((more[0].offered.len(), more[0].extra), (3, 2));
        let fewer = assign(&o, &[(0, a("127.0.0.1:80"))], 2);
        assert_eq!((fewer[0].offered.len(), fewer[0].extra), (3, 0));
    }

    #[test]
    fn new_and_dropped_addresses() {
        let o = vec![offered("127.0.0.1:80", "127.0.0.1:80", 0)];
        let plans = assign(&o, &[(0, a("127.0.0.1:90"))], 2);
        assert_eq!((plans[0].offered.len(), plans[0].extra), (0, 2));
        assert!(assign(&o, &[], 2).is_empty());
        let empty = assign(&[], &[(0, a("127.0.0.1:80"))], 1);
        assert_eq!((empty[0].offered.len(), empty[0].extra), (0, 1));
    }
}
