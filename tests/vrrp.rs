//! VRRP in real network namespaces: two ringlb instances (or ringlb and a real
//! keepalived) on one bridge elect a master, move the virtual IP on `kill -9`, on a
//! clean stop and on failed health tracking, and ignore hostile advertisements. A
//! client namespace connects to the frontend on the virtual IP. Root only: skipped
//! with a reason elsewhere, and a failure in CI (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::netns::{fetch_from, local_service, Lan};
use common::vrrp::{
    admin_addr, api, assert_takes_over_in_time, keepalived_instance, kill_all, start_ringlb,
    wait_api,
};
use common::{admin, Ringlb, TempConfig, BIN, PATIENCE};

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

#[test]
fn two_ringlb_elect_fail_over_on_kill_and_stop_and_preempt() {
    let Some(lan) = lan("two_ringlb_elect_fail_over_on_kill_and_stop_and_preempt", 3) else {
        return;
    };
    let _a_app = lan.reply_server(A, backend(), "a");
    let _b_app = lan.reply_server(B, backend(), "b");
    let mut a = start(&lan, A, &config(150, SEC, "", false));
    let mut b = start(&lan, B, &config(100, SEC, "", false));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));
    assert_eq!(
        fetch_from(&lan, CLIENT, vip_port(), PATIENCE).as_deref(),
        Some("a")
    );
    assert_eq!(
        lan.neighbour(CLIENT, VIP),
        Some(lan.mac(A)),
        "the client reaches A"
    );

    // kill -9: the backup takes over once the master is silent for Master_Down_Interval.
    a.child.kill().expect("kill -9");
    assert_b_takes_over_in_time(&lan, "B");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    // The client's neighbour entry pointed at A; B's gratuitous ARP moves it to B at
    // once (A's kernel, killed with the VIP still configured, would answer otherwise).
    let b_mac = lan.mac(B);
    let deadline = Instant::now() + PATIENCE;
    while lan.neighbour(CLIENT, VIP).as_deref() != Some(b_mac.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the client never learnt B's MAC for the VIP"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        fetch_from(&lan, CLIENT, vip_port(), PATIENCE).as_deref(),
        Some("b")
    );
    drop(a);

    // Back with preemption (the default): it takes the VIP back from the lower priority.
    let mut a = start(&lan, A, &config(150, SEC, "", false));
    a.wait_for("left behind by an earlier run");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(
        lan.wait_addr(B, VIP, false, PATIENCE).is_some(),
        "B gives the VIP up"
    );
    assert!(lan.has_addr(A, VIP));
    assert_eq!(
        fetch_from(&lan, CLIENT, vip_port(), PATIENCE).as_deref(),
        Some("a")
    );

    // A clean stop says priority 0: B takes over after its skew time, well under a second.
    a.signal(libc::SIGTERM);
    let took = lan
        .wait_addr(B, VIP, true, PATIENCE)
        .expect("B takes the VIP");
    assert!(took < SEC, "takeover after a clean stop took {took:?}");
    a.wait_for("vrrp: entering STOP state");
    assert!(
        lan.wait_addr(A, VIP, false, PATIENCE).is_some(),
        "A removed the VIP"
    );
    assert!(a.wait_exit().success());
    assert_eq!(
        fetch_from(&lan, CLIENT, vip_port(), PATIENCE).as_deref(),
        Some("b")
    );
}

