//! Whether this node announces its service addresses now: a pure function of what
//! health tracking found, the operator's switch (`POST /api/announce`), whether the
//! process is stopping, and time (`hold_down`: after a withdrawal for health, the
//! node must stay healthy that long before it announces again, so a flapping backend
//! does not flap the routes of every router in the fabric).

use std::time::{Duration, Instant};

/// What the control plane has told the decider so far.
#[derive(Debug, Clone)]
pub struct Decider {
    hold_down: Duration,
    /// `false` after `POST /api/announce off`.
    operator_on: bool,
    stopping: bool,
    /// What health tracking found wrong (empty: healthy).
    problems: Vec<String>,
    /// Since when health tracking finds nothing wrong after a problem (`None` while
    /// a problem lasts, and from the start: the first healthy report announces at
    /// once).
    healthy_since: Option<Instant>,
    /// Whether health tracking ever found a problem (hold-down applies after one).
    had_problem: bool,
    /// Whether a health report arrived (before it, the node waits for its first
    /// checks: see [`Decider::pending`]).
    evaluated: bool,
}

/// The decision and its reason, as shown by the admin API and logged on a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub announce: bool,
    pub reason: String,
    /// When to decide again without any new input (the hold-down ends).
    pub recheck_at: Option<Instant>,
}

impl Decider {
    pub fn new(hold_down: Duration) -> Self {
        Decider {
            hold_down,
            operator_on: true,
            stopping: false,
            // Until the first report: nothing is known to be wrong, nothing is known
            // to be right either; the control plane reports before it decides.
            problems: vec!["health not evaluated yet".into()],
            healthy_since: None,
            had_problem: false,
            evaluated: false,
        }
    }

    /// Before the first report: why there is none yet (the first health checks have
    /// not all run). Not a problem: no hold-down follows. Ignored once reports come.
    pub fn pending(&mut self, why: String) {
        if !self.evaluated {
            self.problems = vec![why];
        }
    }

    /// Health tracking's findings at `now`.
    pub fn health(&mut self, problems: Vec<String>, now: Instant) {
        self.evaluated = true;
        let was_healthy = self.problems.is_empty();
        if problems.is_empty() && !was_healthy {
            self.healthy_since = Some(now);
        }
        if !problems.is_empty() {
            self.healthy_since = None;
            self.had_problem = true;
        }
        self.problems = problems;
    }

    /// The operator's switch: `false` drains this node (withdraw, keep serving what
    /// still arrives), `true` announces again once healthy.
    pub fn operator(&mut self, on: bool) {
        self.operator_on = on;
    }

    pub fn operator_on(&self) -> bool {
        self.operator_on
    }

