//! `ringlb check` on the layer-4 keys: `proxy_protocol`, `proxy_protocol_from`,
//! `route.sni`, `sni_fallback`, `send_proxy`. Every refusal names file, line and key.

mod common;

use std::process::Command;

use common::{TempConfig, BIN};
use ringlb::config::Config;

const BASE: &str = r#"[[frontend]]
name = "edge"
bind = ["127.0.0.1:8443"]
mode = "tcp"
default_backend = "app"

[[backend]]
name = "app"

[[backend.server]]
name = "a1"
address = "127.0.0.1:9001"
"#;

fn with_frontend(keys: &str) -> String {
    BASE.replace(
        "default_backend = \"app\"\n",
        &format!("default_backend = \"app\"\n{keys}\n"),
    )
}

fn errors(text: &str) -> String {
    match Config::parse(text, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn valid_layer4_keys_are_accepted() {
    let text = with_frontend(
        "proxy_protocol = \"any\"\nproxy_protocol_from = [\"10.0.0.0/8\", \"192.0.2.1\", \"2001:db8::/32\"]\n\
         sni_fallback = \"close\"\n[[frontend.route]]\nsni = \"A.example.com\"\nbackend = \"app\"\n\
         [[frontend.route]]\nsni = \"*.example.org\"\nbackend = \"app\"\n",
    )
    .replace("address = ", "send_proxy = \"v2\"\naddress = ");
    let c = Config::parse(&text, "t.toml").unwrap();
    let f = &c.frontends[0];
    assert!(f.proxy_protocol.is_some() && !f.sni_fallback_default && f.keeps_origin);
    assert_eq!(f.sni_routes.len(), 2);
    assert!(f.sni_routes[0].matches("a.example.com"));
    assert!(f.sni_routes[1].matches("x.example.org") && !f.sni_routes[1].matches("example.org"));
    assert_eq!(
        c.backends[0].servers[0].send_proxy,
        Some(ringlb::proxy_protocol::Version::V2)
    );
    // Backend-level send_proxy is inherited; a server may turn it off.
    let text = BASE
        .replace("name = \"app\"\n\n", "name = \"app\"\nsend_proxy = \"v1\"\n\n")
        .replace("address = \"127.0.0.1:9001\"", "address = \"127.0.0.1:9001\"\n\n[[backend.server]]\nname = \"a2\"\naddress = \"127.0.0.1:9002\"\nsend_proxy = \"none\"");
    let c = Config::parse(&text, "t.toml").unwrap();
    let sp: Vec<_> = c.backends[0].servers.iter().map(|s| s.send_proxy).collect();
    assert_eq!(sp, [Some(ringlb::proxy_protocol::Version::V1), None]);
}

#[test]
fn proxy_protocol_without_trusted_peers_is_refused() {
    let e = errors(&with_frontend("proxy_protocol = \"v2\""));
    assert!(
        e.contains("t.toml:6:18: frontend \"edge\": proxy_protocol needs proxy_protocol_from"),
        "{e}"
    );
    let e = errors(&with_frontend(
        "proxy_protocol = \"v2\"\nproxy_protocol_from = []",
    ));
    assert!(
        e.contains("t.toml:7:23: frontend \"edge\": proxy_protocol_from is empty"),
        "{e}"
    );
    let e = errors(&with_frontend("proxy_protocol_from = [\"10.0.0.1\"]"));
    assert!(
        e.contains("proxy_protocol_from is set but proxy_protocol is not"),
        "{e}"
    );
    let e = errors(&with_frontend(
        "proxy_protocol = \"v3\"\nproxy_protocol_from = [\"10.0.0.1\"]",
    ));
    assert!(
        e.contains("t.toml:6:18: frontend \"edge\": proxy_protocol \"v3\" is not \"v1\", \"v2\" or \"any\""),
        "{e}"
    );
    let e = errors(&with_frontend(
        "proxy_protocol = \"v1\"\nproxy_protocol_from = [\"10.0.0.0/33\", \"nonsense\"]",
    ));
    assert!(
        e.contains("t.toml:7:24: frontend \"edge\": proxy_protocol_from:"),
        "{e}"
    );
    assert!(
        e.contains("t.toml:7:39: frontend \"edge\": proxy_protocol_from:"),
        "{e}"
    );
}

#[test]
fn sni_routes_are_tcp_only_names_and_known_backends() {
    let route = |sni: &str, backend: &str| {
        format!("[[frontend.route]]\nsni = \"{sni}\"\nbackend = \"{backend}\"\n")
    };
    let e = errors(&with_frontend(&route("a b.example.com", "app")));
    assert!(
        e.contains("t.toml:7:7: frontend \"edge\": route sni \"a b.example.com\" must be a host name or \"*.domain\""),
        "{e}"
    );
    let e = errors(&with_frontend(&route("*.*.example.com", "app")));
    assert!(e.contains("must be a host name"), "{e}");
    let e = errors(&with_frontend(&route("a.example.com", "nope")));
    assert!(
        e.contains(
            "t.toml:8:11: frontend \"edge\": route backend \"nope\" is not a defined backend"
        ),
        "{e}"
    );
    let http =
        with_frontend(&route("a.example.com", "app")).replace("mode = \"tcp\"", "mode = \"http\"");
    let e = errors(&http);
    assert!(e.contains("route sni is for mode \"tcp\""), "{e}");
    let e = errors(&with_frontend(&format!(
        "{}host = \"x\"\n",
        route("a.example.com", "app")
    )));
    assert!(
        e.contains("a route with sni cannot also have host or path_prefix"),
        "{e}"
    );
    let e = errors(&with_frontend("sni_fallback = \"maybe\""));
    assert!(e.contains("t.toml:6:16: frontend \"edge\": sni_fallback \"maybe\" is not \"default\" or \"close\""), "{e}");
    let e = errors(&BASE.replace("address = ", "send_proxy = \"v3\"\naddress = "));
    assert!(
        e.contains("t.toml:12:14: backend \"app\" server \"a1\": send_proxy \"v3\" is not \"v1\", \"v2\" or \"none\""),
        "{e}"
    );
}

#[test]
fn ringlb_check_names_the_file_and_line() {
    let bad = TempConfig::new(&with_frontend("proxy_protocol = \"v2\""));
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&bad.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = bad.0.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:6:18: frontend \"edge\": proxy_protocol needs proxy_protocol_from"
        )),
        "{stderr}"
    );
}
