//! Alert mails (`[mail]`): keepalived's `smtp_alert` mails on VRRP state changes and
//! HAProxy's `email-alert` mails on server health changes, in their wording. The
//! control thread only formats a mail and hands it to a bounded queue; one thread of
//! its own (started with the first mail) speaks SMTP (`smtp.rs`), one mail after
//! another. A slow or dead server delays mails, never the control thread: a full
//! queue drops the mail, and failures are logged once per period with a count.
//!
//! The virtual routers tell every state change through `vrrp::watch` (where they
//! run their notify programs): one mail per change, as keepalived sends.

use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::plane::Control;
use super::smtp::{self, Letter};
use crate::config::{Mail, MAIL_LEVELS};
use crate::lb::Oper;
use crate::logging::LogEvery;

/// Mails waiting for the SMTP thread; more are dropped (and counted in the log).
const QUEUE: usize = 32;
/// At exit: how long the last mails (STOP) may take.
const AT_EXIT: Duration = Duration::from_secs(3);
/// HAProxy's levels for a server going down and coming up.
const LEVEL_DOWN: u8 = 1;
const LEVEL_UP: u8 = 5;

enum Job {
    Send(Box<Letter>),
    Flush(Sender<()>),
}

/// The control thread's side: the queue (its thread started with the first mail).
#[derive(Default)]
pub struct Mailer {
    queue: OnceCell<Option<SyncSender<Job>>>,
    dropped: LogEvery,
}

impl Mailer {
    fn queue(&self) -> Option<&SyncSender<Job>> {
        let started = self.queue.get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            let spawned = std::thread::Builder::new()
                .name("ringlb-mail".into())
                .spawn(move || deliver(rx));
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::error!("mail: cannot start the mail thread: {e}; no mail is sent");
                    None
                }
            }
        });
        started.as_ref()
    }

    fn post(&self, settings: &Mail, subject: String, body: String) {
        let Some(queue) = self.queue() else { return };
        tracing::debug!("mail: queued {subject:?}");
        let letter = Letter {
            settings: Arc::new(settings.clone()),
            subject,
            body,
            at: SystemTime::now(),
        };
        match queue.try_send(Job::Send(Box::new(letter))) {
            Ok(()) => {}
            Err(TrySendError::Full(Job::Send(l))) => {
                if self.dropped.due(Instant::now()) {
                    tracing::warn!(
                        "mail: {QUEUE} mails already wait for {}: {:?} dropped ({} more dropped before)",
                        l.settings.server,
                        l.subject,
                        self.dropped.take_skipped()
                    );
                }
            }
            Err(_) => tracing::warn!("mail: the mail thread has stopped; mail dropped"),
        }
    }

    /// Wait (at most `limit`) for the mails queued so far.
    fn flush(&self, limit: Duration) {
        let Some(Some(queue)) = self.queue.get() else {
            return;
        };
        let (done, wait) = channel();
        if queue.try_send(Job::Flush(done)).is_ok() && wait.recv_timeout(limit).is_err() {
            tracing::warn!("mail: mails still queued after {limit:?}; exiting without them");
        }
    }
}

