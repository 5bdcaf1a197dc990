//! `[vrrp]` / `[[vrrp]]`: defaults, IPv6 routers, errors, sync groups, tracking.

use super::*;

#[test]
fn vrrp_section_is_validated_with_defaults() {
    let c = Config::parse(&format!("{BASE}{VRRP}"), "t.toml").unwrap();
    let v = c.vrrp[0].clone();
    assert_eq!(
        (v.interface.as_str(), v.vrid, v.priority),
        ("eth0", 51, 150)
    );
    assert_eq!(v.advert_interval, std::time::Duration::from_secs(1));
    assert!(v.preempt, "preempt defaults to true, as in keepalived");
    assert_eq!(
        v.virtual_ips,
        vec![
            ("192.0.2.100".parse().unwrap(), 24),
            ("192.0.2.101".parse().unwrap(), 32)
        ]
    );
    assert_eq!(
        v.unicast_peers,
        vec!["192.0.2.2".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(!v.is_v6());
    assert!(v.track_frontends);
    assert_eq!(v.track_weight, 60);
    assert_eq!(v.checksum, ringlb::config::VrrpChecksum::Keepalived);
    assert!(c.is_virtual_ip("192.0.2.101".parse().unwrap()));
    assert!(!c.is_virtual_ip("192.0.2.102".parse().unwrap()));
}

#[test]
fn an_ipv6_virtual_router_is_one_family() {
    let v6 = VRRP
        .replace(
            "[\"192.0.2.100/24\", \"192.0.2.101\"]",
            "[\"2001:db8::100/64\", \"2001:db8::101\"]",
        )
        .replace("[\"192.0.2.2\"]", "[\"fe80::2\"]");
    let c = Config::parse(&format!("{BASE}{v6}"), "t.toml").unwrap();
    let v = &c.vrrp[0];
    assert!(v.is_v6());
    assert_eq!(
        v.virtual_ips,
        vec![
            ("2001:db8::100".parse().unwrap(), 64),
            ("2001:db8::101".parse().unwrap(), 128)
        ]
    );
    assert_eq!(
        v.unicast_peers,
        vec!["fe80::2".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(c.is_virtual_ip("2001:db8::101".parse().unwrap()));
    let cases = [
        (
            "[\"fe80::2\"]",
            "[\"192.0.2.2\"]",
            "unicast_peers[0]: 192.0.2.2 is not IPv6",
        ),
        (
            "[\"fe80::2\"]",
            "[\"ff02::12\"]",
            "unicast_peers[0]: ff02::12 is not a unicast",
        ),
        (
            "\"2001:db8::101\"]",
            "\"192.0.2.1\"]",
            "virtual_ips[1]: 192.0.2.1 is not of the family of vrrp.virtual_ips[0] (2001:db8::100)",
        ),
        (
            "\"2001:db8::101\"]",
            "\"2001:db8::101/129\"]",
            "is not an IPv4 or IPv6 address",
        ),
        ("\"2001:db8::101\"]", "\"::\"]", ":: cannot be a virtual IP"),
    ];
    for (from, to, expected) in cases {
        let text = format!("{BASE}{}", v6.replace(from, to));
        assert_ne!(text, format!("{BASE}{v6}"), "{from} not in the section");
        let e = only_error(&text);
        assert!(e.contains(expected), "{to}: {e}");
        assert!(e.starts_with("t.toml:"), "names the file and line: {e}");
    }
    let with_checksum = v6.replace(
        "track_weight = 60",
        "track_weight = 60\nchecksum = \"rfc9568\"",
    );
    let c = Config::parse(&format!("{BASE}{with_checksum}"), "t.toml").unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("vrrp.checksum has no effect on an IPv6")),
        "{:?}",
        c.warnings
    );
}

/// A change to the `[vrrp]` section (this text replaced by that one) and what its one
/// error says.
const VRRP_ERRORS: &[(&str, &str, &str)] = &[
    (
        "priority = 150",
        "priority = 255",
        "vrrp.priority 255 is out of range 1..=254",
    ),
    (
        "priority = 150",
        "priority = 0",
        "vrrp.priority 0 is out of range",
    ),
    (
        "virtual_router_id = 51",
        "virtual_router_id = 256",
        "vrrp.virtual_router_id 256",
    ),
    (
        "advert_interval = \"1s\"",
        "advert_interval = \"41s\"",
        "whole number of centiseconds",
    ),
    (
        "advert_interval = \"1s\"",
        "advert_interval = \"15ms\"",
        "whole number of centiseconds",
    ),
    (
        "\"192.0.2.101\"]",
        "\"2001:db8::1\"]",
        "virtual_ips[1]: 2001:db8::1 is not of the family of vrrp.virtual_ips[0] (192.0.2.100): a virtual router is IPv4 or IPv6",
    ),
    (
        "\"192.0.2.101\"]",
        "\"192.0.2.300\"]",
        "virtual_ips[1]: \"192.0.2.300\" is not an IPv4",
    ),
    (
        "\"192.0.2.101\"]",
        "\"192.0.2.100/32\"]",
        "192.0.2.100 is listed twice",
    ),
    (
        "virtual_ips = [\"192.0.2.100/24\", \"192.0.2.101\"]",
        "virtual_ips = []",
        "vrrp.virtual_ips is empty",
    ),
    (
        "[\"192.0.2.2\"]",
        "[\"224.0.0.18\"]",
        "unicast_peers[0]: 224.0.0.18 is not a unicast",
    ),
    (
        "interface = \"eth0\"",
        "interface = \"a-very-long-interface-name\"",
        "vrrp.interface",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\nchecksum = \"md5\"",
        "vrrp.checksum \"md5\"",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\nnotify = \"relative/script\"",
        "must be an absolute path",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\nnotify = \"/nonexistent/on-change\"",
        "vrrp.notify /nonexistent/on-change",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\npreempt_delay = \"2000s\"",
        "at most 1000s",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\ngarp_master_delay = \"2000s\"",
        "vrrp.garp_master_delay must be at most 1000s",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\ngarp_master_repeat = 0",
        "vrrp.garp_master_repeat",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\nnotify_master = [\"on-master.sh\", \"MASTER\"]",
        "vrrp.notify_master \"on-master.sh\" must be an absolute path",
    ),
    (
        "track_weight = 60",
        "track_weight = 60\nnotify_backup = []",
        "vrrp.notify_backup is empty",
    ),
];

#[test]
fn vrrp_errors_name_the_key() {
    for &(from, to, expected) in VRRP_ERRORS {
        let text = format!("{BASE}{}", VRRP.replace(from, to));
        assert_ne!(text, format!("{BASE}{VRRP}"), "{from} not in the section");
        let e = only_error(&text);
        assert!(e.contains(expected), "{to}: {e}");
        assert!(e.starts_with("t.toml:"), "names the file and line: {e}");
    }
    let e = only_error(&format!(
        "{BASE}{}",
        VRRP.replace("priority = 150", "priority = 150\nweight = 3")
    ));
    assert!(
        e.contains("vrrp.weight") || e.contains("unknown field `weight`"),
        "{e}"
    );
}

#[test]
fn vrrp_without_frontends_is_valid_and_runs_no_worker() {
    let c = Config::parse(VRRP, "t.toml").unwrap();
    assert!(c.frontends.is_empty());
    assert_eq!(c.global.workers, 0, "no frontend: the control plane alone");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("vrrp.track_frontends has no effect without [[frontend]]")),
        "{:?}",
        c.warnings
    );
    let c = Config::parse(&format!("[global]\nworkers = 2\n{VRRP}"), "t.toml").unwrap();
    assert_eq!(c.global.workers, 0);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("t.toml:2:") && w.contains("global.workers has no effect")),
        "{:?}",
        c.warnings
    );
    // Neither frontends nor a virtual router: nothing to do.
    let e = only_error("[global]\nworkers = 1\n");
    assert!(e.contains("no [[frontend]] and no [vrrp]"), "{e}");
    // With frontends, workers are as configured.
    let c = Config::parse(&format!("[global]\nworkers = 2\n{BASE}{VRRP}"), "t.toml").unwrap();
    assert_eq!(c.global.workers, 2);
}

