//! Several virtual routers: `[vrrp]` (one) or `[[vrrp]]` (a list), their names, and
//! `[[vrrp_sync_group]]`: routers that change state together (keepalived's
//! `vrrp_sync_group`). Names, (interface, virtual_router_id) pairs and virtual IPs
//! must be unique across routers; a router belongs to one group at most.

use std::collections::HashMap;
use std::ops::Range;

use super::raw::{RawConfig, S};
use super::raw_vrrp::{RawSyncGroup, RawVrrp, RawVrrps};
use super::validate::Validator;
use super::{SyncGroup, Vrrp};

impl Validator {
    /// Every virtual router, then the sync groups (checked only when every router is
    /// valid: they name routers).
    pub(super) fn vrrps(&mut self, raw: &RawConfig) -> (Vec<Vrrp>, Vec<SyncGroup>) {
        let written: Vec<(Range<usize>, &RawVrrp, String)> = match &raw.vrrp {
            None => Vec::new(),
            Some(s) => match s.get_ref() {
                RawVrrps::One(v) => vec![(s.span(), v, "vrrp".to_string())],
                RawVrrps::Many(list) => list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.span(), v.get_ref(), format!("vrrp[{i}]")))
                    .collect(),
            },
        };
        if let Some(s) = raw.vrrp.as_ref().filter(|_| written.is_empty()) {
            self.error(s.span(), "vrrp = []: give at least one virtual router");
        }
        let mut routers = Vec::new();
        for (span, v, k) in &written {
            if let Some(r) = self.vrrp(span.clone(), v, k) {
                routers.push((r, span.clone(), k.as_str()));
            }
        }
        if routers.len() < written.len() {
            return (Vec::new(), Vec::new());
        }
        self.distinct_routers(&routers);
        let routers: Vec<Vrrp> = routers.into_iter().map(|(r, _, _)| r).collect();
        let groups = self.sync_groups(&raw.vrrp_sync_group, &routers);
        (routers, groups)
    }

    /// Names, (interface, id, family) and virtual IPs used by one router only.
    fn distinct_routers(&mut self, routers: &[(Vrrp, Range<usize>, &str)]) {
        for (i, (r, span, k)) in routers.iter().enumerate() {
            for (o, _, ok) in &routers[..i] {
                if o.name == r.name {
                    self.error(
                        span.clone(),
                        format!("{k}.name {:?} is also {ok}'s: give each virtual router its own name (the default is VI_<virtual_router_id>)", r.name),
                    );
                }
                // IPv4 and IPv6 have separate id spaces (RFC 9568 §5.2.3).
                if (&o.interface, o.vrid, o.is_v6()) == (&r.interface, r.vrid, r.is_v6()) {
                    self.error(
                        span.clone(),
                        format!("{k}.virtual_router_id {} on {} is also {ok}'s: one id per virtual router and family on a link", r.vrid, r.interface),
                    );
                }
                for (vip, _) in r.virtual_ips.iter().filter(|v| o.virtual_ips.contains(v)) {
                    self.error(
                        span.clone(),
                        format!("{k}.virtual_ips: {vip} is also held by {ok}"),
                    );
                }
            }
        }
    }

    fn sync_groups(&mut self, raw: &[S<RawSyncGroup>], routers: &[Vrrp]) -> Vec<SyncGroup> {
        let by_name: HashMap<&str, usize> = routers
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.as_str(), i))
            .collect();
        let mut member_of: HashMap<usize, String> = HashMap::new();
        let mut groups = Vec::new();
        for (g, raw) in raw.iter().enumerate() {
            let k = format!("vrrp_sync_group[{g}]");
            let group = raw.get_ref();
            self.name(&group.name, &format!("{k}: sync group"));
            let name = group.name.get_ref().clone();
            if groups.iter().any(|o: &SyncGroup| o.name == name) {
                self.error(
                    group.name.span(),
                    format!("{k}.name {name:?} is used twice"),
                );
            }
            let mut members = Vec::new();
            for (i, r) in group.routers.iter().enumerate() {
                let Some(&index) = by_name.get(r.get_ref().as_str()) else {
                    self.error(
                        r.span(),
                        format!(
                            "{k}.routers[{i}]: no virtual router is named {:?}",
                            r.get_ref()
                        ),
                    );
                    continue;
                };
                if let Some(other) = member_of.insert(index, name.clone()) {
                    self.error(
                        r.span(),
                        format!(
                            "{k}.routers[{i}]: {:?} is already in sync group {other:?}",
                            r.get_ref()
                        ),
                    );
                }
                members.push(index);
            }
            if group.routers.len() < 2 {
                self.error(
                    raw.span(),
                    format!("{k}.routers: a sync group needs at least two virtual routers"),
                );
            }
            let notify = group
                .notify
                .as_ref()
                .and_then(|n| self.program(n, &format!("{k}.notify")));
            let notify_states = self.state_commands(
                [
                    ("MASTER", group.notify_master.as_ref()),
                    ("BACKUP", group.notify_backup.as_ref()),
                    ("FAULT", group.notify_fault.as_ref()),
                ],
                &k,
            );
            groups.push(SyncGroup {
                name,
                routers: members,
                notify,
                notify_states,
                script_as: None,
            });
        }
        groups
    }
}
