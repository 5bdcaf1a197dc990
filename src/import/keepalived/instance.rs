//! One `vrrp_instance` → a virtual router table (`[vrrp]` or `[[vrrp]]`), followed by
//! its `[[vrrp.track_*]]` tables.
//!
//! An instance is IPv4 or IPv6, as in keepalived (`vrrp_parser.c`, `alloc_vrrp_vip`):
//! the first statement naming an address (or `native_ipv6`) decides, and keepalived
//! ignores later addresses of the other family with "address family must match VRRP
//! instance - ignoring". ringlb's router takes its family from its virtual IPs, so the
//! ignored addresses are reported lost, as keepalived drops them.

use std::net::IpAddr;

use super::blocks::Node;
use super::{lose_all, note_all, seconds, track, Ctx};
use crate::import::report::Ledger;
use crate::import::toml_out::{Table, Value};

/// The router's table, then its tracking tables (which TOML attaches to it).
pub(super) fn instance(n: &Node, ctx: &mut Ctx, led: &mut Ledger) -> Vec<Table> {
    let mut t = Table::new(ctx.header);
    t.notes.push(n.src.cite());
    led.done(&n.src);
    if !n.word(1).is_empty() {
        t.set("name", Value::str(n.word(1)), n.src.cite());
    }
    let interface = n
        .kids()
        .iter()
        .find(|k| k.word(0) == "interface")
        .map(|k| k.word(1).to_string())
        .unwrap_or_default();
    let v6 = is_v6(n);
    let mut subs = Vec::new();
    for k in n.kids() {
        match k.word(0) {
            "virtual_ipaddress" => vips(k, &interface, v6, ctx, &mut t, led),
            "virtual_ipaddress_excluded" => lose_all(k, led, EXCLUDED),
            "unicast_peer" => peers(k, v6, &mut t, led),
            "native_ipv6" if v6 => led.note(
                &k.src,
                "ringlb takes the family from the virtual IPs (IPv6 here)",
            ),
            "native_ipv6" => led.lost(
                &k.src,
                "keepalived ignores it too (\"Cannot specify native_ipv6 with IPv4 addresses\"): an IPv4 address above made the instance IPv4; for an IPv6 router, give the IPv6 addresses a vrrp_instance of their own",
            ),
            "track_script" => track::scripts(k, ctx, &mut t, &mut subs, led),
            "track_interface" => track::interfaces(k, &interface, &mut subs, led),
            "track_file" => track::files(k, ctx, &mut subs, led),
            "smtp_alert" => super::mail::smtp_alert(k, ctx.mail, &mut t, led),
            _ => instance_key(k, v6, &mut t, led),
        }
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
    let mut out = vec![t];
    out.extend(subs);
    out
}

const OFF_FAMILY: &str = "keepalived ignores it too (\"address family must match VRRP instance\"): the instance's first address decides its family, and a virtual router is one family; to keep the address, give it a vrrp_instance of its own (ringlb: another [[vrrp]], which may share the id)";

const EXCLUDED: &str = "ringlb has no excluded (unadvertised) addresses: list an address of the instance's family in virtual_ipaddress on both hosts (it is then advertised), one of the other family in a vrrp_instance of its own (ringlb: another [[vrrp]])";

const LINK_LOCAL: &str = "ringlb sends its adverts from the interface's link-local address, not from unicast_src_ip: a keepalived peer with check_unicast_src must list that address in its unicast_peer";

/// The instance's family as keepalived decides it: by the first statement, in file
/// order, that names an address or is `native_ipv6`; IPv4 when none does.
fn is_v6(n: &Node) -> bool {
    for k in n.kids() {
        let first = match k.word(0) {
            "native_ipv6" => return true,
            "unicast_src_ip" | "mcast_src_ip" | "mcast_dst_ip" => Some(k.word(1)),
            "virtual_ipaddress" | "unicast_peer" => k.kids().first().map(|v| v.word(0)),
            _ => None,
        };
        if let Some(a) = first.and_then(address) {
            return a.is_ipv6();
        }
    }
    false
}

/// `2001:db8::1/64` or `10.0.0.1` → the address.
fn address(word: &str) -> Option<IpAddr> {
    word.split('/').next().unwrap_or(word).parse().ok()
}

/// `unicast_peer { ... }` → `unicast_peers`, keeping the instance's family.
fn peers(k: &Node, v6: bool, t: &mut Table, led: &mut Ledger) {
    let mut peers = Vec::new();
    let mut cites = Vec::new();
    for p in k.kids() {
        match address(p.word(0)) {
            Some(a) if a.is_ipv6() == v6 => {
                peers.push(Value::str(p.word(0)));
                for w in p.words.iter().skip(1) {
                    led.lost_part(
                        &p.src,
                        format!("unicast_peer {w}"),
                        "ringlb's peers are bare addresses",
                    );
                }
                cites.push(match a {
                    IpAddr::V6(a) if a.is_unicast_link_local() => p.src.differs(LINK_LOCAL),
                    IpAddr::V6(_) => p.src.differs(&format!("{LINK_LOCAL}; a ringlb peer sends from its link-local address too: put that address here once the peer runs ringlb")),
                    IpAddr::V4(_) => p.src.cite(),
                });
                led.done(&p.src);
            }
            Some(_) => led.lost(&p.src, OFF_FAMILY),
            None => led.lost(&p.src, "not an IP address"),
        }
    }
    t.set("unicast_peers", Value::Arr(peers), k.src.cite());
    led.done(&k.src);
    for c in cites {
        t.cite("unicast_peers", c);
    }
}

/// One plain statement of a `vrrp_instance` → its key, or a note, or a loss.
fn instance_key(k: &Node, v6: bool, t: &mut Table, led: &mut Ledger) {
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
        ("unicast_src_ip" | "mcast_src_ip", _) if v6 => {
            led.note(src, "ringlb sends from the interface's link-local address");
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
        ("garp_master_delay", Ok(v)) if (0..=1000).contains(&v) => {
            t.set("garp_master_delay", Value::str(format!("{v}s")), src.cite())
        }
        ("garp_master_repeat", Ok(v)) if (1..=255).contains(&v) => {
            t.set("garp_master_repeat", Value::Int(v), src.cite())
        }
        (d, _) if d.starts_with("garp_") => {
            led.lost(
                src,
                "ringlb sends garp_master_repeat gratuitous ARPs at once and as many after garp_master_delay, no more: no refresh while master, none at a lower priority's advert",
            );
            return;
        }
        _ if super::notify::state_command(k, true, t, led) => return,
        (d, _) if d.starts_with("notify") => {
            led.lost(src, "keepalived appends INSTANCE NAME STATE PRIORITY to notify, ringlb STATE PRIORITY (and RINGLB_VRRP_NAME in its environment): adapt the script (its $3 is ringlb's $1) and set [vrrp] notify");
            return;
        }
        _ => {
            lose_all(k, led, "no ringlb equivalent");
            return;
        }
    }
    led.done(src);
}

/// `virtual_ipaddress { 10.0.0.1/24 dev eth1 label eth1:1 }` → `"10.0.0.1/24 dev eth1"`.
fn vips(k: &Node, interface: &str, v6: bool, ctx: &mut Ctx, t: &mut Table, led: &mut Ledger) {
    let mut ips = Vec::new();
    let mut cites = Vec::new();
    for v in k.kids() {
        let src = &v.src;
        let ip = v.word(0);
        let Some(addr) = address(ip) else {
            led.lost(src, "not an IP address");
            continue;
        };
        if addr.is_ipv6() != v6 {
            led.lost(src, OFF_FAMILY);
            continue;
        }
        if !ctx.vips.insert(addr.to_string()) {
            led.note(
                src,
                "the address is already a virtual IP above (ringlb lists each address once)",
            );
            continue;
        }
        let mut entry = ip.to_string();
        let mut j = 1;
        while j < v.words.len() {
            match (v.word(j), v.word(j + 1)) {
                ("dev", d) if d != interface => entry = format!("{ip} dev {d}"),
                ("dev" | "brd" | "broadcast", _) => {}
                ("label", l) => cites.push(src.differs(&format!(
                    "label {l} is not set: ringlb adds the address without a label"
                ))),
                (other, _) => led.lost_part(
                    src,
                    format!("virtual_ipaddress {other}"),
                    "ringlb adds the address without scope or routes",
                ),
            }
            j += 2;
        }
        ips.push(Value::str(entry));
        cites.push(src.cite());
        led.done(src);
    }
    t.set("virtual_ips", Value::Arr(ips), k.src.cite());
    led.done(&k.src);
    for c in cites {
        t.cite("virtual_ips", c);
    }
}
