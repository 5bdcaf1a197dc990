//! Balancing algorithms through the real proxy (HTTP mode, 1 worker where order
//! matters), against backends that name themselves in their answers.

mod common;

use std::time::Duration;

use common::http::Client;
use common::switch::{spread_keepalive, Switch};
use common::{admin, Ringlb};

fn config(balance: &str, servers: &[(&Switch, &str)]) -> String {
    let mut s = format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\nbalance = \"{balance}\"\n"
    );
    for (sw, extra) in servers {
        s.push_str(&format!(
            "[[backend.server]]\nname = \"{}\"\naddress = \"{}\"\n{extra}\n",
            sw.name, sw.addr
        ));
    }
    s
}

#[test]
fn backups_take_over_only_when_every_primary_is_out() {
    let (a, b, c) = (Switch::start("a"), Switch::start("b"), Switch::start("c"));
    let r = Ringlb::start(&config(
        "roundrobin",
        &[(&a, ""), (&b, ""), (&c, "backup = true")],
    ));
    let adm = r.admin_addr();
    assert_eq!(spread_keepalive(r.addr(), 10).get("c"), None);
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "maint", None).0,
        200
    );
    assert_eq!(
        spread_keepalive(r.addr(), 6).get("b"),
        Some(&6),
        "one primary left: no backup yet"
    );
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/b/state", "maint", None).0,
        200
    );
    assert_eq!(spread_keepalive(r.addr(), 6).get("c"), Some(&6));
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "ready", None).0,
        200
    );
    assert_eq!(
        spread_keepalive(r.addr(), 6).get("a"),
        Some(&6),
        "the backup stands down"
    );
}

#[test]
fn weighted_random_follows_the_weights() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let r = Ringlb::start(&config("random", &[(&a, "weight = 1"), (&b, "weight = 3")]));
    let seen = spread_keepalive(r.addr(), 400);
    let to_b = seen.get("b").copied().unwrap_or(0);
    // Expected 300; the bound is more than 5 standard deviations (8.7) wide.
    assert!((250..=350).contains(&to_b), "{seen:?}");
}

#[test]
fn smooth_round_robin_interleaves_by_weight() {
    let (a, b, c) = (Switch::start("a"), Switch::start("b"), Switch::start("c"));
    let r = Ringlb::start(&config(
        "roundrobin",
        &[(&a, "weight = 5"), (&b, "weight = 1"), (&c, "weight = 1")],
    ));
    let mut client = Client::connect(r.addr());
    let order: String = (0..7)
        .map(|i| {
            let (_, _, body) = client.get(&format!("/o{i}"));
            char::from(body[0])
        })
        .collect();
    assert_eq!(
        order, "aabacaa",
        "nginx's smooth weighted round robin, no bursts"
    );
}

#[test]
fn p2c_gives_a_server_20ms_slower_under_15_percent_of_requests() {
    let (a, b, slow) = (
        Switch::start("a"),
        Switch::start("b"),
        Switch::start("slow"),
    );
    slow.set_delay(Duration::from_millis(20));
    let r = Ringlb::start(&config("p2c", &[(&a, ""), (&b, ""), (&slow, "")]));
    let seen = spread_keepalive(r.addr(), 100);
    let to_slow = seen.get("slow").copied().unwrap_or(0);
    assert!(
        to_slow < 15,
        "the slow server got {to_slow} of 100: {seen:?}"
    );
}
