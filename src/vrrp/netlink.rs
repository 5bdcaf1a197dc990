//! What VRRP needs from the kernel's routing tables, over rtnetlink
//! (`netlink-packet-route` builds and parses the messages): the interface's index,
//! hardware address and primary IPv4 address (for an IPv6 router: its link-local
//! address), and adding or removing the virtual addresses (IPv6 ones without
//! duplicate address detection, usable at once). Requests are answered by the kernel at once, so a blocking socket
//! on the control thread costs microseconds.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Longest wait for the kernel's answer to a request.
const REPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    #[error("no interface named {0:?} in this network namespace")]
    NoInterface(String),
    #[error("interface {0:?} has no IPv4 address of its own (VRRP advertisements need a source address)")]
    NoAddress(String),
    #[error(
        "interface {0:?} has no IPv6 link-local address (IPv6 VRRP advertisements come from it)"
    )]
    NoLinkLocal(String),
    #[error("interface {0:?} has no Ethernet address")]
    NoMac(String),
    #[error("cannot parse the kernel's answer: {0}")]
    Decode(String),
}

/// The interface VRRP runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// The source of advertisements; the tie-break between equal priorities. For
    /// an IPv6 router, the interface's link-local address (RFC 9568 §5.1.2.1).
    pub primary: IpAddr,
    /// Administratively up with a carrier.
    pub up: bool,
}

pub struct Netlink {
    socket: Socket,
    sequence: u32,
    buf: Vec<u8>,
}

impl Netlink {
    pub fn open() -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // The kernel answers at once; should it not, the control thread must not hang.
        // SAFETY: the descriptor belongs to `socket`, alive for the call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(socket.as_raw_fd()) };
        socket2::SockRef::from(&fd).set_read_timeout(Some(REPLY_WAIT))?;
        Ok(Netlink {
            socket,
            sequence: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// An interface's index, Ethernet address and whether it is up with a carrier
    /// (where a virtual IP with `dev` goes: no address of its own is needed there).
    pub fn link(&mut self, name: &str) -> Result<(u32, [u8; 6], bool), NetlinkError> {
        let index = if_index(name).ok_or_else(|| NetlinkError::NoInterface(name.into()))?;
        let mut link = LinkMessage::default();
        link.header.index = index;
        let mut mac = None;
        let mut up = false;
        for msg in self.request(RouteNetlinkMessage::GetLink(link), 0)? {
            if let RouteNetlinkMessage::NewLink(l) = msg {
                up = link_up(l.header.flags);
                for attr in l.attributes {
                    if let LinkAttribute::Address(a) = attr {
                        mac = <[u8; 6]>::try_from(a.as_slice()).ok();
                    }
                }
            }
        }
        let mac = mac.ok_or_else(|| NetlinkError::NoMac(name.into()))?;
        Ok((index, mac, up))
    }

    /// Look the interface up; `v6`: for an IPv6 router. `exclude` (the virtual IPs,
    /// which a killed ringlb may have left behind) never counts as the primary address.
    pub fn interface(
        &mut self,
        name: &str,
        exclude: &[IpAddr],
        v6: bool,
    ) -> Result<Interface, NetlinkError> {
        let (index, mac, up) = self.link(name)?;
        let mut primary = None;
        let mut ask = AddressMessage::default();
        ask.header.family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        for msg in self.request(RouteNetlinkMessage::GetAddress(ask), NLM_F_DUMP)? {
            let RouteNetlinkMessage::NewAddress(a) = msg else {
                continue;
            };
            if a.header.index != index
                || a.header.flags.contains(AddressHeaderFlags::Secondary)
                || primary.is_some()
            {
                continue;
            }
            primary = a.attributes.iter().find_map(|attr| match attr {
                AddressAttribute::Local(ip @ IpAddr::V4(_)) if !v6 && !exclude.contains(ip) => {
                    Some(*ip)
                }
                // IPv6 addresses come as Address (there is no Local without a peer).
                AddressAttribute::Address(ip @ IpAddr::V6(a))
                    if v6 && a.is_unicast_link_local() && !exclude.contains(ip) =>
                {
                    Some(*ip)
                }
                _ => None,
            });
        }
        let primary = primary.ok_or_else(|| match v6 {
            true => NetlinkError::NoLinkLocal(name.into()),
            false => NetlinkError::NoAddress(name.into()),
        })?;
        Ok(Interface {
            name: name.into(),
            index,
            mac,
            primary,
            up,
        })
    }

    /// Add `addr/prefix` to the interface; `false` when it was already there.
    pub fn add_address(
        &mut self,
        index: u32,
        addr: impl Into<IpAddr>,
        prefix: u8,
    ) -> Result<bool, NetlinkError> {
        let addr = addr.into();
        let msg = RouteNetlinkMessage::NewAddress(address(index, addr, prefix));
        match self.request(msg, NLM_F_CREATE | NLM_F_EXCL) {
            Ok(_) => Ok(true),
            Err(NetlinkError::Io(e)) if e.raw_os_error() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove `addr/prefix` from the interface; `false` when it was not there.
    pub fn remove_address(
        &mut self,
        index: u32,
        addr: impl Into<IpAddr>,
        prefix: u8,
    ) -> Result<bool, NetlinkError> {
        let addr = addr.into();
        let msg = RouteNetlinkMessage::DelAddress(address(index, addr, prefix));
        match self.request(msg, 0) {
            Ok(_) => Ok(true),
            Err(NetlinkError::Io(e)) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Send one request and read until the kernel's acknowledgement (or the end of
    /// a dump); returns the messages it answered with.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let mut answers = Vec::new();
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let reply =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[offset..n])
                        .map_err(|e| NetlinkError::Decode(e.to_string()))?;
                let len = reply.header.length as usize;
                offset += len.max(1).next_multiple_of(4);
                if reply.header.sequence_number != self.sequence {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(_) => Err(NetlinkError::Io(e.to_io())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }
}

/// A socket subscribed to the kernel's link notifications (RTMGRP_LINK): the
/// interface going down or losing its carrier, and coming back.
pub fn link_watch() -> Result<Socket, NetlinkError> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind(&SocketAddr::new(0, libc::RTMGRP_LINK as u32))?;
    socket.set_non_blocking(true)?;
    Ok(socket)
}

/// The last state of interface `index` in a batch of link notifications: `Some(up)`
/// when the batch speaks of it.
pub fn link_state(batch: &[u8], index: u32) -> Option<bool> {
    let mut state = None;
    let mut offset = 0;
    while offset < batch.len() {
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&batch[offset..]) else {
            break;
        };
        offset += (msg.header.length as usize).max(1).next_multiple_of(4);
        match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l))
                if l.header.index == index =>
            {
                state = Some(link_up(l.header.flags));
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l))
                if l.header.index == index =>
            {
                state = Some(false);
            }
            _ => {}
        }
    }
    state
}

