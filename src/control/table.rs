//! The authoritative server table, owned by the control thread: for every server slot,
//! its health counter, the operator's admin state and weight, check results and the
//! passive-health error counts the workers report. Workers only ever see the
//! [`SetServer`] derived from it.

use std::time::{Duration, Instant, SystemTime};

use super::checks::{agent_weight, AgentReply};
use super::health::Health;
use crate::config::{Backend, Config, Server};
use crate::lb::{effective_weight, Admin, Oper};
use crate::msg::{SetServer, Slots};

#[derive(Debug, Default)]
pub struct Table {
    /// By backend slot.
    pub backends: Vec<BackendEntry>,
}

#[derive(Debug)]
pub struct BackendEntry {
    /// False once a reload removed the backend (the slot stays).
    pub live: bool,
    pub config: Backend,
    /// By server slot.
    pub servers: Vec<ServerEntry>,
}

#[derive(Debug, Clone)]
pub struct CheckReport {
    pub at: SystemTime,
    pub ok: bool,
    pub detail: String,
    pub took: Duration,
}

/// What the server's agent said (HAProxy's agent check), kept until it says otherwise.
#[derive(Debug, Clone, Default)]
pub struct AgentView {
    /// The agent said `down`, `fail` or `stopped` (the word), until it says `up`.
    pub down: Option<&'static str>,
    /// The agent's weight percentage, in force until the API sets a weight.
    pub percent: Option<u32>,
    /// Its last answer, or why there was none.
    pub last: Option<AgentReport>,
}

#[derive(Debug, Clone)]
pub struct AgentReport {
    pub at: SystemTime,
    /// The answer was read and understood.
    pub ok: bool,
    /// The answer's first line as received (empty when none).
    pub answer: String,
    pub detail: String,
}

#[derive(Debug)]
pub struct ServerEntry {
    pub live: bool,
    pub config: Server,
    pub health: Health,
    pub admin: Admin,
    /// The operator's weight: from the file, or from the API (`weight_set`).
    pub weight: u32,
    pub weight_set: bool,
    /// When the server last came up, while slow start may still be ramping.
    pub up_since: Option<Instant>,
    pub last_change: SystemTime,
    pub last_check: Option<CheckReport>,
    /// Failed checks in a row (for the log line).
    pub failures_in_row: u32,
    /// Each worker's current run of server-side errors (passive health).
    pub streaks: Vec<u32>,
    /// What the workers were last told.
    pub sent: SetServer,
    /// Bumped to stop the server's check task (reload).
    pub check_generation: u64,
    /// Operational state changes since start.
    pub transitions: u64,
    pub agent: AgentView,
    /// The operator stopped the active check (`disable health`): no probes, and the
    /// state stays as the last results left it (HAProxy 2.6).
    pub check_paused: bool,
    /// The operator stopped the agent (`disable agent`): no questions, its last word
    /// stands.
    pub agent_paused: bool,
}

impl ServerEntry {
    fn new(config: &Server, backend: &Backend, workers: usize) -> Self {
        ServerEntry {
            live: true,
            config: config.clone(),
            health: Health::new(backend.check.rise, backend.check.fall),
            // `disabled = true`: in maintenance until the API says `ready`.
            admin: if config.disabled {
                Admin::Maint
            } else {
                Admin::Ready
            },
            weight: config.weight,
            weight_set: false,
            up_since: None,
            last_change: SystemTime::now(),
            last_check: None,
            failures_in_row: 0,
            streaks: vec![0; workers],
            sent: SetServer::initial_of(config),
            check_generation: 0,
            transitions: 0,
            agent: AgentView::default(),
            check_paused: false,
            agent_paused: false,
        }
    }

    /// Operational state: from checks when the server has them, else up; down while
    /// its agent says down (HAProxy: up needs both the check and the agent).
    pub fn oper(&self) -> Oper {
        if self.agent_down().is_some() {
            return Oper::Down;
        }
        if self.config.check {
            self.health.oper()
        } else {
            Oper::Up
        }
    }

