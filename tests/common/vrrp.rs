//! Helpers for the VRRP namespace tests: ringlb and keepalived started inside a host
//! of a [`Lan`], the admin API's `/api/vrrp` polled there, and `kill -9` of a whole
//! host. keepalived missing: [`keepalived`] skips visibly (fails in CI).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::netns::{skip, Lan};
use super::{admin, Ringlb, TempConfig, BIN, PATIENCE};

/// The admin address every test configuration uses (one per namespace).
pub use super::netns::admin_addr;

/// `ringlb run` with `config` inside `host`; returns once the virtual router with
/// id `vrid` logged its start (its state lines follow).
pub fn start_ringlb(lan: &Lan, host: usize, config: &str, vrid: u8) -> Ringlb {
    let cfg = TempConfig::new(config);
    let mut cmd = lan.command(host, BIN);
    cmd.arg("run").arg("-c").arg(&cfg.0);
    let mut r = Ringlb::spawn(cmd, Some(cfg));
    r.wait_for(&format!("vrrp: virtual router {vrid} "));
    r
}

/// `GET path` on the admin API of the ringlb in `host`, as JSON.
pub fn api(lan: &Lan, host: usize, path: &'static str) -> serde_json::Value {
    let (code, body) = lan.enter(host, move || admin(admin_addr(), "GET", path, "", None));
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Poll `GET path` until `ok` holds (bounded by PATIENCE).
pub fn wait_api(
    lan: &Lan,
    host: usize,
    path: &'static str,
    what: &str,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let s = api(lan, host, path);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never {what}: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether keepalived can run here; skips visibly (or fails in CI) when not.
pub fn have_keepalived() -> bool {
    let found = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        skip(
            "keepalived interop",
            "keepalived is not installed (apt install keepalived)",
        );
    }
    found
}

/// A keepalived (VRRP only, logging to the console) in `host` with this whole
/// configuration file; returns once it logged `ready` (e.g. "Entering BACKUP STATE").
pub fn keepalived(lan: &Lan, host: usize, conf: &str, ready: &str) -> (Ringlb, TempConfig) {
    let conf = TempConfig::new(conf);
    let pid = conf.0.with_extension("pid");
    let vrrp_pid = conf.0.with_extension("vrrp.pid");
    let mut cmd = lan.command(host, "keepalived");
    cmd.args([
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--vrrp",
        "--no-syslog",
        "-f",
    ])
    .arg(&conf.0)
    .arg("-p")
    .arg(&pid)
    .arg("-r")
    .arg(&vrrp_pid);
    let mut k = Ringlb::spawn(cmd, None);
    k.wait_for(ready);
    (k, conf)
}

/// A keepalived (VRRPv3, 1 s adverts) in `host` with one `vrrp_instance` for
/// `vrid` at `priority`; `body`: its other lines (virtual_ipaddress, native_ipv6,
/// unicast peers...). Returns once it is backup; `None` (skipped) without keepalived.
pub fn keepalived_instance(
    lan: &Lan,
    host: usize,
    vrid: u8,
    priority: u8,
    body: &str,
) -> Option<(Ringlb, TempConfig)> {
    if !have_keepalived() {
        return None;
    }
    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_{vrid} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  priority {priority}\n  advert_int 1\n{body}\n}}\n"
    );
    Some(keepalived(lan, host, &conf, "Entering BACKUP STATE"))
}

/// After the master failed: `host` (a backup at priority 100 with 1 s adverts) must
/// hold `vip` within Master_Down_Interval + 0.5 s.
pub fn assert_takes_over_in_time(lan: &Lan, host: usize, vip: impl Into<IpAddr>, who: &str) {
    let second = Duration::from_secs(1);
    let bound =
        ringlb::vrrp::machine::master_down_interval(100, second) + Duration::from_millis(500);
    let took = lan
        .wait_addr(host, vip, true, PATIENCE)
        .unwrap_or_else(|| panic!("{who} never took the VIP"));
    assert!(
        took <= bound,
        "{who} took the VIP after {took:?}, bound {bound:?}"
    );
}

/// `kill -9` every process of the namespace at once (keepalived is two processes).
pub fn kill_all(lan: &Lan, host: usize) {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &lan.ns(host)])
        .output()
        .expect("ip netns pids");
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let pid: i32 = pid.parse().expect("pid");
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
