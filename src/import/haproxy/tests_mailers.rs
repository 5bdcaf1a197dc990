//! `mailers` and `email-alert` → `[mail]`.

use super::tests::{parsed, run};

const CFG: &str = "mailers ops\n  mailer smtp1 192.0.2.25:25\n  mailer smtp2 192.0.2.26:25\n  timeout mail 20s\n\
defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  email-alert mailers ops\n  email-alert from lb@example.org\n  email-alert to ops@example.org\n\
frontend web\n  bind :80\n  use_backend api if { path_beg /api }\n  default_backend app\n\
backend app\n  email-alert level notice\n  email-alert myhostname lb1\n  server a 10.0.0.1:80 check\n\
backend api\n  email-alert level notice\n  email-alert myhostname lb1\n  server b 10.0.0.2:80 check\n";

#[test]
fn email_alert_and_its_mailers_become_mail() {
    let (toml, lost) = run(CFG);
    // Only the second mailer: ringlb sends to one server.
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].contains(":3:"), "{lost:?}");
    let t = parsed(&toml);
    let m = &t["mail"];
    assert_eq!(m["server"].as_str(), Some("192.0.2.25:25"), "{toml}");
    assert_eq!(m["connect_timeout"].as_str(), Some("20s"));
    assert_eq!(m["from"].as_str(), Some("lb@example.org"));
    assert_eq!(m["to"][0].as_str(), Some("ops@example.org"));
    assert_eq!(m["level"].as_str(), Some("notice"));
    assert_eq!(m["helo"].as_str(), Some("lb1"));
    assert_eq!(m["vrrp"].as_bool(), Some(false));
    let backends: Vec<&str> = m["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(backends, ["app", "api"]);
    // That `ringlb check` takes it: tests/mail.rs.
}

#[test]
fn a_proxy_with_other_settings_is_reported_and_left_out() {
    let cfg = CFG.replacen("email-alert level notice", "email-alert level alert", 1);
    let (toml, lost) = run(&cfg);
    let t = parsed(&toml);
    let backends = t["mail"]["backends"].as_array().unwrap();
    assert_eq!(backends.len(), 1, "{toml}");
    // The second mailer, and the api backend's own lines plus what it inherits.
    assert!(lost.iter().any(|l| l.contains("differ")), "{lost:?}");
}

#[test]
fn without_mailers_from_and_to_nothing_is_mailed_in_haproxy_either() {
    let cfg = CFG.replace("  email-alert to ops@example.org\n", "");
    let (toml, lost) = run(&cfg);
    assert!(lost.is_empty(), "{lost:?}");
    assert!(parsed(&toml).get("mail").is_none(), "{toml}");
    // A mailers section nobody names: noted, not lost.
    let (_, lost) = run(&CFG.replace("email-alert mailers ops", "email-alert mailers other"));
    assert!(
        lost.iter()
            .any(|l| l.contains("no mailers section of that name")),
        "{lost:?}"
    );
}
