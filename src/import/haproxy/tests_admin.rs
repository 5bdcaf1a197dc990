//! The admin side: a stats listener, userlists and auth rules, the stats socket.

use super::tests::{parsed, run};

#[test]
fn stats_listener_becomes_admin_bind() {
    let text = "listen stats\n  bind 127.0.0.1:8404\n  mode http\n  stats enable\n  stats uri /stats\n  stats auth admin:secret\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    let t = parsed(&toml);
    assert_eq!(t["global"]["admin_bind"].as_str(), Some("127.0.0.1:8404"));
    assert_eq!(t["frontend"].as_array().unwrap().len(), 1);
    assert!(lost.is_empty(), "{lost:?}");
    // `stats auth` → a userlist the admin listener asks for.
    assert_eq!(t["global"]["admin_userlist"].as_str(), Some("stats_auth"));
    let list = &t["userlist"][0];
    assert_eq!(list["name"].as_str(), Some("stats_auth"));
    assert_eq!(list["user"][0]["name"].as_str(), Some("admin"));
    assert_eq!(
        list["user"][0]["insecure_password"].as_str(),
        Some("secret")
    );
}

#[test]
fn userlists_acls_and_auth_rules() {
    let text = "userlist admins\n  group ops users alice\n  group dev\n  user alice insecure-password s3cret\n  user bob password $6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1 groups dev\n  user old password $1$md5$abcdefgh\nfrontend f\n  bind :80\n  mode http\n  acl ok http_auth(admins)\n  acl devs http_auth_group(admins) dev\n  http-request auth realm \"Ops area\" if !ok\n  http-request auth if { path_beg /dev } !devs\n  default_backend b\nbackend b\n  mode http\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(
        lost[0].starts_with("h.cfg:6: user: not translated: only SHA-256 and SHA-512"),
        "{lost:?}"
    );
    let t = parsed(&toml);
    let users = t["userlist"][0]["user"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["groups"].as_array().unwrap().len(), 1);
    assert_eq!(users[1]["groups"][0].as_str(), Some("dev"));
    let fe = &t["frontend"][0];
    assert_eq!(
        fe["acl"][0]["http_auth"]["userlist"].as_str(),
        Some("admins")
    );
    assert_eq!(fe["acl"][1]["http_auth"]["groups"][0].as_str(), Some("dev"));
    let rules = fe["http_rule"].as_array().unwrap();
    assert_eq!(rules[0]["realm"].as_str(), Some("Ops area"));
    assert_eq!(
        rules[1]["realm"].as_str(),
        Some("f"),
        "HAProxy's default realm is the proxy's name"
    );
}

#[test]
fn stats_socket_becomes_the_admin_socket() {
    let text = "global\n  stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners user haproxy\n  stats socket /run/haproxy/second.sock\n  stats timeout 30s\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n";
    let (toml, lost) = run(text);
    let g = &parsed(&toml)["global"];
    assert_eq!(g["admin_socket"].as_str(), Some("/run/haproxy/admin.sock"));
    assert_eq!(g["admin_socket_mode"].as_str(), Some("660"));
    assert_eq!(g["admin_socket_level"].as_str(), Some("admin"));
    assert!(
        toml.contains("(differs: ringlb answers a subset of HAProxy's CLI"),
        "{toml}"
    );
    assert!(toml.contains("user/group/uid/gid not applied"), "{toml}");
    assert_eq!(lost, ["h.cfg:3: stats socket: not translated: ringlb opens one admin socket (the first stats socket line)"]);
    // Without level: HAProxy's default (operator) is ringlb's too, no key needed.
    let (toml, lost) = run(&text
        .replace(" mode 660 level admin expose-fd listeners user haproxy", "")
        .replace("  stats socket /run/haproxy/second.sock\n", ""));
    assert!(lost.is_empty(), "{lost:?}");
    assert!(parsed(&toml)["global"].get("admin_socket_level").is_none());
    let (_, lost) = run("global\n  stats socket /x.sock level root\n");
    assert_eq!(
        lost,
        ["h.cfg:2: stats socket: not translated: level \"root\" is not valid"]
    );
}