    /// The process is stopping: withdraw for good.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    pub fn decide(&self, now: Instant) -> Decision {
        let no = |reason: String| Decision {
            announce: false,
            reason,
            recheck_at: None,
        };
        if self.stopping {
            return no("stopping".into());
        }
        if !self.operator_on {
            return no("drained by the operator (POST /api/announce off)".into());
        }
        if !self.problems.is_empty() {
            return no(self.problems.join("; "));
        }
        if let (true, Some(since)) = (self.had_problem, self.healthy_since) {
            let until = since + self.hold_down;
            if now < until {
                return Decision {
                    announce: false,
                    reason: format!(
                        "healthy again, holding down for {:?} more",
                        until.saturating_duration_since(now)
                    ),
                    recheck_at: Some(until),
                };
            }
        }
        Decision {
            announce: true,
            reason: "healthy".into(),
            recheck_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_secs(5);

    fn problem(p: &str) -> Vec<String> {
        vec![p.to_string()]
    }

    #[test]
    fn nothing_is_announced_before_the_first_health_report() {
        let d = Decider::new(HOLD);
        let t = Instant::now();
        assert!(!d.decide(t).announce);
        assert_eq!(d.decide(t).reason, "health not evaluated yet");
    }

    #[test]
    fn waiting_for_the_first_checks_is_no_problem() {
        let mut d = Decider::new(HOLD);
        let t = Instant::now();
        d.pending("first health checks of backend app still running".into());
        let no = d.decide(t);
        assert!(!no.announce);
        assert_eq!(
            no.reason,
            "first health checks of backend app still running"
        );
        d.health(vec![], t);
        assert!(d.decide(t).announce, "no hold-down after waiting");
        // Once reports come, waiting is over for good.
        d.pending("later".into());
        assert!(d.decide(t).announce);
    }

    #[test]
    fn healthy_at_start_announces_at_once_without_hold_down() {
        let mut d = Decider::new(HOLD);
        let t = Instant::now();
        d.health(vec![], t);
        assert_eq!(
            d.decide(t),
            Decision {
                announce: true,
                reason: "healthy".into(),
                recheck_at: None
            }
        );
    }

    #[test]
    fn unhealthy_at_start_waits_for_health_then_holds_down() {
        let mut d = Decider::new(HOLD);
        let t = Instant::now();
        d.health(problem("frontend web has no usable server"), t);
        let no = d.decide(t);
        assert!(!no.announce);
        assert_eq!(no.reason, "frontend web has no usable server");
        d.health(vec![], t + Duration::from_secs(1));
        let held = d.decide(t + Duration::from_secs(2));
        assert!(!held.announce, "{held:?}");
        assert_eq!(held.recheck_at, Some(t + Duration::from_secs(6)));
        assert!(d.decide(t + Duration::from_secs(6)).announce);
    }

    #[test]
    fn a_problem_withdraws_and_a_flap_restarts_the_hold_down() {
        let mut d = Decider::new(HOLD);
        let t = Instant::now();
        d.health(vec![], t);
        assert!(d.decide(t).announce);
        let problems = vec![
            "frontend web has no usable server".to_string(),
            "worker 1 is not answering (3s without a reply)".to_string(),
        ];
        d.health(problems, t + Duration::from_secs(1));
        let no = d.decide(t + Duration::from_secs(1));
        assert!(!no.announce);
        assert!(no.reason.contains("frontend web") && no.reason.contains("worker 1"));
        d.health(vec![], t + Duration::from_secs(2));
        d.health(problem("again"), t + Duration::from_secs(4));
        d.health(vec![], t + Duration::from_secs(5));
        assert!(
            !d.decide(t + Duration::from_secs(9)).announce,
            "held from 5s"
        );
        assert!(d.decide(t + Duration::from_secs(10)).announce);
        // Same findings again change nothing.
        d.health(vec![], t + Duration::from_secs(11));
        assert!(d.decide(t + Duration::from_secs(11)).announce);
    }

    #[test]
    fn without_hold_down_health_announces_again_at_once() {
        let mut d = Decider::new(Duration::ZERO);
        let t = Instant::now();
        d.health(vec![], t);
        d.health(problem("x"), t);
        assert!(!d.decide(t).announce);
        d.health(vec![], t);
        assert!(d.decide(t).announce);
    }

    #[test]
    fn the_operator_drains_a_healthy_node_and_undrains_it() {
        let mut d = Decider::new(HOLD);
        let t = Instant::now();
        d.health(vec![], t);
        d.operator(false);
        let no = d.decide(t);
        assert!(!no.announce);
        assert!(no.reason.contains("drained by the operator"));
        // Health changes underneath do not undo the drain.
        d.health(vec![], t + Duration::from_secs(1));
        assert!(!d.decide(t + Duration::from_secs(1)).announce);
        d.operator(true);
        assert!(d.decide(t + Duration::from_secs(1)).announce);
        // On again while unhealthy: health still decides.
        d.health(problem("down"), t + Duration::from_secs(2));
        d.operator(false);
        d.operator(true);
        assert!(!d.decide(t + Duration::from_secs(2)).announce);
    }

    #[test]
    fn stopping_withdraws_for_good() {
        let mut d = Decider::new(HOLD);
        let t = Instant::now();
        d.health(vec![], t);
        d.stop();
        d.operator(true);
        d.health(vec![], t);
        assert_eq!(d.decide(t).reason, "stopping");
        assert!(!d.decide(t + HOLD * 2).announce);
    }
}