const TWO_ROUTERS: &str = r#"
[[vrrp]]
name = "front"
interface = "eth0"
virtual_router_id = 51
priority = 150
virtual_ips = ["192.0.2.100/24"]

[[vrrp]]
name = "back"
interface = "eth0"
virtual_router_id = 52
virtual_ips = ["10.0.0.100/24 dev eth1", "10.0.0.101/24 dev eth0"]

[[vrrp_sync_group]]
name = "svc"
routers = ["front", "back"]
"#;

#[test]
fn several_virtual_routers_with_a_sync_group_and_vips_on_other_interfaces() {
    let c = Config::parse(TWO_ROUTERS, "t.toml").unwrap();
    let names: Vec<&str> = c.vrrp.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["front", "back"]);
    assert_eq!(c.vrrp[1].priority, 100);
    assert_eq!(c.vrrp[1].virtual_ip_devs, [Some("eth1".to_string()), None]);
    assert_eq!(c.vrrp_sync_groups.len(), 1);
    assert_eq!(c.vrrp_sync_groups[0].routers, [0, 1]);
    assert!(c.is_virtual_ip("10.0.0.100".parse().unwrap()));
    // The single-table form names its router VI_<id>.
    let one = Config::parse(VRRP, "t.toml").unwrap();
    assert_eq!(one.vrrp[0].name, "VI_51");
    assert!(one.vrrp_sync_groups.is_empty());
}

