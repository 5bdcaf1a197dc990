//! TLS handshakes (a child of `stream.rs`): a client's accepted and a server's
//! connected within a timeout, in readiness mode from the first byte (completion mode
//! only when the driver keeps the socket so), and what a client's handshake settled on.

use std::future::poll_fn;
use std::io;
use std::ops::DerefMut;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, ServerTlsStream};
use rustls::pki_types::ServerName;
use rustls::{ConnectionCommon, SideData};

use super::{ClientStream, ServerStream, TlsClient, TlsServerStream};
use crate::tls::poll::{TlsConn, TlsPoll};

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS handshake not complete within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Failed(String),
}

/// What a TLS client negotiated, for logs and statistics.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub version: &'static str,
    pub cipher: &'static str,
    pub sni: Option<String>,
    /// The protocol ALPN settled on, if any.
    pub alpn: Option<Vec<u8>>,
}

/// Complete the server side of a TLS handshake within `timeout` (a client that stalls
/// is dropped then; other connections are not held up: each has its own task). The
/// handshake is driven here rather than by monoio-rustls so that the negotiated
/// version and cipher can be read, and so that the connection is in readiness mode
/// from its first byte (see [`over_tls`]).
pub async fn accept_tls(
    config: &Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    timeout: Duration,
) -> Result<(ClientStream, TlsInfo), HandshakeError> {
    // TCP_NODELAY comes from the listening socket (see `crate::listen`).
    let conn = rustls::ServerConnection::new(Arc::clone(config))
        .map_err(|e| HandshakeError::Failed(e.to_string()))?;
    let (tls, info): (TlsClient, _) =
        over_tls(tcp, conn, "client", timeout, tls_info, ServerTlsStream::new).await?;
    Ok((ClientStream::Tls(Box::new(tls)), info))
}

/// What a client's handshake settled on.
fn tls_info(conn: &rustls::ServerConnection) -> TlsInfo {
    TlsInfo {
        version: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "TLS",
        },
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|c| c.suite().as_str())
            .unwrap_or("unknown"),
        sni: conn.server_name().map(str::to_string),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    }
}

/// A TLS connection over `tcp` (either side: `peer` names the other one), its
/// handshake completed within `timeout`. In readiness mode from the first byte
/// ([`TlsPoll`]): the socket is registered with the driver once, and the handshake
/// reads straight into rustls. Only when the driver cannot switch the socket to
/// readiness mode is the handshake run in completion mode and the connection handed
/// to monoio-rustls' stream (`compat`). `describe` reads what was negotiated.
async fn over_tls<C, D, M, I>(
    tcp: TcpStream,
    mut conn: C,
    peer: &str,
    timeout: Duration,
    describe: impl FnOnce(&C) -> I,
    compat: impl FnOnce(TcpStream, C) -> M,
) -> Result<(TlsConn<C, M>, I), HandshakeError>
where
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    let work = async {
        match tcp.try_into_poll_io() {
            Ok(io) => {
                let mut p = TlsPoll { io, tls: conn };
                poll_fn(|cx| p.poll_handshake(cx)).await?;
                let info = describe(&p.tls);
                Ok::<_, io::Error>((TlsConn::Poll(p), info))
            }
            Err((e, mut tcp)) => {
                tracing::debug!("TLS connection kept in completion mode: {e}");
                handshake(&mut tcp, &mut conn, peer).await?;
                let info = describe(&conn);
                Ok((TlsConn::Compat(compat(tcp, conn)), info))
            }
        }
    };
    match monoio::time::timeout(timeout, work).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(HandshakeError::Failed(e.to_string())),
        Err(_) => Err(HandshakeError::Timeout(timeout)),
    }
}

/// Run a handshake in completion mode (a socket the driver keeps so) to completion over
/// `tcp`. Every byte read goes into rustls, so whatever the peer sent after its last
/// handshake message (HTTP/2 frames, a session ticket) is inside `conn` on return.
async fn handshake<D: SideData>(
    tcp: &mut TcpStream,
    conn: &mut ConnectionCommon<D>,
    peer: &str,
) -> io::Result<()> {
    let mut buf = vec![0u8; 8192];
    loop {
        if conn.wants_write() {
            let mut out = Vec::with_capacity(4096);
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
            let (res, _) = tcp.write_all(out).await;
            res?;
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        let (res, b) = tcp.read(buf).await;
        buf = b;
        let n = res?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{peer} closed during the TLS handshake"),
            ));
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            conn.read_tls(&mut data)?;
            if let Err(e) = conn.process_new_packets() {
                // Tell the client why (the alert rustls queued), then give up.
                let mut out = Vec::new();
                let _ = conn.write_tls(&mut out);
                let _ = tcp.write_all(out).await;
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

/// Complete the client side of a TLS handshake with a server within `timeout`, in
/// readiness mode from the first byte as a client's is (`accept_tls`): an HTTP/2
/// connection takes rustls out of the stream ([`TlsServerStream::into_poll`]).
pub async fn connect_tls(
    config: &Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    tcp: TcpStream,
    timeout: Duration,
) -> Result<ServerStream, HandshakeError> {
    let conn = rustls::ClientConnection::new(Arc::clone(config), name)
        .map_err(|e| HandshakeError::Failed(e.to_string()))?;
    let fd = tcp.as_raw_fd();
    let (stream, ()) = over_tls(tcp, conn, "server", timeout, |_| (), ClientTlsStream::new).await?;
    Ok(ServerStream::Tls(Box::new(TlsServerStream {
        stream,
        fd,
        filled: false,
    })))
}
