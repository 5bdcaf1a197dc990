//! `ringlb check` and configuration validation: every error names the file, the line
//! and the key; every example in configs/ is valid.
//!
//! Files (one test binary, `cargo test --test config_check`):
//! - `main.rs`: the shared files (`BASE`, `VRRP`) and `only_error`.
//! - `valid.rs`: valid files and per-key rules: defaults, inheritance, balance, routes, health/admin keys, steering.
//! - `errors.rs`: error messages: the key path and line, types, duplicates, values, every error in one run.
//! - `command.rs`: `ringlb check`: exit codes and summary, every example in configs/, bad check values.
//! - `vrrp.rs`: `[vrrp]` / `[[vrrp]]`: defaults, IPv6 routers, errors, sync groups, tracking.

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;

use common::{TempConfig, BIN};
use ringlb::config::Config;

mod command;
mod errors;
mod valid;
mod vrrp;

const BASE: &str = r#"[[frontend]]
name = "web"
bind = ["127.0.0.1:8000"]
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "a1"
address = "127.0.0.1:9001"
"#;

/// Validate `text` and return the single error line, or panic.
fn only_error(text: &str) -> String {
    match Config::parse(text, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => {
            assert_eq!(errors.0.len(), 1, "expected one error, got:\n{errors}");
            errors.0[0].to_string()
        }
    }
}

const VRRP: &str = r#"
[vrrp]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_interval = "1s"
virtual_ips = ["192.0.2.100/24", "192.0.2.101"]
unicast_peers = ["192.0.2.2"]
track_frontends = true
track_weight = 60
"#;
