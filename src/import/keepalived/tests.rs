//! The keepalived importer's rules, one test each.

use super::track::command;
use super::*;

const CONF: &str = r#"global_defs {
  router_id lb1
  notification_email { ops@example.com }
}
vrrp_script chk_haproxy {
  script "killall -0 haproxy"
  interval 2
  weight -60
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 0.5
  nopreempt
  authentication {
    auth_type PASS
    auth_pass secret
  }
  unicast_peer {
    10.0.0.2
  }
  virtual_ipaddress {
    192.168.1.100/24 dev eth0
    192.168.2.1/24 dev eth1
  }
  track_script {
    chk_haproxy
  }
  notify_master /usr/local/bin/master.sh
}
"#;

fn run(text: &str) -> (Vec<Table>, Vec<usize>) {
    let mut led = Ledger::default();
    let t = translate("k.conf", text, &mut led).unwrap();
    led.close();
    let lost = led.lost_list().iter().map(|l| l.line).collect();
    (t, lost)
}

/// The comments written above a key.
fn notes_of<'a>(t: &'a Table, key: &str) -> &'a [String] {
    t.items
        .iter()
        .find(|i| i.key == key)
        .map(|i| i.notes.as_slice())
        .unwrap_or_default()
}

fn strs(v: &[&str]) -> Value {
    Value::Arr(v.iter().map(|s| Value::str(*s)).collect())
}

#[test]
fn an_instance_becomes_vrrp() {
    let (t, lost) = run(CONF);
    assert_eq!(t.len(), 1);
    let v = &t[0];
    assert_eq!(v.header, "[vrrp]");
    assert_eq!(v.get("name"), Some(&Value::str("VI_1")));
    assert_eq!(v.get("interface"), Some(&Value::str("eth0")));
    assert_eq!(v.get("virtual_router_id"), Some(&Value::Int(51)));
    assert_eq!(v.get("advert_interval"), Some(&Value::str("500ms")));
    assert_eq!(v.get("preempt"), Some(&Value::Bool(false)));
    assert_eq!(v.get("unicast_peers"), Some(&strs(&["10.0.0.2"])));
    assert_eq!(
        v.get("virtual_ips"),
        Some(&strs(&["192.168.1.100/24", "192.168.2.1/24 dev eth1"]))
    );
    assert_eq!(v.get("track_frontends"), Some(&Value::Bool(true)));
    assert_eq!(v.get("track_weight"), Some(&Value::Int(60)));
    assert_eq!(
        v.get("notify_master"),
        Some(&strs(&["/usr/local/bin/master.sh"]))
    );
    // notification_email without smtp_server: keepalived mails nothing either.
    assert!(lost.is_empty(), "{lost:?}");
}

const TWO: &str = r#"vrrp_sync_group G1 {
  group {
    VI_1
    VI_2
    VI_9
  }
  notify_master /bin/true
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    10.0.0.1/24
    10.0.0.1/24 label eth0:1
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  virtual_ipaddress {
    10.0.1.1/24 dev eth1 label eth1:vip
    10.0.0.1
  }
}
"#;

#[test]
fn every_instance_becomes_a_router_and_sync_groups_follow() {
    let (t, lost) = run(TWO);
    let heads: Vec<&str> = t.iter().map(|t| t.header.as_str()).collect();
    assert_eq!(heads, ["[[vrrp]]", "[[vrrp]]", "[[vrrp_sync_group]]"]);
    assert_eq!(t[0].get("name"), Some(&Value::str("VI_1")));
    assert_eq!(t[1].get("name"), Some(&Value::str("VI_2")));
    assert_eq!(t[2].get("name"), Some(&Value::str("G1")));
    assert_eq!(t[2].get("routers"), Some(&strs(&["VI_1", "VI_2"])));
    assert_eq!(t[2].get("notify_master"), Some(&strs(&["/bin/true"])));
    // VI_9 does not exist.
    assert_eq!(lost, [5]);
}

#[test]
fn duplicate_vips_are_dropped_and_labels_noted() {
    let (t, _) = run(TWO);
    assert_eq!(t[0].get("virtual_ips"), Some(&strs(&["10.0.0.1/24"])));
    assert_eq!(
        t[1].get("virtual_ips"),
        Some(&strs(&["10.0.1.1/24 dev eth1"]))
    );
    let notes = notes_of(&t[1], "virtual_ips");
    assert!(notes
        .iter()
        .any(|n| n.contains("label eth1:vip is not set")));
    let text = crate::import::toml_out::write(&[], &t);
    assert!(text.contains("[[vrrp]]\n"), "{text}");
}

