//! systemd's notification protocol (`sd_notify(3)`), written out rather than taken
//! from a crate: one datagram of `KEY=value` lines to the Unix socket named by
//! `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`). Without
//! that variable every call does nothing. The environment is left as it is.
//!
//! The watchdog (`WatchdogSec=` in the unit, `$WATCHDOG_USEC` here) is fed from the
//! control thread at half the period, and only while every worker answers its pings
//! ([`watchdog_ok`]): a worker whose ring stopped turning starves the watchdog, and
//! systemd restarts ringlb.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::rc::Rc;
use std::time::Duration;

use crate::control::Control;

/// Where notifications go; `None` when ringlb was not started by systemd.
pub struct Notifier {
    target: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    /// After a binary upgrade this process is not the service's main process.
    muted: std::cell::Cell<bool>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`; a socket that cannot be used is logged once and ignored
    /// (ringlb runs the same with or without a supervisor).
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_string_lossy().into_owned();
            match connect_target(&path) {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::warn!("NOTIFY_SOCKET={path}: cannot use it: {e}");
                    None
                }
            }
        });
        Notifier {
            target,
            muted: Default::default(),
        }
    }

    /// Say nothing more (another process is the service now).
    pub fn mute(&self) {
        self.muted.set(true);
    }

    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Send `state` (one or more `KEY=value` lines). Failures are logged, not fatal.
    pub fn notify(&self, state: &str) {
        let Some((socket, addr)) = &self.target else {
            return;
        };
        if self.muted.get() {
            return;
        }
        if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
            tracing::debug!("sd_notify {state:?}: {e}");
        }
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC` that `Type=notify-reload` requires.
    pub fn reloading(&self) {
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }
}

fn connect_target(path: &str) -> io::Result<(UnixDatagram, std::os::unix::net::SocketAddr)> {
    let addr = if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?
    } else if path.starts_with('/') {
        std::os::unix::net::SocketAddr::from_pathname(path)?
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name (@...)",
        ));
    };
    let socket = UnixDatagram::unbound()?;
    // Never wait for the supervisor: a full queue loses a notification (logged at
    // debug), it must not stop the control thread.
    socket.set_nonblocking(true)?;
    Ok((socket, addr))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares reload times with.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// How often to feed the watchdog: half of `$WATCHDOG_USEC`, when that is meant for
/// this process (`$WATCHDOG_PID` unset or ours).
pub fn watchdog_every(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    if pid.is_some_and(|p| p.trim().parse::<u32>().ok() != Some(std::process::id())) {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

/// Whether to send `WATCHDOG=1` now: always while stopping (the grace period bounds
/// the stop, and workers that drain no longer answer pings), otherwise only when no
/// worker is silent.
pub fn watchdog_ok(stopping: bool, silent_workers: &[String]) -> bool {
    stopping || silent_workers.is_empty()
}

/// Feed systemd's watchdog every `every` while every worker answers its pings (see
/// [`watchdog_ok`]); a silent worker is logged once when the feeding stops.
pub async fn watchdog_loop(control: Rc<Control>, notifier: Rc<Notifier>, every: Duration) {
    let mut starving = false;
    loop {
        let silent = control.silent_workers();
        if watchdog_ok(control.stopping.get(), &silent) {
            notifier.notify("WATCHDOG=1");
            starving = false;
        } else if !starving {
            starving = true;
            tracing::error!("not feeding systemd's watchdog: {}", silent.join(", "));
        }
        monoio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_period_is_half_of_watchdog_usec_for_this_process_only() {
        let me = std::process::id().to_string();
        assert_eq!(
            watchdog_every(Some("2000000"), None),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            watchdog_every(Some("2000000"), Some(&me)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(watchdog_every(Some("2000000"), Some("1")), None);
        assert_eq!(watchdog_every(None, None), None);
        assert_eq!(watchdog_every(Some("0"), None), None);
        assert_eq!(watchdog_every(Some("soon"), None), None);
    }

    #[test]
    fn a_silent_worker_starves_the_watchdog_unless_stopping() {
        let silent = vec!["worker 1 is not answering (3s without a reply)".to_string()];
        assert!(watchdog_ok(false, &[]));
        assert!(!watchdog_ok(false, &silent));
        assert!(watchdog_ok(true, &silent));
    }

    #[test]
    fn notifications_reach_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("ringlb-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let server = UnixDatagram::bind(&dir).unwrap();
        let n = Notifier {
            target: Some(connect_target(dir.to_str().unwrap()).unwrap()),
            muted: Default::default(),
        };
        n.notify("READY=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        let _ = std::fs::remove_file(&dir);

        use std::os::linux::net::SocketAddrExt;
        let name = format!("ringlb-notify-test-{}", std::process::id());
        let abs = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&abs).unwrap();
        let n = Notifier {
            target: Some(connect_target(&format!("@{name}")).unwrap()),
            muted: Default::default(),
        };
        n.reloading();
        let len = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");
        assert!(connect_target("relative").is_err());
    }
}
