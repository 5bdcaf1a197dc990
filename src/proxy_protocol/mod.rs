//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a front proxy sends
//! first on a connection to say who the client is, and the one ringlb sends to a
//! server. Pure codecs: no I/O, no clock, nothing else of ringlb imported, so the
//! worker, the control plane (health checks with `send_proxy`) and the fuzz targets
//! can all call them.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the decoded [`Header`], the version a frontend accepts ([`Accept`]), the wire constants |
//! | `parse.rs` | incremental parser of v1 and v2 headers: [`Parse::NeedMore`], [`Parse::Done`], [`Parse::Error`] |
//! | `encode.rs` | v1 and v2 encoders (v2 with ALPN, authority and SSL TLVs) into a caller's `Vec` |

mod encode;
mod parse;

use std::net::SocketAddr;

pub use encode::{encode, encode_v1, encode_v2, Ssl, Tlvs};
pub use parse::{parse, Parse, Reason};

/// The 12 bytes every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included (the specification's limit).
pub const V1_MAX: usize = 107;
/// The longest v2 header ringlb accepts (16 fixed bytes, addresses and TLVs). The
/// specification asks receivers to take at least 536; TLVs beyond this are refused.
pub const V2_MAX: usize = 4096;
/// The longest header of any version ([`V2_MAX`]): the most a receiver ever buffers.
pub const MAX_HEADER: usize = V2_MAX;

/// v2 TLV types ringlb writes.
pub const PP2_TYPE_ALPN: u8 = 0x01;
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
pub const PP2_TYPE_SSL: u8 = 0x20;
pub const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
pub const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
/// `client` bit of the SSL TLV: the client connected over TLS.
pub const PP2_CLIENT_SSL: u8 = 0x01;

/// A protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// Which versions a frontend accepts (`proxy_protocol = "v1" | "v2" | "any"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    V1,
    V2,
    Any,
}

impl Accept {
    pub fn as_str(self) -> &'static str {
        match self {
            Accept::V1 => "v1",
            Accept::V2 => "v2",
            Accept::Any => "any",
        }
    }

    fn allows(self, v: Version) -> bool {
        matches!(
            (self, v),
            (Accept::Any, _) | (Accept::V1, Version::V1) | (Accept::V2, Version::V2)
        )
    }
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    /// The client's and the original destination's addresses (source, destination).
    /// `None`: a v2 LOCAL command (the front proxy's own connection, e.g. a health
    /// check), a v1 `UNKNOWN`, or an address family without IP addresses (AF_UNSPEC,
    /// AF_UNIX): the connection keeps its real socket addresses.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
}
