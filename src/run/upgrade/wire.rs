//! What the processes of a binary upgrade say to each other, and how it travels.
//!
//! - `ringlb upgrade` and the running process: one JSON line each way over the
//!   upgrade socket ([`Request`], then [`Answer`]).
//! - The old process and the new one it started: a `SOCK_SEQPACKET` socketpair (the
//!   new process's end is inherited, its number on the command line). Packets keep
//!   their boundaries, and descriptors (SCM_RIGHTS) arrive with the packet they were
//!   sent with. A JSON value is sent in packets of at most [`CHUNK`] bytes, each
//!   starting with `+` (more follows) or `.` (last); descriptors go in packets of one
//!   byte `F` with at most [`FDS_PER_PACKET`] of them.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// Bytes of JSON per packet.
pub const CHUNK: usize = 32 * 1024;
/// Descriptors per packet (the kernel takes at most 253).
pub const FDS_PER_PACKET: usize = 200;

/// `ringlb upgrade` → the running process.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The binary to start; `None`: the one the running process was started from.
    pub binary: Option<PathBuf>,
}

/// The running process → `ringlb upgrade`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    /// The new process, when it took over.
    pub pid: Option<u32>,
    pub message: String,
}

/// Old → new: what is handed over. The descriptors follow, in this order: every
/// listener, then the admin listener, then the upgrade socket, then the `[announce]`
/// TUN device (each when present).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub listeners: Vec<OfferedListener>,
    pub admin: Option<SocketAddr>,
    pub upgrade_socket: Option<PathBuf>,
    /// Servers whose operator state differs from the file.
    pub servers: Vec<ServerState>,
    /// Every virtual router's state.
    #[serde(default)]
    pub vrrp: Vec<crate::vrrp::Carried>,
    /// `[announce]`: its state (the device is the last descriptor).
    #[serde(default)]
    pub announce: Option<crate::announce::Carried>,
    /// Tracking tables' entries, merged over the workers.
    #[serde(default)]
    pub tables: Vec<crate::msg::tables::SavedTable>,
}

impl Offer {
    /// How many descriptors follow the offer.
    pub fn fds(&self) -> usize {
        self.listeners.len()
            + usize::from(self.admin.is_some())
            + usize::from(self.upgrade_socket.is_some())
            + usize::from(self.announce.is_some())
    }
}

/// One socket of a listening address's reuseport group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferedListener {
    pub frontend: String,
    /// As written in the configuration (port 0 stays 0).
    pub requested: SocketAddr,
    /// As bound.
    pub bound: SocketAddr,
    /// Its place in the group (the worker it served).
    pub index: usize,
    /// The group runs the steering program (`steering = "source"`).
    pub steered: bool,
}

/// A server's runtime state: `admin` is `ready`, `drain` or `maint` and `weight` is
/// set when the runtime API set them; `down` when its checks hold it down (the new
/// process keeps it down until it passes `rise` checks, as HAProxy's server-state
/// file does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    pub backend: String,
    pub server: String,
    pub admin: String,
    pub weight: Option<u32>,
    #[serde(default)]
    pub down: bool,
}

/// New → old.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Every worker accepts: the old process may stop; it lets go of the virtual
    /// routers listed quietly (this process runs them now).
    Ready {
        pid: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        vrrp: Vec<crate::vrrp::RouterId>,
    },
    /// The new process will not serve (invalid file, a socket it cannot use...).
    Failed { reason: String },
}

/// A connected pair of `SOCK_SEQPACKET` Unix sockets (close-on-exec).
pub fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: socketpair just returned these two descriptors, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(a), OwnedFd::from_raw_fd(b)) })
}

fn send_packet(fd: &OwnedFd, payload: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        fd.as_raw_fd(),
        &[IoSlice::new(payload)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Wait until `fd` is readable, at most until `deadline`.
fn wait_readable(fd: &OwnedFd, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// One packet: its bytes and the descriptors it carried. An empty packet without
/// descriptors is the peer's end (it closed its socket).
fn recv_packet(fd: &OwnedFd, deadline: Instant) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
    wait_readable(fd, deadline)?;
    let mut buf = vec![0u8; CHUNK + 1];
    let mut space = nix::cmsg_space!([RawFd; FDS_PER_PACKET]);
    let (len, raw, truncated) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut raw = Vec::new();
        for c in msg.cmsgs() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                raw.extend(fds);
            }
        }
        let truncated = msg
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
        (msg.bytes, raw, truncated)
    };
    // SAFETY: the kernel just installed these descriptors in this process for us.
    let fds = raw
        .into_iter()
        .map(|f| unsafe { OwnedFd::from_raw_fd(f) })
        .collect();
    if truncated {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a packet was larger than expected",
        ));
    }
    buf.truncate(len);
    Ok((buf, fds))
}

