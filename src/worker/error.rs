//! Why a session ended badly, and which side's fault it was: only server-side
//! failures may count against a server (passive health).

use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("backend {0:?} has no usable server")]
    NoServer(String),
    #[error("backend {backend:?}: every server is at its connection limit ({why})")]
    Queue {
        backend: String,
        why: super::queue::Refused,
    },
    #[error("server {server}: connect failed: {source}")]
    Connect {
        server: String,
        #[source]
        source: io::Error,
    },
    #[error("server {server}: connect timed out")]
    ConnectTimeout { server: String },
    #[error("{0} side: {1}")]
    Io(Side, #[source] io::Error),
    #[error("{0} side inactive past its timeout")]
    Timeout(Side),
    /// ringlb itself is short of descriptors, buffers or local ports: neither side's
    /// fault, and never counted against a server.
    #[error("ringlb is short of resources: {0}")]
    Local(#[source] io::Error),
}

impl SessionError {
    /// The side that failed, if any; `None` when there was nothing to blame (no server).
    pub fn side(&self) -> Option<Side> {
        match self {
            SessionError::NoServer(_) | SessionError::Queue { .. } | SessionError::Local(_) => None,
            SessionError::Connect { .. } | SessionError::ConnectTimeout { .. } => {
                Some(Side::Server)
            }
            SessionError::Io(side, _) | SessionError::Timeout(side) => Some(*side),
        }
    }
}
