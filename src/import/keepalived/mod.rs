//! keepalived.conf → `[vrrp]`.
//!
//! - `blocks.rs`: the `{ }` block syntax → a tree of statements.
//!
//! The first `vrrp_instance` becomes `[vrrp]` (ringlb runs one virtual router); a
//! `track_script` whose script watches haproxy becomes `track_frontends`, since ringlb
//! lowers its priority itself when a frontend has no usable server.

mod blocks;

use std::collections::HashMap;

use blocks::Node;

use super::report::Ledger;
use super::toml_out::{Table, Value};
use super::ImportError;

pub fn translate(file: &str, text: &str, led: &mut Ledger) -> Result<Vec<Table>, ImportError> {
    let nodes = blocks::parse(file, text)?;
    let mut all = Vec::new();
    flatten(&nodes, &mut all);
    for n in &all {
        led.add(&n.src);
    }
    let scripts: HashMap<&str, &Node> = nodes
        .iter()
        .filter(|n| n.word(0) == "vrrp_script")
        .map(|n| (n.word(1), n))
        .collect();
    let instances = nodes
        .iter()
        .filter(|n| n.word(0) == "vrrp_instance")
        .count();
    let mut out = Vec::new();
    for n in &nodes {
        match n.word(0) {
            "vrrp_instance" if out.is_empty() => out.push(instance(n, &scripts, led)),
            "vrrp_instance" => lose_all(
                n,
                led,
                "ringlb runs one virtual router: only the first vrrp_instance is translated",
            ),
            "vrrp_script" => script_unused(n, led),
            "vrrp_sync_group" if instances <= 1 => {
                note_all(n, led, "a sync group of one instance changes nothing")
            }
            "vrrp_sync_group" => lose_all(n, led, "ringlb runs one virtual router"),
            "global_defs" => global_defs(n, led),
            "include" => led.lost(
                &n.src,
                "included files are not read: import them separately",
            ),
            "virtual_server" | "virtual_server_group" => lose_all(
                n,
                led,
                "IPVS load balancing is ringlb's own job: describe it as frontends and backends",
            ),
            _ => lose_all(n, led, "no ringlb equivalent"),
        }
    }
    Ok(out)
}

fn flatten<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
    for n in nodes {
        out.push(n);
        flatten(n.kids(), out);
    }
}

fn lose_all(n: &Node, led: &mut Ledger, why: &str) {
    led.lost(&n.src, why);
    for k in n.kids() {
        lose_all(k, led, why);
    }
}

fn note_all(n: &Node, led: &mut Ledger, why: &str) {
    led.note(&n.src, why);
    for k in n.kids() {
        note_all(k, led, why);
    }
}

/// A script no instance tracks has no effect in keepalived either.
fn script_unused(n: &Node, led: &mut Ledger) {
    if !led.decided(&n.src) {
        note_all(n, led, "a vrrp_script no instance tracks");
    }
}

fn global_defs(n: &Node, led: &mut Ledger) {
    led.note(&n.src, "section header");
    for k in n.kids() {
        let d = k.word(0);
        match d {
            "router_id"
            | "lvs_id"
            | "vrrp_skip_check_adv_addr"
            | "enable_script_security"
            | "script_user"
            | "vrrp_version"
            | "vrrp_strict"
            | "max_auto_priority" => note_all(k, led, "no effect on ringlb's virtual router"),
            d if d.starts_with("notification_email") || d.starts_with("smtp_") => {
                lose_all(k, led, "ringlb sends no mail: use [vrrp] notify")
            }
            _ => lose_all(k, led, "no ringlb equivalent"),
        }
    }
}

/// keepalived seconds (`1`, `0.5`) → a ringlb duration.
fn seconds(v: &str) -> Option<String> {
    let f: f64 = v.parse().ok()?;
    if !(0.0..=3600.0).contains(&f) {
        return None;
    }
    let ms = (f * 1000.0).round() as u64;
    Some(if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    })
}

fn instance(n: &Node, scripts: &HashMap<&str, &Node>, led: &mut Ledger) -> Table {
    let mut t = Table::new("[vrrp]");
    t.notes.push(n.src.cite());
    led.done(&n.src);
    let interface = n
        .kids()
        .iter()
        .find(|k| k.word(0) == "interface")
        .map(|k| k.word(1).to_string())
        .unwrap_or_default();
    for k in n.kids() {
        instance_key(k, &interface, scripts, &mut t, led);
    }
    for key in ["interface", "virtual_router_id", "virtual_ips"] {
        if t.get(key).is_none() {
            led.lost_part(
                &n.src,
                format!("vrrp_instance {key}"),
                "missing: ringlb requires it",
            );
        }
    }
    t
}