fn link_up(flags: LinkFlags) -> bool {
    flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running)
}

/// The message adding or removing `addr/prefix`. IPv6: no duplicate address
/// detection, so the address serves at once (the VRRP election decided who has it).
fn address(index: u32, addr: IpAddr, prefix: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.prefix_len = prefix;
    msg.header.index = index;
    match addr {
        IpAddr::V4(_) => {
            msg.header.family = AddressFamily::Inet;
            msg.attributes = vec![
                AddressAttribute::Local(addr),
                AddressAttribute::Address(addr),
            ];
        }
        IpAddr::V6(_) => {
            msg.header.family = AddressFamily::Inet6;
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes = vec![
                AddressAttribute::Address(addr),
                AddressAttribute::Flags(AddressFlags::Nodad),
            ];
        }
    }
    msg
}

fn if_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(index: u32, flags: LinkFlags, del: bool) -> Vec<u8> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = flags;
        let inner = if del {
            RouteNetlinkMessage::DelLink(link)
        } else {
            RouteNetlinkMessage::NewLink(link)
        };
        let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(inner));
        msg.finalize();
        let mut out = vec![0; msg.buffer_len()];
        msg.serialize(&mut out);
        out
    }

    #[test]
    fn ipv6_addresses_are_added_without_duplicate_address_detection() {
        let v6 = address(7, "2001:db8::10".parse().unwrap(), 128);
        assert_eq!(v6.header.family, AddressFamily::Inet6);
        assert_eq!(v6.header.flags, AddressHeaderFlags::Nodad);
        assert_eq!((v6.header.index, v6.header.prefix_len), (7, 128));
        let v4 = address(7, "192.0.2.10".parse().unwrap(), 32);
        assert_eq!(v4.header.family, AddressFamily::Inet);
        assert!(v4.header.flags.is_empty());
    }

    #[test]
    fn link_notifications_are_read_for_our_interface_only() {
        let running = LinkFlags::Up | LinkFlags::Running;
        let mut batch = notification(3, LinkFlags::Up, false); // up, no carrier
        batch.extend(notification(4, running, false));
        assert_eq!(link_state(&batch, 3), Some(false));
        assert_eq!(link_state(&batch, 4), Some(true));
        assert_eq!(link_state(&batch, 5), None);
        // The last word counts; a removed interface is down.
        batch.extend(notification(3, running, false));
        assert_eq!(link_state(&batch, 3), Some(true));
        batch.extend(notification(4, running, true));
        assert_eq!(link_state(&batch, 4), Some(false));
        assert_eq!(link_state(&batch[..7], 3), None, "a cut batch is ignored");
    }
}
