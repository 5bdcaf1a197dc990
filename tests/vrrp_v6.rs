//! VRRPv3 over IPv6 (RFC 9568) in real network namespaces: ringlb against ringlb and
//! against keepalived's `native_ipv6`, both ways (master and backup), with a client
//! namespace that connects to the IPv6 virtual IP and whose neighbour cache must
//! follow the master after a failover (unsolicited neighbour advertisements). Every
//! host gets 2001:db8::N/64 beside its link-local address, which VRRP sends from.
//! Root only: skipped with a reason elsewhere, a failure in CI
//! (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

use common::netns::{fetch_from, Lan};
use common::vrrp::{
    api, assert_takes_over_in_time, have_keepalived, keepalived, keepalived_instance, kill_all,
    start_ringlb, wait_api,
};
use common::{Ringlb, TempConfig, PATIENCE};

const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const VRID: u8 = 61;
const SEC: Duration = Duration::from_secs(1);
const A: usize = 0;
const B: usize = 1;
const CLIENT: usize = 2;

fn vip_port() -> SocketAddr {
    SocketAddr::from((VIP, 8080))
}

/// Three hosts with IPv6 ready: 2001:db8::N/64 added, and every link-local address
/// past duplicate address detection (a tentative address cannot send).
fn v6_lan(test: &str) -> Option<Lan> {
    let lan = Lan::new(test, 3)?;
    for h in 0..3 {
        let addr = format!("2001:db8::{}/64", h + 1);
        let ok = Command::new("ip")
            .args([
                "-n",
                &lan.ns(h),
                "addr",
                "add",
                &addr,
                "dev",
                "eth0",
                "nodad",
            ])
            .status()
            .expect("ip addr add");
        assert!(ok.success(), "ip addr add {addr}");
    }
    let deadline = Instant::now() + PATIENCE;
    while (0..3).any(|h| {
        let text = lan.show(h, &["-6", "-o", "addr", "show", "tentative"]);
        !text.trim().is_empty() || link_local(&lan, h).is_none()
    }) {
        assert!(Instant::now() < deadline, "IPv6 never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(lan)
}

/// `host`'s link-local address on eth0 (the source of its adverts).
fn link_local(lan: &Lan, host: usize) -> Option<String> {
    let text = lan.show(host, &["-6", "-o", "addr", "show", "scope", "link"]);
    let addr = text.split("inet6 ").nth(1)?.split('/').next()?;
    Some(addr.to_string())
}

/// Wait (bounded) until the client's neighbour cache points the VIP at `host`: the
/// new master's unsolicited neighbour advertisement, before any traffic.
fn client_learns(lan: &Lan, host: usize, who: &str) {
    let mac = lan.mac(host);
    let deadline = Instant::now() + PATIENCE;
    while lan.neighbour(CLIENT, VIP).as_deref() != Some(mac.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the client never learnt {who}'s MAC {mac} for {VIP}: {:?}",
            lan.show(CLIENT, &["-6", "neigh", "show"])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fetch(lan: &Lan) -> Option<String> {
    fetch_from(lan, CLIENT, vip_port(), PATIENCE)
}

/// A ringlb: a TCP frontend on [VIP]:8080 in front of the host's own backend on
/// 127.0.0.1:9001, and an IPv6 virtual router with `vrrp` lines added.
fn config(priority: u8, vrrp: &str) -> String {
    format!(
        r#"[global]
workers = 1
pin_workers = false
admin_bind = "127.0.0.1:9900"

[[frontend]]
name = "web"
bind = ["[{VIP}]:8080"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "local"
address = "127.0.0.1:9001"
check = false

[vrrp]
interface = "eth0"
virtual_router_id = {VRID}
priority = {priority}
advert_interval = "1s"
virtual_ips = ["{VIP}/64"]
{vrrp}
"#
    )
}

fn start(lan: &Lan, host: usize, config: &str) -> Ringlb {
    start_ringlb(lan, host, config, VRID)
}

fn assert_b_takes_over_in_time(lan: &Lan, who: &str) {
    assert_takes_over_in_time(lan, B, VIP, who)
}

fn backend() -> SocketAddr {
    "127.0.0.1:9001".parse().unwrap()
}

/// An advert for our virtual router sent from the client with hop limit `hops`, to
/// the group or (`to`) to a host's link-local address.
fn send_advert(lan: &Lan, priority: u8, hops: u32, to: Option<usize>) {
    use ringlb::vrrp::packet::{Advert, ChecksumForm, GROUP_V6};
    let src: IpAddr = link_local(lan, CLIENT)
        .expect("link-local")
        .parse()
        .unwrap();
    let advert = Advert {
        vrid: VRID,
        priority,
        interval_cs: 100,
        addresses: vec![VIP.into()],
    };
    let dst: Ipv6Addr = match to {
        Some(host) => link_local(lan, host).expect("link-local").parse().unwrap(),
        None => GROUP_V6,
    };
    let msg = advert.encode(ChecksumForm::Keepalived, src, dst);
    lan.enter(CLIENT, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112))).unwrap();
        let index = if_index("eth0");
        s.set_multicast_if_v6(index).unwrap();
        s.set_multicast_hops_v6(hops).unwrap();
        s.set_unicast_hops_v6(hops).unwrap();
        let to = SocketAddr::V6(std::net::SocketAddrV6::new(dst, 0, 0, index));
        s.send_to(&msg, &to.into()).expect("send the advert");
    });
}

fn if_index(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: a valid NUL-terminated string for the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

#[test]
fn two_ringlb_over_ipv6_fail_over_announce_and_preempt() {
    let Some(lan) = v6_lan("two_ringlb_over_ipv6_fail_over_announce_and_preempt") else {
        return;
    };
    let _a_app = lan.reply_server(A, backend(), "a");
    let _b_app = lan.reply_server(B, backend(), "b");
    let mut a = start(&lan, A, &config(150, ""));
    let mut b = start(&lan, B, &config(100, ""));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));
    // B hears A from its link-local address; the API shows IPv6 throughout.
    let a_ll = link_local(&lan, A).unwrap();
    let s = wait_api(&lan, B, "/api/vrrp", "A's adverts", |s| {
        s["adverts_received_total"].as_u64() >= Some(2)
    });
    assert_eq!(s["master"], a_ll.as_str(), "{s}");
    assert_eq!(s["address"], link_local(&lan, B).unwrap().as_str(), "{s}");
    assert_eq!(s["virtual_ips"][0], format!("{VIP}/64"), "{s}");
    assert_eq!(fetch(&lan).as_deref(), Some("a"));
    assert_eq!(
        lan.neighbour(CLIENT, VIP),
        Some(lan.mac(A)),
        "the client reaches A"
    );

    // An advert that crossed a router (hop limit below 255) is dropped: a priority of
    // 254 would otherwise make A step down.
    send_advert(&lan, 254, 1, None);
    let s = wait_api(&lan, A, "/api/vrrp", "the routed advert dropped", |s| {
        s["dropped_total"]["ttl"].as_u64() == Some(1)
    });
    assert_eq!(s["state"], "MASTER", "{s}");

    // kill -9: B takes over after Master_Down_Interval, and its neighbour
    // advertisement moves the client's cache entry (A still holds the VIP, killed).
    a.child.kill().expect("kill -9");
    assert_b_takes_over_in_time(&lan, "B");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    client_learns(&lan, B, "B");
    assert_eq!(fetch(&lan).as_deref(), Some("b"));
    drop(a);

    // Back with preemption: A removes the leftover VIP and takes it back.
    let mut a = start(&lan, A, &config(150, ""));
    a.wait_for("left behind by an earlier run");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(
        lan.wait_addr(B, VIP, false, PATIENCE).is_some(),
        "B gives the VIP up"
    );
    client_learns(&lan, A, "A");
    assert_eq!(fetch(&lan).as_deref(), Some("a"));

    // A clean stop says priority 0: B takes over after its skew time.
    a.signal(libc::SIGTERM);
    let took = lan
        .wait_addr(B, VIP, true, PATIENCE)
        .expect("B takes the VIP");
    assert!(took < SEC, "takeover after a clean stop took {took:?}");
    assert!(
        lan.wait_addr(A, VIP, false, PATIENCE).is_some(),
        "A removed the VIP"
    );
    assert!(a.wait_exit().success());
    client_learns(&lan, B, "B");
    assert_eq!(fetch(&lan).as_deref(), Some("b"));
}