#[test]
fn without_preempt_a_returning_router_stays_backup() {
    let Some(lan) = lan("without_preempt_a_returning_router_stays_backup", 2) else {
        return;
    };
    let mut a = start(&lan, A, &config(150, FAST, "preempt = false", false));
    a.wait_for("vrrp: entering MASTER state");
    let mut b = start(&lan, B, &config(100, FAST, "preempt = false", false));
    b.wait_for("vrrp: entering BACKUP state");
    a.child.kill().expect("kill -9");
    b.wait_for("vrrp: entering MASTER state");
    drop(a);
    let mut a = start(&lan, A, &config(150, FAST, "preempt = false", false));
    a.wait_for("vrrp: entering BACKUP state (priority 150)");
    // Twenty of B's adverts (2 s, several Master_Down_Intervals) and A is still backup.
    let s = wait_status(&lan, A, "20 adverts heard", |s| {
        s["adverts_received_total"].as_u64() >= Some(20)
    });
    assert_eq!(s["state"], "BACKUP", "{s}");
    assert_eq!(s["master"], Lan::ip(B).to_string(), "{s}");
    assert!(!a.logged("entering MASTER"), "{}", a.log.join("\n"));
    assert!(lan.has_addr(B, VIP) && !lan.has_addr(A, VIP));
    // The stats page shows the router too.
    let (code, page) = lan.enter(A, || admin(admin_addr(), "GET", "/", "", None));
    assert_eq!(code, 200);
    assert!(
        page.contains("<h2>VRRP") && page.contains(">BACKUP<"),
        "{page}"
    );
    assert!(
        page.contains(&Lan::ip(B).to_string()),
        "the master's address: {page}"
    );
}

#[test]
fn a_master_whose_link_goes_down_is_a_fault_and_the_peer_takes_over() {
    let test = "a_master_whose_link_goes_down_is_a_fault_and_the_peer_takes_over";
    let Some(lan) = lan(test, 2) else {
        return;
    };
    let mut a = start(&lan, A, &config(150, FAST, "", false));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    let mut b = start(&lan, B, &config(100, FAST, "", false));
    b.wait_for("vrrp: entering BACKUP state");
    lan.set_link(A, false);
    a.wait_for("vrrp: eth0 is down or lost its carrier");
    a.wait_for("vrrp: entering FAULT state");
    assert!(!lan.has_addr(A, VIP), "A gave the VIP up with its link");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    assert!(lan.wait_addr(B, VIP, true, PATIENCE).is_some());
    assert_eq!(status(&lan, A)["state"], "FAULT");
    lan.set_link(A, true);
    a.wait_for("vrrp: eth0 is up again");
    a.wait_for("vrrp: entering BACKUP state (priority 150)");
    a.wait_for("vrrp: entering MASTER state (priority 150)"); // preempts
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(lan.wait_addr(B, VIP, false, PATIENCE).is_some());
    assert!(lan.has_addr(A, VIP));
}

#[test]
fn tracking_hands_the_vip_over_when_a_frontend_has_no_usable_server() {
    let test = "tracking_hands_the_vip_over_when_a_frontend_has_no_usable_server";
    let Some(lan) = lan(test, 2) else {
        return;
    };
    let a_app = lan.reply_server(A, backend(), "a");
    let _b_app = lan.reply_server(B, backend(), "b");
    let track = "track_frontends = true\ntrack_weight = 60";
    let mut a = start(&lan, A, &config(150, FAST, track, true));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    let mut b = start(&lan, B, &config(100, FAST, track, true));
    b.wait_for("vrrp: entering BACKUP state");

    drop(a_app); // A's only server goes away: its check fails, the frontend has nothing.
    a.wait_for("vrrp: frontend web has no usable server: priority 90");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    a.wait_for("vrrp: entering BACKUP state (priority 90)");
    assert!(lan.wait_addr(A, VIP, false, PATIENCE).is_some());
    assert!(lan.has_addr(B, VIP));
    let s = status(&lan, A);
    assert_eq!(
        (s["priority"].as_u64(), s["configured_priority"].as_u64()),
        (Some(90), Some(150))
    );
    assert_eq!(s["tracking"][0], "frontend web has no usable server", "{s}");

    let _a_app = lan.reply_server(A, backend(), "a"); // back: priority 150, A preempts
    a.wait_for("every tracked frontend has a usable server again: priority 150");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(lan.wait_addr(B, VIP, false, PATIENCE).is_some());
    assert!(lan.has_addr(A, VIP));
}

