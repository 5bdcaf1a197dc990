//! A virtual router's priority from everything it tracks, pure: its frontends
//! (`track_frontends`), other interfaces, check programs and files, with
//! keepalived's weights (`config::TrackScript`): 0 = FAULT while failing, a positive
//! weight is added while fine, a negative one while failing. The result is clamped
//! to 1..=254, as keepalived does. Programs pass or fail by `rise`/`fall` runs.

use crate::config::Vrrp as VrrpConfig;

/// A check program's state, HAProxy/keepalived style: it changes only after `rise`
/// successes (or `fall` failures) in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    /// Results in a row that disagree with `ok`.
    against: u32,
}

impl Check {
    pub fn new(init_fail: bool) -> Check {
        Check {
            ok: !init_fail,
            against: 0,
        }
    }

    /// Record one result; true when the state changed.
    pub fn record(&mut self, success: bool, rise: u32, fall: u32) -> bool {
        if success == self.ok {
            self.against = 0;
            return false;
        }
        self.against += 1;
        if self.against < if success { rise } else { fall } {
            return false;
        }
        self.ok = success;
        self.against = 0;
        true
    }
}

/// What one tracked thing does to the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Fault,
    Add(i64),
}

/// A check or interface that is `ok` (or not), with keepalived's `weight`.
pub fn check_effect(ok: bool, weight: i32) -> Effect {
    match (weight, ok) {
        (0, false) => Effect::Fault,
        (0, true) => Effect::None,
        (w, true) if w > 0 => Effect::Add(i64::from(w)),
        (w, false) if w < 0 => Effect::Add(i64::from(w)),
        _ => Effect::None,
    }
}

/// A track file holding `value`: weight 0 faults on any non-zero value; otherwise
/// value × weight is added, and −254 or less is a FAULT.
pub fn file_effect(value: i64, weight: i32) -> Effect {
    if weight == 0 {
        return if value == 0 {
            Effect::None
        } else {
            Effect::Fault
        };
    }
    match value.saturating_mul(i64::from(weight)) {
        r if r <= -254 => Effect::Fault,
        0 => Effect::None,
        r => Effect::Add(r),
    }
}

/// What the router's tracking sees now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub frontends_failing: bool,
    /// Per `track_interfaces` entry: up.
    pub interfaces: Vec<bool>,
    pub scripts: Vec<Check>,
    /// Per `track_files` entry: the value read.
    pub files: Vec<i64>,
}

impl Tracked {
    pub fn new(config: &VrrpConfig) -> Tracked {
        Tracked {
            frontends_failing: false,
            interfaces: vec![true; config.track_interfaces.len()],
            scripts: config
                .track_scripts
                .iter()
                .map(|s| Check::new(s.init_fail))
                .collect(),
            files: vec![0; config.track_files.len()],
        }
    }

    /// The priority to advertise, and whether something tracked puts it in FAULT.
    pub fn priority(&self, c: &VrrpConfig) -> (u8, bool) {
        let mut effects = Vec::new();
        if c.track_frontends && self.frontends_failing {
            effects.push(Effect::Add(-i64::from(c.track_weight)));
        }
        for (t, &up) in c.track_interfaces.iter().zip(&self.interfaces) {
            effects.push(check_effect(up, t.weight));
        }
        for (t, s) in c.track_scripts.iter().zip(&self.scripts) {
            effects.push(check_effect(s.ok, t.weight));
        }
        for (t, &v) in c.track_files.iter().zip(&self.files) {
            effects.push(file_effect(v, t.weight));
        }
        let fault = effects.contains(&Effect::Fault);
        let sum: i64 = effects
            .iter()
            .map(|e| if let Effect::Add(n) = e { *n } else { 0 })
            .sum();
        let priority = (i64::from(c.priority) + sum).clamp(1, 254) as u8;
        (priority, fault)
    }

