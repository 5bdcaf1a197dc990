//! Alert mails through the real binary to a real SMTP peer
//! (`tests/mail_peers/smtp_sink.py`, standard-library Python speaking SMTP over a
//! socket, printing each message it accepts): server health changes in HAProxy's
//! wording and level filter, a reload changing where mail goes, a dead mail server
//! that delays nothing else, and VRRP state changes in keepalived's wording with two
//! real routers in network namespaces (root only: skipped visibly elsewhere, a
//! failure with `RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::net::Ipv4Addr;
use std::time::Instant;

use common::mail::{body, data, header, Sink, SINK};
use common::netns::{local_service, Lan};
use common::peers::AgentPeer;
use common::switch::{checked_config, spread, Switch};
use common::vrrp::start_ringlb;
use common::{tool_installed, Ringlb, PATIENCE};

const CHECK: &str =
    "kind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\nfast_interval = \"50ms\"\n\
                     down_interval = \"100ms\"\ntimeout = \"2s\"\nrise = 1\nfall = 1";

fn mail_section(port: u16, to: &str, extra: &str) -> String {
    format!(
        "\n[mail]\nserver = \"127.0.0.1:{port}\"\nfrom = \"lb@example.org\"\nto = [{to}]\nhelo = \"lb1\"\n{extra}\n"
    )
}

#[test]
fn server_health_changes_are_mailed_in_haproxy_wording() {
    let Some(sink) = Sink::local("server_health_changes_are_mailed_in_haproxy_wording", false)
    else {
        return;
    };
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let mail = mail_section(
        sink.port,
        "\"ops@example.org\", \"noc@example.org\"",
        "level = \"notice\"",
    );
    let mut r = Ringlb::start(&format!(
        "{}{mail}",
        checked_config(1, &[&a, &b], CHECK, "", "")
    ));
    a.wait_probes(1);
    a.set_health(503);
    r.wait_for("app/a DOWN");
    let (down, _) = sink.until("Server app/a is DOWN");
    assert_eq!(down["helo"], "lb1");
    assert_eq!(down["from"], "lb@example.org");
    assert_eq!(
        down["to"],
        serde_json::json!(["ops@example.org", "noc@example.org"])
    );
    assert_eq!(header(&down, "From"), "lb@example.org");
    assert_eq!(header(&down, "To"), "ops@example.org, noc@example.org");
    let subject = header(&down, "Subject");
    assert!(
        subject.starts_with("[ringlb Alert] Server app/a is DOWN, reason: "),
        "{subject}"
    );
    assert!(
        subject.ends_with(". 1 active and 0 backup servers left."),
        "{subject}"
    );
    assert!(subject.contains("503"), "{subject}");
    assert_eq!(body(&down), subject.trim_start_matches("[ringlb Alert] "));
    assert!(header(&down, "Date").ends_with("+0000"));
    // The traffic goes on to b meanwhile; level notice: the way back up is mailed.
    assert_eq!(spread(r.addr(), 4).get("b"), Some(&4));
    a.set_health(200);
    let (up, _) = sink.until("Server app/a is UP");
    assert!(
        body(&up).ends_with(". 2 active and 0 backup servers online."),
        "{}",
        body(&up)
    );
}

#[test]
fn a_reload_changes_where_mail_goes_and_which_levels() {
    let test = "a_reload_changes_where_mail_goes_and_which_levels";
    let (Some(first), Some(second)) = (Sink::local(test, false), Sink::local(test, false)) else {
        return;
    };
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let base = checked_config(1, &[&a, &b], CHECK, "", "");
    let notice = mail_section(first.port, "\"ops@example.org\"", "level = \"notice\"");
    let mut r = Ringlb::start(&format!("{base}{notice}"));
    a.wait_probes(1);
    a.set_health(503);
    sink_first_down(&first);
    a.set_health(200);
    first.until("Server app/a is UP");
    // Another server, another recipient, the default level (alert: DOWN only).
    let alert = mail_section(second.port, "\"oncall@example.org\"", "");
    std::fs::write(r.config_path(), format!("{base}{alert}")).unwrap();
    r.reload_and_wait();
    a.set_health(503);
    let (down, _) = second.until("Server app/a is DOWN");
    assert_eq!(down["to"], serde_json::json!(["oncall@example.org"]));
    a.set_health(200);
    r.wait_for("app/a UP");
    a.set_health(503);
    r.wait_for("app/a DOWN");
    // One SMTP thread, mails in order: an UP mail would arrive before this DOWN.
    let next = second.next();
    assert!(
        data(&next).contains("Server app/a is DOWN"),
        "{}",
        data(&next)
    );
    assert!(
        first.mails.try_recv().is_err(),
        "mail still went to the old server"
    );
}

