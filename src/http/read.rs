//! The one piece of I/O next to the codec: reading more of a message into a growing
//! buffer, for the control thread's HTTP users (health checks, the admin API). The
//! data path reads through its own bounded buffers (`crate::worker`).

use std::io;

use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;

/// Read what is available, appended after the bytes already in `buf`.
pub async fn read_append<S: AsyncReadRent>(
    stream: &mut S,
    mut buf: Vec<u8>,
) -> (io::Result<usize>, Vec<u8>) {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(2048);
    }
    let len = buf.len();
    let (res, slice) = stream.read(buf.slice_mut(len..)).await;
    (res, slice.into_inner())
}
