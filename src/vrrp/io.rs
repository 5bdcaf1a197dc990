//! The sockets VRRP needs, all opened before the workers start so that a missing
//! privilege (`CAP_NET_RAW`) stops ringlb at once with a clear message:
//!
//! - a raw IPv4 socket for protocol 112, bound to the interface, with `IP_HDRINCL`
//!   (ringlb writes the header: TTL 255, the primary address as source), joined to
//!   224.0.0.18 on that interface unless the router is unicast;
//! - a packet socket for gratuitous ARP;
//! - for an IPv6 router, their IPv6 counterparts instead (`io6.rs`);
//! - a netlink socket subscribed to link changes (the interface going down).
//!
//! The control thread's runtime is only asked when a socket is readable (monoio's
//! UDP socket type serves as a readiness wrapper for any datagram descriptor); reads
//! and writes are non-blocking calls made directly. Which frame an advert or an
//! announcement goes in (`wire.rs`) follows the address family, here.

use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};

use monoio::net::udp::UdpSocket;

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockRef, Socket, Type};

use super::io6::{self, Meta};
use super::netlink::Interface;
use super::packet::{GROUP, PROTOCOL};
use super::wire::{self, ARP_FRAME};

/// The sockets before the control thread's runtime takes them.
pub struct Sockets {
    advert: Socket,
    /// Gratuitous ARP (IPv4) or neighbour advertisements (IPv6).
    announce: Socket,
    link: netlink_sys::Socket,
    v6: bool,
}

/// A datagram read from the advertisement socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram {
    /// This many bytes, IPv4 header included.
    Ipv4(usize),
    /// This many bytes of VRRP message, and what came in place of the header.
    Ipv6(usize, Meta),
}

/// The sockets for the router on `iface`, of the family of its primary address.
pub fn open(iface: &Interface, multicast: bool, link: netlink_sys::Socket) -> io::Result<Sockets> {
    let (advert, announce, v6) = match iface.primary {
        IpAddr::V4(primary) => (advert_v4(iface, primary, multicast)?, arp()?, false),
        IpAddr::V6(_) => (io6::advert(iface, multicast)?, io6::announce()?, true),
    };
    Ok(Sockets {
        advert,
        announce,
        link,
        v6,
    })
}

fn advert_v4(iface: &Interface, primary: Ipv4Addr, multicast: bool) -> io::Result<Socket> {
    let advert = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(i32::from(PROTOCOL))),
    )?;
    advert.set_header_included_v4(true)?;
    advert.bind_device(Some(iface.name.as_bytes()))?;
    if multicast {
        advert.join_multicast_v4_n(&GROUP, &InterfaceIndexOrAddress::Index(iface.index))?;
        advert.set_multicast_loop_v4(false)?;
        advert.set_multicast_if_v4(&primary)?;
    }
    advert.set_nonblocking(true)?;
    Ok(advert)
}

fn arp() -> io::Result<Socket> {
    let arp_proto = (libc::ETH_P_ARP as u16).to_be();
    let arp = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(arp_proto))),
    )?;
    arp.set_nonblocking(true)?;
    Ok(arp)
}

/// The sockets, registered with the control thread's runtime.
pub struct Io {
    advert: UdpSocket,
    link: UdpSocket,
    announce: Socket,
    v6: bool,
}

/// Hand a descriptor over to the runtime, for readiness.
fn register(fd: RawFd) -> io::Result<UdpSocket> {
    // SAFETY: `fd` comes from `into_raw_fd`, so it is open and owned by nothing else;
    // the std socket takes ownership and monoio takes it over.
    UdpSocket::from_std(unsafe { std::net::UdpSocket::from_raw_fd(fd) })
}

/// `sock` as socket2 sees it, for calls monoio does not offer.
fn with_ref<R>(sock: &UdpSocket, f: impl FnOnce(SockRef<'_>) -> R) -> R {
    // SAFETY: the descriptor is owned by `sock`, which outlives the call.
    let fd = unsafe { BorrowedFd::borrow_raw(sock.as_raw_fd()) };
    f(SockRef::from(&fd))
}

/// One datagram, or `None` when nothing is waiting.
fn recv_now(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match with_ref(sock, |s| (&*s).read(buf)) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

impl Io {
    /// Must run on the control thread's runtime.
    pub fn register(sockets: Sockets) -> io::Result<Io> {
        Ok(Io {
            advert: register(sockets.advert.into_raw_fd())?,
            link: register(sockets.link.into_raw_fd())?,
            announce: sockets.announce,
            v6: sockets.v6,
        })
    }

    /// Wait until an advertisement may be read.
    pub async fn readable(&self) -> io::Result<()> {
        self.advert.readable(false).await
    }

    /// One packet, or `None` when nothing is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        if self.v6 {
            let got = io6::recv(self.advert.as_raw_fd(), buf)?;
            return Ok(got.map(|(n, meta)| Datagram::Ipv6(n, meta)));
        }
        Ok(recv_now(&self.advert, buf)?.map(Datagram::Ipv4))
    }

    /// Wait until a link notification may be read.
    pub async fn link_readable(&self) -> io::Result<()> {
        self.link.readable(false).await
    }

    /// One batch of link notifications, or `None` when nothing is waiting.
    pub fn recv_link(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        recv_now(&self.link, buf)
    }

    /// Send an advertisement `message` from `src` (our primary address) to `dst`:
    /// over IPv4 in the header ringlb writes, over IPv6 out of interface `index`.
    pub fn send(&self, message: &[u8], src: IpAddr, dst: IpAddr, index: u32) -> io::Result<()> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let packet = wire::ipv4_packet(src, dst, message);
                let to = SocketAddrV4::new(dst, 0).into();
                with_ref(&self.advert, |sock| sock.send_to(&packet, &to)).map(drop)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                io6::send_from(self.advert.as_raw_fd(), message, src, dst, index)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "source and destination of different families",
            )),
        }
    }

    /// Tell the neighbours on interface `index` that `vip` is at `mac`: gratuitous
    /// ARP, or an unsolicited neighbour advertisement to all nodes from `vip` itself.
    pub fn announce(&self, vip: IpAddr, mac: [u8; 6], index: u32) -> io::Result<()> {
        match vip {
            IpAddr::V4(vip) => self.send_frame(&wire::gratuitous_arp(mac, vip), index),
            IpAddr::V6(vip) => {
                let na = wire::neighbour_advert(mac, vip);
                io6::send_from(self.announce.as_raw_fd(), &na, vip, io6::ALL_NODES, index)
            }
        }
    }

    /// Broadcast one Ethernet frame on interface `index` (a virtual IP's, which may
    /// not be the one adverts go out of).
    fn send_frame(&self, frame: &[u8; ARP_FRAME], index: u32) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value to fill in.
        let mut to: libc::sockaddr_ll = unsafe { MaybeUninit::zeroed().assume_init() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
        to.sll_ifindex = index as i32;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `to` are valid for the lengths given for the whole call.
        let sent = unsafe {
            libc::sendto(
                self.announce.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
