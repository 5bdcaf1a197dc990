//! `ringlb check` and configuration validation: every error names the file, the line
//! and the key; every example in configs/ is valid.

mod common;

use std::process::Command;

use common::{TempConfig, BIN};
use ringlb::config::Config;

const BASE: &str = r#"[[frontend]]
name = "web"
bind = ["127.0.0.1:8000"]
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "a1"
address = "127.0.0.1:9001"
"#;

/// Validate `text` and return the single error line, or panic.
fn only_error(text: &str) -> String {
    match Config::parse(text, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => {
            assert_eq!(errors.0.len(), 1, "expected one error, got:\n{errors}");
            errors.0[0].to_string()
        }
    }
}

#[test]
fn base_is_valid_with_defaults_applied() {
    let c = Config::parse(BASE, "t.toml").unwrap();
    let b = &c.backends[0];
    assert_eq!(b.retries, 3);
    assert!(b.redispatch);
    assert_eq!(b.timeout_connect.as_secs(), 2);
    assert_eq!(b.servers[0].weight, 1);
    assert_eq!(c.frontends[0].timeout_client.as_secs(), 30);
    assert_eq!(c.frontends[0].default_backend, Some(0));
    assert!(c.global.workers >= 1);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn defaults_are_inherited_and_sections_may_override() {
    let text = format!(
        "[defaults]\ntimeout_connect = \"750ms\"\nretries = 5\nredispatch = false\ntimeout_client = \"9s\"\n{}",
        BASE.replace("name = \"app\"\n", "name = \"app\"\nretries = 1\n")
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.backends[0].timeout_connect.as_millis(), 750);
    assert_eq!(c.backends[0].retries, 1);
    assert!(!c.backends[0].redispatch);
    assert_eq!(c.frontends[0].timeout_client.as_secs(), 9);
}

#[test]
fn unknown_key_names_path_and_line() {
    let text = BASE.replace(
        "address = \"127.0.0.1:9001\"",
        "address = \"127.0.0.1:9001\"\nwieght = 2",
    );
    let e = only_error(&text);
    assert!(e.starts_with("t.toml:12:1: "), "{e}");
    assert!(
        e.contains("backend \"app\" server \"a1\": wieght: unknown field"),
        "{e}"
    );
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let e = only_error("[global\nworkers = 1\n");
    assert!(e.starts_with("t.toml:1:"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let e = only_error(&format!("[global]\nworkers = \"two\"\n{BASE}"));
    assert!(e.starts_with("t.toml:2:"), "{e}");
    assert!(e.contains("global.workers"), "{e}");
}

#[test]
fn unknown_backend_reference() {
    let e = only_error(&BASE.replace("default_backend = \"app\"", "default_backend = \"nope\""));
    assert_eq!(
        e,
        "t.toml:4:19: frontend \"web\": default_backend \"nope\" is not a defined backend"
    );
}

#[test]
fn duplicate_frontend_names() {
    let text = format!("{BASE}\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8001\"]\ndefault_backend = \"app\"\n");
    let e = only_error(&text);
    assert_eq!(e, "t.toml:14:8: frontend \"web\": duplicate frontend name");
}

#[test]
fn duplicate_backend_names() {
    let text = format!("{BASE}\n[[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"x\"\naddress = \"127.0.0.1:1\"\n");
    let e = only_error(&text);
    assert_eq!(e, "t.toml:14:8: backend \"app\": duplicate backend name");
}

#[test]
fn duplicate_server_names() {
    let text = format!("{BASE}\n[[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9002\"\n");
    let e = only_error(&text);
    assert_eq!(
        e,
        "t.toml:14:8: backend \"app\" server \"a1\": duplicate server name in this backend"
    );
}

#[test]
fn duplicate_bind_addresses() {
    let text = format!("{BASE}\n[[frontend]]\nname = \"other\"\nbind = [\"127.0.0.1:8000\"]\ndefault_backend = \"app\"\n");
    let e = only_error(&text);
    assert_eq!(
        e,
        "t.toml:15:9: frontend \"other\": bind 127.0.0.1:8000 is already bound by frontend \"web\""
    );
}

#[test]
fn empty_backend() {
    let text = "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\ndefault_backend = \"app\"\n\n[[backend]]\nname = \"app\"\n";
    let e = only_error(text);
    assert_eq!(
        e,
        "t.toml:7:8: backend \"app\": has no server: add at least one [[backend.server]]"
    );
}

#[test]
fn weight_out_of_range() {
    let e = only_error(&format!("{BASE}weight = 300\n"));
    assert_eq!(
        e,
        "t.toml:12:10: backend \"app\" server \"a1\": weight 300 is out of range 0..=256"
    );
    let e = only_error(&format!("{BASE}weight = -1\n"));
    assert!(e.contains("weight -1 is out of range"), "{e}");
}

#[test]
fn bad_duration_strings() {
    let e = only_error(&format!("[defaults]\ntimeout_connect = \"2\"\n{BASE}"));
    assert_eq!(e, "t.toml:2:19: defaults.timeout_connect: invalid duration \"2\": missing unit (write e.g. \"2ms\" or \"2s\")");
    let e = only_error(&BASE.replace(
        "name = \"app\"\n",
        "name = \"app\"\ntimeout_server = \"10 parsecs\"\n",
    ));
    assert!(
        e.starts_with("t.toml:8:18: backend \"app\": timeout_server: invalid duration"),
        "{e}"
    );
}

#[test]
fn bad_addresses() {
    let e = only_error(&BASE.replace("bind = [\"127.0.0.1:8000\"]", "bind = [\"localhost\"]"));
    assert!(
        e.starts_with("t.toml:3:9: frontend \"web\": bind: \"localhost\" is not an address"),
        "{e}"
    );
    let e = only_error(&BASE.replace("127.0.0.1:9001", "127.0.0.1"));
    assert!(
        e.starts_with(
            "t.toml:11:11: backend \"app\" server \"a1\": address \"127.0.0.1\" is not of the form"
        ),
        "{e}"
    );
    let e = only_error(&BASE.replace("127.0.0.1:9001", "no-such-host.invalid:80"));
    assert!(
        e.contains("cannot resolve address \"no-such-host.invalid:80\""),
        "{e}"
    );
}

#[test]
fn hostnames_resolve_and_ipv6_parses() {
    let text = BASE
        .replace("127.0.0.1:9001", "localhost:9001")
        .replace("bind = [\"127.0.0.1:8000\"]", "bind = [\"[::1]:8000\"]");
    let c = Config::parse(&text, "t.toml").unwrap();
    assert!(c.backends[0].servers[0].address.ip().is_loopback());
    assert_eq!(c.backends[0].servers[0].address.port(), 9001);
    assert_eq!(c.frontends[0].binds[0].to_string(), "[::1]:8000");
}

#[test]
fn more_workers_than_cores_is_a_warning_not_an_error() {
    let c = Config::parse(&format!("[global]\nworkers = 512\n{BASE}"), "t.toml").unwrap();
    assert_eq!(c.global.workers, 512);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.starts_with("t.toml:2:11: global.workers = 512")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let e = only_error(&BASE.replace("name = \"web\"\n", "name = \"web\"\nmode = \"udp\"\n"));
    assert!(e.starts_with("t.toml:3:8: "), "{e}");
    assert!(
        e.contains("udp") && e.contains("http") && e.contains("tcp"),
        "{e}"
    );
}

#[test]
fn all_errors_of_a_file_are_reported_together() {
    let text = BASE
        .replace("default_backend = \"app\"", "default_backend = \"nope\"")
        .replace("127.0.0.1:9001\"", "127.0.0.1:9001\"\nweight = 999");
    let errors = Config::parse(&format!("[defaults]\nretries = -2\n{text}"), "t.toml").unwrap_err();
    assert_eq!(errors.0.len(), 3, "{errors}");
    let all = errors.to_string();
    assert!(all.contains("retries -2"), "{all}");
    assert!(all.contains("\"nope\""), "{all}");
    assert!(all.contains("weight 999"), "{all}");
}

const VRRP: &str = r#"
[vrrp]
interface = "eth0"
virtual_router_id = 51
priority = 150
advert_interval = "1s"
virtual_ips = ["192.0.2.100/24", "192.0.2.101"]
unicast_peers = ["192.0.2.2"]
track_frontends = true
track_weight = 60
"#;

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

#[test]
fn vrrp_errors_name_the_key() {
    let cases = [
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
    for (from, to, expected) in cases {
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
fn every_balance_algorithm_is_accepted() {
    for balance in ["roundrobin", "leastconn", "source", "random", "p2c"] {
        let text = BASE.replace(
            "name = \"app\"\n",
            &format!("name = \"app\"\nbalance = \"{balance}\"\n"),
        );
        let c = Config::parse(&text, "t.toml").unwrap_or_else(|e| panic!("{balance}: {e}"));
        assert_eq!(
            format!("{:?}", c.backends[0].balance).to_lowercase(),
            balance
        );
    }
}

#[test]
fn route_and_redirect_need_http_mode_and_known_backends() {
    let text = BASE.replace(
        "default_backend = \"app\"\n",
        "default_backend = \"app\"\nmode = \"tcp\"\n\n[[frontend.route]]\npath_prefix = \"/v1/\"\nbackend = \"app\"\n",
    );
    let e = only_error(&text);
    assert!(e.contains("route is only allowed in mode \"http\""), "{e}");
    let text = BASE.replace(
        "default_backend = \"app\"\n",
        "default_backend = \"app\"\nmode = \"http\"\n\n[[frontend.route]]\npath_prefix = \"v1\"\nbackend = \"zz\"\n",
    );
    let errors = Config::parse(&text, "t.toml").unwrap_err().to_string();
    assert!(
        errors.contains("path_prefix \"v1\" must start with '/'"),
        "{errors}"
    );
    assert!(
        errors.contains("route backend \"zz\" is not a defined backend"),
        "{errors}"
    );
}

#[test]
fn check_command_exit_codes_and_summary() {
    let good = TempConfig::new(BASE);
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&good.0)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configuration is valid: 1 frontend(s)"),
        "{stdout}"
    );

    let bad = TempConfig::new(&BASE.replace("127.0.0.1:9001\"", "127.0.0.1:9001\"\nweight = 300"));
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&bad.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = bad.0.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:12:10: backend \"app\" server \"a1\": weight 300 is out of range 0..=256"
        )),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args(["check", "-c", "/nonexistent/ringlb.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ringlb.toml: cannot read"));
}

#[test]
fn every_example_in_configs_passes_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        // Checked from a copy in a temporary directory, with the self-signed
        // certificate the example's comments tell users to make (`ringlb gen-cert`).
        let text = std::fs::read_to_string(&path).unwrap();
        let tmp =
            std::env::temp_dir().join(format!("ringlb-configs-{}-{checked}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let copy = tmp.join(path.file_name().unwrap());
        std::fs::write(&copy, &text).unwrap();
        // Files an example names beside it (CIDR lists) come along.
        for other in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = other.path();
            if p.extension().and_then(|e| e.to_str()) == Some("lst") {
                std::fs::copy(&p, tmp.join(p.file_name().unwrap())).unwrap();
            }
        }
        if text.contains("certs/site.pem") {
            let made = Command::new(BIN)
                .args(["gen-cert", "--name", "localhost", "--cert"])
                .arg(tmp.join("certs/site.pem"))
                .arg("--key")
                .arg(tmp.join("certs/site.key"))
                .output()
                .unwrap();
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&copy)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            out.status.success(),
            "{} fails check:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "configs/ holds only {checked} example(s)");
}

#[test]
fn keys_without_effect_are_warned_about_and_access_log_is_not() {
    let text = format!("[global]\naccess_log = true\n{BASE}");
    let c = Config::parse(&text, "t.toml").unwrap();
    assert!(c.global.access_log);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let vrrp = VRRP.replace("track_frontends = true\n", "");
    let c = Config::parse(&format!("{BASE}{vrrp}"), "t.toml").unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("vrrp.track_weight has no effect without track_frontends = true")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn health_and_admin_keys_are_validated() {
    // A short token is refused (it would be guessable), naming the line.
    let text =
        format!("[global]\nadmin_bind = \"127.0.0.1:9900\"\nadmin_token = \"short\"\n{BASE}");
    let e = only_error(&text);
    assert!(
        e.starts_with("t.toml:3:15: global.admin_token must be at least 16"),
        "{e}"
    );
    // An admin API open to the network without a token is worth a warning.
    let text = format!("[global]\nadmin_bind = \"0.0.0.0:9900\"\n{BASE}");
    let c = Config::parse(&text, "t.toml").unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("no admin_token")),
        "{:?}",
        c.warnings
    );
    // error_limit and slow_start, per backend and per server.
    let text = BASE.replace(
        "name = \"app\"\n",
        "name = \"app\"\nerror_limit = 4\nslow_start = \"20s\"\n",
    ) + "check = true\n[[backend.server]]\nname = \"a2\"\naddress = \"127.0.0.1:9002\"\nslow_start = \"5s\"\n";
    let c = Config::parse(&text, "t.toml").unwrap();
    let b = &c.backends[0];
    assert_eq!(b.error_limit, 4);
    assert_eq!(b.servers[0].slow_start.as_secs(), 20);
    assert_eq!(b.servers[1].slow_start.as_secs(), 5);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = Config::parse(BASE, "t.toml").unwrap();
    assert_eq!(
        c.backends[0].error_limit, 10,
        "HAProxy's default error-limit"
    );
    assert!(c.backends[0].servers[0].slow_start.is_zero());
    // error_limit without any checked server would mark servers down for good: warned.
    let text = BASE.replace("name = \"app\"\n", "name = \"app\"\nerror_limit = 5\n");
    let c = Config::parse(&text, "t.toml").unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("error_limit only acts on servers with check = true")),
        "{:?}",
        c.warnings
    );
    let e = only_error(&BASE.replace(
        "name = \"app\"\n",
        "name = \"app\"\nslow_start = \"soon\"\n",
    ));
    assert!(e.contains("slow_start"), "{e}");
}