/// Send `value` as JSON.
pub fn send_json<T: Serialize>(fd: &OwnedFd, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(value)?;
    let chunks: Vec<&[u8]> = bytes.chunks(CHUNK).collect();
    let mut packet = Vec::with_capacity(CHUNK + 1);
    for (i, chunk) in chunks.iter().enumerate() {
        packet.clear();
        packet.push(if i + 1 == chunks.len() { b'.' } else { b'+' });
        packet.extend_from_slice(chunk);
        send_packet(fd, &packet, &[])?;
    }
    Ok(())
}

/// Receive a JSON value, waiting at most `limit`.
pub fn recv_json<T: DeserializeOwned>(fd: &OwnedFd, limit: Duration) -> io::Result<T> {
    let deadline = Instant::now() + limit;
    let mut bytes = Vec::new();
    loop {
        let (packet, _) = recv_packet(fd, deadline)?;
        let Some((&tag, rest)) = packet.split_first() else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the other process closed the connection",
            ));
        };
        bytes.extend_from_slice(rest);
        match tag {
            b'.' => return Ok(serde_json::from_slice(&bytes)?),
            b'+' => {}
            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "not JSON")),
        }
    }
}

/// Send descriptors (the receiver must know how many: [`recv_fds`]).
pub fn send_fds(fd: &OwnedFd, fds: &[RawFd]) -> io::Result<()> {
    for chunk in fds.chunks(FDS_PER_PACKET) {
        send_packet(fd, b"F", chunk)?;
    }
    Ok(())
}

/// Receive `n` descriptors, waiting at most `limit`.
pub fn recv_fds(fd: &OwnedFd, n: usize, limit: Duration) -> io::Result<Vec<OwnedFd>> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (packet, fds) = recv_packet(fd, deadline)?;
        if packet != b"F" || fds.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "expected {n} descriptors, got {} and then no more",
                    out.len()
                ),
            ));
        }
        out.extend(fds);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(n: usize) -> Offer {
        Offer {
            listeners: (0..n)
                .map(|i| OfferedListener {
                    frontend: format!("front-{i}"),
                    requested: "127.0.0.1:0".parse().unwrap(),
                    bound: format!("127.0.0.1:{}", 1000 + i).parse().unwrap(),
                    index: i % 3,
                    steered: i % 2 == 0,
                })
                .collect(),
            admin: Some("127.0.0.1:9900".parse().unwrap()),
            upgrade_socket: Some("/run/ringlb/upgrade.sock".into()),
            servers: vec![ServerState {
                backend: "b".into(),
                server: "s1".into(),
                admin: "maint".into(),
                weight: Some(7),
                down: true,
            }],
            ..Offer::default()
        }
    }

    #[test]
    fn an_offer_round_trips_in_one_packet_and_in_many() {
        let (a, b) = pair().unwrap();
        for n in [0, 1, 400] {
            let sent = offer(n);
            send_json(&a, &sent).unwrap();
            let got: Offer = recv_json(&b, Duration::from_secs(5)).unwrap();
            assert_eq!(got, sent);
            assert_eq!(got.fds(), n + 2);
        }
    }

    #[test]
    fn status_is_tagged_json() {
        let ready = serde_json::to_string(&Status::Ready {
            pid: 42,
            vrrp: Vec::new(),
        })
        .unwrap();
        assert_eq!(ready, r#"{"status":"ready","pid":42}"#);
        let (a, b) = pair().unwrap();
        let failed = Status::Failed {
            reason: "bad file".into(),
        };
        send_json(&a, &failed).unwrap();
        assert_eq!(
            recv_json::<Status>(&b, Duration::from_secs(5)).unwrap(),
            failed
        );
    }

    /// 450 descriptors: three packets; each received descriptor is the same socket.
    #[test]
    fn descriptors_cross_in_packets_and_stay_the_same_sockets() {
        let (a, b) = pair().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let raw: Vec<RawFd> = (0..450).map(|_| listener.as_raw_fd()).collect();
        send_fds(&a, &raw).unwrap();
        let got = recv_fds(&b, 450, Duration::from_secs(5)).unwrap();
        assert_eq!(got.len(), 450);
        let last = std::net::TcpListener::from(got.into_iter().last().unwrap());
        assert_eq!(last.local_addr().unwrap(), addr);
    }

    #[test]
    fn a_closed_peer_and_silence_are_errors() {
        let (a, b) = pair().unwrap();
        let e = recv_json::<Status>(&b, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(a);
        let e = recv_json::<Status>(&b, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = recv_fds(&b, 1, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
