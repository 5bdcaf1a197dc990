//! # ringlb
//!
//! A thread-per-core load balancer and reverse proxy for Linux, built on monoio
//! (io_uring), with virtual-IP failover (VRRPv3, like keepalived) in the same process.
//!
//! ## Life of a connection (TCP mode)
//!
//! 1. At start-up the supervisor ([`run`]) validates the configuration ([`config`])
//!    and binds one `SO_REUSEPORT` socket per frontend address **per worker**
//!    ([`listen::bind_all`]); the kernel spreads incoming connections across them
//!    (with `steering = "source"`, by client address: [`listen::steer`]).
//! 2. Worker *i* ([`worker`]) is a thread pinned to core *i* running its own monoio
//!    runtime. Its accept loop takes the connection unless the worker is at its share
//!    of `global.max_connections` (then accepting pauses until a connection ends),
//!    reads the PROXY protocol header first on a frontend with `proxy_protocol`
//!    ([`proxy_protocol`]: its client address is the client from then on), and
//!    completes the TLS handshake when the frontend terminates TLS ([`tls`]); a tcp
//!    frontend with `sni` routes reads the ClientHello instead and picks the backend
//!    by its server name (TLS passed through untouched).
//! 3. The session asks the backend's balancer ([`lb`]) for a server, using this
//!    worker's own copy of the servers' state, and connects with `timeout_connect`,
//!    retrying (and redispatching on the last retry) when the connect fails.
//! 4. The relay copies bytes both ways with two buffers from the worker's pool
//!    (always handed out empty: no byte crosses connections), passes a FIN on as a
//!    half-close, and ends on inactivity (`timeout_client` / `timeout_server`).
//!    In HTTP mode each request is parsed strictly ([`http`]), routed, and sent on a
//!    pooled keep-alive server connection; bodies stream through one bounded buffer
//!    per direction.
//! 5. Outcomes are counted in the worker's own statistics; a server-side failure
//!    lengthens the server's error run, which the worker reports (passive health).
//! 6. The control plane ([`control`]) never touches worker memory: it probes servers,
//!    decides server states and reloads the configuration, and reaches the workers
//!    only through messages ([`msg`]: updates out over a per-worker channel with a
//!    doorbell, events back); the worker applies them between requests. The admin
//!    listener ([`admin`]) reads the control plane's state and statistics copies. With
//!    `[vrrp]` the virtual router ([`vrrp`]) runs on the same thread: the host that is
//!    master holds the virtual IPs the frontends listen on.
//!
//! ## Module map
//!
//! Arrows run one way, top to bottom; `tests/layout/` fails if they do not.
//!
//! | module | what | may import |
//! |---|---|---|
//! | [`run`] | supervisor: start-up, signals, lifecycle, stop | everything below |
//! | [`admin`] | admin listener: stats page, `/metrics`, JSON API, runtime commands | control, msg, announce, vrrp, config, lb, http, tls, logging, rules, proxy_protocol |
//! | [`control`] | control plane: server table, health checks, passive health, reload, VRRP and announce tracking | msg, announce, vrrp, listen, config, lb, http, tls, logging, rules, proxy_protocol |
//! | [`worker`] | data plane: accept, sessions, HTTP exchange, relay, per-worker state | msg, listen, config, lb, http, tls, logging, rules, proxy_protocol |
//! | [`announce`] | service addresses announced through BIRD (BGP/ECMP) while healthy: TUN device, decision (pure) | vrrp, config, logging |
//! | [`vrrp`] | VRRPv3 virtual router: codec, state machine, raw socket, netlink | config, logging |
//! | [`msg`] | the messages between control plane and workers, and statistics types | config, lb, listen, rules, proxy_protocol |
//! | [`listen`] | binding listening sockets for every worker; which socket errors are ringlb's own | config |
//! | [`logging`] | log output: syslog frames, access-log formats, writer threads, repeated lines at most once per period | — |
//! | [`lb`] | balancing algorithms behind [`lb::Balancer`]; pure functions of state and time | config |
//! | [`config`] | TOML → raw serde structs → validated [`config::Config`]; errors name file, line, key | tls, rules, logging, proxy_protocol |
//! | [`proxy_protocol`] | PROXY protocol v1/v2: incremental parser and encoders; pure | — |
//! | [`tls`] | certificates, rustls configurations, client/server streams and handshakes | — |
//! | [`rules`] | rule engine: ACLs, HAProxy-style rules by phase, tracking tables; pure functions of their inputs and time | — |
//! | [`http`] | HTTP/1.1 codec: strict request/response parsing, framing, chunked validation | — |
//! | [`demo`] | `ringlb demo`: built-in backends (plain std threads) and their configuration text | — |
//! | [`import`] | `ringlb import`: haproxy.cfg / keepalived.conf → ringlb TOML, every line cited or reported; pure | rules (log-format values) |

pub mod admin;
pub mod announce;
pub mod config;
pub mod control;
pub mod demo;
pub mod http;
pub mod import;
pub mod lb;
pub mod listen;
pub mod logging;
pub mod msg;
pub mod proxy_protocol;
pub mod rules;
pub mod run;
pub mod tls;
pub mod vrrp;
pub mod worker;