/// One statement of a `vrrp_instance` → its `[vrrp]` key, or a note, or a loss.
fn instance_key(
    k: &Node,
    interface: &str,
    scripts: &HashMap<&str, &Node>,
    t: &mut Table,
    led: &mut Ledger,
) {
    let src = &k.src;
    let arg = k.word(1);
    let int = arg.parse::<i64>();
    match (k.word(0), int) {
        ("interface", _) => t.set("interface", Value::str(arg), src.cite()),
        ("virtual_router_id", Ok(v)) => t.set("virtual_router_id", Value::Int(v), src.cite()),
        ("priority", Ok(v)) if (1..=254).contains(&v) => {
            t.set("priority", Value::Int(v), src.cite())
        }
        ("priority", _) => {
            led.lost(
                src,
                "ringlb's priorities are 1 to 254 (255, the address owner, is not supported)",
            );
            return;
        }
        ("advert_int", _) => match seconds(arg) {
            Some(d) => t.set("advert_interval", Value::str(d), src.cite()),
            None => {
                led.lost(src, "not a number of seconds");
                return;
            }
        },
        ("nopreempt", _) => t.set("preempt", Value::Bool(false), src.cite()),
        ("preempt", _) => t.set("preempt", Value::Bool(true), src.cite()),
        ("preempt_delay", _) => match seconds(arg) {
            Some(d) => t.set("preempt_delay", Value::str(d), src.cite()),
            None => {
                led.lost(src, "not a number of seconds");
                return;
            }
        },
        ("state", _) => {
            led.note(src, "ringlb always starts as BACKUP and the election decides (the highest priority becomes MASTER within one Master_Down_Interval)");
            return;
        }
        ("unicast_src_ip" | "mcast_src_ip", _) => {
            led.note(src, "ringlb sends from the interface's first IPv4 address");
            return;
        }
        ("authentication", _) => {
            note_all(k, led, "VRRPv3 (which ringlb speaks) has no authentication; run both nodes on ringlb, or keepalived with vrrp_version 3");
            return;
        }
        ("version" | "vrrp_version", _) => {
            led.note(src, "ringlb speaks VRRPv3");
            return;
        }
        ("unicast_peer", _) => {
            let peers: Vec<Value> = k
                .kids()
                .iter()
                .map(|p| {
                    led.done(&p.src);
                    Value::str(p.word(0))
                })
                .collect();
            t.set("unicast_peers", Value::Arr(peers), src.cite());
        }
        ("virtual_ipaddress", _) => vips(k, interface, t, led),
        ("track_script", _) => track_script(k, scripts, t, led),
        ("track_interface", _) => {
            for i in k.kids() {
                if i.word(0) == interface {
                    led.note(
                        &i.src,
                        "ringlb watches its own interface: FAULT when the link goes down",
                    );
                } else {
                    led.lost(&i.src, "ringlb watches only the interface it runs VRRP on");
                }
            }
            led.note(src, "block header");
            return;
        }
        ("garp_master_delay", Ok(5)) | ("garp_master_repeat", Ok(5)) => {
            led.note(
                src,
                "ringlb's gratuitous ARP: 5 at once and 5 more after 5 s, as here",
            );
            return;
        }
        (d, _) if d.starts_with("garp_") => {
            led.lost(
                src,
                "ringlb's gratuitous ARP is fixed: 5 at once and 5 more after 5 s",
            );
            return;
        }
        (d, _) if d.starts_with("notify") => {
            led.lost(src, "ringlb calls notify as PROGRAM STATE PRIORITY (keepalived: TYPE NAME STATE PRIORITY, one script per state): adapt the script and set [vrrp] notify");
            return;
        }
        _ => {
            lose_all(k, led, "no ringlb equivalent");
            return;
        }
    }
    led.done(src);
}