#[test]
fn ringlb_over_ipv6_with_unicast_peers() {
    let Some(lan) = v6_lan("ringlb_over_ipv6_with_unicast_peers") else {
        return;
    };
    let peer = |h: usize| format!("unicast_peers = [\"{}\"]", link_local(&lan, h).unwrap());
    let mut a = start(&lan, A, &config(150, &peer(B)));
    let mut b = start(&lan, B, &config(100, &peer(A)));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    let s = wait_api(&lan, B, "/api/vrrp", "A's unicast adverts", |s| {
        s["adverts_received_total"].as_u64() >= Some(2)
    });
    assert_eq!(s["master"], link_local(&lan, A).unwrap().as_str(), "{s}");
    assert_eq!(s["dropped_total"]["peer"], 0, "{s}");
    // The client's advert to A is not from a peer: dropped.
    send_advert(&lan, 254, 255, Some(A));
    wait_api(&lan, A, "/api/vrrp", "the stranger dropped", |s| {
        s["dropped_total"]["peer"].as_u64() == Some(1)
    });
    a.child.kill().expect("kill -9");
    assert_b_takes_over_in_time(&lan, "B");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
}

/// keepalived with `native_ipv6` in `host`, the same virtual router.
fn keepalived_v6(lan: &Lan, host: usize, priority: u8) -> Option<(Ringlb, TempConfig)> {
    let body = format!("  native_ipv6\n  virtual_ipaddress {{\n    {VIP}/64\n  }}");
    keepalived_instance(lan, host, VRID, priority, &body)
}