#[test]
fn slow_response_must_fit_under_timeout_server() {
    let with = |v: &str| {
        BASE.replace(
            "name = \"app\"\n",
            &format!("name = \"app\"\ntimeout_server = \"5s\"\nslow_response = \"{v}\"\n"),
        )
    };
    let e = only_error(&with("5s"));
    assert!(
        e.starts_with("t.toml:9:17: backend \"app\": slow_response must be above 0 and below timeout_server (5s)"),
        "{e}"
    );
    let e = only_error(&with("0s"));
    assert!(e.contains("slow_response must be above 0"), "{e}");
    let c = Config::parse(&with("1500ms"), "t.toml").expect("valid");
    assert_eq!(
        c.backends[0].slow_response,
        Some(std::time::Duration::from_millis(1500))
    );
    let c = Config::parse(BASE, "t.toml").expect("valid");
    assert_eq!(c.backends[0].slow_response, None);
}

#[test]
fn a_type_mistake_names_the_server_and_says_what_was_expected() {
    let text = BASE.replace(
        "address = \"127.0.0.1:9001\"",
        "address = \"127.0.0.1:9001\"\nweight = \"heavy\"",
    );
    let e = only_error(&text);
    assert_eq!(
        e,
        "t.toml:12:10: backend \"app\" server \"a1\": weight: expected an integer, got the string \"heavy\""
    );
    assert!(!e.contains("serde"), "{e}");
}

