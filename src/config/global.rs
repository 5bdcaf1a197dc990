//! The validated `[global]` types: [`Global`], [`RunAs`], [`LogTarget`].

use std::net::SocketAddr;
use std::time::Duration;

use super::{AdminSocket, IoDriver};

#[derive(Debug, Clone)]
pub struct Global {
    /// Number of worker threads, resolved: 0 only without any frontend (the control
    /// plane alone, for `[vrrp]`).
    pub workers: usize,
    pub pin_workers: bool,
    pub max_connections: usize,
    pub admin_bind: Option<SocketAddr>,
    /// Bearer token the admin API requires, when set.
    pub admin_token: Option<String>,
    /// Users whose `Authorization: Basic` the admin API accepts (`admin_userlist`).
    pub admin_users: Option<std::sync::Arc<crate::rules::Userlist>>,
    /// `admin_write_groups`: the groups of `admin_users` allowed to change things.
    pub admin_write_groups: Option<Box<[Box<str>]>>,
    pub log_level: String,
    pub access_log: bool,
    pub grace_period: Duration,
    pub io_driver: IoDriver,
    /// Largest request head, request line included (431 beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// Longest request line (414 beyond).
    pub max_request_line: usize,
    /// Largest request body; 0 = unlimited (413 beyond).
    pub max_body_bytes: u64,
    /// Where ringlb's own lines and the access log go (`global.log_target`).
    pub log_target: LogTarget,
    /// `global.syslog_copy`: another syslog target for ringlb's own lines at this
    /// level (`"error"`, `"warn"`, `"info"`, `"debug"`) and above.
    pub log_copy: Option<(crate::logging::syslog::Syslog, String)>,
    /// Whom to run as once every socket is bound (`global.user`/`group`).
    pub run_as: Option<RunAs>,
    /// `global.allow_root`: running as root without `user` is intended (no warning).
    pub allow_root: bool,
    /// `global.upgrade_socket`: `None` for the default (see `run::upgrade`), an empty
    /// path when binary upgrades are turned off.
    pub upgrade_socket: Option<std::path::PathBuf>,
    /// `global.upgrade_table_entries`: most tracking-table entries a binary upgrade
    /// carries over (the most recently used; 0: none).
    pub upgrade_table_entries: usize,
    /// `global.admin_socket`: HAProxy's runtime CLI on a Unix socket.
    pub admin_socket: Option<AdminSocket>,
}

/// A user and group, resolved when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
}

/// `global.log_target`: stderr (own lines) and stdout (access log), or syslog for both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    #[default]
    Stderr,
    Syslog(crate::logging::syslog::Syslog),
}
