//! VRRP as keepalived users run it, in network namespaces with keepalived as the
//! peer: ringlb holding a virtual IP with no frontend at all (keepalived's job
//! alone), and a master whose tracked priority falls below the peer's handing over
//! at once instead of leaving the peer to wait Master_Down_Interval. Root only:
//! skipped with a reason elsewhere, a failure in CI (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::netns::Lan;
use common::vrrp::{api, have_keepalived, keepalived, start_ringlb, wait_api};
use common::{admin, TempConfig, PATIENCE};
use ringlb::vrrp::machine::master_down_interval;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const SEC: Duration = Duration::from_secs(1);
const A: usize = 0;
const B: usize = 1;

/// keepalived's side of virtual router 51 (VRRPv3, 1 s adverts, preemption on).
fn keepalived_conf(priority: u8) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
    )
}

/// An executable script appending `$1 $2` to a file; (script, output file).
fn notify_script() -> (TempConfig, TempConfig) {
    let out = TempConfig::new("");
    let script = TempConfig::new(&format!(
        "#!/bin/sh\necho \"$1 $2\" >> {}\n",
        out.0.display()
    ));
    std::fs::set_permissions(
        &script.0,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    (script, out)
}

#[test]
fn ringlb_without_frontends_holds_the_vip_like_keepalived_alone() {
    let test = "ringlb_without_frontends_holds_the_vip_like_keepalived_alone";
    let Some(lan) = Lan::new(test, 2) else {
        return;
    };
    if !have_keepalived() {
        return;
    }
    let (script, out) = notify_script();
    // configs/vrrp-only.toml, on this test's network, with the notify program on.
    let example = format!("{}/configs/vrrp-only.toml", env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(example)
        .expect("configs/vrrp-only.toml")
        .replace("192.168.1.200/24", &format!("{VIP}/24"))
        .replace("virtual_router_id = 52", "virtual_router_id = 51")
        .replace(
            "# notify = \"/usr/local/bin/on-vrrp-change\"",
            &format!("notify = \"{}\"", script.0.display()),
        );
    assert!(config.contains(&format!("notify = \"{}", script.0.display())));
    let mut a = start_ringlb(&lan, A, &config, 51);
    a.wait_for("ringlb ready workers=0");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    assert!(lan.wait_addr(A, VIP, true, PATIENCE).is_some());
    let (mut k, _conf) = keepalived(&lan, B, &keepalived_conf(100), "Entering BACKUP STATE");
    // The admin API and metrics work without any worker.
    let s = wait_api(&lan, A, "/api/vrrp", "adverts sent", |s| {
        s["adverts_sent_total"].as_u64() >= Some(3)
    });
    assert_eq!(s["state"], "MASTER", "{s}");
    let (code, metrics) = lan.enter(A, || {
        admin(common::vrrp::admin_addr(), "GET", "/metrics", "", None)
    });
    assert_eq!(code, 200);
    assert!(
        metrics.contains("ringlb_vrrp_state{vrid=\"51\",interface=\"eth0\",state=\"MASTER\"} 1"),
        "{metrics}"
    );
    assert!(!k.logged("Entering MASTER STATE"), "{}", k.log.join("\n"));
    assert!(!lan.has_addr(B, VIP));

    // A clean stop hands the VIP to keepalived (priority 0) and ringlb exits at once.
    a.signal(libc::SIGTERM);
    a.wait_for("vrrp: entering STOP state");
    assert!(a.wait_exit().success(), "{}", a.log.join("\n"));
    k.wait_for("Entering MASTER STATE");
    assert!(lan.wait_addr(B, VIP, true, PATIENCE).is_some());
    assert!(!lan.has_addr(A, VIP));
    let lines = std::fs::read_to_string(&out.0).expect("notify output");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        ["BACKUP 150", "MASTER 150", "STOP 150"],
        "{}",
        a.log.join("\n")
    );
}

/// ringlb in front of its own backend on 127.0.0.1:9001, tracking it.
fn tracked_config(priority: u8) -> String {
    format!(
        r#"[global]
workers = 1
pin_workers = false
admin_bind = "127.0.0.1:9900"

[[frontend]]
name = "web"
bind = ["{VIP}:8080"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"
[backend.check]
kind = "tcp"
interval = "100ms"
fast_interval = "50ms"
timeout = "200ms"
rise = 1
fall = 1

[[backend.server]]
name = "local"
address = "127.0.0.1:9001"
check = true

[vrrp]
interface = "eth0"
virtual_router_id = 51
priority = {priority}
advert_interval = "1s"
virtual_ips = ["{VIP}/24"]
track_frontends = true
track_weight = 60
"#
    )
}

#[test]
fn a_master_below_keepalived_s_priority_hands_over_without_waiting() {
    let test = "a_master_below_keepalived_s_priority_hands_over_without_waiting";
    let Some(lan) = Lan::new(test, 2) else {
        return;
    };
    if !have_keepalived() {
        return;
    }
    let backend: SocketAddr = "127.0.0.1:9001".parse().unwrap();
    let a_app = lan.reply_server(A, backend, "a");
    // keepalived is master first, so ringlb hears its priority before preempting it.
    let (mut k, _conf) = keepalived(&lan, B, &keepalived_conf(100), "Entering BACKUP STATE");
    k.wait_for("Entering MASTER STATE");
    let mut a = start_ringlb(&lan, A, &tracked_config(150), 51);
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");
    let s = api(&lan, A, "/api/vrrp");
    assert_eq!(s["peers"][0]["address"], Lan::ip(B).to_string(), "{s}");
    assert_eq!(s["peers"][0]["priority"], 100, "{s}");

    // The backend fails: priority 90 < keepalived's 100, ringlb hands over at once.
    drop(a_app);
    a.wait_for("vrrp: frontend web has no usable server: priority 90");
    let handed = Instant::now();
    a.wait_for("vrrp: priority 90 is below 192.0.2.2's 100: handing over now");
    a.wait_for("vrrp: entering BACKUP state (priority 90)");
    let took = lan
        .wait_addr(B, VIP, true, PATIENCE)
        .map(|_| handed.elapsed())
        .expect("keepalived takes the VIP");
    k.wait_for("Entering MASTER STATE");
    // keepalived waited its skew time (0.61 s), not Master_Down_Interval (3.61 s).
    let down = master_down_interval(100, SEC);
    assert!(
        took < down,
        "handover took {took:?}, the down interval is {down:?}"
    );
    assert!(lan.wait_addr(A, VIP, false, PATIENCE).is_some());
    let s = wait_api(&lan, A, "/api/vrrp", "keepalived heard as master", |s| {
        s["master"] == Lan::ip(B).to_string()
    });
    assert_eq!(s["state"], "BACKUP", "{s}");

    // The backend is back: ringlb preempts as usual.
    let _a_app = lan.reply_server(A, backend, "a");
    a.wait_for("every tracked frontend has a usable server again: priority 150");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");
}