#[test]
fn an_agent_taking_a_server_down_is_mailed() {
    let Some(sink) = Sink::local("an_agent_taking_a_server_down_is_mailed", false) else {
        return;
    };
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let agent = AgentPeer::start("up\n");
    let check = format!("{CHECK}\nagent_interval = \"100ms\"");
    let mut config = checked_config(1, &[&a, &b], &check, "", "");
    let a_line = format!("address = \"{}\"\ncheck = true\n", a.addr);
    let with_agent = format!(
        "{a_line}agent_check = true\nagent_port = {}\n",
        agent.addr.port()
    );
    config = config.replacen(&a_line, &with_agent, 1);
    let mail = mail_section(sink.port, "\"ops@example.org\"", "");
    let mut r = Ringlb::start(&format!("{config}{mail}"));
    agent.wait_more(1);
    agent.say("down\n");
    r.wait_for("app/a DOWN");
    let (down, before) = sink.until("Server app/a is DOWN");
    assert!(before.is_empty(), "{before:?}");
    assert!(
        body(&down).contains("reason: agent says \"down\""),
        "{}",
        body(&down)
    );
}

fn sink_first_down(sink: &Sink) {
    let (_, before) = sink.until("Server app/a is DOWN");
    assert!(
        before.is_empty(),
        "mails before the first change: {before:?}"
    );
}

#[test]
fn a_dead_mail_server_delays_nothing_else_and_is_logged_once() {
    let test = "a_dead_mail_server_delays_nothing_else_and_is_logged_once";
    let Some(dead) = Sink::local(test, true) else {
        return;
    };
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let mail = mail_section(
        dead.port,
        "\"ops@example.org\"",
        "level = \"notice\"\nconnect_timeout = \"1s\"",
    );
    let mut r = Ringlb::start(&format!(
        "{}{mail}",
        checked_config(1, &[&a, &b], CHECK, "", "")
    ));
    a.wait_probes(1);
    // Each change queues a mail that waits 1 s for a greeting that never comes.
    for _ in 0..3 {
        a.set_health(503);
        r.wait_for("app/a DOWN");
        assert_eq!(spread(r.addr(), 4).get("b"), Some(&4));
        a.set_health(200);
        r.wait_for("app/a UP");
    }
    let line = r.wait_for("mail: ");
    assert!(
        line.contains("not sent") && line.contains("greeting"),
        "{line}"
    );
    // The third connection means two mails failed; the second (within 10 s of the
    // first) is counted, not logged.
    for n in 1..=3 {
        assert_eq!(dead.next()["accepted"], n);
    }
    let logged = r.log.iter().filter(|l| l.contains("not sent")).count();
    assert_eq!(logged, 1, "{:#?}", r.log);
    // Reloads and traffic still work.
    r.reload_and_wait();
    assert_eq!(spread(r.addr(), 4).values().sum::<usize>(), 4);
}

