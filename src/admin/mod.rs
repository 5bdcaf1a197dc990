//! The admin listener (`global.admin_bind`), served on the control thread: the HTML
//! stats page, Prometheus `/metrics`, the JSON API and the runtime commands. It reads
//! the control plane's state ([`crate::control::Control`]) and the workers'
//! statistics copies ([`crate::msg::stats`]); it never touches worker memory.
//!
//! | file | what |
//! |---|---|
//! | `cli.rs` | HAProxy's runtime CLI (`global.admin_socket`): commands, levels, `show stat` CSV (pure; tests in `cli_tests.rs`) |
//! | `cli_serve.rs` | the CLI's Unix socket: sessions, prompt mode, commands run against the control plane |
//! | `cli_views.rs` | the CLI's reports: `show info`, `show stat`, `show servers state` |
//! | `cli_typed.rs` | `show stat` and `show info` in HAProxy's `typed` and `json` formats (pure) |
//! | `server.rs` | the listener: accept, read one request, route it, answer |
//! | `render.rs` | JSON (`/api/servers`) and the totals every view shares |
//! | `page.rs` | the HTML stats page |
//! | `history.rs` | the control plane's history by name: `GET /api/history`, what the charts draw |
//! | `charts.rs` | the stats page's charts: inline SVG, and the small script that refreshes them |
//! | `metrics.rs` | Prometheus text (`/metrics`): the table of what is exported |
//! | `prom.rs` | the Prometheus text format: metric family tables and their writers |
//! | `tables.rs` | tracking tables: `GET /api/tables`, their metrics |
//! | `announce_view.rs` | `[announce]`: its API, metrics and line on the stats page |
//! | `vrrp_view.rs` | the virtual router in JSON, metrics and HTML |

mod announce_view;
mod charts;
mod cli;
mod cli_serve;
mod cli_typed;
mod cli_views;
mod history;
mod metrics;
mod page;
mod prom;
mod render;
mod server;
mod tables;
mod vrrp_view;

pub use cli_serve::{bind as bind_cli, serve as serve_cli, CliSocket};
pub use server::{bind, serve};

#[cfg(test)]
mod tests;
