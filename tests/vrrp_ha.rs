//! VRRP as keepalived users run it, in network namespaces with keepalived as the
//! peer: ringlb holding a virtual IP with no frontend at all (keepalived's job
//! alone), a master whose tracked priority falls below the peer's handing over at
//! once instead of leaving the peer to wait Master_Down_Interval, and several
//! virtual routers in a sync group (one with its VIP on another link). Root only:
//! skipped with a reason elsewhere, a failure in CI (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::netns::{local_service, Lan};
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

/// Two hosts, or `None` (skipped visibly) without root or keepalived.
fn lan_with_keepalived(test: &str) -> Option<Lan> {
    let lan = Lan::new(test, 2)?;
    have_keepalived().then_some(lan)
}

/// An executable script appending its arguments to a file; (script, output file).
fn notify_script() -> (TempConfig, TempConfig) {
    let out = TempConfig::new("");
    let script = TempConfig::new(&format!("#!/bin/sh\necho \"$*\" >> {}\n", out.0.display()));
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
    let Some(lan) = lan_with_keepalived(test) else {
        return;
    };
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
        )
        .replace(
            "\"/usr/bin/pg_isready\", \"-q\", \"-h\", \"127.0.0.1\"",
            "\"/bin/true\"",
        );
    assert!(config.contains("command = [\"/bin/true\"]"), "{config}");
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
        metrics.contains(
            "ringlb_vrrp_state{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",state=\"MASTER\"} 1"
        ),
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
    local_service(
        &[SocketAddr::from((VIP, 8080))],
        true,
        &format!(
            "[vrrp]\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = {priority}\n\
             advert_interval = \"1s\"\nvirtual_ips = [\"{VIP}/24\"]\ntrack_frontends = true\n\
             track_weight = 60\n"
        ),
    )
}

