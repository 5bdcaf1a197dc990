//! Health for `[announce]`: the findings VRRP tracking uses (frontends without a
//! usable server, workers not answering), limited to the frontends `[announce]`
//! tracks, handed to the announcer on every server state change and every ping round.

use super::plane::Control;

impl Control {
    pub(super) fn track_announce(&self) {
        let Some(announcer) = &self.announce else {
            return;
        };
        let tracked = announcer.tracked();
        let mut problems: Vec<String> = self
            .frontends_down()
            .into_iter()
            .filter(|f| tracked.is_none_or(|names| names.contains(f)))
            .map(|f| format!("frontend {f} has no usable server"))
            .collect();
        problems.extend(self.silent_workers());
        announcer.health(problems);
    }
}
