//! # ringlb
//!
//! A thread-per-core load balancer and reverse proxy for Linux, built on monoio
//! (io_uring), with virtual-IP failover (VRRPv3, like keepalived) in the same process.
//!
//! ## Life of a connection (TCP mode)
//!
//! 1. At start-up the main thread validates the configuration ([`config`]) and binds
//!    one `SO_REUSEPORT` socket per frontend address **per worker**
//!    ([`worker::bind_all`]); the kernel spreads incoming connections across them.
//! 2. Worker *i* is a thread pinned to core *i* running its own monoio runtime. Its
//!    accept loop takes the connection unless the worker is at its share of
//!    `global.max_connections` (then accepting pauses until a connection ends), and
//!    completes the TLS handshake first when the frontend terminates TLS ([`tls`]).
//! 3. The session asks the backend's balancer ([`lb`]) for a server, using this
//!    worker's own copy of the servers' state, and connects with `timeout_connect`,
//!    retrying (and redispatching on the last retry) when the connect fails.
//! 4. The relay copies bytes both ways with two reused buffers, passes a FIN on as a
//!    half-close, and ends on inactivity (`timeout_client` / `timeout_server`).
//!    In HTTP mode ([`worker`]'s HTTP session) each request is parsed strictly
//!    ([`http`]), routed, and sent on a pooled keep-alive server connection; bodies
//!    stream through one bounded buffer per direction.
//! 5. Outcomes are counted in the worker's own statistics; a server-side failure
//!    lengthens the server's error run, which the worker reports (passive health).
//! 6. The control thread ([`control`]) never touches worker memory: it probes servers,
//!    serves the admin API and reloads the configuration, and sends the results
//!    (server state, new configuration, shutdown) over a per-worker channel, ringing
//!    the worker's doorbell; the worker applies them between requests. With `[vrrp]`
//!    it also runs the virtual router ([`control::vrrp`]): the host that is master
//!    holds the virtual IPs the frontends listen on.
//!
//! ## Module map
//!
//! | module | what |
//! |---|---|
//! | [`config`] | TOML → raw serde structs → validated [`config::Config`]; errors name file, line, key |
//! | [`worker`] | data plane: listeners, sessions, relay, per-worker state |
//! | [`lb`] | balancing algorithms behind [`lb::Balancer`]; pure functions of state and time |
//! | [`control`] | control thread: lifecycle, health checks, admin API, reload, broadcast to workers, VRRP ([`control::vrrp`]) |
//! | [`http`] | HTTP/1.1 codec: strict request/response parsing, framing, chunked validation |
//! | [`tls`] | certificates (loading, checks, SNI choice), rustls configurations, `gen-cert` |
//! | [`demo`] | `ringlb demo`: built-in backends and configuration |

pub mod admin;
pub mod config;
pub mod control;
pub mod demo;
pub mod http;
pub mod lb;
pub mod listen;
pub mod msg;
pub mod run;
pub mod tls;
pub mod vrrp;
pub mod worker;
