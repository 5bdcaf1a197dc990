//! Valid files and per-key rules: defaults, inheritance, balance, routes, health/admin keys, steering.

use super::*;

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
