//! Health checks of servers that want the PROXY protocol (HAProxy's
//! `check-send-proxy`): nginx with a `proxy_protocol` listener refuses a bare probe,
//! so a check of a `send_proxy` server starts with a header (v1 `UNKNOWN`, v2
//! `LOCAL`: "use the connection's addresses"), unless `check_send_proxy = false`.

mod common;

use std::time::Instant;

use common::pp_peers::{self as peers};
use common::{admin, Ringlb, PATIENCE};

/// Each server's check result in `/api/servers`, once every one has had a check.
fn check_results(adm: std::net::SocketAddr, names: &[&str]) -> Vec<(String, bool)> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, body) = admin(adm, "GET", "/api/servers", "", None);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let servers = json["backends"][0]["servers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let got: Vec<(String, Option<bool>)> = servers
            .iter()
            .map(|s| {
                let name = s["name"].as_str().unwrap_or("").to_string();
                (name, s["check"]["last_ok"].as_bool())
            })
            .collect();
        if got.len() == names.len() && got.iter().all(|(_, ok)| ok.is_some()) {
            return got
                .into_iter()
                .map(|(n, ok)| (n, ok.unwrap_or(false)))
                .collect();
        }
        assert!(Instant::now() < deadline, "checks never ran: {body}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn checks_of_a_send_proxy_server_start_with_a_header_unless_told_not_to() {
    if !peers::have("checks_of_a_send_proxy_server", "/usr/sbin/nginx") {
        return;
    }
    let nginx = peers::nginx_proxy_protocol();
    let config = format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n\
         [backend.check]\nkind = \"http\"\ninterval = \"200ms\"\nrise = 1\nfall = 1\n\
         [[backend.server]]\nname = \"v1\"\naddress = \"{a}\"\ncheck = true\nsend_proxy = \"v1\"\n\
         [[backend.server]]\nname = \"v2\"\naddress = \"{a}\"\ncheck = true\nsend_proxy = \"v2\"\n\
         [[backend.server]]\nname = \"bare\"\naddress = \"{a}\"\ncheck = true\nsend_proxy = \"v2\"\ncheck_send_proxy = false\n\
         [[backend.server]]\nname = \"forced\"\naddress = \"{a}\"\ncheck = true\ncheck_send_proxy = true\n",
        a = nginx.addr
    );
    let r = Ringlb::start(&config);
    let mut got = check_results(r.admin_addr(), &["v1", "v2", "bare", "forced"]);
    got.sort();
    let want = [
        ("bare", false),
        ("forced", true),
        ("v1", true),
        ("v2", true),
    ];
    let got: Vec<(&str, bool)> = got.iter().map(|(n, ok)| (n.as_str(), *ok)).collect();
    assert_eq!(got, want);
}
