//! File descriptors against `global.max_connections`, decided once at start-up as
//! HAProxy does: every proxied connection needs two descriptors (client and server),
//! and the process needs some for itself (listeners, health checks, the admin API,
//! rings, channels, VRRP). If the limit is too low, ringlb first raises its soft limit
//! up to the hard one; if that is still too low, it lowers the connection limit so that
//! clients can never take the descriptors that checks and the admin API need (a check
//! that fails for want of a descriptor would mark healthy servers down).

use crate::config::Config;

/// Descriptors every process needs whatever its configuration: standard streams,
/// the admin listener and a few of its connections, signal and access-log threads,
/// netlink and VRRP sockets, and room for a burst of health checks.
const BASE_RESERVE: u64 = 64;
/// Per worker: its io_uring (or epoll) instance, eventfds and timers.
const PER_WORKER: u64 = 8;

/// What start-up decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdPlan {
    /// The soft limit to set (raised up to the hard limit when more are needed).
    pub soft: u64,
    /// Descriptors kept out of the clients' reach.
    pub reserve: u64,
    /// What `max_connections` needs: two per connection plus the reserve.
    pub needed: u64,
    /// The connection limit in force: `max_connections`, or lower when the limit
    /// cannot cover it.
    pub max_connections: usize,
}

/// Plan for `max_connections` given the current soft and hard limits. `listeners`:
/// sockets bound for all workers; `checked`: servers with active checks.
pub fn plan(
    max_connections: usize,
    workers: usize,
    listeners: usize,
    checked: usize,
    (soft, hard): (u64, u64),
) -> FdPlan {
    let reserve = BASE_RESERVE + PER_WORKER * workers as u64 + listeners as u64 + checked as u64;
    let needed = (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(reserve);
    let soft = soft.max(needed.min(hard));
    let fit = (soft.saturating_sub(reserve) / 2) as usize;
    FdPlan {
        soft,
        reserve,
        needed,
        max_connections: max_connections.min(fit).max(workers.max(1)),
    }
}

/// Apply the plan to this process: raise the soft limit if needed, lower
/// `config.global.max_connections` if it cannot be covered, and say so.
pub fn apply(config: &mut Config, listeners: usize) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        tracing::warn!(
            "cannot read the file descriptor limit: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let checked = config
        .backends
        .iter()
        .flat_map(|b| &b.servers)
        .filter(|s| s.check)
        .count();
    let g = &mut config.global;
    let p = plan(
        g.max_connections,
        g.workers,
        listeners,
        checked,
        (rl.rlim_cur, rl.rlim_max),
    );
    if p.soft > rl.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: p.soft,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the
        // hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            tracing::warn!(
                "cannot raise the file descriptor limit: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
    }
    if p.max_connections < g.max_connections {
        tracing::warn!(
            "global.max_connections = {} needs about {} file descriptors, but the limit is {} (ulimit -n / LimitNOFILE): \
             at most {} client connections will be accepted, keeping {} descriptors for health checks and the admin API",
            g.max_connections,
            p.needed,
            p.soft,
            p.max_connections,
            p.reserve
        );
        g.max_connections = p.max_connections;
    } else {
        tracing::info!(
            limit = p.soft,
            needed = p.needed,
            "file descriptors: enough for max_connections = {}",
            g.max_connections
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_high_limit_changes_nothing() {
        let p = plan(1000, 2, 4, 3, (1 << 20, 1 << 20));
        assert_eq!(p.max_connections, 1000);
        assert_eq!(p.soft, 1 << 20);
        assert_eq!(p.reserve, 64 + 16 + 4 + 3);
        assert_eq!(p.needed, 2000 + p.reserve);
    }

    #[test]
    fn the_soft_limit_is_raised_up_to_the_hard_one() {
        let p = plan(1000, 1, 1, 0, (1024, 1 << 20));
        assert_eq!(p.soft, p.needed);
        assert_eq!(p.max_connections, 1000);
        // The hard limit caps it, and the connection limit follows.
        let p = plan(1000, 1, 1, 0, (1024, 1500));
        assert_eq!(p.soft, 1500);
        assert_eq!(p.max_connections, ((1500 - p.reserve) / 2) as usize);
    }

    #[test]
    fn a_low_limit_lowers_max_connections_and_keeps_the_reserve() {
        let p = plan(100_000, 1, 1, 1, (256, 256));
        assert_eq!(p.reserve, 64 + 8 + 1 + 1);
        assert_eq!(p.max_connections, ((256 - p.reserve) / 2) as usize);
        assert!(2 * p.max_connections as u64 + p.reserve <= 256);
    }

    #[test]
    fn never_below_one_connection_per_worker() {
        let p = plan(100, 4, 4, 0, (16, 16));
        assert_eq!(p.max_connections, 4);
        let p = plan(0, 1, 0, 0, (16, 16));
        assert_eq!(p.max_connections, 1);
    }
}