#[test]
fn keepalived_native_ipv6_backs_up_ringlb_and_ringlb_preempts_it() {
    let test = "keepalived_native_ipv6_backs_up_ringlb_and_ringlb_preempts_it";
    let Some(lan) = v6_lan(test) else {
        return;
    };
    let _a_app = lan.reply_server(A, backend(), "a");
    // keepalived's host serves the VIP's port itself.
    let _b_app = lan.reply_server(B, "[::]:8080".parse().unwrap(), "b");
    let mut a = start(&lan, A, &config(150, ""));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    let Some((mut k, _conf)) = keepalived_v6(&lan, B, 100) else {
        return;
    };
    // keepalived hears ringlb's IPv6 adverts and stays backup; ringlb hears it never
    // (a backup is silent).
    wait_api(&lan, A, "/api/vrrp", "adverts sent", |s| {
        s["adverts_sent_total"].as_u64() >= Some(5)
    });
    assert!(!k.logged("Entering MASTER STATE"), "{}", k.log.join("\n"));
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));
    assert_eq!(fetch(&lan).as_deref(), Some("a"));
    assert_eq!(lan.neighbour(CLIENT, VIP), Some(lan.mac(A)));

    // ringlb dies: keepalived takes over and its neighbour advertisement moves the
    // client's cache.
    kill_all(&lan, A);
    assert_b_takes_over_in_time(&lan, "keepalived");
    k.wait_for("Entering MASTER STATE");
    client_learns(&lan, B, "keepalived");
    assert_eq!(fetch(&lan).as_deref(), Some("b"));
    drop(a);

    // ringlb is back with the higher priority (and a tracked file): keepalived hears
    // it and gives up.
    let weight = TempConfig::new("0\n");
    let track = format!(
        "[[vrrp.track_file]]\nfile = \"{}\"\nweight = -1\ninterval = \"100ms\"\n",
        weight.0.display()
    );
    let mut a = start(&lan, A, &config(150, &track));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");
    assert!(
        lan.wait_addr(B, VIP, false, PATIENCE).is_some(),
        "keepalived gave the VIP up"
    );
    assert!(lan.has_addr(A, VIP));
    client_learns(&lan, A, "ringlb");
    assert_eq!(fetch(&lan).as_deref(), Some("a"));

    // ringlb's priority falls below keepalived's: keepalived preempts it.
    std::fs::write(&weight.0, "60\n").expect("write the tracked file");
    wait_api(&lan, A, "/api/vrrp", "priority 90", |s| s["priority"] == 90);
    k.wait_for("Entering MASTER STATE");
    assert!(
        lan.wait_addr(A, VIP, false, PATIENCE).is_some(),
        "ringlb gave the VIP up"
    );
    a.wait_for("vrrp: entering BACKUP state (priority 90)");
    client_learns(&lan, B, "keepalived");
    assert_eq!(fetch(&lan).as_deref(), Some("b"));
}