#[test]
fn steering_is_kernel_or_source() {
    let with = |v: &str| {
        BASE.replace(
            "name = \"web\"\n",
            &format!("name = \"web\"\nsteering = \"{v}\"\n"),
        )
    };
    let e = only_error(&with("client"));
    assert_eq!(
        e,
        "t.toml:3:12: frontend \"web\": steering \"client\" is not \"kernel\" or \"source\""
    );
    let c = Config::parse(&with("source"), "t.toml").expect("valid");
    assert_eq!(c.frontends[0].steering, ringlb::config::Steering::Source);
    let c = Config::parse(&with("kernel"), "t.toml").expect("valid");
    assert_eq!(c.frontends[0].steering, ringlb::config::Steering::Kernel);
    let c = Config::parse(BASE, "t.toml").expect("valid");
    assert_eq!(c.frontends[0].steering, ringlb::config::Steering::Kernel);
}

#[test]
fn every_unknown_key_of_a_file_is_reported_in_one_run() {
    let text = BASE
        .replace("name = \"web\"\n", "name = \"web\"\nbnid = [\"x\"]\n")
        .replace(
            "address = \"127.0.0.1:9001\"",
            "address = \"127.0.0.1:9001\"\nwieght = 2\nchekc = true",
        );
    let errors = match Config::parse(&text, "t.toml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 3, "{errors}");
    assert!(
        lines[0].starts_with("t.toml:3:1: frontend \"web\": bnid: unknown field"),
        "{errors}"
    );
    assert!(
        lines[1].starts_with("t.toml:13:1: backend \"app\" server \"a1\": wieght: unknown field"),
        "{errors}"
    );
    assert!(
        lines[2].starts_with("t.toml:14:1: backend \"app\" server \"a1\": chekc: unknown field"),
        "{errors}"
    );
}

#[test]
fn ringlb_check_refuses_bad_check_values_each_with_its_line() {
    let text = BASE.replace(
        "name = \"app\"\n",
        "name = \"app\"\n[backend.check]\nkind = \"tcp\"\nport = 0\n\
         [[backend.check.step]]\nsend = \"PING\\r\\n\"\nexpect = \"+PONG\"\n\
         [[backend.check.step]]\nexpect_regex = \"role:(master\"\n",
    ) + "agent_check = true\n";
    let bad = TempConfig::new(&text);
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&bad.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = bad.0.display().to_string();
    for want in [
        format!("{file}:10:8: backend \"app\": check.port 0 is out of range 1..=65535"),
        format!("{file}:11:1: backend \"app\": check.step[1]: give exactly one of send, expect, expect_regex"),
        format!("{file}:15:16: backend \"app\": check.step[2]: expect_regex: invalid regex: unclosed group"),
        format!("{file}:20:15: backend \"app\" server \"a1\": agent_check = true needs agent_port"),
    ] {
        assert!(stderr.contains(&want), "{want:?} not in:\n{stderr}");
    }
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
