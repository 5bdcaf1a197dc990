//! The control plane on the supervisor's thread: VRRP, checks, tracking, the admin API and CLI, then the lifecycle.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::admin;
use crate::announce;
use crate::config::Config;
use crate::control::{history_loop, ping_loop, Control, Listening};
use crate::msg::Broadcaster;
use crate::vrrp;

use super::{lifecycle, notify, upgrade, Exit, Input, RunError};

/// What the control plane starts with, prepared before the workers start.
pub(super) struct ControlStart {
    pub(super) config: Arc<Config>,
    pub(super) path: Option<PathBuf>,
    pub(super) broadcaster: Broadcaster,
    pub(super) listening: Vec<Listening>,
    pub(super) vrrp: Option<vrrp::Prepared>,
    pub(super) announce: Option<announce::Prepared>,
    pub(super) admin: Option<std::net::TcpListener>,
    pub(super) cli: Option<admin::CliSocket>,
    pub(super) upgrade: upgrade::State,
    /// New process of an upgrade: the operators' server states to apply.
    pub(super) servers: Vec<upgrade::wire::ServerState>,
    pub(super) tables: Vec<crate::msg::tables::SavedTable>,
}

/// The control plane, on this thread's runtime: VRRP, checks, tracking, the admin
/// API, then the lifecycle until the workers are done.
pub(super) async fn control_thread(
    start: ControlStart,
    inputs: impl futures_util::Stream<Item = Input> + Unpin,
) -> Result<Exit, RunError> {
    let ControlStart {
        config,
        path,
        broadcaster,
        listening,
        vrrp,
        announce,
        admin,
        cli,
        mut upgrade,
        servers,
        tables,
    } = start;
    let vrrp = match vrrp {
        Some(p) => Some(vrrp::Vrrp::start(p).map_err(RunError::VrrpStart)?),
        None => None,
    };
    let tracking = config.vrrp.iter().any(|v| v.track_frontends) || announce.is_some();
    let mut control = Control::new(config, path, broadcaster, listening, vrrp);
    control.announce = announce.map(announce::Announcer::start);
    let control = Rc::new(control);
    control.watch_vrrp();
    // Before the workers read their inboxes for the first time, as far as can be.
    upgrade::apply_servers(&control, &servers);
    upgrade::tables::restore(&control, tables);
    let notifier = Rc::new(notify::Notifier::from_env());
    let watchdog = notifier
        .enabled()
        .then(|| {
            let usec = std::env::var("WATCHDOG_USEC").ok();
            let pid = std::env::var("WATCHDOG_PID").ok();
            notify::watchdog_every(usec.as_deref(), pid.as_deref())
        })
        .flatten();
    control.start_checks();
    control.start_resolvers();
    if tracking {
        control.track();
    }
    if tracking || watchdog.is_some() {
        monoio::spawn(ping_loop(Rc::clone(&control), tracking));
    }
    if let Some(every) = watchdog {
        monoio::spawn(notify::watchdog_loop(
            Rc::clone(&control),
            Rc::clone(&notifier),
            every,
        ));
    }
    if let Some(socket) = cli {
        monoio::spawn(admin::serve_cli(Rc::clone(&control), socket));
    }
    if let Some(listener) = admin {
        // Until an upgrade hands the listener over: then the new process serves it.
        let (stop, stopped) = futures_channel::oneshot::channel::<()>();
        upgrade.admin_stop = Some(stop);
        let c = Rc::clone(&control);
        monoio::spawn(async move {
            monoio::select! {
                _ = admin::serve(c, listener) => {}
                _ = stopped => {}
            }
        });
        monoio::spawn(history_loop(Rc::clone(&control)));
    }
    let exit = lifecycle::run(Rc::clone(&control), notifier, upgrade, inputs).await;
    if let Some(v) = &control.vrrp {
        v.finish();
    }
    control.finish_mail();
    exit
}