#[test]
fn ringlb_backs_up_keepalived_native_ipv6_and_takes_over_when_it_dies() {
    let test = "ringlb_backs_up_keepalived_native_ipv6_and_takes_over_when_it_dies";
    let Some(lan) = v6_lan(test) else {
        return;
    };
    let _a_app = lan.reply_server(A, "[::]:8080".parse().unwrap(), "a");
    let _b_app = lan.reply_server(B, backend(), "b");
    let Some((mut k, _conf)) = keepalived_v6(&lan, A, 150) else {
        return;
    };
    k.wait_for("Entering MASTER STATE");
    let mut b = start(&lan, B, &config(100, ""));
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    // ringlb reads keepalived's adverts: link-local source, IPv6 checksum.
    let s = wait_api(&lan, B, "/api/vrrp", "keepalived's adverts", |s| {
        s["adverts_received_total"].as_u64() >= Some(3)
    });
    assert_eq!(s["master"], link_local(&lan, A).unwrap().as_str(), "{s}");
    assert_eq!(s["state"], "BACKUP", "{s}");
    let dropped: u64 = ringlb::vrrp::Drop::REASONS
        .iter()
        .map(|r| s["dropped_total"][r].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(dropped, 0, "{s}");
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));
    assert_eq!(fetch(&lan).as_deref(), Some("a"));
    assert_eq!(lan.neighbour(CLIENT, VIP), Some(lan.mac(A)));

    kill_all(&lan, A);
    assert_b_takes_over_in_time(&lan, "ringlb");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    client_learns(&lan, B, "ringlb");
    assert_eq!(fetch(&lan).as_deref(), Some("b"));
    drop(k);

    // keepalived is back with the higher priority: ringlb steps down.
    let Some((mut k, _conf)) = keepalived_v6(&lan, A, 150) else {
        return;
    };
    k.wait_for("Entering MASTER STATE");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(
        lan.wait_addr(B, VIP, false, PATIENCE).is_some(),
        "ringlb gave the VIP up"
    );
    client_learns(&lan, A, "keepalived");
    let s = api(&lan, B, "/api/vrrp");
    assert_eq!(s["master"], link_local(&lan, A).unwrap().as_str(), "{s}");
}

