//! The pipes of the splice relay (`splice.rs`): made non-blocking, and grown past the
//! default 64 KiB (`F_SETPIPE_SZ`) so that one splice each way moves up to 1 MiB.
//!
//! Growing is bounded. The kernel counts every pipe page of a user without
//! `CAP_SYS_RESOURCE` against `fs.pipe-user-pages-soft` (64 MiB by default), and past
//! it every *new* pipe of that user gets two pages (8 KiB), not only ringlb's grown
//! ones. The packaged service runs as its own user without that capability, so each
//! worker grows pipes only within its share of a quarter of that allowance
//! ([`grow_budget`]); past it, pipes keep the default size. A process that has the
//! capability (or a system with no soft limit) grows every pipe.

use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The capacity asked for each splice pipe: 16 times the default (64 KiB), so a
/// pipe-full is 1 MiB and a bulk MiB costs one splice in and one out instead of 16
/// each (see docs/benchmarks.md, "Bulk transfer: splice").
const PIPE_SIZE: usize = 1 << 20;

/// A new pipe's capacity (16 pages).
pub(super) const DEFAULT_PIPE: usize = 64 * 1024;

/// `CAP_SYS_RESOURCE`'s bit in `/proc/self/status` `CapEff`: pipes not counted.
const CAP_SYS_RESOURCE: u32 = 24;

thread_local! {
    /// `PIPE_SIZE` capped by `fs.pipe-max-size` (read once per worker thread), 0 until
    /// read.
    static WANTED: Cell<usize> = const { Cell::new(0) };
    /// Bytes this thread may still hold in grown pipes; `None` until read.
    static BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
}

/// A pipe of ringlb's own (non-blocking both ends), closed on drop.
pub(super) struct OwnPipe {
    pub(super) rd: OwnedFd,
    pub(super) wr: OwnedFd,
    /// Its capacity in bytes: what one splice into it asks for.
    pub(super) cap: usize,
}

impl OwnPipe {
    pub(super) fn new() -> std::io::Result<OwnPipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let left = budget_left();
        let cap = grow(wr.as_raw_fd(), affordable(pipe_size(), left));
        if cap > DEFAULT_PIPE {
            BUDGET.with(|b| b.set(Some(left.saturating_sub(cap))));
        }
        Ok(OwnPipe { rd, wr, cap })
    }
}

impl Drop for OwnPipe {
    fn drop(&mut self) {
        if self.cap > DEFAULT_PIPE {
            let cap = self.cap;
            BUDGET.with(|b| b.set(b.get().map(|left| left.saturating_add(cap))));
        }
    }
}

/// The capacity to ask of a new pipe.
fn pipe_size() -> usize {
    WANTED.with(|w| {
        if w.get() == 0 {
            let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size").ok();
            w.set(capped(PIPE_SIZE, max.as_deref()));
        }
        w.get()
    })
}

/// What this thread may still hold in grown pipes (read once per thread).
fn budget_left() -> usize {
    BUDGET.with(|b| match b.get() {
        Some(left) => left,
        None => {
            let soft = std::fs::read_to_string("/proc/sys/fs/pipe-user-pages-soft").ok();
            let status = std::fs::read_to_string("/proc/self/status").ok();
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let left = grow_budget(soft.as_deref(), status.as_deref(), cpus);
            b.set(Some(left));
            left
        }
    })
}

/// `want`, at most the `fs.pipe-max-size` read (`max`); the default pipe's 64 KiB
/// when it cannot be read.
pub(super) fn capped(want: usize, max: Option<&str>) -> usize {
    match max.and_then(|m| m.trim().parse::<usize>().ok()) {
        Some(max) => want.min(max).max(DEFAULT_PIPE),
        None => DEFAULT_PIPE,
    }
}

/// Bytes of grown pipes one worker may hold: unbounded with `CAP_SYS_RESOURCE` (in
/// `status`'s `CapEff`) or no soft limit (`soft` is `0`); else a quarter of the
/// user's soft allowance (`soft` pages of 4 KiB) shared by `cpus` workers. Unreadable
/// files count as a limit of the kernel's default (16384 pages) without the capability.
pub(super) fn grow_budget(soft: Option<&str>, status: Option<&str>, cpus: usize) -> usize {
    let capable = status
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:")))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|eff| eff & (1 << CAP_SYS_RESOURCE) != 0);
    let pages = soft
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(16384);
    if capable || pages == 0 {
        return usize::MAX;
    }
    pages.saturating_mul(4096) / 4 / cpus.max(1)
}