#[test]
fn notify_is_called_with_every_new_state_including_stop() {
    let Some(lan) = lan("notify_is_called_with_every_new_state_including_stop", 1) else {
        return;
    };
    let out = TempConfig::new("");
    let script = TempConfig::new(&format!(
        "#!/bin/sh\necho \"$1 $2 $RINGLB_VRRP_STATE\" >> {}\n",
        out.0.display()
    ));
    std::fs::set_permissions(
        &script.0,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let notify = format!("notify = \"{}\"", script.0.display());
    let mut a = start(&lan, A, &config(100, FAST, &notify, false));
    a.wait_for("vrrp: entering MASTER state");
    a.signal(libc::SIGTERM);
    assert!(a.wait_exit().success());
    // The program of the last change (STOP) ran before ringlb exited.
    let lines = std::fs::read_to_string(&out.0).expect("notify output");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        ["BACKUP 100 BACKUP", "MASTER 100 MASTER", "STOP 100 STOP"],
        "{}",
        a.log.join("\n")
    );
}

/// Raw VRRP packets from inside `host`, as an attacker or a broken peer would send.
fn send_raw(lan: &Lan, host: usize, packets: Vec<Vec<u8>>) {
    lan.enter(host, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let s =
            Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).expect("raw socket");
        s.set_header_included_v4(true).expect("IP_HDRINCL");
        s.bind_device(Some(b"eth0")).expect("bind eth0");
        for p in packets {
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            s.send_to(&p, &SocketAddr::from((dst, 0)).into())
                .expect("send");
        }
    });
}