#[test]
fn a_master_below_keepalived_s_priority_hands_over_without_waiting() {
    let test = "a_master_below_keepalived_s_priority_hands_over_without_waiting";
    let Some(lan) = lan_with_keepalived(test) else {
        return;
    };
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
    k.wait_for("(VI_1) Backup received priority 0 advertisement");
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

/// A second link `eth1` in `host` (a veth pair inside the namespace, both ends up),
/// for virtual IPs with `dev eth1`.
fn add_eth1(lan: &Lan, host: usize) {
    let ns = lan.ns(host);
    for args in [
        vec![
            "-n", &ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
        ],
        vec!["-n", &ns, "link", "set", "eth1", "up"],
        vec!["-n", &ns, "link", "set", "eth1p", "up"],
    ] {
        let ok = std::process::Command::new("ip").args(&args).status();
        assert!(ok.is_ok_and(|s| s.success()), "ip {args:?}");
    }
}

/// Whether `addr` is on `dev` in `host`.
fn has_addr_on(lan: &Lan, host: usize, dev: &str, addr: Ipv4Addr) -> bool {
    let out = std::process::Command::new("ip")
        .args(["-n", &lan.ns(host), "-4", "-o", "addr", "show", "dev", dev])
        .output()
        .expect("ip addr show");
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {addr}/"))
}

/// Poll [`has_addr_on`] until it says `present` (bounded).
fn wait_addr_on(lan: &Lan, host: usize, dev: &str, addr: Ipv4Addr, present: bool) {
    let deadline = Instant::now() + PATIENCE;
    while has_addr_on(lan, host, dev, addr) != present {
        assert!(
            Instant::now() < deadline,
            "{addr} on {dev} of host {host} never {present}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const BACK_VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 100);

/// keepalived with two instances on eth0, no sync group: VI_1 (id 51, priority 100,
/// the VIP) and VI_2 (id 52, priority 200, BACK_VIP on eth1); 100 ms adverts.
fn keepalived_two() -> String {
    let instance = |name: &str, id: u8, priority: u8, vip: String| {
        format!("vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {id}\n  priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n")
    };
    format!(
        "global_defs {{\n  vrrp_version 3\n}}\n{}{}",
        instance("VI_1", 51, 100, format!("{VIP}/24")),
        instance("VI_2", 52, 200, format!("{BACK_VIP}/24 dev eth1"))
    )
}

/// ringlb's side, configs/vrrp-sync-group.toml with the test's addresses and `script`
/// as the group's notify program: "front" (id 51) and "back" (id 52, its VIP on
/// eth1), both priority 150, in one sync group; 100 ms adverts here. keepalived:
/// 100 and 200, no group.
fn sync_group_config(script: &std::path::Path) -> String {
    let example = format!(
        "{}/configs/vrrp-sync-group.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let config = std::fs::read_to_string(example)
        .expect("configs/vrrp-sync-group.toml")
        .replace("192.168.1.100/24", &format!("{VIP}/24"))
        .replace("10.0.1.100/24 dev eth1", &format!("{BACK_VIP}/24 dev eth1"))
        .replace("advert_interval = \"1s\"", "advert_interval = \"100ms\"")
        .replace(
            "# notify = \"/usr/local/bin/on-svc-change\"",
            &format!("notify = \"{}\"", script.display()),
        );
    assert!(
        config.contains(&format!("{BACK_VIP}/24 dev eth1")),
        "{config}"
    );
    assert!(config.contains("notify = \"/"), "{config}");
    config
}

#[test]
fn two_routers_in_a_sync_group_move_together_against_keepalived() {
    let test = "two_routers_in_a_sync_group_move_together_against_keepalived";
    let Some(lan) = lan_with_keepalived(test) else {
        return;
    };
    add_eth1(&lan, A);
    add_eth1(&lan, B);
    let (script, out) = notify_script();
    let config = sync_group_config(&script.0);
    let (mut k, _conf) = keepalived(&lan, B, &keepalived_two(), "(VI_2) Entering BACKUP STATE");
    k.wait_logged("(VI_1) Entering MASTER STATE");
    k.wait_logged("(VI_2) Entering MASTER STATE");

    // keepalived holds both. ringlb's front would preempt (150 > 100), but back is
    // outranked (150 < 200): the group holds front back.
    let mut a = start_ringlb(&lan, A, &config, 51);
    a.wait_for("vrrp: sync group svc entering BACKUP state");
    a.wait_logged("vrrp: front would be master: waiting for its sync group");
    let s = wait_api(
        &lan,
        A,
        "/api/vrrp",
        "20 adverts heard by each router",
        |s| (0..2).all(|i| s["routers"][i]["adverts_received_total"].as_u64() >= Some(20)),
    );
    assert_eq!(s["routers"][0]["name"], "front", "{s}");
    assert_eq!(s["routers"][0]["state"], "BACKUP", "{s}");
    assert_eq!(s["routers"][0]["sync_group"], "svc", "{s}");
    assert_eq!(s["sync_groups"][0]["state"], "BACKUP", "{s}");
    assert!(!a.logged("entering MASTER"), "{}", a.log.join("\n"));
    assert!(lan.has_addr(B, VIP) && has_addr_on(&lan, B, "eth1", BACK_VIP));
    assert_eq!(
        s["dropped_total"]["vrid"], 0,
        "the other router's adverts are not drops: {s}"
    );

    // keepalived dies: both of ringlb's routers take over together, BACK_VIP on eth1.
    common::vrrp::kill_all(&lan, B);
    a.wait_for("vrrp: sync group svc entering MASTER state");
    assert!(lan.wait_addr(A, VIP, true, PATIENCE).is_some());
    wait_addr_on(&lan, A, "eth1", BACK_VIP, true);
    assert!(
        !has_addr_on(&lan, A, "eth0", BACK_VIP),
        "dev eth1, not eth0"
    );
    let (_, metrics) = lan.enter(A, || {
        admin(common::vrrp::admin_addr(), "GET", "/metrics", "", None)
    });
    for name in ["front", "back"] {
        let line = format!("interface=\"eth0\",name=\"{name}\",state=\"MASTER\"}} 1");
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
    drop(k);

    // keepalived returns: its VI_2 (200) preempts back; front follows with priority
    // 0, so keepalived's VI_1 takes over too although 100 < 150.
    let (mut k, _conf) = keepalived(&lan, B, &keepalived_two(), "(VI_2) Entering BACKUP STATE");
    k.wait_logged("(VI_2) Entering MASTER STATE");
    k.wait_logged("(VI_1) Entering MASTER STATE");
    a.wait_for("vrrp: sync group svc entering BACKUP state");
    assert!(lan.wait_addr(A, VIP, false, PATIENCE).is_some());
    wait_addr_on(&lan, A, "eth1", BACK_VIP, false);
    assert!(lan.wait_addr(B, VIP, true, PATIENCE).is_some());
    let lines = std::fs::read_to_string(&out.0).expect("group notify output");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        ["BACKUP", "MASTER", "BACKUP"],
        "{}",
        a.log.join("\n")
    );

    // A master killed with -9 leaves its addresses behind; the next start removes
    // each from the interface it is on (eth1 too).
    common::vrrp::kill_all(&lan, B);
    a.wait_for("vrrp: sync group svc entering MASTER state");
    wait_addr_on(&lan, A, "eth1", BACK_VIP, true);
    a.child.kill().expect("kill -9");
    drop(a);
    let mut a = start_ringlb(&lan, A, &config, 51);
    a.wait_for(&format!(
        "vrrp: removed {BACK_VIP}/24 from eth1, left behind by an earlier run"
    ));
}

#[test]
fn track_script_file_and_interface_move_the_vip_like_keepalived_s() {
    let test = "track_script_file_and_interface_move_the_vip_like_keepalived_s";
    let Some(lan) = lan_with_keepalived(test) else {
        return;
    };
    add_eth1(&lan, A);
    let flag = TempConfig::new("up");
    let weight_file = TempConfig::new("0\n");
    // No frontend: a service ringlb does not proxy, checked by a program (fails
    // while the flag file is missing), a file and another link.
    let config = format!(
        r#"[global]
admin_bind = "127.0.0.1:9900"

[vrrp]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_interval = "100ms"
virtual_ips = ["{VIP}/24"]

[[vrrp.track_script]]
name = "db"
command = ["/bin/sh", "-c", "test -e {}"]
interval = "100ms"
weight = -60
rise = 2
fall = 2

[[vrrp.track_file]]
file = "{}"
weight = -1
interval = "100ms"

[[vrrp.track_interface]]
interface = "eth1"
"#,
        flag.0.display(),
        weight_file.0.display()
    );
    let keepalived_conf = keepalived_conf(100).replace("advert_int 1", "advert_int 0.1");
    let (mut k, _conf) = keepalived(&lan, B, &keepalived_conf, "Entering BACKUP STATE");
    k.wait_for("Entering MASTER STATE");
    let mut a = start_ringlb(&lan, A, &config, 51);
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");

    // The program fails twice in a row (fall 2): 150 - 60 = 90 < 100, hand over.
    std::fs::remove_file(&flag.0).expect("remove the flag");
    a.wait_for("vrrp: track script db fails: priority 90");
    a.wait_for("vrrp: entering BACKUP state (priority 90)");
    k.wait_for("Entering MASTER STATE");
    let s = api(&lan, A, "/api/vrrp");
    assert_eq!(s["tracking"][0], "track script db is failing", "{s}");
    std::fs::write(&flag.0, "up").expect("flag back");
    a.wait_for("vrrp: track script db succeeds again: priority 150");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");

    // The file says 70: times weight -1, priority 80.
    std::fs::write(&weight_file.0, "70\n").expect("write the file");
    a.wait_for(&format!(
        "vrrp: track file {} holds 70: priority 80",
        weight_file.0.display()
    ));
    a.wait_for("vrrp: entering BACKUP state (priority 80)");
    k.wait_for("Entering MASTER STATE");
    std::fs::write(&weight_file.0, "0\n").expect("write the file");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");

    // eth1 down (weight 0): FAULT, the VIP goes to keepalived; back up: master again.
    let ns = lan.ns(A);
    let set = |state: &str| {
        let ok = std::process::Command::new("ip")
            .args(["-n", &ns, "link", "set", "eth1", state])
            .status();
        assert!(ok.is_ok_and(|s| s.success()));
    };
    set("down");
    a.wait_for("vrrp: tracked interface eth1 is down: FAULT");
    a.wait_for("vrrp: entering FAULT state");
    // eth0 still works: ringlb said priority 0 on its way into FAULT.
    k.wait_for("(VI_1) Backup received priority 0 advertisement");
    k.wait_for("Entering MASTER STATE");
    assert!(lan.wait_addr(A, VIP, false, PATIENCE).is_some());
    assert_eq!(api(&lan, A, "/api/vrrp")["state"], "FAULT");
    set("up");
    a.wait_for("vrrp: tracked interface eth1 is up again: priority 150");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");
    assert!(lan.wait_addr(A, VIP, true, PATIENCE).is_some());
}
