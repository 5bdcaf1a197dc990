//! Hostile advertisements and unicast peers.

use super::*;

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
    // The rate-limited log line (it can reach the log a moment after the counters).
    a.wait_logged("vrrp: dropped an advertisement from 192.0.2.2");
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