#[test]
fn a_sync_group_of_one_instance_is_a_note() {
    let text = "vrrp_sync_group G { group { VI_1 } }\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n}\n";
    let (t, lost) = run(text);
    assert_eq!(t.len(), 1);
    assert_eq!(lost, [] as [usize; 0]);
}

const TRACK: &str = r#"vrrp_script chk_db {
  script "/usr/bin/pg_isready -q -h '127.0.0.1'"
  interval 1
  timeout 0.5
  weight -60
  rise 2
  fall 3
  init_fail
}
vrrp_script chk_port {
  script "</dev/tcp/127.0.0.1/80"
}
vrrp_script unused {
  script "/bin/true"
}
vrrp_track_file tf {
  file /run/db/weight
  weight 2
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress { 10.0.0.1 }
  track_interface {
    eth0
    eth1 weight -20
    eth2
    eth3 weight 10 reverse
  }
  track_script {
    chk_db weight -40
    chk_port
  }
  track_file {
    tf weight -1
  }
}
"#;

#[test]
fn tracking_becomes_track_tables() {
    let (t, lost) = run(TRACK);
    let heads: Vec<&str> = t.iter().map(|t| t.header.as_str()).collect();
    assert_eq!(
        heads,
        [
            "[vrrp]",
            "[[vrrp.track_interface]]",
            "[[vrrp.track_interface]]",
            "[[vrrp.track_script]]",
            "[[vrrp.track_script]]",
            "[[vrrp.track_file]]"
        ]
    );
    assert_eq!(t[1].get("interface"), Some(&Value::str("eth1")));
    assert_eq!(t[1].get("weight"), Some(&Value::Int(-20)));
    assert_eq!(t[2].get("interface"), Some(&Value::str("eth2")));
    assert_eq!(t[2].get("weight"), None);
    let s = &t[3];
    assert_eq!(s.get("name"), Some(&Value::str("chk_db")));
    assert_eq!(
        s.get("command"),
        Some(&strs(&["/usr/bin/pg_isready", "-q", "-h", "127.0.0.1"]))
    );
    assert_eq!(s.get("interval"), Some(&Value::str("1s")));
    assert_eq!(s.get("timeout"), Some(&Value::str("500ms")));
    assert_eq!(
        s.get("weight"),
        Some(&Value::Int(-40)),
        "the instance's weight wins"
    );
    assert_eq!(s.get("rise"), Some(&Value::Int(2)));
    assert_eq!(s.get("fall"), Some(&Value::Int(3)));
    assert_eq!(s.get("init_fail"), Some(&Value::Bool(true)));
    assert_eq!(
        t[4].get("command"),
        Some(&strs(&["/bin/bash", "-c", "</dev/tcp/127.0.0.1/80"]))
    );
    assert_eq!(t[5].get("file"), Some(&Value::str("/run/db/weight")));
    assert_eq!(t[5].get("weight"), Some(&Value::Int(-1)));
    // Only `reverse` is lost; the unused script is a note.
    assert_eq!(lost, [28]);
}

#[test]
fn scripts_split_like_keepalived_or_go_through_a_shell() {
    let argv = |s: &str| command(s).map(|(a, _)| a);
    assert_eq!(
        argv(r#"/bin/check "a b" c\ d"#),
        Some(vec!["/bin/check".into(), "a b".into(), "c d".into()])
    );
    let (a, how) = command("killall -0 sshd").unwrap();
    assert_eq!(a, ["/bin/sh", "-c", "killall -0 sshd"]);
    assert!(how.unwrap().contains("PATH"));
    let (a, how) = command("/usr/bin/pgrep x && /bin/true").unwrap();
    assert_eq!(a, ["/bin/sh", "-c", "/usr/bin/pgrep x && /bin/true"]);
    assert!(how.unwrap().contains("needs a shell"));
    assert_eq!(command("/bin/x 'open"), None);
    assert_eq!(command(""), None);
}

#[test]
fn a_positive_haproxy_weight_differs() {
    let text = "vrrp_script chk {\n script \"/usr/bin/pgrep haproxy\"\n weight 2\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n track_script { chk }\n}\n";
    let (t, lost) = run(text);
    assert_eq!(lost, [] as [usize; 0]);
    assert_eq!(t[0].get("track_weight"), Some(&Value::Int(2)));
    let notes = notes_of(&t[0], "track_weight");
    assert!(notes[0].contains("differs: keepalived adds 2"), "{notes:?}");
}

#[test]
fn a_script_without_script_is_lost() {
    let text = "vrrp_script s {\n interval 1\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n track_script { s }\n}\n";
    let (t, lost) = run(text);
    assert_eq!(t.len(), 1);
    assert_eq!(lost, [8]);
}

#[test]
fn seconds_to_durations() {
    assert_eq!(seconds("1").as_deref(), Some("1s"));
    assert_eq!(seconds("0.25").as_deref(), Some("250ms"));
    assert_eq!(seconds("x"), None);
}

/// keepalived's `native_ipv6` instance of docs/vrrp.md, with unicast peers and a VIP
/// on another interface.
const V6: &str = r#"vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority 100
  native_ipv6
  unicast_src_ip fe80::1
  unicast_peer {
    fe80::2
  }
  virtual_ipaddress {
    2001:db8::100/64
    2001:db8:1::100/64 dev eth1
  }
}
"#;

