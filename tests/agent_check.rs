//! HAProxy's agent check through the real binary: a TCP agent next to each server
//! says up/down, drain/maint/ready or a weight, and ringlb applies it as HAProxy
//! does; an unreachable agent is ignored. Waits are on log lines and on the agent's
//! answer count, never on sleeps.

mod common;

use common::peers::{api_server, AgentPeer};
use common::switch::{spread, Switch};
use common::Ringlb;

/// One worker; servers a and b (weight 10 each, http check on /health); a has an agent.
fn config(a: &Switch, b: &Switch, agent_port: u16) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n[backend.check]\nkind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\n\
         timeout = \"2s\"\nrise = 1\nfall = 1\nagent_interval = \"100ms\"\n\n\
         [[backend.server]]\nname = \"a\"\naddress = \"{}\"\nweight = 10\ncheck = true\n\
         agent_check = true\nagent_port = {agent_port}\nagent_send = \"app/a\\n\"\n\n\
         [[backend.server]]\nname = \"b\"\naddress = \"{}\"\nweight = 10\ncheck = true\n",
        a.addr, b.addr
    )
}

#[test]
fn agent_says_down_up_drain_maint_ready_and_a_weight() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let agent = AgentPeer::start("up ready\n");
    let mut r = Ringlb::start(&config(&a, &b, agent.addr.port()));
    agent.wait_more(2);
    assert_eq!(agent.received.lock().unwrap().as_slice(), b"app/a\n");
    let seen = spread(r.addr(), 20);
    assert!(seen.get("a").copied().unwrap_or(0) >= 8, "{seen:?}");

    agent.say("down # maintenance window\n");
    let line = r.wait_for("app/a DOWN");
    assert!(line.contains("agent says \"down\""), "{line}");
    r.wait_applied(1, 0, "oper: Down");
    let seen = spread(r.addr(), 10);
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    let s = api_server(r.admin_addr(), "a");
    assert_eq!(s["state"], "DOWN (agent: down)", "{s}");
    assert_eq!(s["agent"]["down"], "down", "{s}");
    assert_eq!(
        s["agent"]["last_answer"], "down # maintenance window",
        "{s}"
    );
    // The health check still passes: only the agent holds it down.
    assert_eq!(s["check"]["last_ok"], true, "{s}");

    agent.say("up\n");
    let line = r.wait_for("app/a UP");
    assert!(line.contains("agent says \"up\""), "{line}");
    r.wait_applied(1, 0, "oper: Up");

    agent.say("drain\n");
    r.wait_for("app/a admin state DRAIN set by its agent");
    r.wait_applied(1, 0, "admin: Drain");
    let seen = spread(r.addr(), 10);
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(api_server(r.admin_addr(), "a")["state"], "DRAIN");

    agent.say("maint\n");
    r.wait_for("app/a admin state MAINT set by its agent");
    r.wait_applied(1, 0, "admin: Maint");
    let seen = spread(r.addr(), 6);
    assert_eq!(seen.get("b"), Some(&6), "{seen:?}");
    assert_eq!(api_server(r.admin_addr(), "a")["admin"], "maint");

    agent.say("ready\n");
    r.wait_for("app/a admin state READY set by its agent");
    r.wait_applied(1, 0, "admin: Ready");

    // Half of the configured weight: a gets one request in three.
    agent.say("50%\n");
    r.wait_for("app/a weight 50% of the configured weight set by its agent");
    r.wait_applied(1, 0, "weight: 80");
    let s = api_server(r.admin_addr(), "a");
    assert_eq!(s["agent"]["weight_percent"], 50, "{s}");
    assert_eq!(s["effective_weight"], 5.0, "{s}");
    let seen = spread(r.addr(), 30);
    let to_a = seen.get("a").copied().unwrap_or(0);
    assert!((9..=11).contains(&to_a), "{seen:?}");

    // The operator's weight is the last word until the agent speaks again.
    let (status, _) = common::admin(
        r.admin_addr(),
        "POST",
        "/api/servers/app/a/weight",
        "10",
        None,
    );
    assert_eq!(status, 200);
    assert!(api_server(r.admin_addr(), "a")["agent"]["weight_percent"].is_null());
}

/// The "agent check failed" line (it may come before "ringlb ready").
fn failed_line(r: &mut Ringlb) -> String {
    r.wait_logged("app/a agent check failed");
    r.log
        .iter()
        .find(|l| l.contains("app/a agent check failed"))
        .cloned()
        .unwrap_or_default()
}

#[test]
fn an_unreachable_or_senseless_agent_is_ignored() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let closed = common::closed_port();
    let mut r = Ringlb::start(&config(&a, &b, closed.port()));
    let line = failed_line(&mut r);
    assert!(
        line.contains("agent unreachable") && line.contains("(ignored)"),
        "{line}"
    );
    let s = api_server(r.admin_addr(), "a");
    assert_eq!(s["agent"]["last_ok"], false, "{s}");
    assert_eq!(s["state"], "UP", "{s}");
    let seen = spread(r.addr(), 10);
    assert!(seen.get("a").copied().unwrap_or(0) >= 4, "{seen:?}");
    drop(r);

    // An agent that answers nothing understood changes nothing either.
    let agent = AgentPeer::start("hello there\n");
    let mut r = Ringlb::start(&config(&a, &b, agent.addr.port()));
    let line = failed_line(&mut r);
    assert!(line.contains("not understood"), "{line}");
    agent.wait_more(2);
    assert!(!r.logged("app/a DOWN"), "{:?}", r.log);
    assert_eq!(api_server(r.admin_addr(), "a")["state"], "UP");
}
