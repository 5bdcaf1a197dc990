//! Mixed pairs with keepalived: either side backing up the other, unicast peers.

use super::*;

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
