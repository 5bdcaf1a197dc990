//! Health for `[announce]`: the findings VRRP tracking uses (frontends without a
//! usable server, workers not answering), limited to the frontends `[announce]`
//! tracks, handed to the announcer on every server state change and every ping round.
//! At start-up nothing is announced until every checked server behind a tracked
//! frontend has had its first check (servers start up, and a node whose backends
//! are dead must not draw traffic for a check interval), for at most `FIRST_CHECKS`.

use std::time::Duration;

use super::plane::Control;

/// Longest wait for the first checks (a check that cannot run must not keep the
/// node out for ever).
const FIRST_CHECKS: Duration = Duration::from_secs(30);

impl Control {
    pub(super) fn track_announce(&self) {
        let Some(announcer) = &self.announce else {
            return;
        };
        let tracked = announcer.tracked();
        let young = self.started.elapsed().is_ok_and(|d| d < FIRST_CHECKS);
        if let Some(backend) = young.then(|| self.unchecked(tracked)).flatten() {
            announcer.pending(format!(
                "first health checks of backend {backend} still running"
            ));
            return;
        }
        let mut problems: Vec<String> = self
            .frontends_down()
            .into_iter()
            .filter(|f| tracked.is_none_or(|names| names.contains(f)))
            .map(|f| format!("frontend {f} has no usable server"))
            .collect();
        problems.extend(self.silent_workers());
        announcer.health(problems);
    }

    /// A backend behind a tracked frontend with a checked server not checked yet.
    fn unchecked(&self, tracked: Option<&[String]>) -> Option<String> {
        let config = self.config.borrow();
        let slots = self.slots.borrow();
        let table = self.table.borrow();
        config
            .frontends
            .iter()
            .filter(|f| tracked.is_none_or(|names| names.contains(&f.name)))
            .flat_map(|f| {
                f.default_backend
                    .into_iter()
                    .chain(f.routes.iter().map(|r| r.backend))
            })
            .filter_map(|b| {
                slots
                    .backends
                    .get(b)
                    .and_then(|&slot| table.backends.get(slot))
            })
            .find(|b| {
                b.servers
                    .iter()
                    .any(|s| s.live && s.config.check && s.last_check.is_none())
            })
            .map(|b| b.config.name.clone())
    }
}