    /// The agent's word while it holds the server down.
    pub fn agent_down(&self) -> Option<&'static str> {
        self.config.probe.agent.as_ref().and(self.agent.down)
    }

    /// What workers must apply now. An agent's percentage is of the configured weight
    /// (HAProxy's initial weight), applied after slow start's ramp.
    pub fn target(&self, now: Instant) -> SetServer {
        let since = self.up_since.map(|t| now.saturating_duration_since(t));
        let weight = match self.agent.percent {
            Some(p) => agent_weight(
                effective_weight(self.config.weight, since, self.config.slow_start),
                p,
            ),
            None => effective_weight(self.weight, since, self.config.slow_start),
        };
        SetServer {
            oper: self.oper(),
            // No address yet (DNS): no traffic, whatever the operator said.
            admin: if self.config.resolved {
                self.admin
            } else {
                Admin::Maint
            },
            weight,
        }
    }

    /// Apply an agent's answer as HAProxy does: `down`/`fail`/`stopped` hold the
    /// server down until `up`; `ready`/`drain`/`maint` set the admin state (the one the
    /// API sets: the last to speak wins); a percentage sets the weight. Words not
    /// said change nothing. The new operational state, when it changed.
    pub fn apply_agent(&mut self, reply: &AgentReply) -> Option<Oper> {
        let before = self.oper();
        if let Some(down) = reply.down {
            self.agent.down = down;
        }
        if let Some(admin) = reply.admin {
            if self.admin != admin {
                self.admin = admin;
                self.last_change = SystemTime::now();
            }
        }
        if let Some(p) = reply.weight_percent {
            self.agent.percent = Some(p);
        }
        let after = self.oper();
        (after != before).then_some(after)
    }

    /// Still ramping up under slow start.
    pub fn ramping(&self, now: Instant) -> bool {
        self.up_since
            .is_some_and(|t| now.saturating_duration_since(t) < self.config.slow_start)
    }

    /// Record an operational change (checks or passive health).
    pub fn changed(&mut self, to: Oper, now: Instant) {
        self.last_change = SystemTime::now();
        self.transitions += 1;
        self.streaks.iter_mut().for_each(|s| *s = 0);
        self.up_since = (to == Oper::Up && !self.config.slow_start.is_zero()).then_some(now);
    }
}

impl Table {
    /// Take a configuration laid out by `slots`. Servers that stay keep their health,
    /// admin state and API weight; a server at a new address (a new slot) inherits the
    /// admin state and API weight of the one of the same name. Slots that left are
    /// marked not live.
    pub fn apply(&mut self, config: &Config, slots: &Slots, workers: usize) {
        let mut live_backends = vec![false; slots.server_slots.len()];
        for (bi, b) in config.backends.iter().enumerate() {
            let slot = slots.backends[bi];
            live_backends[slot] = true;
            if slot >= self.backends.len() {
                self.backends.push(BackendEntry {
                    live: true,
                    config: b.clone(),
                    servers: Vec::new(),
                });
            }
            let entry = &mut self.backends[slot];
            let mut live = vec![false; slots.server_slots[slot]];
            for (si, s) in b.servers.iter().enumerate() {
                let ss = slots.servers[bi][si];
                live[ss] = true;
                if ss >= entry.servers.len() {
                    let mut new = ServerEntry::new(s, b, workers);
                    if let Some(old) = entry.servers.iter().find(|o| o.config.name == s.name) {
                        new.admin = old.admin;
                        if old.weight_set {
                            new.weight = old.weight;
                            new.weight_set = true;
                        }
                    }
                    entry.servers.push(new);
                    continue;
                }
                let e = &mut entry.servers[ss];
                if e.config.check != s.check || !e.live {
                    e.health = Health::new(b.check.rise, b.check.fall);
                } else if (b.check.rise, b.check.fall)
                    != (entry.config.check.rise, entry.config.check.fall)
                {
                    // Keep the state, restart the count in the new scale.
                    let mut h = Health::new(b.check.rise, b.check.fall);
                    if e.health.oper() == Oper::Down {
                        h.force_down();
                    }
                    e.health = h;
                }
                if !e.weight_set {
                    e.weight = s.weight;
                }
                if s.probe.agent.is_none() {
                    e.agent = AgentView::default();
                }
                e.config = s.clone();
                e.live = true;
            }
            for (ss, e) in entry.servers.iter_mut().enumerate() {
                if !live[ss] {
                    e.live = false;
                }
            }
            entry.config = b.clone();
            entry.live = true;
        }
        for (slot, entry) in self.backends.iter_mut().enumerate() {
            if !live_backends[slot] {
                entry.live = false;
                entry.servers.iter_mut().for_each(|s| s.live = false);
            }
        }
    }