/// The SMTP thread: one mail after another; failures logged at most once a period.
fn deliver(rx: Receiver<Job>) {
    let log = LogEvery::default();
    let mut failed = 0u64;
    for job in rx {
        let letter = match job {
            Job::Send(letter) => letter,
            Job::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        match smtp::send(&letter) {
            Ok(()) if failed > 0 => {
                tracing::info!(
                    "mail: sent to {} again, after {failed} mail(s) that could not be",
                    letter.settings.server
                );
                failed = 0;
            }
            Ok(()) => tracing::debug!("mail: sent {:?}", letter.subject),
            Err(e) => {
                failed += 1;
                if log.due(Instant::now()) {
                    tracing::warn!(
                        "mail: {:?} not sent: {e} ({} earlier failure(s) not logged)",
                        letter.subject,
                        log.take_skipped()
                    );
                }
            }
        }
    }
}

/// keepalived's subject and body for a virtual router (`group`: false) or a sync
/// group entering `state` (keepalived's state names, STOP for stopping).
pub fn vrrp_text(router_id: &str, group: bool, name: &str, state: &str) -> (String, String) {
    let what = if group { "Group" } else { "Instance" };
    let subject = match state {
        "STOP" => "Stopping".to_string(),
        s => format!("Entering {s} state"),
    };
    let body = match (group, state) {
        (false, "MASTER") => "=> VRRP Instance is now owning VRRP VIPs <=".to_string(),
        (false, "STOP") => "=> VRRP Instance stopping <=".to_string(),
        (false, _) => "=> VRRP Instance is no longer owning VRRP VIPs <=".to_string(),
        (true, "STOP") => "=> All VRRP group instances are now stopping <=".to_string(),
        (true, s) => format!("=> All VRRP group instances are now in {s} state <="),
    };
    (
        format!("[{router_id}] VRRP {what} {name} - {subject}"),
        body,
    )
}

/// HAProxy's alert text for a server state change, and its level.
pub fn server_text(
    backend: &str,
    server: &str,
    to: Oper,
    reason: &str,
    (active, backup): (usize, usize),
) -> (u8, String) {
    match to {
        Oper::Down => (
            LEVEL_DOWN,
            format!("Server {backend}/{server} is DOWN, reason: {reason}. {active} active and {backup} backup servers left."),
        ),
        Oper::Up => (
            LEVEL_UP,
            format!("Server {backend}/{server} is UP, reason: {reason}. {active} active and {backup} backup servers online."),
        ),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ringlb".into())
}

impl Control {
    /// A server of backend slot `b` changed state (after the workers were told).
    pub fn mail_server(&self, b: usize, s: usize, to: Oper, reason: &str) {
        let config = Arc::clone(&self.config.borrow());
        let Some(mail) = &config.mail else { return };
        let (backend, server, left) = {
            let table = self.table.borrow();
            let Some(entry) = table.backends.get(b) else {
                return;
            };
            let Some(server) = entry.servers.get(s) else {
                return;
            };
            let usable = |backup: bool| {
                let up = entry.servers.iter().filter(|x| x.live && x.sent.usable());
                up.filter(|x| x.config.backup == backup).count()
            };
            let left = (usable(false), usable(true));
            (entry.config.name.clone(), server.config.name.clone(), left)
        };
        if mail
            .backends
            .as_ref()
            .is_some_and(|l| !l.contains(&backend))
        {
            return;
        }
        let (level, text) = server_text(&backend, &server, to, reason, left);
        if mail.level.is_some_and(|max| level <= max) {
            tracing::debug!("mail: level {} alert", MAIL_LEVELS[level as usize]);
            self.mailer
                .post(mail, format!("[ringlb Alert] {text}"), text);
        }
    }

    /// From now on, mail every state change of the virtual routers and sync groups
    /// (the routers tell it as they tell their notify programs).
    pub fn watch_vrrp(self: &Rc<Self>) {
        let control = Rc::downgrade(self);
        crate::vrrp::watch(Box::new(move |name, group, state| {
            if let Some(c) = control.upgrade() {
                c.mail_vrrp(name, group, state);
            }
        }));
    }

    /// `name` (a sync group when `group`) entered `state` (keepalived's names).
    fn mail_vrrp(&self, name: &str, group: bool, state: &'static str) {
        // INIT is no state keepalived mails; STOP is (`Stopping`).
        if state == "INIT" {
            return;
        }
        let Ok(config) = self.config.try_borrow().map(|c| Arc::clone(&c)) else {
            return;
        };
        let Some(mail) = &config.mail else { return };
        let list = if group {
            &mail.vrrp_groups
        } else {
            &mail.vrrp_routers
        };
        if !list.iter().any(|n| n == name) {
            return;
        }
        let router_id = mail.router_id.clone().unwrap_or_else(host_name);
        let (subject, body) = vrrp_text(&router_id, group, name, state);
        self.mailer.post(mail, subject, body);
    }

    /// At exit, after the routers stopped (their STOP mails queued): the queue is
    /// given `AT_EXIT` to drain.
    pub fn finish_mail(&self) {
        self.mailer.flush(AT_EXIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrrp_mails_say_what_keepalived_says() {
        let (s, b) = vrrp_text("LB1", false, "VI_1", "MASTER");
        assert_eq!(s, "[LB1] VRRP Instance VI_1 - Entering MASTER state");
        assert_eq!(b, "=> VRRP Instance is now owning VRRP VIPs <=");
        let (s, b) = vrrp_text("LB1", false, "VI_1", "BACKUP");
        assert_eq!(s, "[LB1] VRRP Instance VI_1 - Entering BACKUP state");
        assert_eq!(b, "=> VRRP Instance is no longer owning VRRP VIPs <=");
        let (s, b) = vrrp_text("LB1", false, "VI_1", "STOP");
        assert_eq!(
            (s.as_str(), b.as_str()),
            (
                "[LB1] VRRP Instance VI_1 - Stopping",
                "=> VRRP Instance stopping <="
            )
        );
        let (s, b) = vrrp_text("LB1", true, "G", "FAULT");
        assert_eq!(s, "[LB1] VRRP Group G - Entering FAULT state");
        assert_eq!(b, "=> All VRRP group instances are now in FAULT state <=");
    }

    #[test]
    fn server_mails_say_what_haproxy_says_with_their_level() {
        let (level, text) = server_text("app", "s1", Oper::Down, "connection refused", (1, 0));
        assert_eq!(level, 1);
        assert_eq!(text, "Server app/s1 is DOWN, reason: connection refused. 1 active and 0 backup servers left.");
        let (level, text) = server_text("app", "s1", Oper::Up, "tcp check passed", (2, 1));
        assert_eq!(level, 5);
        assert!(text
            .ends_with("is UP, reason: tcp check passed. 2 active and 1 backup servers online."));
    }

    #[test]
    fn a_full_queue_drops_instead_of_waiting() {
        // A server that accepts and never answers: the thread waits on the first mail.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut settings = smtp::test_settings(listener.local_addr().unwrap());
        settings.timeout = Duration::from_secs(5);
        let mailer = Mailer::default();
        for i in 0..(QUEUE * 3) {
            mailer.post(&settings, format!("m{i}"), String::new());
        }
        // At most QUEUE + 1 taken (one in the thread's hands), the first drop logged,
        // the others counted.
        assert!(mailer.dropped.take_skipped() >= 2 * QUEUE as u64 - 2);
    }
}