#[test]
fn ipv4_and_ipv6_routers_may_share_an_id_on_a_link() {
    // RFC 9568: separate id spaces per family; keepalived pairs them so, in a group.
    let text = TWO_ROUTERS
        .replace("virtual_router_id = 52", "virtual_router_id = 51")
        .replace(
            "[\"10.0.0.100/24 dev eth1\", \"10.0.0.101/24 dev eth0\"]",
            "[\"2001:db8::100/64\"]",
        );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!((c.vrrp[0].vrid, c.vrrp[1].vrid), (51, 51));
    assert!(!c.vrrp[0].is_v6() && c.vrrp[1].is_v6());
    assert_eq!(c.vrrp_sync_groups[0].routers, [0, 1]);
    assert!(
        c.summary()
            .contains(", virtual router 51 (IPv6) on eth0 (priority 100,"),
        "{}",
        c.summary()
    );
}

#[test]
fn several_virtual_routers_errors_name_the_entry_and_line() {
    let e = only_error(&TWO_ROUTERS.replace(
        "virtual_router_id = 52",
        "virtual_router_id = 52\npriority = 255",
    ));
    assert!(e.starts_with("t.toml:13:"), "{e}");
    assert!(e.contains("vrrp[1].priority 255 is out of range"), "{e}");
    let e = only_error(&TWO_ROUTERS.replace("virtual_router_id = 52", "virtual_router_id = 51"));
    assert!(
        e.contains("vrrp[1].virtual_router_id 51 on eth0 is also vrrp[0]'s"),
        "{e}"
    );
    let e = Config::parse(
        &TWO_ROUTERS.replace("name = \"back\"", "name = \"front\""),
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("vrrp[1].name \"front\" is also vrrp[0]'s"),
        "{e}"
    );
    let e = only_error(&TWO_ROUTERS.replace("10.0.0.101/24 dev eth0", "192.0.2.100/24"));
    assert!(
        e.contains("vrrp[1].virtual_ips: 192.0.2.100 is also held by vrrp[0]"),
        "{e}"
    );
    let e = only_error(&TWO_ROUTERS.replace(
        "routers = [\"front\", \"back\"]",
        "routers = [\"front\", \"nope\"]",
    ));
    assert!(
        e.starts_with("t.toml:17:") && e.contains("no virtual router is named \"nope\""),
        "{e}"
    );
    let e = only_error(
        &TWO_ROUTERS.replace("routers = [\"front\", \"back\"]", "routers = [\"front\"]"),
    );
    assert!(e.contains("needs at least two virtual routers"), "{e}");
    let e = only_error(&TWO_ROUTERS.replace("dev eth1", "dev eth1/x"));
    assert!(
        e.contains("vrrp[1].virtual_ips[0]: dev \"eth1/x\" is not an interface name"),
        "{e}"
    );
    let e =
        only_error(&TWO_ROUTERS.replace("name = \"svc\"", "name = \"svc\"\nnotify = \"relative\""));
    assert!(
        e.contains("vrrp_sync_group[0].notify \"relative\" must be an absolute path"),
        "{e}"
    );
    // Unknown keys in a [[vrrp]] entry are still refused with their line.
    let e = only_error(&TWO_ROUTERS.replace("name = \"back\"", "name = \"back\"\nweight = 3"));
    assert!(e.starts_with("t.toml:11:") && e.contains("weight"), "{e}");
}

#[test]
fn track_interface_script_and_file_follow_keepalived_s_weights() {
    let tracks = r#"
[[vrrp.track_interface]]
interface = "eth1"

[[vrrp.track_interface]]
interface = "eth2"
weight = -20

[[vrrp.track_script]]
command = ["/usr/local/bin/check", "--primary"]
interval = "500ms"
weight = -60
fall = 3

[[vrrp.track_file]]
file = "/run/weight"
"#;
    let c = Config::parse(&format!("{VRRP}{tracks}"), "t.toml").unwrap();
    let v = &c.vrrp[0];
    assert_eq!(
        v.track_interfaces
            .iter()
            .map(|t| (t.interface.as_str(), t.weight))
            .collect::<Vec<_>>(),
        [("eth1", 0), ("eth2", -20)]
    );
    let s = &v.track_scripts[0];
    assert_eq!(s.name, "/usr/local/bin/check", "named after its program");
    assert_eq!((s.weight, s.rise, s.fall, s.init_fail), (-60, 1, 3, false));
    assert_eq!(s.interval, std::time::Duration::from_millis(500));
    assert_eq!(s.timeout, s.interval, "timeout defaults to the interval");
    assert_eq!(v.track_files[0].weight, 1, "keepalived's default for files");
    for (from, to, message) in [
        (
            "weight = -60",
            "weight = -254",
            "track_script[0].weight -254 is out of range",
        ),
        (
            "\"/usr/local/bin/check\", ",
            "\"check\", ",
            "must be an absolute path (no shell",
        ),
        (
            "fall = 3",
            "fall = 0",
            "vrrp.track_script[0].fall 0 is out of range",
        ),
        (
            "/run/weight",
            "run/weight",
            "vrrp.track_file[0].file \"run/weight\" must be an absolute path",
        ),
        (
            "interface = \"eth1\"",
            "interface = \"eth1 x\"",
            "vrrp.track_interface[0].interface",
        ),
    ] {
        let e = only_error(&format!("{VRRP}{}", tracks.replace(from, to)));
        assert!(e.contains(message), "{e}");
    }
}
