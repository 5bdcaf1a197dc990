//! The device that carries the service addresses: a **non-persistent** TUN device
//! (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`, never `TUNSETPERSIST`). The kernel deletes
//! it, addresses and all, when its last descriptor closes, so when ringlb dies for any
//! reason (`kill -9` included) the addresses vanish, BIRD's `direct` protocol loses
//! them and BGP withdraws the routes without any helper process. ringlb never reads
//! the device: the addresses are local, so nothing is routed into it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// An open TUN device; dropping it deletes the interface.
#[derive(Debug)]
pub struct Tun {
    /// Held, never read: closing it deletes the device.
    _device: File,
    pub name: String,
}

/// `ifreq` with `name` (at most 15 bytes, checked by the configuration) and no flags.
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    req
}

impl Tun {
    /// Create the device `name`, owned by this process, administratively up.
    pub fn create(name: &str) -> io::Result<Tun> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open("/dev/net/tun")
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => io::Error::new(
                    e.kind(),
                    format!("/dev/net/tun: {e} (under systemd, PrivateDevices=yes hides it: see docs/scale-out.md for the drop-in)"),
                ),
                _ => io::Error::new(e.kind(), format!("/dev/net/tun: {e}")),
            })?;
        let mut req = ifreq(name);
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: a valid descriptor and a valid ifreq, alive for the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            let e = io::Error::last_os_error();
            let hint = match e.raw_os_error() {
                Some(libc::EBUSY) => " (another process holds a TUN device of that name)",
                Some(libc::EINVAL) => " (an interface of another kind has that name)",
                Some(libc::EPERM) => " (creating a TUN device needs CAP_NET_ADMIN)",
                _ => "",
            };
            return Err(io::Error::new(e.kind(), format!("{e}{hint}")));
        }
        // A persistent device left by someone else would outlive this process: the
        // one property this design relies on. Refuse it rather than clear the flag.
        let mut got = ifreq(name);
        // SAFETY: as above.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNGETIFF, &mut got) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: TUNGETIFF fills the flags member of the union.
        let flags = i32::from(unsafe { got.ifr_ifru.ifru_flags });
        if flags & libc::IFF_PERSIST != 0 {
            return Err(io::Error::other(format!(
                "{name} is a persistent TUN device (it would stay after ringlb dies): delete it (ip link del {name}) or choose another name"
            )));
        }
        let tun = Tun {
            _device: file,
            name: name.to_string(),
        };
        tun.set_up()?;
        Ok(tun)
    }

    /// `IFF_UP`: with its descriptor open the device also has a carrier, which
    /// BIRD's `check link yes` looks for.
    fn set_up(&self) -> io::Result<()> {
        // SAFETY: socket() has no memory preconditions; the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let mut req = ifreq(&self.name);
        // SAFETY: a valid socket and ifreq; SIOCGIFFLAGS fills the flags member.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the flags member was just written by the kernel.
        let flags = unsafe { req.ifr_ifru.ifru_flags } | libc::IFF_UP as libc::c_short;
        req.ifr_ifru.ifru_flags = flags;
        // SAFETY: as above.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Tun {
    /// A binary upgrade's new process: the old process's device, from the descriptor
    /// it handed over, if it is the TUN device `name` (`None`: the file names another
    /// device now, and the old one goes with the old process). The device lives on as
    /// long as either process holds it: its addresses, and BIRD's routes, never go.
    pub fn adopt(fd: OwnedFd, name: &str) -> io::Result<Option<Tun>> {
        let file = File::from(fd);
        let mut got = ifreq("");
        // SAFETY: a valid descriptor and a valid ifreq, alive for the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNGETIFF, &mut got) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let named: Vec<u8> = got
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        if named != name.as_bytes() {
            return Ok(None);
        }
        Ok(Some(Tun {
            _device: file,
            name: name.to_string(),
        }))
    }

    /// A second descriptor of the device, to hand over in a binary upgrade.
    pub fn duplicate(&self) -> io::Result<OwnedFd> {
        self._device.try_clone().map(OwnedFd::from)
    }

    /// Let the device carry IPv6 addresses: a host set to
    /// `net.ipv6.conf.default.disable_ipv6 = 1` creates it with IPv6 off, and adding
    /// an IPv6 address would then fail with "permission denied". Only the device's
    /// own setting is changed; it goes with the device.
    pub fn enable_ipv6(&self) -> io::Result<()> {
        let path = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", self.name);
        match std::fs::read_to_string(&path) {
            Ok(v) if v.trim() == "0" => Ok(()),
            Ok(_) => std::fs::write(&path, "0")
                .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}"))),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("{path}: {e} (is IPv6 disabled in this kernel, ipv6.disable=1?)"),
            )),
        }
    }

    /// The interface index, for netlink requests.
    pub fn index(&self) -> io::Result<u32> {
        let name = std::ffi::CString::new(self.name.as_str()).map_err(io::Error::other)?;
        // SAFETY: a valid NUL-terminated string, alive for the call.
        match unsafe { libc::if_nametoindex(name.as_ptr()) } {
            0 => Err(io::Error::last_os_error()),
            index => Ok(index),
        }
    }
}
