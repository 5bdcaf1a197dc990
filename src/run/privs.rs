//! Giving up root (`global.user`, `global.group`): once every listener, the VRRP
//! sockets and the admin socket are open, and before any other thread starts (a
//! thread's capabilities are its own), switch to the user and group and keep only
//! the capabilities still needed later ([`needed`]):
//!
//! - `CAP_NET_ADMIN` and `CAP_NET_RAW` with `[vrrp]`: the virtual IPs are added and
//!   removed over netlink at every change of state, and the router's sockets may be
//!   opened again;
//! - `CAP_NET_ADMIN` with `[announce]`: the service addresses are added and removed
//!   on the announce device whenever health or the operator says so;
//! - `CAP_NET_BIND_SERVICE` when a frontend or the admin API listens on a port below
//!   1024, so that a reload can bind such ports again.
//!
//! Order: `PR_SET_KEEPCAPS`, drop the other capabilities from the bounding set,
//! supplementary groups (the user's, as `initgroups` finds them, so a group such
//! as `ssl-cert` still opens keys on reload), gid, uid, then `capset` the kept set
//! as permitted and effective. Without `user`, running as root is allowed but
//! warned about unless `global.allow_root = true`: existing set-ups (and the
//! test-suite, run as root in CI) start as root, and the systemd unit does not need
//! the key since systemd starts ringlb as user `ringlb` with ambient capabilities.

use std::ffi::CString;
use std::io;

use crate::config::{Config, RunAs};

pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    #[error("global.user {user:?}: ringlb runs as uid {uid}, not root: cannot switch to uid {want} (start it as root, or as that user)")]
    NotRoot { user: String, uid: u32, want: u32 },
    #[error("global.user {user:?}: {step}: {source}")]
    Switch {
        user: String,
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

/// The capabilities ringlb still needs once its sockets are open, as a bit mask.
pub fn needed(config: &Config) -> u64 {
    let mut caps = 0u64;
    if !config.vrrp.is_empty() {
        caps |= 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW;
    }
    if config.announce.is_some() {
        // The service addresses are added and removed on the announce device.
        caps |= 1 << CAP_NET_ADMIN;
    }
    let low = |port: u16| port != 0 && port < 1024;
    let ports = config
        .frontends
        .iter()
        .flat_map(|f| f.binds.iter().map(|a| a.port()))
        .chain(config.global.admin_bind.map(|a| a.port()));
    if ports.into_iter().any(low) {
        caps |= 1 << CAP_NET_BIND_SERVICE;
    }
    caps
}

/// Names of the capabilities in `mask`, for the log.
pub fn names(mask: u64) -> String {
    let all = [
        (CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_NET_RAW, "CAP_NET_RAW"),
    ];
    let v: Vec<&str> = all
        .iter()
        .filter(|(c, _)| mask & (1 << c) != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Switch user as `global.user`/`group` ask (see the module). Must run before any
/// thread other than the caller is started.
pub fn apply(config: &Config) -> Result<(), PrivError> {
    // SAFETY: plain syscalls without pointers.
    let (euid, uid) = unsafe { (libc::geteuid(), libc::getuid()) };
    let Some(run_as) = &config.global.run_as else {
        if euid == 0 && !config.global.allow_root {
            tracing::warn!("running as root: set global.user (and group) to give up root once the sockets are open, or global.allow_root = true if root is intended");
        }
        return Ok(());
    };
    if euid != 0 {
        if uid == run_as.uid && euid == run_as.uid {
            return Ok(());
        }
        return Err(PrivError::NotRoot {
            user: run_as.user.clone(),
            uid: euid,
            want: run_as.uid,
        });
    }
    let keep = needed(config);
    switch(run_as, keep)?;
    tracing::info!(
        "running as user {} ({}), group {} ({}); capabilities kept: {}",
        run_as.user,
        run_as.uid,
        run_as.group,
        run_as.gid,
        names(keep)
    );
    Ok(())
}

fn switch(to: &RunAs, keep: u64) -> Result<(), PrivError> {
    let fail = |step: &'static str| {
        let source = io::Error::last_os_error();
        move || PrivError::Switch {
            user: to.user.clone(),
            step,
            source,
        }
    };
    let check = |rc: libc::c_int, step: &'static str| {
        if rc == 0 {
            Ok(())
        } else {
            Err(fail(step)())
        }
    };
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) },
        "prctl(PR_SET_KEEPCAPS)",
    )?;
    drop_bounding(keep);
    let name = CString::new(to.user.as_str()).map_err(|_| PrivError::Switch {
        user: to.user.clone(),
        step: "initgroups",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    // SAFETY: `name` is a valid C string; the rest are integers.
    check(
        unsafe { libc::initgroups(name.as_ptr(), to.gid) },
        "initgroups",
    )?;
    check(
        unsafe { libc::setresgid(to.gid, to.gid, to.gid) },
        "setresgid",
    )?;
    check(
        unsafe { libc::setresuid(to.uid, to.uid, to.uid) },
        "setresuid",
    )?;
    check(capset(keep), "capset")?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if to.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(PrivError::Switch {
            user: to.user.clone(),
            step: "check",
            source: io::Error::other("root could be regained after the switch"),
        });
    }
    Ok(())
}

/// Remove every capability but `keep` from the bounding set (best effort: an older
/// kernel knows fewer capabilities, which is fine).
fn drop_bounding(keep: u64) {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40);
    for cap in 0..=last.min(63) {
        if keep & (1 << cap) == 0 {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        }
    }
}

/// `capset(2)`, version 3: `keep` permitted and effective, nothing inheritable.
fn capset(keep: u64) -> libc::c_int {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| Data {
        effective: (keep >> shift) as u32,
        permitted: (keep >> shift) as u32,
        inheritable: 0,
    };
    let data = [half(0), half(32)];
    // SAFETY: header and two data structs, as capset's version 3 wants.
    unsafe {
        libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) as libc::c_int
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, "t.toml").unwrap()
    }

    const BACKEND: &str =
        "[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";

    fn frontend(bind: &str) -> String {
        format!("[[frontend]]\nname = \"f\"\nbind = [\"{bind}\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n{BACKEND}")
    }

    #[test]
    fn high_ports_need_no_capability_low_ports_need_bind_service() {
        assert_eq!(needed(&config(&frontend("127.0.0.1:8080"))), 0);
        assert_eq!(needed(&config(&frontend("127.0.0.1:0"))), 0);
        assert_eq!(
            needed(&config(&frontend("127.0.0.1:443"))),
            1 << CAP_NET_BIND_SERVICE
        );
        let admin = format!(
            "[global]\nadmin_bind = \"127.0.0.1:99\"\n{}",
            frontend("127.0.0.1:8080")
        );
        assert_eq!(needed(&config(&admin)), 1 << CAP_NET_BIND_SERVICE);
        assert_eq!(names(0), "none");
        assert_eq!(
            names(needed(&config(&frontend("127.0.0.1:80")))),
            "CAP_NET_BIND_SERVICE"
        );
    }

    #[test]
    fn announcing_keeps_net_admin_for_the_addresses() {
        let text = format!(
            "{}[announce]\naddresses = [\"192.0.2.10\"]\n",
            frontend("192.0.2.10:8080")
        );
        assert_eq!(needed(&config(&text)), 1 << CAP_NET_ADMIN);
    }
}