#[test]
fn hostile_advertisements_are_ignored_and_counted() {
    use ringlb::vrrp::packet::{Advert, ChecksumForm, GROUP};
    use ringlb::vrrp::wire::ipv4_packet;
    let Some(lan) = lan("hostile_advertisements_are_ignored_and_counted", 2) else {
        return;
    };
    let mut a = start(&lan, A, &config(100, FAST, "", false));
    a.wait_for("vrrp: entering MASTER state (priority 100)");
    let attacker = Lan::ip(B);
    let advert = |vrid: u8| Advert {
        vrid,
        priority: 254,
        interval_cs: 10,
        addresses: vec![VIP.into()],
    };
    let packet = |vrid: u8| {
        ipv4_packet(
            attacker,
            GROUP,
            &advert(vrid).encode(ChecksumForm::Keepalived, attacker, GROUP),
        )
    };
    let mut ttl_254 = packet(51);
    ttl_254[8] = 254; // the kernel recomputes the header checksum
    let mut bad_sum = packet(51);
    bad_sum[20 + 6] ^= 0xff;
    let other_vrid = packet(52);
    let truncated = ipv4_packet(
        attacker,
        GROUP,
        &advert(51).encode(ChecksumForm::Keepalived, attacker, GROUP)[..6],
    );
    let mut version_2 = packet(51);
    version_2[20] = 0x21;
    send_raw(
        &lan,
        B,
        vec![ttl_254, bad_sum, other_vrid, truncated, version_2],
    );

    let s = wait_status(&lan, A, "five drops counted", |s| {
        ["ttl", "checksum", "vrid", "truncated", "version"]
            .iter()
            .all(|r| s["dropped_total"][r].as_u64() == Some(1))
    });
    assert_eq!(s["state"], "MASTER", "none of them moved the master: {s}");
    assert_eq!(s["adverts_received_total"], 0, "{s}");
    assert!(
        a.logged("vrrp: dropped an advertisement from 192.0.2.2"),
        "rate-limited log line"
    );
    let (_, metrics) = lan.enter(A, || admin(admin_addr(), "GET", "/metrics", "", None));
    assert!(
        metrics
            .contains("ringlb_vrrp_dropped_total{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",reason=\"ttl\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "ringlb_vrrp_state{vrid=\"51\",interface=\"eth0\",name=\"VI_51\",state=\"MASTER\"} 1"
    ));

    // The same advert, well formed, is obeyed: the drops above were for cause.
    send_raw(&lan, B, vec![packet(51)]);
    a.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(lan.wait_addr(A, VIP, false, PATIENCE).is_some());
    let s = status(&lan, A);
    assert_eq!(s["master"], attacker.to_string(), "{s}");
}

#[test]
fn unicast_peers_only_listen_to_their_peers() {
    use ringlb::vrrp::packet::{Advert, ChecksumForm};
    use ringlb::vrrp::wire::ipv4_packet;
    let Some(lan) = lan("unicast_peers_only_listen_to_their_peers", 3) else {
        return;
    };
    let peers = |other: usize| format!("unicast_peers = [\"{}\"]", Lan::ip(other));
    let mut a = start(&lan, A, &config(150, FAST, &peers(B), false));
    assert!(a.logged("unicast to [192.0.2.2]"), "{}", a.log.join("\n"));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    let mut b = start(&lan, B, &config(100, FAST, &peers(A), false));
    b.wait_for("vrrp: entering BACKUP state");
    wait_status(&lan, B, "A's unicast adverts heard", |s| {
        s["adverts_received_total"].as_u64() >= Some(3)
    });
    // A third host that is not a peer cannot take over, even with a higher priority.
    let stranger = Lan::ip(CLIENT);
    let to_a = Lan::ip(A);
    let advert = Advert {
        vrid: 51,
        priority: 254,
        interval_cs: 10,
        addresses: vec![VIP.into()],
    };
    let p = ipv4_packet(
        stranger,
        to_a,
        &advert.encode(ChecksumForm::Keepalived, stranger, to_a),
    );
    send_raw(&lan, CLIENT, vec![p]);
    let s = wait_status(&lan, A, "the stranger dropped", |s| {
        s["dropped_total"]["peer"].as_u64() == Some(1)
    });
    assert_eq!(s["state"], "MASTER", "{s}");
    a.child.kill().expect("kill -9");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    assert!(lan.wait_addr(B, VIP, true, PATIENCE).is_some());
}

/// A keepalived in `host`'s namespace (VRRP only, logging to the console).
fn keepalived(lan: &Lan, host: usize, priority: u8) -> Option<(Ringlb, TempConfig)> {
    keepalived_with(lan, host, priority, "")
}

/// [`keepalived`] with `extra` lines in its `vrrp_instance` (e.g. unicast peers).
fn keepalived_with(
    lan: &Lan,
    host: usize,
    priority: u8,
    extra: &str,
) -> Option<(Ringlb, TempConfig)> {
    let body = format!("{extra}\n  virtual_ipaddress {{\n    {VIP}/24\n  }}");
    keepalived_instance(lan, host, 51, priority, &body)
}

#[test]
fn keepalived_backs_up_ringlb_and_ringlb_preempts_it() {
    let Some(lan) = lan("keepalived_backs_up_ringlb_and_ringlb_preempts_it", 2) else {
        return;
    };
    let mut a = start(&lan, A, &config(150, SEC, "", false));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    let Some((mut k, _conf)) = keepalived(&lan, B, 100) else {
        return;
    };
    // keepalived hears ringlb's adverts (keepalived checksum form) and stays backup.
    wait_status(&lan, A, "keepalived heard", |s| {
        s["adverts_sent_total"].as_u64() >= Some(5)
    });
    assert!(!k.logged("Entering MASTER STATE"), "{}", k.log.join("\n"));
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));

    kill_all(&lan, A);
    assert_b_takes_over_in_time(&lan, "keepalived");
    k.wait_for("Entering MASTER STATE");
    drop(a);

    let mut a = start(&lan, A, &config(150, SEC, "", false));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");
    assert!(
        lan.wait_addr(B, VIP, false, PATIENCE).is_some(),
        "keepalived gave the VIP up"
    );
    assert!(lan.has_addr(A, VIP));
}

