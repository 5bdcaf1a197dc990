//! TCP mode through the real binary: balancing, byte-exact relay, half-close,
//! retries and redispatch, no usable server, inactivity timeout, connection limit, and
//! bulk transfers (the splice path) with either I/O driver: byte-exact both ways,
//! half-close, a stalled reader (and the pipes' size), other sessions served meanwhile.
//!
//! Files (one test binary, `cargo test --test tcp_proxy`):
//! - `main.rs`: the shared imports.
//! - `relay.rs`: relaying and balancing: weights, payloads, half-close, retries, servers down, timeouts, limits, drivers.
//! - `bulk.rs`: bulk transfers: both ways with either driver, fairness between sessions, a stalled reader and its bounds.
//! - `keepalive.rs`: TCP keep-alive probes on client and server sockets, only when asked.
//! - `ring_ops.rs`: the io_uring operations of a connection (tracefs, root): no cancel after a close.

#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::thread;
use std::time::Duration;

use common::*;

mod bulk;
mod keepalive;
mod relay;
mod ring_ops;