/// `configs/vrrp-dual-stack.toml` (an IPv4 and an IPv6 router with one id, in a sync
/// group) against keepalived's two instances in a `vrrp_sync_group`.
#[test]
fn dual_stack_sync_group_against_keepalived_s() {
    let Some(lan) = v6_lan("dual_stack_sync_group_against_keepalived_s") else {
        return;
    };
    if !have_keepalived() {
        return;
    }
    let v4: IpAddr = "192.0.2.100".parse().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/vrrp-dual-stack.toml");
    let example = std::fs::read_to_string(example).expect("the example");
    let mut a = start_ringlb(&lan, A, &example, 51);
    a.wait_for("vrrp: sync group svc entering MASTER state");
    let instance = |name: &str, family: &str, vip: &str| {
        format!("vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n{family}  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n")
    };
    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_sync_group svc {{\n  group {{\n    VI_4\n    VI_6\n  }}\n}}\n{}{}",
        instance("VI_4", "", "192.0.2.100/24"),
        instance("VI_6", "  native_ipv6\n", &format!("{VIP}/64")),
    );
    let (mut k, _conf) = keepalived(&lan, B, &conf, "Entering BACKUP STATE");
    wait_api(&lan, A, "/api/vrrp", "adverts of both", |s| {
        (0..2).all(|i| s["routers"][i]["adverts_sent_total"].as_u64() >= Some(5))
    });
    assert!(!k.logged("Entering MASTER STATE"), "{}", k.log.join("\n"));
    assert!(lan.has_addr(A, v4) && lan.has_addr(A, VIP));

    // ringlb dies: keepalived's group takes both addresses.
    kill_all(&lan, A);
    assert_takes_over_in_time(&lan, B, v4, "keepalived (IPv4)");
    assert_takes_over_in_time(&lan, B, VIP, "keepalived (IPv6)");
    drop(a);

    // Back with the higher priorities: both routers preempt, keepalived gives both up.
    let mut a = start_ringlb(&lan, A, &example, 51);
    a.wait_for("vrrp: sync group svc entering MASTER state");
    for vip in [v4, VIP.into()] {
        assert!(
            lan.wait_addr(B, vip, false, PATIENCE).is_some(),
            "keepalived gave {vip} up"
        );
        assert!(lan.has_addr(A, vip), "ringlb holds {vip}");
    }
    let s = api(&lan, A, "/api/vrrp");
    assert_eq!(s["sync_groups"][0]["state"], "MASTER", "{s}");
}

/// `ringlb import keepalived` of the standby's keepalived.conf (native_ipv6, unicast to
/// the peer's link-local address) runs as that standby behind the keepalived master of
/// the same pair, and takes the VIP when keepalived dies.
#[test]
fn an_imported_ipv6_keepalived_conf_backs_up_keepalived() {
    let test = "an_imported_ipv6_keepalived_conf_backs_up_keepalived";
    let Some(lan) = v6_lan(test) else {
        return;
    };
    let (Some(ll_a), Some(ll_b)) = (link_local(&lan, A), link_local(&lan, B)) else {
        panic!("no link-local addresses");
    };
    let peer = |ll: &str| {
        format!("  native_ipv6\n  unicast_peer {{\n    {ll}\n  }}\n  virtual_ipaddress {{\n    {VIP}/64\n  }}")
    };
    let Some((mut k, _conf)) = keepalived_instance(&lan, A, VRID, 150, &peer(&ll_b)) else {
        return;
    };
    k.wait_for("Entering MASTER STATE");

    // The standby's own keepalived.conf, imported as it is.
    let standby = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_{VRID} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {VRID}\n  priority 100\n  advert_int 1\n{}\n}}\n",
        peer(&ll_a)
    );
    let input = TempConfig::new(&standby);
    let out = Command::new(common::BIN)
        .args(["import", "keepalived"])
        .arg(&input.0)
        .output()
        .expect("ringlb import");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let imported = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        imported.contains(&format!("unicast_peers = [\"{ll_a}\"]")),
        "{imported}"
    );
    let config = format!("[global]\nadmin_bind = \"127.0.0.1:9900\"\n\n{imported}");
    let mut b = start(&lan, B, &config);
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    let s = wait_api(&lan, B, "/api/vrrp", "keepalived's adverts", |s| {
        s["adverts_received_total"].as_u64() >= Some(3)
    });
    assert_eq!(s["master"], ll_a.as_str(), "{s}");
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));

    kill_all(&lan, A);
    assert_b_takes_over_in_time(&lan, "the imported ringlb");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    drop(k);
}
