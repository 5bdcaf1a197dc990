//! VRRP in real network namespaces: two ringlb instances (or ringlb and a real
//! keepalived) on one bridge elect a master, move the virtual IP on `kill -9`, on a
//! clean stop and on failed health tracking, and ignore hostile advertisements. A
//! client namespace connects to the frontend on the virtual IP. Root only: skipped
//! with a reason elsewhere, and a failure in CI (`RINGLB_REQUIRE_PRIVILEGED=1`).
//!
//! Files (one test binary, `cargo test --test vrrp`):
//! - `main.rs`: the shared set-up: addresses, config, start, status, the LAN namespaces.
//! - `failover.rs`: two ringlb: election, fail-over, preemption, link down, tracking, notify, a missing interface.
//! - `packets.rs`: hostile advertisements and unicast peers.
//! - `keepalived.rs`: mixed pairs with keepalived: either side backing up the other, unicast peers.

#[path = "../common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::netns::{fetch_from, local_service, Lan};
use common::vrrp::{
    admin_addr, api, assert_takes_over_in_time, keepalived_instance, kill_all, start_ringlb,
    wait_api,
};
use common::{admin, Ringlb, TempConfig, BIN, PATIENCE};

mod failover;
mod keepalived;
mod packets;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const SEC: Duration = Duration::from_secs(1);
const FAST: Duration = Duration::from_millis(100);
const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;

fn vip_port() -> SocketAddr {
    SocketAddr::from((VIP, 8080))
}

fn backend() -> SocketAddr {
    "127.0.0.1:9001".parse().unwrap()
}

/// A ringlb for one host: a TCP frontend on the VIP in front of the host's own
/// backend on 127.0.0.1:9001, and `vrrp` lines added to a `[vrrp]` section.
fn config(priority: u8, interval: Duration, vrrp: &str, check: bool) -> String {
    let ms = interval.as_millis();
    local_service(
        &[vip_port()],
        check,
        &format!(
            "[vrrp]\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = {priority}\n\
             advert_interval = \"{ms}ms\"\nvirtual_ips = [\"{VIP}/24\"]\n{vrrp}"
        ),
    )
}

fn start(lan: &Lan, host: usize, config: &str) -> Ringlb {
    start_ringlb(lan, host, config, 51)
}

/// `GET /api/vrrp` of the ringlb in `host`.
fn status(lan: &Lan, host: usize) -> serde_json::Value {
    api(lan, host, "/api/vrrp")
}

/// Poll the status until `ok` holds (bounded).
fn wait_status(
    lan: &Lan,
    host: usize,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_api(lan, host, "/api/vrrp", what, ok)
}

/// After A failed: B (priority 100, 1 s adverts) must hold the VIP within
/// Master_Down_Interval + 0.5 s.
fn assert_b_takes_over_in_time(lan: &Lan, who: &str) {
    assert_takes_over_in_time(lan, B, VIP, who)
}

fn lan(test: &str, hosts: usize) -> Option<Lan> {
    Lan::new(test, hosts)
}
