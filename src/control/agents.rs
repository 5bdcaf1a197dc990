//! Agent answers turned into server state (HAProxy's agent check): the control
//! thread applies what the agent said to the table (`ServerEntry::apply_agent`),
//! logs each change and tells the workers, as for any other change.

use std::rc::Rc;
use std::time::{Instant, SystemTime};

use super::checks::parse_agent;
use super::plane::Control;
use super::table::AgentReport;
use crate::lb::Oper;

impl Control {
    /// An agent's answer (or why there was none); false when the task is stale. An
    /// agent that cannot be reached or says nothing understood changes nothing, as in
    /// HAProxy (the health check is what tests reachability).
    pub fn agent_done(
        self: &Rc<Self>,
        b: usize,
        s: usize,
        generation: u64,
        answer: Result<Vec<u8>, String>,
    ) -> bool {
        let mut mail = None;
        let lines = {
            let mut table = self.table.borrow_mut();
            let Some(backend) = table.backends.get_mut(b) else {
                return false;
            };
            let name = backend.config.name.clone();
            let Some(entry) = backend.servers.get_mut(s) else {
                return false;
            };
            if entry.check_generation != generation || self.stopping.get() {
                return false;
            }
            let server = format!("{name}/{}", entry.config.name);
            let (raw, parsed) = match answer {
                Ok(raw) => {
                    let parsed = parse_agent(&raw);
                    (raw, parsed)
                }
                Err(e) => (Vec::new(), Err(e)),
            };
            let answer = first_line(&raw);
            let mut lines = Vec::new();
            let (ok, detail) = match parsed {
                Err(e) => (false, format!("{e} (ignored)")),
                Ok(reply) => {
                    let (admin, percent) = (entry.admin, entry.agent.percent);
                    if let Some(to) = entry.apply_agent(&reply) {
                        entry.changed(to, Instant::now());
                        let why = match entry.agent_down() {
                            Some(word) => format!("agent says {word:?}"),
                            None => "agent says \"up\"".to_string(),
                        };
                        lines.push(format!(
                            "{server} {}: {why} ({answer:?})",
                            if to == Oper::Up { "UP" } else { "DOWN" }
                        ));
                        mail = Some((to, why));
                    }
                    if entry.admin != admin {
                        lines.push(format!(
                            "{server} admin state {} set by its agent ({answer:?})",
                            format!("{:?}", entry.admin).to_uppercase()
                        ));
                    }
                    if entry.agent.percent != percent {
                        lines.push(format!(
                            "{server} weight {}% of the configured weight set by its agent",
                            entry.agent.percent.unwrap_or(100)
                        ));
                    }
                    let mut detail = format!("agent said {answer:?}");
                    if !reply.unknown.is_empty() {
                        detail.push_str(&format!(" (ignored: {})", reply.unknown.join(" ")));
                    }
                    (true, detail)
                }
            };
            if !ok && entry.agent.last.as_ref().is_none_or(|l| l.ok) {
                lines.push(format!("{server} agent check failed: {detail}"));
            }
            entry.agent.last = Some(AgentReport {
                at: SystemTime::now(),
                ok,
                answer,
                detail,
            });
            lines
        };
        self.sync(b, s);
        for line in lines {
            tracing::info!("{line}");
        }
        if let Some((to, why)) = mail {
            self.mail_server(b, s, to, &why);
        }
        true
    }
}

/// The first line of an agent's answer, for logs and the API (at most 100 characters).
fn first_line(raw: &[u8]) -> String {
    let line = raw
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or(b"");
    String::from_utf8_lossy(line).chars().take(100).collect()
}