    /// Why the priority is changed (for the log and `/api/vrrp`).
    pub fn reasons(&self, c: &VrrpConfig) -> Vec<String> {
        let mut out = Vec::new();
        for (t, &up) in c.track_interfaces.iter().zip(&self.interfaces) {
            if !up {
                out.push(format!("interface {} is down", t.interface));
            }
        }
        for (t, s) in c.track_scripts.iter().zip(&self.scripts) {
            if !s.ok {
                out.push(format!("track script {} is failing", t.name));
            }
        }
        for (t, &v) in c.track_files.iter().zip(&self.files) {
            if v != 0 {
                out.push(format!("track file {} holds {v}", t.path.display()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TrackFile, TrackInterface, TrackScript};
    use std::time::Duration;

    #[test]
    fn rise_and_fall_need_runs_in_a_row() {
        let mut c = Check::new(false);
        assert!(!c.record(false, 2, 3) && !c.record(false, 2, 3));
        assert!(!c.record(true, 2, 3), "a success breaks the run");
        assert!(!c.record(false, 2, 3) && !c.record(false, 2, 3));
        assert!(c.record(false, 2, 3) && !c.ok, "third failure in a row");
        assert!(!c.record(true, 2, 3) && c.record(true, 2, 3) && c.ok);
        assert!(!Check::new(true).ok, "init_fail");
    }

    #[test]
    fn weights_are_keepalived_s() {
        assert_eq!(check_effect(false, 0), Effect::Fault);
        assert_eq!(check_effect(true, 0), Effect::None);
        assert_eq!(check_effect(true, 10), Effect::Add(10));
        assert_eq!(check_effect(false, 10), Effect::None);
        assert_eq!(check_effect(false, -20), Effect::Add(-20));
        assert_eq!(check_effect(true, -20), Effect::None);
        assert_eq!(file_effect(0, 0), Effect::None);
        assert_eq!(file_effect(3, 0), Effect::Fault);
        assert_eq!(file_effect(3, -10), Effect::Add(-30));
        assert_eq!(file_effect(-5, 1), Effect::Add(-5));
        assert_eq!(file_effect(254, -1), Effect::Fault);
        assert_eq!(file_effect(i64::MAX, 253), Effect::Add(i64::MAX));
    }

    fn config() -> VrrpConfig {
        let script = |weight| TrackScript {
            name: "s".into(),
            command: vec!["/bin/true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight,
            rise: 1,
            fall: 1,
            init_fail: false,
        };
        VrrpConfig {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 1,
            priority: 100,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            virtual_ips: vec![],
            virtual_ip_devs: vec![],
            unicast_peers: vec![],
            track_frontends: true,
            track_weight: 30,
            notify: None,
            notify_states: vec![],
            script_as: None,
            checksum: crate::config::VrrpChecksum::Keepalived,
            garp_repeat: 5,
            garp_delay: Duration::from_secs(5),
            track_interfaces: vec![TrackInterface {
                interface: "eth1".into(),
                weight: -20,
            }],
            track_scripts: vec![script(10), script(0)],
            track_files: vec![TrackFile {
                path: "/run/w".into(),
                weight: 1,
                interval: Duration::from_secs(1),
            }],
        }
    }

    #[test]
    fn frontend_tracking_lowers_priority_but_never_to_zero() {
        let mut c = config();
        (c.track_interfaces, c.track_scripts, c.track_files) = (vec![], vec![], vec![]);
        let mut t = Tracked::new(&c);
        (c.priority, c.track_weight) = (150, 60);
        assert_eq!(t.priority(&c), (150, false));
        t.frontends_failing = true;
        assert_eq!(t.priority(&c), (90, false));
        (c.priority, c.track_weight) = (50, 60);
        assert_eq!(t.priority(&c), (1, false), "0 would mean leaving");
        c.track_frontends = false;
        assert_eq!(t.priority(&c), (50, false), "not tracked: no effect");
    }

    #[test]
    fn everything_adds_up_clamped_and_weight_zero_faults() {
        let c = config();
        let mut t = Tracked::new(&c);
        assert_eq!(t.priority(&c), (110, false), "the +10 script passes");
        t.frontends_failing = true;
        t.interfaces[0] = false;
        t.files[0] = -7;
        assert_eq!(t.priority(&c), (100 + 10 - 30 - 20 - 7, false));
        assert_eq!(t.reasons(&c).len(), 2);
        t.files[0] = 500;
        assert_eq!(t.priority(&c).0, 254, "clamped");
        t.files[0] = -200;
        assert_eq!(t.priority(&c).0, 1, "clamped, never 0");
        t.scripts[1].ok = false;
        assert!(t.priority(&c).1, "a weight-0 script failing is a FAULT");
        assert!(t
            .reasons(&c)
            .contains(&"track script s is failing".to_string()));
    }
}