/// `virtual_ipaddress { 10.0.0.1/24 dev eth0 label eth0:1 }`.
fn vips(k: &Node, interface: &str, t: &mut Table, led: &mut Ledger) {
    let mut ips = Vec::new();
    for v in k.kids() {
        let src = &v.src;
        let ip = v.word(0);
        let addr = ip.split('/').next().unwrap_or(ip);
        if addr.parse::<std::net::Ipv4Addr>().is_err() {
            led.lost(src, "ringlb's virtual IPs are IPv4 addresses");
            continue;
        }
        let dev = v
            .words
            .iter()
            .position(|w| w == "dev")
            .and_then(|i| v.words.get(i + 1));
        if dev.is_some_and(|d| d != interface) {
            led.lost(src, "a virtual IP on another interface than the VRRP one");
            continue;
        }
        let mut j = 1;
        while j < v.words.len() {
            match v.word(j) {
                "dev" | "brd" | "broadcast" => {}
                other => led.lost_part(
                    src,
                    format!("virtual_ipaddress {other}"),
                    "ringlb adds the address without labels, scope or routes",
                ),
            }
            j += 2;
        }
        ips.push(Value::str(ip));
        t.cite("virtual_ips", src.cite());
        led.done(src);
    }
    let cites: Vec<String> = k.kids().iter().map(|v| v.src.cite()).collect();
    t.set("virtual_ips", Value::Arr(ips), k.src.cite());
    for c in cites {
        t.cite("virtual_ips", c);
    }
}

/// `track_script { chk_haproxy [weight W] }` where the script checks haproxy.
fn track_script(k: &Node, scripts: &HashMap<&str, &Node>, t: &mut Table, led: &mut Ledger) {
    for s in k.kids() {
        let Some(script) = scripts.get(s.word(0)) else {
            led.lost(&s.src, "no vrrp_script of that name");
            continue;
        };
        let cmd = script
            .kids()
            .iter()
            .find(|c| c.word(0) == "script")
            .map(|c| c.word(1))
            .unwrap_or("");
        if !cmd.contains("haproxy") {
            lose_all(script, led, "ringlb tracks its own frontends, not scripts");
            led.lost(&s.src, "ringlb tracks its own frontends, not scripts");
            continue;
        }
        let weight = match s.words.iter().position(|w| w == "weight") {
            Some(i) => s.words.get(i + 1).cloned(),
            None => script
                .kids()
                .iter()
                .find(|c| c.word(0) == "weight")
                .map(|c| c.word(1).to_string()),
        };
        t.set("track_frontends", Value::Bool(true), s.src.differs("ringlb lowers its priority when a frontend has no usable server or a worker is stuck, instead of running the script"));
        t.cite("track_frontends", script.src.cite());
        match weight.as_deref().map(|w| w.trim_start_matches(['-', '+']).parse::<i64>()) {
            Some(Ok(w)) if w > 0 => t.set("track_weight", Value::Int(w), s.src.cite()),
            _ => t.cite("track_frontends", s.src.differs("keepalived puts an instance in FAULT when a script without weight fails; ringlb lowers the priority by track_weight (50)")),
        }
        led.done(&s.src);
        led.done(&script.src);
        for c in script.kids() {
            match c.word(0) {
                "script" | "weight" => led.done(&c.src),
                _ => led.note(&c.src, "ringlb watches its frontends continuously"),
            }
        }
    }
    led.note(&k.src, "block header");
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn an_instance_becomes_vrrp() {
        let mut led = Ledger::default();
        let t = translate("k.conf", CONF, &mut led).unwrap();
        let v = &t[0];
        assert_eq!(v.get("interface"), Some(&Value::str("eth0")));
        assert_eq!(v.get("virtual_router_id"), Some(&Value::Int(51)));
        assert_eq!(v.get("advert_interval"), Some(&Value::str("500ms")));
        assert_eq!(v.get("preempt"), Some(&Value::Bool(false)));
        assert_eq!(
            v.get("unicast_peers"),
            Some(&Value::Arr(vec![Value::str("10.0.0.2")]))
        );
        assert_eq!(
            v.get("virtual_ips"),
            Some(&Value::Arr(vec![Value::str("192.168.1.100/24")]))
        );
        assert_eq!(v.get("track_frontends"), Some(&Value::Bool(true)));
        assert_eq!(v.get("track_weight"), Some(&Value::Int(60)));
        led.close();
        let lost: Vec<usize> = led.lost_list().iter().map(|l| l.line).collect();
        assert_eq!(lost, [3, 26, 31]);
    }

    #[test]
    fn seconds_to_durations() {
        assert_eq!(seconds("1").as_deref(), Some("1s"));
        assert_eq!(seconds("0.25").as_deref(), Some("250ms"));
        assert_eq!(seconds("x"), None);
    }
}
