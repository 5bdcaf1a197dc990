//! Three ringlb nodes behind one ECMP router, in the network of tests/bgp.rs
//! (`tests/common/bird.rs`; the third node is host 5, 192.0.2.6): flows spread over
//! all three; a drained node (`POST /api/announce off`) leaves the other two to
//! share the new flows; with a `balance = "source"` backend (Maglev) every node
//! sends a client to the same server, so a client keeps its server whichever of
//! the three nodes the router's hash picks. Every answer names the node (its own
//! backend) or the server and the node that reached it. Root and `bird` only:
//! skipped with a reason elsewhere, a failure in CI (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::net::IpAddr;

use common::bird::{node_config, svc, Fabric, A, B, C, SVC};
use common::ecmp::tally;
use common::netns::Lan;

const ADDED: &str = "198.51.100.10 added to svc0";

#[test]
fn flows_spread_over_three_nodes_and_over_two_when_one_is_drained() {
    let test = "flows_spread_over_three_nodes_and_over_two_when_one_is_drained";
    let Some(f) = Fabric::with_nodes(test, 3, 0) else {
        return;
    };
    let _apps = f.local_backends();
    let mut nodes = f.announced(&node_config(&[svc()], ""), ADDED, &[IpAddr::V4(SVC)]);
    // 60 connections from 60 source ports: the L4 hash reaches every node.
    let n = tally(&f.ask(None, 60), &["a", "b", "c"]);
    assert!(n.iter().all(|&k| k > 0), "60 flows over A, B, C: {n:?}");

    // Drain C: its route goes, A and B share every new flow.
    let (code, text) = f.admin(C, "POST", "/api/announce", "off");
    assert_eq!(code, 200, "{text}");
    nodes[2].wait_for("operator switched announcing off");
    f.wait_route(&[A, B], "C was drained");
    let n = tally(&f.ask(None, 60), &["a", "b", "c"]);
    assert!(n[0] > 0 && n[1] > 0 && n[2] == 0, "60 flows: {n:?}");

    // Undrained: back to three.
    let (code, text) = f.admin(C, "POST", "/api/announce", "on");
    assert_eq!(code, 200, "{text}");
    f.wait_route(&[A, B, C], "C was undrained");
    let n = tally(&f.ask(None, 60), &["a", "b", "c"]);
    assert!(
        n.iter().all(|&k| k > 0),
        "60 flows over A, B, C again: {n:?}"
    );
}

#[test]
fn a_client_keeps_its_server_whichever_of_three_nodes_serves_it() {
    let test = "a_client_keeps_its_server_whichever_of_three_nodes_serves_it";
    let Some(f) = Fabric::with_nodes(test, 3, 0) else {
        return;
    };
    let (config, _servers) = f.source_hash_example();
    let _nodes = f.announced(&config, ADDED, &[IpAddr::V4(SVC)]);
    // Twelve client addresses, nine connections (nine source ports) each.
    let seen = f.stickiness(12, 9);
    let want: Vec<String> = [A, B, C].iter().map(|&h| Lan::ip(h).to_string()).collect();
    assert_eq!(seen.nodes, want, "every node served some client");
    assert!(
        seen.spread_clients > 0,
        "no client was spread over several nodes"
    );
    assert!(seen.servers > 1, "12 clients, one server");
}