/// `ringlb import` of HAProxy's mailers and keepalived's mail keys, together, gives
/// one `[mail]` that `ringlb check` takes: HAProxy's level, keepalived's VRRP keys.
#[test]
fn imported_mail_settings_pass_check() {
    let dir = std::env::temp_dir().join(format!("ringlb-mail-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        "mailers ops\n  mailer smtp1 192.0.2.25:25\n  timeout mail 20s\n\
         defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend web\n  bind 127.0.0.1:0\n  default_backend app\n\
         backend app\n  email-alert mailers ops\n  email-alert from lb@example.org\n  email-alert to ops@example.org\n  email-alert level notice\n  email-alert myhostname lb1\n  server a 127.0.0.1:9 check\n",
    )
    .unwrap();
    let conf = dir.join("keepalived.conf");
    std::fs::write(
        &conf,
        "global_defs {\n  notification_email {\n    noc@example.org\n  }\n  notification_email_from lb1@example.org\n  smtp_server 192.0.2.26\n  router_id LB1\n  smtp_alert\n}\n\
         vrrp_instance VI_1 {\n  interface lo\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n",
    )
    .unwrap();
    let out = dir.join("ringlb.toml");
    let run = common::import::run_import(
        "haproxy",
        &cfg,
        &[
            "--keepalived",
            conf.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    let m = &t["mail"];
    assert_eq!(m["server"].as_str(), Some("192.0.2.26"), "{text}");
    assert_eq!(m["to"][0].as_str(), Some("noc@example.org"));
    assert_eq!(m["level"].as_str(), Some("notice"));
    assert_eq!(m["backends"][0].as_str(), Some("app"));
    assert_eq!(
        (m["router_id"].as_str(), m["vrrp"].as_bool()),
        (Some("LB1"), Some(true))
    );
    common::import::run_check(&out).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    let _ = std::fs::remove_dir_all(dir);
}

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A: usize = 0;
const B: usize = 1;
const MAILHOST: usize = 2;

fn vrrp_config(priority: u8, router_id: &str) -> String {
    let vip = std::net::SocketAddr::from((VIP, 8080));
    local_service(
        &[vip],
        false,
        &format!(
            "[vrrp]\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = {priority}\n\
             advert_interval = \"100ms\"\nvirtual_ips = [\"{VIP}/24\"]\n\n\
             [mail]\nserver = \"{}:2525\"\nfrom = \"{router_id}@example.org\"\nto = [\"ops@example.org\"]\nrouter_id = \"{router_id}\"\n",
            Lan::ip(MAILHOST)
        ),
    )
}

#[test]
fn vrrp_state_changes_are_mailed_in_keepalived_wording() {
    let test = "vrrp_state_changes_are_mailed_in_keepalived_wording";
    let Some(lan) = Lan::new(test, 3) else {
        return;
    };
    if !tool_installed(test, "python3") {
        return;
    }
    let mut cmd = lan.command(MAILHOST, "python3");
    cmd.args([SINK, "--listen", &format!("{}:2525", Lan::ip(MAILHOST))]);
    let sink = Sink::spawn(cmd);
    let mut a = start_ringlb(&lan, A, &vrrp_config(150, "lbA"), 51);
    let _b = start_ringlb(&lan, B, &vrrp_config(100, "lbB"), 51);
    let (master, _) = sink.until("[lbA] VRRP Instance VI_51 - Entering MASTER state");
    assert_eq!(body(&master), "=> VRRP Instance is now owning VRRP VIPs <=");
    assert_eq!(master["from"], "lbA@example.org");
    assert_eq!(
        header(&master, "Subject"),
        "[lbA] VRRP Instance VI_51 - Entering MASTER state"
    );
    assert!(
        lan.wait_addr(A, VIP, true, PATIENCE).is_some(),
        "A never held the VIP"
    );
    // A stops cleanly: it says so, and B takes the address and says so.
    a.signal(libc::SIGTERM);
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while seen.len() < 2 && Instant::now() < deadline {
        let m = sink.next();
        let s = header(&m, "Subject").to_string();
        if s == "[lbA] VRRP Instance VI_51 - Stopping" {
            assert_eq!(body(&m), "=> VRRP Instance stopping <=");
            seen.push(s);
        } else if s == "[lbB] VRRP Instance VI_51 - Entering MASTER state" {
            seen.push(s);
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    a.wait_exit();
    assert!(
        lan.wait_addr(B, VIP, true, PATIENCE).is_some(),
        "B never took the VIP"
    );
}
