//! `global.admin_write_groups` (HAProxy's `stats admin if` an `http_auth_group`
//! ACL) through the real binary: every user of `admin_userlist` may read the admin
//! API; only users of those groups (or the bearer token) may change anything.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use common::*;

const ALICE: &str = "YWxpY2U6czNjcmV0"; // alice:s3cret, group admin
const BOB: &str = "Ym9iOnB3"; // bob:pw, group readonly

/// One request with basic credentials (`None`: without): the status.
fn status(addr: SocketAddr, method: &str, path: &str, body: &str, basic: Option<&str>) -> u16 {
    let mut s = connect(addr);
    let auth = basic.map_or(String::new(), |b| format!("authorization: Basic {b}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: admin\r\n{auth}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn readers_read_and_only_the_write_groups_change() {
    let echo = Echo::start();
    let users = "admin_bind = \"127.0.0.1:0\"\nadmin_userlist = \"ops\"\nadmin_write_groups = [\"admin\"]\nadmin_token = \"0123456789abcdef-token\"\n";
    let text = tcp_config(1, &[(echo.addr, 1)], "").replace("[global]\n", &format!("[global]\n{users}"))
        + "\n[[userlist]]\nname = \"ops\"\n\
           [[userlist.user]]\nname = \"alice\"\ninsecure_password = \"s3cret\"\ngroups = [\"admin\"]\n\
           [[userlist.user]]\nname = \"bob\"\ninsecure_password = \"pw\"\ngroups = [\"readonly\"]\n";
    let r = Ringlb::start(&text);
    let a = r.admin_addr();
    let state = "/api/servers/back/s0/state";
    assert_eq!(status(a, "GET", "/api/servers", "", None), 401);
    assert_eq!(status(a, "GET", "/api/servers", "", Some(BOB)), 200);
    assert_eq!(status(a, "POST", state, "drain", Some(BOB)), 403);
    assert_eq!(status(a, "POST", state, "drain", Some(ALICE)), 200);
    // The token is not a user: it may do everything.
    let (code, _) = admin(a, "POST", state, "ready", Some("0123456789abcdef-token"));
    assert_eq!(code, 200);
}

#[test]
fn check_wants_the_userlist_and_known_groups() {
    for (global, want) in [
        (
            "admin_write_groups = [\"admin\"]",
            "admin_write_groups needs global.admin_userlist",
        ),
        (
            "admin_userlist = \"ops\"\nadmin_write_groups = [\"root\"]",
            "no user of userlist \"ops\" is in group \"root\"",
        ),
    ] {
        let text = format!(
            "[global]\n{global}\n[[userlist]]\nname = \"ops\"\n[[userlist.user]]\nname = \"alice\"\ninsecure_password = \"s3cret\"\ngroups = [\"admin\"]\n\
             [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\ndefault_backend = \"b\"\n[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:9\"\n"
        );
        let cfg = TempConfig::new(&text);
        let out = std::process::Command::new(BIN)
            .args(["check", "-c"])
            .arg(&cfg.0)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{err}");
    }
}