#[test]
fn an_ipv6_instance_keeps_its_addresses() {
    let mut led = Ledger::default();
    let t = translate("k.conf", V6, &mut led).unwrap();
    led.close();
    assert!(led.lost_list().is_empty(), "{:?}", led.lost_list());
    let v = &t[0];
    assert_eq!(
        v.get("virtual_ips"),
        Some(&strs(&["2001:db8::100/64", "2001:db8:1::100/64 dev eth1"]))
    );
    assert_eq!(v.get("unicast_peers"), Some(&strs(&["fe80::2"])));
    assert!(notes_of(v, "unicast_peers")
        .iter()
        .any(|n| n.contains("k.conf:9:") && n.contains("link-local address")));
    // ringlb's IPv6 routers have one checksum form: the key is never written.
    assert_eq!(v.get("checksum"), None);
    let notes = led.notes().join("\n");
    assert!(
        notes.contains("ringlb takes the family from the virtual IPs"),
        "{notes}"
    );
    assert!(
        notes.contains("the interface's link-local address"),
        "{notes}"
    );
}

#[test]
fn the_first_address_decides_the_family_as_in_keepalived() {
    // keepalived: the IPv4 address comes first, so the IPv6 one is ignored, with the
    // other family's peer and an excluded address (not advertised: ringlb has none).
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.254/24 dev eth0\n    fe80::5cc1:afff:fe58:143b/64 dev br-ctlplane\n  }\n  unicast_peer {\n    192.0.2.2\n    2001:db8::2\n  }\n  virtual_ipaddress_excluded {\n    192.0.2.253/24\n  }\n  native_ipv6\n}\n";
    let (t, lost) = run(text);
    assert_eq!(t[0].get("virtual_ips"), Some(&strs(&["192.0.2.254/24"])));
    assert_eq!(t[0].get("unicast_peers"), Some(&strs(&["192.0.2.2"])));
    assert_eq!(lost, [6, 10, 12, 13, 15]);
    let mut led = Ledger::default();
    translate("k.conf", text, &mut led).unwrap();
    let why = |line: usize| {
        let lost = led.lost_list();
        lost.iter().find(|l| l.line == line).unwrap().why.clone()
    };
    assert!(why(6).contains("address family must match VRRP instance"));
    assert!(why(12).starts_with("ringlb has no excluded"));
    assert!(why(15).contains("Cannot specify native_ipv6 with IPv4 addresses"));
    // An IPv6 source address first makes the instance IPv6, as in keepalived.
    let text = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  mcast_src_ip 2001:db8::1\n  virtual_ipaddress {\n    192.0.2.254/24\n    2001:db8::10\n  }\n}\n";
    let (t, lost) = run(text);
    assert_eq!(t[0].get("virtual_ips"), Some(&strs(&["2001:db8::10"])));
    assert_eq!(lost, [6]);
}

#[test]
fn garp_master_delay_and_repeat_become_keys_refresh_is_lost() {
    let conf = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  garp_master_delay 10\n  garp_master_repeat 3\n  garp_master_refresh 60\n}\n";
    let (t, lost) = run(conf);
    assert_eq!(t[0].get("garp_master_delay"), Some(&Value::str("10s")));
    assert_eq!(t[0].get("garp_master_repeat"), Some(&Value::Int(3)));
    assert_eq!(lost, [9]);
    // 0: no second burst, in both; out of ringlb's range: reported.
    let (t, lost) = run(&conf
        .replace("delay 10", "delay 0")
        .replace("repeat 3", "repeat 300"));
    assert_eq!(t[0].get("garp_master_delay"), Some(&Value::str("0s")));
    assert_eq!(t[0].get("garp_master_repeat"), None);
    assert_eq!(lost, [8, 9]);
}

