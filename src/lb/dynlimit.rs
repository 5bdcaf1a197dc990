//! Dynamic connection limits (HAProxy's `minconn` + `fullconn`, `srv_dynamic_maxconn`
//! in `queue.c`): a server's limit grows with its backend's load, from `min` when the
//! backend is idle to `max` when the backend carries `full` connections, so that a
//! lightly loaded farm keeps few connections (and fast responses) per server and a
//! busy one uses what the servers can take. Workers apply it to their shares of the
//! three numbers and their own load.

/// The limit of a server with limits `min..=max` when its backend carries `load`
/// connections (active and queued) and is full at `full`: `max` at or past `full`
/// (or when `min` is 0 or `max`), else `load * max / full`, never below `min`.
pub fn dynamic_limit(min: u32, max: u32, full: u32, load: u32) -> u32 {
    if min == 0 || min >= max || load >= full {
        return max;
    }
    let grown = u64::from(load) * u64::from(max) / u64::from(full.max(1));
    (grown as u32).max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_min_to_max_with_the_load() {
        // minconn 10, maxconn 100, fullconn 1000.
        assert_eq!(dynamic_limit(10, 100, 1000, 0), 10);
        assert_eq!(dynamic_limit(10, 100, 1000, 99), 10, "99 * 100 / 1000 = 9");
        assert_eq!(dynamic_limit(10, 100, 1000, 150), 15);
        assert_eq!(dynamic_limit(10, 100, 1000, 500), 50);
        assert_eq!(dynamic_limit(10, 100, 1000, 999), 99);
        assert_eq!(dynamic_limit(10, 100, 1000, 1000), 100);
        assert_eq!(dynamic_limit(10, 100, 1000, 5000), 100);
    }

    #[test]
    fn static_and_edge_cases() {
        assert_eq!(dynamic_limit(100, 100, 1000, 0), 100, "minconn = maxconn");
        assert_eq!(dynamic_limit(0, 100, 1000, 0), 100, "no minconn: static");
        assert_eq!(dynamic_limit(5, 50, 1, 0), 5, "fullconn 1, idle");
        assert_eq!(dynamic_limit(5, 50, 1, 1), 50);
        // No overflow with large numbers.
        assert_eq!(
            dynamic_limit(1, 10_000_000, 10_000_000, 9_999_999),
            9_999_999
        );
    }
}