    /// The state of every server of `config`, by configuration index (for a reload).
    pub fn states(&self, config: &Config, slots: &Slots, now: Instant) -> Vec<Vec<SetServer>> {
        config
            .backends
            .iter()
            .enumerate()
            .map(|(bi, b)| {
                (0..b.servers.len())
                    .map(|si| {
                        self.backends[slots.backends[bi]].servers[slots.servers[bi][si]].target(now)
                    })
                    .collect()
            })
            .collect()
    }

    /// Find a live server by names: `(backend slot, server slot)`.
    pub fn find(&self, backend: &str, server: &str) -> Option<(usize, usize)> {
        let (bi, b) = self
            .backends
            .iter()
            .enumerate()
            .find(|(_, b)| b.live && b.config.name == backend)?;
        let si = b
            .servers
            .iter()
            .position(|s| s.live && s.config.name == server)?;
        Some((bi, si))
    }

    pub fn server_mut(&mut self, backend: usize, server: usize) -> Option<&mut ServerEntry> {
        self.backends.get_mut(backend)?.servers.get_mut(server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::checks::parse_agent;
    use crate::lb::WEIGHT_SCALE;

    /// A server with a check (rise 1, fall 1) and an agent, weight 10.
    fn entry() -> ServerEntry {
        let text = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n\
                    [[backend]]\nname = \"b\"\n[backend.check]\nrise = 1\nfall = 1\nagent_port = 9\n\
                    [[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\nweight = 10\ncheck = true\nagent_check = true\n";
        let c = Config::parse(text, "t.toml").unwrap();
        ServerEntry::new(&c.backends[0].servers[0], &c.backends[0], 1)
    }

    fn say(e: &mut ServerEntry, line: &str) -> Option<Oper> {
        e.apply_agent(&parse_agent(line.as_bytes()).unwrap())
    }

    #[test]
    fn up_needs_both_the_check_and_the_agent() {
        let mut e = entry();
        assert_eq!(e.oper(), Oper::Up);
        assert_eq!(say(&mut e, "stopped"), Some(Oper::Down));
        assert_eq!(e.agent_down(), Some("stopped"));
        // The check failing and passing again does not bring it back...
        e.health.record(false);
        e.health.record(true);
        assert_eq!(e.oper(), Oper::Down);
        // ... the agent's up does, while the check passes.
        e.health.record(false);
        assert_eq!(say(&mut e, "up"), None, "the check still says down");
        assert_eq!(e.health.record(true), Some(Oper::Up));
        assert_eq!(e.oper(), Oper::Up);
        // A word about something else leaves the agent's down alone.
        assert_eq!(say(&mut e, "down"), Some(Oper::Down));
        assert_eq!(say(&mut e, "50% ready"), None);
        assert_eq!(e.oper(), Oper::Down);
    }

    #[test]
    fn admin_words_share_the_operators_state_and_weights_are_of_the_configured_weight() {
        let mut e = entry();
        let now = Instant::now();
        say(&mut e, "drain");
        assert_eq!(e.target(now).admin, Admin::Drain);
        say(&mut e, "maint");
        assert_eq!(e.target(now).admin, Admin::Maint);
        say(&mut e, "ready 25%");
        let t = e.target(now);
        assert_eq!((t.admin, t.weight), (Admin::Ready, 10 * WEIGHT_SCALE / 4));
        // Relative to the configured weight, not to the last one.
        say(&mut e, "200%");
        assert_eq!(e.target(now).weight, 20 * WEIGHT_SCALE);
        say(&mut e, "0%");
        assert!(!e.target(now).usable());
    }
}