#[test]
fn notify_per_state_commands_run_as_written_generic_notify_is_reported() {
    let conf = "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  notify_master \"/usr/local/bin/vrrp.sh  MASTER  VI_1\"\n  notify_stop \"/bin/notifyscript.sh STOP\" root\n  notify_fault \"notifyscript FAULT\"\n  notify /usr/local/bin/any.sh\n}\n";
    let (t, lost) = run(conf);
    let v = &t[0];
    let master = ["/usr/local/bin/vrrp.sh", "MASTER", "VI_1"];
    assert_eq!(v.get("notify_master"), Some(&strs(&master)));
    assert_eq!(
        v.get("notify_stop"),
        Some(&strs(&["/bin/notifyscript.sh", "STOP"]))
    );
    // A bare name: keepalived searches PATH, ringlb's /bin/sh -c does the same.
    let fault = ["/bin/sh", "-c", "notifyscript FAULT"];
    assert_eq!(v.get("notify_fault"), Some(&strs(&fault)));
    // The user after notify_stop's command; the generic notify (other arguments).
    assert_eq!(lost, [8, 10]);
}

const MAIL: &str = "global_defs {\n  notification_email {\n    ops@example.com\n    noc@example.com\n  }\n  notification_email_from lb@example.com\n  smtp_server 192.0.2.25 2525\n  smtp_connect_timeout 10\n  router_id LB1\n  smtp_alert\n}\nvrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n  smtp_alert false\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  smtp_alert no\n}\nvrrp_instance VI_2 {\n  interface eth0\n  virtual_router_id 52\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n}\n";

#[test]
fn mail_keys_become_the_mail_table_and_smtp_alert_each_mail_key() {
    let (t, lost) = run(MAIL);
    assert!(lost.is_empty(), "{lost:?}");
    let m = t.iter().find(|t| t.header == "[mail]").expect("[mail]");
    assert_eq!(
        m.get("to"),
        Some(&strs(&["ops@example.com", "noc@example.com"]))
    );
    assert_eq!(m.get("from"), Some(&Value::str("lb@example.com")));
    assert_eq!(m.get("server"), Some(&Value::str("192.0.2.25:2525")));
    assert_eq!(m.get("connect_timeout"), Some(&Value::str("10s")));
    assert_eq!(m.get("router_id"), Some(&Value::str("LB1")));
    assert_eq!(m.get("vrrp"), Some(&Value::Bool(true)));
    assert_eq!(m.get("level"), Some(&Value::str("none")));
    assert!(notes_of(m, "to").iter().any(|n| n.contains("k.conf:3")));
    let router = |name: &str| {
        t.iter()
            .find(|t| t.get("name") == Some(&Value::str(name)))
            .unwrap()
    };
    assert_eq!(router("VI_1").get("mail"), Some(&Value::Bool(false)));
    assert_eq!(router("VI_2").get("mail"), None);
    assert_eq!(router("G").get("mail"), Some(&Value::Bool(false)));
}

#[test]
fn without_smtp_alert_keepalived_mails_no_vrrp_change() {
    let (t, _) = run(&MAIL.replace("  smtp_alert\n}", "}"));
    let m = t.iter().find(|t| t.header == "[mail]").unwrap();
    assert_eq!(m.get("vrrp"), Some(&Value::Bool(false)));
    // smtp_alert_vrrp wins over smtp_alert.
    let (t, _) = run(&MAIL.replace(
        "  smtp_alert\n}",
        "  smtp_alert_vrrp off\n  smtp_alert on\n}",
    ));
    let m = t.iter().find(|t| t.header == "[mail]").unwrap();
    assert_eq!(m.get("vrrp"), Some(&Value::Bool(false)));
}

#[test]
fn a_mail_server_by_name_is_reported_and_no_mail_table_is_written_without_a_server() {
    let (t, lost) = run(&MAIL.replace("192.0.2.25 2525", "mail.example.com"));
    // Every mail line of global_defs but router_id (no effect then).
    assert_eq!(lost, [2, 3, 4, 6, 7, 8, 10]);
    assert!(t.iter().all(|t| t.header != "[mail]"));
    let (t, lost) = run(&MAIL.replace("  smtp_server 192.0.2.25 2525\n", ""));
    assert!(lost.is_empty(), "{lost:?}");
    assert!(t
        .iter()
        .all(|t| t.header != "[mail]" && t.get("mail").is_none()));
}
