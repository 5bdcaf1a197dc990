//! Keepalived.conf: instances to routers, IPv6 families, script user, both files into one.

use super::*;

#[test]
fn haproxy_and_keepalived_into_one_file() {
    let h = corpus("patroni.cfg");
    let k = corpus("keepalived.conf");
    let out = temp("pair.toml");
    let o = import(&[
        "haproxy",
        h.to_str().unwrap(),
        "--keepalived",
        k.to_str().unwrap(),
        "--allow-partial",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    let v = &t["vrrp"];
    assert_eq!(v["virtual_router_id"].as_integer(), Some(51));
    assert_eq!(v["virtual_ips"][0].as_str(), Some("192.168.10.100/24"));
    assert_eq!(v["track_frontends"].as_bool(), Some(true));
    assert_eq!(v["track_weight"].as_integer(), Some(2));
    assert_eq!(t["global"]["admin_bind"].as_str(), Some("127.0.0.1:7000"));
    check(&out);
    // keepalived alone: the [vrrp] table, complete for this file.
    let o = import(&["keepalived", k.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\n[vrrp]\n"));
    let _ = std::fs::remove_file(out);
}

/// Several `vrrp_instance`s become `[[vrrp]]` routers named after them, with their sync
/// group and tracking tables; an address listed twice is written once.
#[test]
fn keepalived_instances_become_routers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/keepalived");
    let file = dir.join("keepalived-samples-vrrp-scripts.conf");
    let o = import(&["keepalived", file.to_str().unwrap(), "--allow-partial"]);
    // Complete: its smtp_alert, with no smtp_server, mails nothing in keepalived either.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(lost_lines(&stderr(&o), file.to_str().unwrap()).is_empty());
    let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let routers = t["vrrp"].as_array().unwrap();
    let names: Vec<&str> = routers
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["VI_1", "VI_2", "VI_3"]);
    let group = &t["vrrp_sync_group"][0];
    assert_eq!(group["name"].as_str(), Some("G1"));
    assert_eq!(group["routers"].as_array().unwrap().len(), 2);

    let file = dir.join("keepalived-samples-vrrp.conf");
    let o = import(&["keepalived", file.to_str().unwrap(), "--allow-partial"]);
    let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let vips = t["vrrp"][0]["virtual_ips"].as_array().unwrap();
    assert_eq!(vips.len(), 3, "192.168.200.18 once: {vips:?}");
    assert_eq!(t["vrrp"].as_array().unwrap().len(), 4);

    let file = dir.join("keepalived-samples-vrrp-localcheck.conf");
    let o = import(&["keepalived", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    let first = &t["vrrp"][0];
    assert_eq!(first["track_interface"].as_array().unwrap().len(), 3);
    let script = &first["track_script"][0];
    assert_eq!(script["name"].as_str(), Some("chk_sshd"));
    assert_eq!(script["command"][0].as_str(), Some("/bin/sh"));
    assert_eq!(script["weight"].as_integer(), Some(-4));
}

/// `ringlb import keepalived INPUT -o OUT`, complete (exit 0): the text and its table.
fn keepalived_complete(input: &Path, out: &Path) -> (String, toml::Table) {
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let run = import(&["keepalived", i, "-o", o]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let text = std::fs::read_to_string(out).unwrap();
    let t = toml::from_str(&text).unwrap();
    (text, t)
}

/// IPv6 instances (keepalived's family rules): an IPv6 instance keeps its addresses and
/// peers and passes `ringlb check` as an IPv6 router; IPv4 and IPv6 instances sharing an
/// id in a sync group become two routers; an address of the other family in one
/// instance is reported, as keepalived ignores it.
#[test]
fn keepalived_ipv6_instances_keep_their_family() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/keepalived");
    let file = dir.join("kolla-openstack-ipv6.conf");
    let out = temp("kolla6.toml");
    let (text, t) = keepalived_complete(&file, &out);
    let v = &t["vrrp"];
    let vips: Vec<&str> = v["virtual_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(vips, ["2001:db8:10::250", "2001:db8:203::250 dev eth1"]);
    assert_eq!(v["unicast_peers"].as_array().unwrap().len(), 2);
    assert!(v.get("checksum").is_none(), "{text}");
    assert!(text.contains("link-local address"), "{text}");
    check(&out);
    let _ = std::fs::remove_file(&out);

    let conf = temp("dual.conf");
    std::fs::write(
        &conf,
        "global_defs {\n  vrrp_version 3\n}\nvrrp_sync_group svc {\n  group {\n    VI_4\n    VI_6\n  }\n}\nvrrp_instance VI_4 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\nvrrp_instance VI_6 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  native_ipv6\n  virtual_ipaddress {\n    2001:db8::100/64\n  }\n}\n",
    )
    .unwrap();
    let out = temp("dual.toml");
    let (_, t) = keepalived_complete(&conf, &out);
    let routers = t["vrrp"].as_array().unwrap();
    assert_eq!(routers.len(), 2);
    assert_eq!(
        routers[1]["virtual_ips"][0].as_str(),
        Some("2001:db8::100/64")
    );
    assert_eq!(
        t["vrrp_sync_group"][0]["routers"].as_array().unwrap().len(),
        2
    );
    check(&out);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&conf);

    let file = dir.join("tripleo-mixed-family.conf");
    let f = file.to_str().unwrap();
    let o = import(&["keepalived", f]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let lost = lost_lines(&stderr(&o), f);
    assert!(
        lost.iter().any(|l| l.contains(
            ":23: fe80::5cc1:afff:fe58:143b/64: not translated: keepalived ignores it too"
        )),
        "{lost:?}"
    );
}

/// keepalived's `global_defs { script_user USER GROUP; enable_script_security }` →
/// `[global]`, joined to HAProxy's `[global]` when both are imported; without
/// `script_user` the output says whom keepalived would run the programs as.
#[test]
fn keepalived_script_user_becomes_global() {
    let conf = "global_defs {\n  router_id lb1\n  script_user nobody nogroup\n  enable_script_security\n}\nvrrp_script chk {\n  script \"/bin/true\"\n  interval 2\n}\nvrrp_instance VI_1 {\n  interface lo\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    192.0.2.10/32\n  }\n  track_script {\n    chk\n  }\n}\n";
    let input = temp("su.conf");
    std::fs::write(&input, conf).unwrap();
    let out = temp("su.toml");
    let (text, t) = keepalived_complete(&input, &out);
    let g = &t["global"];
    assert_eq!(g["script_user"].as_str(), Some("nobody"), "{text}");
    assert_eq!(g["script_group"].as_str(), Some("nogroup"));
    assert_eq!(g["enable_script_security"].as_bool(), Some(true));
    assert!(!text.contains("keepalived_script"), "{text}");
    check(&out);

    // With HAProxy's file: one [global] table holding both.
    let cfg = temp("su.cfg");
    std::fs::write(&cfg, "global\n  maxconn 100\nfrontend f\n  mode http\n  bind 127.0.0.1:0\n  default_backend b\nbackend b\n  server s 127.0.0.1:9\n").unwrap();
    let both = temp("su-both.toml");
    let o = import(&[
        "haproxy",
        cfg.to_str().unwrap(),
        "--keepalived",
        input.to_str().unwrap(),
        "-o",
        both.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&both).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(t["global"]["max_connections"].as_integer(), Some(100));
    assert_eq!(t["global"]["script_user"].as_str(), Some("nobody"));
    check(&both);

    // No script_user: keepalived would look for user keepalived_script; ringlb does not.
    std::fs::write(&input, conf.replace("  script_user nobody nogroup\n", "")).unwrap();
    let (text, t) = keepalived_complete(&input, &out);
    assert!(t["global"].get("script_user").is_none(), "{text}");
    assert!(
        text.contains("no script_user: keepalived runs these programs as user keepalived_script"),
        "{text}"
    );
    for f in [input, out, cfg, both] {
        let _ = std::fs::remove_file(f);
    }
}
