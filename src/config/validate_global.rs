//! The `[global]` table (a child of `validate.rs`): workers, connection limits,
//! the admin listener, log level, upgrade socket and the rest of [`Global`]; and what
//! `global.workers` means when no frontend runs.

use std::net::SocketAddr;
use std::time::Duration;

use super::Validator;
use crate::config::raw::{RawConfig, RawGlobal};
use crate::config::Global;

/// Built-in values for what `[global]` leaves out.
const GRACE_PERIOD: Duration = Duration::from_secs(10);
const MAX_WORKERS: i64 = 1024;

impl Validator {
    /// No frontend, only `[vrrp]` (ringlb as keepalived alone): no worker runs, since
    /// nothing is listened on; `workers` and `track_frontends` say so if set.
    pub(super) fn control_plane_alone(&mut self, raw: &RawConfig) -> usize {
        if let Some(w) = raw.global.workers.as_ref().filter(|w| *w.get_ref() != 0) {
            self.warn(
                w.span(),
                "global.workers has no effect without [[frontend]]: only the control plane runs",
            );
        }
        let tracked = raw.vrrp.as_ref().filter(|v| {
            v.get_ref()
                .routers()
                .iter()
                .any(|r| r.track_frontends == Some(true))
        });
        if let Some(span) = tracked.map(|v| v.span()) {
            self.warn(
                span,
                "vrrp.track_frontends has no effect without [[frontend]]: there is nothing to track",
            );
        }
        0
    }

    pub(super) fn global(&mut self, raw: &RawConfig) -> Global {
        let g = &raw.global;
        let workers = self.workers(g);
        let max_connections = self.int_in(
            g.max_connections.as_ref(),
            100_000,
            1..=100_000_000,
            "global.max_connections",
        ) as usize;
        let (admin_bind, admin_token) = self.admin(g);
        let log_level = self.log_level(g);
        Global {
            workers,
            pin_workers: g.pin_workers.unwrap_or(true),
            max_connections,
            admin_bind,
            admin_token,
            admin_users: None,
            admin_write_groups: None,
            log_level,
            access_log: g.access_log.as_ref().is_some_and(|a| *a.get_ref()),
            grace_period: self.duration(
                g.grace_period.as_ref(),
                GRACE_PERIOD,
                "global.grace_period",
            ),
            io_driver: g.io_driver.unwrap_or_default(),
            max_header_bytes: self.int_in(
                g.max_header_bytes.as_ref(),
                16 * 1024,
                1024..=1024 * 1024,
                "global.max_header_bytes",
            ) as usize,
            max_headers: self.int_in(g.max_headers.as_ref(), 100, 1..=128, "global.max_headers")
                as usize,
            max_request_line: self.int_in(
                g.max_request_line.as_ref(),
                8 * 1024,
                64..=1024 * 1024,
                "global.max_request_line",
            ) as usize,
            max_body_bytes: self.int_in(
                g.max_body_bytes.as_ref(),
                0,
                0..=i64::MAX,
                "global.max_body_bytes",
            ) as u64,
            log_target: self.log_target(g),
            log_copy: self.log_copy(g),
            run_as: self.run_as(g),
            allow_root: g.allow_root.unwrap_or(false),
            upgrade_socket: self.upgrade_socket(g),
            upgrade_table_entries: self.int_in(
                g.upgrade_table_entries.as_ref(),
                100_000,
                0..=10_000_000,
                "global.upgrade_table_entries",
            ) as usize,
            admin_socket: self.admin_socket(g),
        }
    }

    /// `global.upgrade_socket`: an absolute path, or empty to turn upgrades off.
    fn upgrade_socket(&mut self, g: &RawGlobal) -> Option<std::path::PathBuf> {
        let raw = g.upgrade_socket.as_ref()?;
        let path = std::path::PathBuf::from(raw.get_ref());
        if !path.as_os_str().is_empty() && !path.is_absolute() {
            self.error(
                raw.span(),
                format!(
                    "global.upgrade_socket: {path:?} must be an absolute path (or \"\" for none)"
                ),
            );
        }
        Some(path)
    }

    /// `global.workers`: 0 (the default) is one per online core; more than the
    /// cores is allowed, with a warning.
    fn workers(&mut self, g: &RawGlobal) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers =
            self.int_in(g.workers.as_ref(), 0, 0..=MAX_WORKERS, "global.workers") as usize;
        if workers == 0 {
            return cores;
        }
        if workers > cores {
            if let Some(w) = &g.workers {
                self.warn(
                    w.span(),
                    format!("global.workers = {workers} is more than the {cores} online cores: workers will share cores"),
                );
            }
        }
        workers
    }

    /// `global.admin_bind` and `global.admin_token`; a warning when the admin API is
    /// reachable from other hosts without a token.
    fn admin(&mut self, g: &RawGlobal) -> (Option<SocketAddr>, Option<String>) {
        let admin_bind = g
            .admin_bind
            .as_ref()
            .and_then(|a| self.socket_addr(a, "global.admin_bind"));
        let admin_token = match &g.admin_token {
            Some(t)
                if t.get_ref().len() < 16 || !t.get_ref().bytes().all(|b| b.is_ascii_graphic()) =>
            {
                self.error(
                    t.span(),
                    "global.admin_token must be at least 16 printable characters without spaces",
                );
                None
            }
            Some(t) => Some(t.get_ref().clone()),
            None => None,
        };
        if let (Some(a), None) = (&admin_bind, &admin_token) {
            if !a.ip().is_loopback() {
                if let Some(raw) = &g.admin_bind {
                    self.warn(raw.span(), format!("global.admin_bind {a} is not a loopback address and no admin_token is set: anyone who can reach it can drain servers"));
                }
            }
        }
        (admin_bind, admin_token)
    }

    fn log_level(&mut self, g: &RawGlobal) -> String {
        match &g.log_level {
            Some(l)
                if ["error", "warn", "info", "debug", "trace"].contains(&l.get_ref().as_str()) =>
            {
                l.get_ref().clone()
            }
            Some(l) => {
                self.error(
                    l.span(),
                    format!(
                        "global.log_level {:?} is not one of error, warn, info, debug, trace",
                        l.get_ref()
                    ),
                );
                "info".into()
            }
            None => "info".into(),
        }
    }
}
