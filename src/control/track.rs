//! Health-aware VRRP priority (`vrrp.track_frontends`): while any frontend has no
//! usable server, or a worker has stopped answering, the virtual router advertises
//! `priority - track_weight`, so a healthy peer takes the virtual IPs. A worker is
//! asked every `PING_EVERY` over its inbox, like any update; one that has not
//! answered for `STUCK_AFTER` counts as stuck (its ring is not turning).

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::plane::Control;
use crate::msg::Update;

const PING_EVERY: Duration = Duration::from_secs(1);
const STUCK_AFTER: Duration = Duration::from_secs(3);

impl Control {
    /// Frontends that send to backends (none only redirects) of which no server is
    /// usable, backups included.
    pub fn frontends_down(&self) -> Vec<String> {
        let config = self.config.borrow();
        let slots = self.slots.borrow();
        let table = self.table.borrow();
        let usable = |backend: usize| {
            slots
                .backends
                .get(backend)
                .and_then(|&slot| table.backends.get(slot))
                .is_some_and(|b| b.servers.iter().any(|s| s.live && s.sent.usable()))
        };
        config
            .frontends
            .iter()
            .filter(|f| {
                let mut backends = f
                    .default_backend
                    .into_iter()
                    .chain(f.routes.iter().map(|r| r.backend));
                let mut any = false;
                let none_usable = backends.all(|b| {
                    any = true;
                    !usable(b)
                });
                any && none_usable
            })
            .map(|f| f.name.clone())
            .collect()
    }

    /// Tell the virtual router what is wrong now (it changes priority on a change).
    pub fn track(&self) {
        self.track_announce();
        let Some(vrrp) = &self.vrrp else { return };
        let mut problems: Vec<String> = self
            .frontends_down()
            .into_iter()
            .map(|f| format!("frontend {f} has no usable server"))
            .collect();
        problems.extend(self.silent_workers());
        vrrp.track(problems);
    }

    /// Workers that have not answered a ping for `STUCK_AFTER`, as problems (also
    /// what starves systemd's watchdog). Meaningful only while `ping_loop` runs.
    pub fn silent_workers(&self) -> Vec<String> {
        stuck_workers(&self.pongs.borrow(), Instant::now())
    }

    pub fn pong(&self, worker: usize) {
        if let Some(last) = self.pongs.borrow_mut().get_mut(worker) {
            *last = Instant::now();
        }
    }
}

/// Workers whose last answer is `STUCK_AFTER` old or more, as problems.
fn stuck_workers(last_pongs: &[Instant], now: Instant) -> Vec<String> {
    last_pongs
        .iter()
        .enumerate()
        .filter_map(|(worker, last)| {
            let quiet = now.saturating_duration_since(*last);
            // No running count in the text: the problem list (and its log line)
            // changes only when a worker stops or resumes answering.
            (quiet >= STUCK_AFTER).then(|| {
                format!(
                    "worker {worker} is not answering ({}s without a reply)",
                    STUCK_AFTER.as_secs()
                )
            })
        })
        .collect()
}

/// While tracking (`track`) or feeding systemd's watchdog: ask every worker for a
/// sign of life; when tracking, tell the virtual router what the answers say.
pub async fn ping_loop(control: Rc<Control>, track: bool) {
    let mut seq = 0u64;
    while !control.stopping.get() {
        seq += 1;
        control.broadcaster.send_all(|| Update::Ping(seq));
        monoio::time::sleep(PING_EVERY).await;
        if control.stopping.get() {
            return;
        }
        if track {
            control.track();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_silent_for_three_seconds_is_stuck() {
        let t = Instant::now();
        let pongs = [
            t,
            t + Duration::from_secs(2),
            t + Duration::from_millis(100),
        ];
        assert!(stuck_workers(&pongs, t + Duration::from_millis(2_900)).is_empty());
        assert_eq!(
            stuck_workers(&pongs, t + Duration::from_millis(3_050)),
            vec!["worker 0 is not answering (3s without a reply)".to_string()]
        );
        assert_eq!(stuck_workers(&pongs, t + Duration::from_secs(4)).len(), 2);
    }
}