/// The size to grow a pipe to: `want`, or the largest power of two the budget `left`
/// still covers; the default (no growing) below 128 KiB.
pub(super) fn affordable(want: usize, left: usize) -> usize {
    if want <= left {
        return want;
    }
    let fit = if left == 0 { 0 } else { 1 << left.ilog2() };
    if fit >= 2 * DEFAULT_PIPE {
        fit
    } else {
        DEFAULT_PIPE
    }
}

/// Grow the pipe of `fd` to `size` bytes; its capacity after (the default when the
/// kernel refuses: `EPERM` once the user's pipes hold `fs.pipe-user-pages-soft`).
pub(super) fn grow(fd: RawFd, size: usize) -> usize {
    if size <= DEFAULT_PIPE {
        return DEFAULT_PIPE;
    }
    // SAFETY: fcntl on a pipe this session owns, with integer arguments.
    let got = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, size as libc::c_int) };
    if got > 0 {
        got as usize
    } else {
        DEFAULT_PIPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_size_asked_is_capped_by_the_system_maximum() {
        assert_eq!(capped(1 << 20, Some("1048576\n")), 1 << 20);
        assert_eq!(capped(1 << 20, Some("262144\n")), 256 << 10);
        // Below the default or unreadable: the default, which needs no fcntl.
        assert_eq!(capped(1 << 20, Some("4096\n")), DEFAULT_PIPE);
        assert_eq!(capped(1 << 20, Some("junk")), DEFAULT_PIPE);
        assert_eq!(capped(1 << 20, None), DEFAULT_PIPE);
    }

    #[test]
    fn a_pipe_is_grown_to_the_size_asked_or_keeps_the_default() {
        let pipe = OwnPipe::new().unwrap();
        assert!(pipe.cap >= DEFAULT_PIPE && pipe.cap <= PIPE_SIZE);
        assert_eq!(grow(pipe.wr.as_raw_fd(), 256 << 10), 256 << 10);
        // Refused (not a pipe): the default is kept, nothing fails.
        assert_eq!(grow(-1, 256 << 10), DEFAULT_PIPE);
        assert_eq!(grow(pipe.wr.as_raw_fd(), DEFAULT_PIPE), DEFAULT_PIPE);
    }

    #[test]
    fn grown_pipes_stay_within_a_share_of_the_users_soft_allowance() {
        let plain = "Name:\tringlb\nCapEff:\t0000000000003000\n";
        let root = "Name:\tringlb\nCapEff:\t000001ffffffffff\n";
        // 64 MiB soft limit, 2 workers: a quarter, halved.
        assert_eq!(grow_budget(Some("16384\n"), Some(plain), 2), 8 << 20);
        assert_eq!(grow_budget(Some("16384\n"), Some(plain), 0), 16 << 20);
        // The capability, or no soft limit: unbounded.
        assert_eq!(grow_budget(Some("16384\n"), Some(root), 2), usize::MAX);
        assert_eq!(grow_budget(Some("0\n"), Some(plain), 2), usize::MAX);
        // Unreadable: the kernel's default limit, no capability assumed.
        assert_eq!(grow_budget(None, None, 1), 16 << 20);
    }

    #[test]
    fn a_pipe_grows_only_as_far_as_the_budget_left_covers() {
        assert_eq!(affordable(1 << 20, usize::MAX), 1 << 20);
        assert_eq!(affordable(1 << 20, 1 << 20), 1 << 20);
        assert_eq!(affordable(1 << 20, (512 << 10) + 5), 512 << 10);
        assert_eq!(affordable(1 << 20, 128 << 10), 128 << 10);
        // Less than twice the default left: not grown.
        assert_eq!(affordable(1 << 20, 100 << 10), DEFAULT_PIPE);
        assert_eq!(affordable(1 << 20, 0), DEFAULT_PIPE);
    }

    #[test]
    fn a_dropped_pipe_gives_its_bytes_back_to_the_budget() {
        // A fresh thread: its own budget, unbounded or bounded as this test runs.
        std::thread::spawn(|| {
            let before = budget_left();
            let pipe = OwnPipe::new().unwrap();
            if pipe.cap > DEFAULT_PIPE && before != usize::MAX {
                assert_eq!(budget_left(), before - pipe.cap);
            }
            drop(pipe);
            assert_eq!(budget_left(), before);
        })
        .join()
        .unwrap();
    }
}
