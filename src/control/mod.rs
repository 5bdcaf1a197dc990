//! The control plane: one thread, running its own small monoio runtime (the epoll
//! driver: it handles a few sockets, not the traffic). It holds the authoritative
//! server table, runs health checks, turns check results, passive-health reports and
//! operator commands into server states, reloads the configuration, and tracks health
//! for VRRP. It reaches workers only through `crate::msg` (updates out, events in); it
//! never touches their memory, and never imports the data plane.
//!
//! | file | what |
//! |---|---|
//! | `plane.rs` | [`Control`]: the control thread's state, server decisions, statistics requests |
//! | `table.rs` | the server table: health counters, admin state, weights, check results, what agents said |
//! | `health.rs` | HAProxy's rise/fall health counter and check intervals (pure) |
//! | `checks/` | active health checks and agent checks: one task per checked server (tcp, http, scripted tcp) and per agent; pure judges, thin probes |
//! | `agents.rs` | agent answers applied to the server table (down/up, drain/maint/ready, weight), logged and broadcast |
//! | `resolve.rs` | runtime DNS resolution of servers and templates: when to ask, which slot gets which address |
//! | `dns.rs` | the DNS stub: one A/AAAA question over UDP to the nameservers (hickory-proto wire format) |
//! | `reload.rs` | hot reload: validate, bind, assign slots, send `Update::Reload` |
//! | `mail.rs` | alert mails: VRRP state changes (keepalived's wording), server health changes (HAProxy's), a bounded queue to one SMTP thread |
//! | `smtp.rs` | the SMTP dialogue (plain, bounded by a timeout) and the message text (pure) |
//! | `track.rs` | VRRP health tracking: frontends without servers, silent workers |
//! | `announce.rs` | the same findings for `[announce]`, limited to its tracked frontends |
//! | `history.rs` | the stats history: a ring of samples of rates, latency percentiles and server states (pure) |
//! | `sampler.rs` | the history's sampler: workers' counters every 2 s, added up by slot |

mod agents;
mod announce;
mod checks;
mod dns;
mod health;
pub mod history;
mod mail;
mod plane;
mod reload;
mod resolve;
mod sampler;
mod smtp;
pub mod table;
mod track;

pub use checks::Probe;
pub use plane::Control;
pub use reload::Listening;
pub use sampler::history_loop;
pub use track::ping_loop;
