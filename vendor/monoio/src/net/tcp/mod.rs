#![allow(unreachable_pub)]
//! TCP related.

mod listener;
mod split;
mod stream;
mod tfo;
// ringlb patch: a multishot read watch (io_uring).
#[cfg(all(target_os = "linux", feature = "iouring"))]
mod watch;

pub use listener::TcpListener;
pub use split::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
pub use stream::{TcpConnectOpts, TcpStream};
#[cfg(all(target_os = "linux", feature = "iouring"))]
pub use watch::ReadWatch;

#[cfg(feature = "poll-io")]
pub mod stream_poll;
