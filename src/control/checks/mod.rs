//! Active health checks and agent checks, run by the control thread's own monoio
//! runtime: one small task per checked server (and one per agent), so a backend is
//! probed once per interval whatever the number of workers, and a hundred probes in
//! flight cost a hundred sockets, not a hundred threads. The judging is pure and
//! tested without sockets; the I/O in `probe.rs` stays thin.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Failure`], the check and agent loops |
//! | `probe.rs` | the I/O: connect (to `port`/`addr`), TLS, the http exchange, the script, the agent read |
//! | `http.rs` | the http check's request and the verdict on its response (status set, body substring) |
//! | `grpc.rs` | the grpc check's request (`grpc.health.v1.Health/Check`) and the verdict on its answer (status, trailers, `HealthCheckResponse`) |
//! | `h2_call.rs` | the I/O of checks over HTTP/2 (grpc; http with `proto = "h2"`): one request over the connection `probe.rs` opened |
//! | `script.rs` | the judge of a scripted check's expect steps, and the excerpt a failure shows |
//! | `agent.rs` | the agent's answer parsed as HAProxy does, and the weight a percentage gives |

mod agent;
mod grpc;
mod h2_call;
mod http;
mod probe;
mod script;

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use agent::{agent_weight, parse_agent, AgentReply};
pub use probe::{probe, read_agent};

use super::health::jitter;
use super::plane::Control;

/// Why a check failed, as the log and the stats page say it.
#[derive(Debug)]
pub enum Failure {
    Refused,
    Timeout(Duration),
    Io(io::Error),
    Status {
        got: u16,
        /// The expected set as written back (`200`, `200-399`).
        want: String,
    },
    Body {
        want: String,
        got: usize,
    },
    BadResponse,
    Tls(String),
    /// A check over HTTP/2 found no HTTP/2: the library refused what came back (an
    /// HTTP/1.x server's answer to the preface is not a frame).
    NotH2(String),
    /// The HTTP/2 exchange failed: the server reset the stream, sent GOAWAY, closed.
    H2(String),
    /// A grpc check's call failed or the server is not SERVING.
    Grpc(grpc::GrpcFailure),
    /// A step of a scripted check: its number (from 1), what it is, what went wrong.
    Step {
        index: usize,
        step: String,
        detail: String,
    },
    /// ringlb itself was short of descriptors, buffers or ports: the check did not
    /// run, and says nothing about the server.
    Local(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused"),
            Failure::Timeout(t) => write!(f, "no answer within {t:?}"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Status { got, want } => write!(f, "HTTP status {got}, expected {want}"),
            Failure::Body { want, got } => {
                write!(f, "HTTP body ({got} bytes) does not contain {want:?}")
            }
            Failure::BadResponse => f.write_str("invalid HTTP response"),
            Failure::Tls(e) => f.write_str(e),
            Failure::NotH2(e) => write!(f, "no HTTP/2 answer (an HTTP/1.x server?): {e}"),
            Failure::H2(e) => write!(f, "HTTP/2: {e}"),
            Failure::Grpc(g) => write!(f, "{g}"),
            Failure::Step {
                index,
                step,
                detail,
            } => write!(f, "step {index} {step}: {detail}"),
            Failure::Local(e) => write!(f, "check not run: ringlb is short of resources ({e})"),
        }
    }
}

/// Check one server until its generation changes (reload) or ringlb stops. The first
/// check waits `first`, so that the checks of many servers are spread over an interval.
pub async fn check_loop(
    control: Rc<Control>,
    backend: usize,
    server: usize,
    generation: u64,
    first: Duration,
) {
    monoio::time::sleep(first).await;
    loop {
        let Some((check, config)) = control.check_target(backend, server, generation) else {
            return;
        };
        if control.paused(backend, server, Probe::Health) {
            monoio::time::sleep(check.interval).await;
            continue;
        }
        let started = Instant::now();
        let result = probe(&check, &config).await;
        // A result that comes back after `disable health` is ignored, as HAProxy does.
        if control.paused(backend, server, Probe::Health) {
            continue;
        }
        let Some(next) = control.check_done(backend, server, generation, result, started.elapsed())
        else {
            return;
        };
        monoio::time::sleep(jitter(next, control.random())).await;
    }
}

/// Ask one server's agent every `agent_interval` until the generation changes.
pub async fn agent_loop(
    control: Rc<Control>,
    backend: usize,
    server: usize,
    generation: u64,
    first: Duration,
) {
    monoio::time::sleep(first).await;
    loop {
        let Some((_, config)) = control.check_target(backend, server, generation) else {
            return;
        };
        let Some(agent) = config.probe.agent.clone() else {
            return;
        };
        if control.paused(backend, server, Probe::Agent) {
            monoio::time::sleep(agent.interval).await;
            continue;
        }
        let answer = read_agent(&agent, agent.address(config.address)).await;
        if control.paused(backend, server, Probe::Agent) {
            continue;
        }
        if !control.agent_done(backend, server, generation, answer) {
            return;
        }
        monoio::time::sleep(jitter(agent.interval, control.random())).await;
    }
}

/// Which of a server's probes the operator stops or resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The active health check.
    Health,
    /// The agent check.
    Agent,
}

impl Control {
    /// `disable health|agent` (`paused`) or `enable ...`: stop or resume one probe of
    /// a server. Its state stays as the last results left it: a server down stays
    /// down, one up stays up (HAProxy 2.6); nothing changes for the workers. False
    /// when the server has no such probe.
    pub fn pause_probe(&self, b: usize, s: usize, which: Probe, paused: bool) -> bool {
        let mut table = self.table.borrow_mut();
        let Some(entry) = table.server_mut(b, s) else {
            return false;
        };
        match which {
            Probe::Health if entry.config.check => entry.check_paused = paused,
            Probe::Agent if entry.config.probe.agent.is_some() => entry.agent_paused = paused,
            _ => return false,
        }
        true
    }

    /// Whether the operator stopped this probe.
    pub fn paused(&self, b: usize, s: usize, which: Probe) -> bool {
        let table = self.table.borrow();
        let Some(entry) = table.backends.get(b).and_then(|be| be.servers.get(s)) else {
            return false;
        };
        match which {
            Probe::Health => entry.check_paused,
            Probe::Agent => entry.agent_paused,
        }
    }
}
