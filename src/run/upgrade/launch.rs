//! The old process's side: start the new binary with its end of a socketpair, send
//! it the offer and the descriptors, and wait until it says it is ready (or fails,
//! exits, or stays silent too long). Runs on a thread of its own.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::wire::{self, Offer, Status};
use super::Took;

/// How long the new process may take to hear the offer after it starts.
const OFFER_WITHIN: Duration = Duration::from_secs(10);

/// The binary this process was started from, as a path to open again at upgrade time
/// (not `/proc/self/exe`, the old file): `argv[0]` made absolute, or found on `$PATH`.
pub fn own_binary() -> Option<PathBuf> {
    let arg0 = PathBuf::from(std::env::args_os().next()?);
    if arg0.components().count() > 1 {
        return std::env::current_dir().ok().map(|d| d.join(arg0));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(&arg0))
            .find(|p| p.is_file())
    })
}

/// Start `binary` to take over with `config`; what it took once it is ready. Any
/// failure leaves this process as it was (the new one, if it started, is killed).
pub fn launch(
    binary: &Path,
    config: &Path,
    offer: &Offer,
    fds: &[OwnedFd],
) -> Result<Took, String> {
    let (ours, theirs) = wire::pair().map_err(|e| format!("socketpair: {e}"))?;
    let inherited: RawFd = theirs.as_raw_fd();
    let mut cmd = Command::new(binary);
    cmd.arg("run")
        .arg("-c")
        .arg(config)
        .arg("--takeover-fd")
        .arg(inherited.to_string())
        // The watchdog becomes the new process's once it is the main process.
        .env_remove("WATCHDOG_PID");
    // SAFETY: between fork and exec only close_range, getrlimit and fcntl, which are
    // async-signal-safe system calls without allocation.
    unsafe {
        cmd.pre_exec(move || {
            only_inherit(inherited);
            if libc::fcntl(inherited, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    drop(theirs);
    let pid = child.id();
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let sent = wire::send_json(&ours, offer).and_then(|()| wire::send_fds(&ours, &raw));
    if let Err(e) = sent {
        return Err(fail(
            &mut child,
            format!("it exited before it was ready (cannot hand the sockets over: {e})"),
        ));
    }
    match wire::recv_json::<Status>(&ours, super::READY_WITHIN + OFFER_WITHIN) {
        Ok(Status::Ready { pid: said, vrrp }) if said == pid => Ok(Took { pid, vrrp }),
        Ok(Status::Ready { pid: said, .. }) => Err(fail(
            &mut child,
            format!("process {pid} answered as {said}"),
        )),
        Ok(Status::Failed { reason }) => Err(fail(&mut child, reason)),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(fail(
            &mut child,
            format!("not ready within {:?}", super::READY_WITHIN),
        )),
        Err(e) => Err(fail(
            &mut child,
            format!("it exited before it was ready ({e})"),
        )),
    }
}

/// In the child, before exec: mark every descriptor above stderr close-on-exec. Not
/// all are: sockets accepted by io_uring are not, and the new process must not hold
/// the old one's client connections (a connection the old process closes would stay
/// open, and a client sending on it would wait for nothing).
///
/// # Safety
/// Only between fork and exec.
unsafe fn only_inherit(keep: RawFd) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    let done = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) == 0;
    if done {
        return;
    }
    // Kernels before 5.11: one descriptor at a time, up to the limit.
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
        rl.rlim_cur.min(1 << 20) as RawFd
    } else {
        65536
    };
    for fd in 3..max {
        if fd != keep {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

/// The new process failed: make sure it is gone, and say how it ended.
fn fail(child: &mut Child, why: String) -> String {
    let pid = child.id();
    let status = match child.try_wait() {
        Ok(Some(s)) => s,
        _ => {
            // Give a process that reported failure a moment to exit on its own.
            std::thread::sleep(Duration::from_millis(200));
            if !matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
            }
            match child.wait() {
                Ok(s) => s,
                Err(e) => return format!("new process {pid}: {why} ({e})"),
            }
        }
    };
    format!("new process {pid}: {why} ({status})")
}