#[test]
fn ringlb_backs_up_keepalived_and_takes_over_when_it_dies() {
    let Some(lan) = lan("ringlb_backs_up_keepalived_and_takes_over_when_it_dies", 2) else {
        return;
    };
    let Some((mut k, _conf)) = keepalived(&lan, A, 150) else {
        return;
    };
    k.wait_for("Entering MASTER STATE");
    let mut b = start(&lan, B, &config(100, SEC, "", false));
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    let s = wait_status(&lan, B, "keepalived's adverts", |s| {
        s["adverts_received_total"].as_u64() >= Some(3)
    });
    assert_eq!(s["master"], Lan::ip(A).to_string(), "{s}");
    assert_eq!(s["state"], "BACKUP");
    assert!(lan.has_addr(A, VIP) && !lan.has_addr(B, VIP));

    kill_all(&lan, A);
    assert_b_takes_over_in_time(&lan, "ringlb");
    b.wait_for("vrrp: entering MASTER state (priority 100)");
    drop(k);

    let Some((mut k, _conf)) = keepalived(&lan, A, 150) else {
        return;
    };
    k.wait_for("Entering MASTER STATE");
    b.wait_for("vrrp: entering BACKUP state (priority 100)");
    assert!(
        lan.wait_addr(B, VIP, false, PATIENCE).is_some(),
        "ringlb gave the VIP up"
    );
}

#[test]
fn keepalived_and_ringlb_as_unicast_peers() {
    let Some(lan) = lan("keepalived_and_ringlb_as_unicast_peers", 2) else {
        return;
    };
    let peers = format!("unicast_peers = [\"{}\"]", Lan::ip(B));
    let mut a = start(&lan, A, &config(150, SEC, &peers, false));
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    let unicast = format!(
        "  unicast_src_ip {}\n  unicast_peer {{\n    {}\n  }}",
        Lan::ip(B),
        Lan::ip(A)
    );
    let Some((mut k, _conf)) = keepalived_with(&lan, B, 100, &unicast) else {
        return;
    };
    wait_status(&lan, A, "keepalived's unicast adverts", |s| {
        s["adverts_sent_total"].as_u64() >= Some(5)
    });
    assert!(!k.logged("Entering MASTER STATE"), "{}", k.log.join("\n"));
    kill_all(&lan, A);
    assert_b_takes_over_in_time(&lan, "keepalived");
    k.wait_for("Entering MASTER STATE");
    drop(a);
    // ringlb comes back, hears keepalived's unicast adverts, and preempts.
    let mut a = start(&lan, A, &config(150, SEC, &peers, false));
    a.wait_for("vrrp: entering BACKUP state (priority 150)");
    let s = wait_status(&lan, A, "keepalived heard", |s| {
        s["adverts_received_total"].as_u64() >= Some(1)
    });
    assert_eq!(s["dropped_total"]["peer"], 0, "{s}");
    a.wait_for("vrrp: entering MASTER state (priority 150)");
    k.wait_for("Entering BACKUP STATE");
    assert!(lan.wait_addr(B, VIP, false, PATIENCE).is_some());
}

#[test]
fn a_missing_interface_stops_start_up_with_a_clear_message() {
    // No namespace needed: the interface is looked up before any socket is opened.
    // Outside a test namespace, loopback only: the frontend moves off the VIP.
    let text = config(150, SEC, "", false)
        .replace("interface = \"eth0\"", "interface = \"nosuchif0\"")
        .replace(
            &format!("bind = [\"{VIP}:8080\"]"),
            "bind = [\"127.0.0.1:0\"]",
        );
    assert!(text.contains("127.0.0.1:0"));
    let cfg = TempConfig::new(&text);
    let out = std::process::Command::new(BIN)
        .args(["run", "-c"])
        .arg(&cfg.0)
        .output()
        .expect("run ringlb");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vrrp.interface \"nosuchif0\": no interface named \"nosuchif0\""),
        "{err}"
    );
}
