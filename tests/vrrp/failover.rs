//! Two ringlb: election, fail-over, preemption, link down, tracking, notify, a missing interface.

use super::*;

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
