//! Translations of HAProxy's half-closed timeouts, TLS defaults and options.

use super::tests::{parsed, run};

/// A translation that must lose nothing: its text and its table.
fn complete(text: &str) -> (String, toml::Table) {
    let (toml, lost) = run(text);
    assert!(lost.is_empty(), "{lost:?}");
    let t = parsed(&toml);
    (toml, t)
}

#[test]
fn half_closed_timeouts_go_to_their_side() {
    let text = "defaults\n  mode tcp\n  timeout client 30s\n  timeout client-fin 5s\n  timeout server 30s\n  timeout server-fin 2s\nlisten db\n  bind :5432\n  server s 10.0.0.1:5432\n";
    let (toml, t) = complete(text);
    assert_eq!(
        t["frontend"][0]["timeout_client_fin"].as_str(),
        Some("5s"),
        "{toml}"
    );
    assert_eq!(
        t["backend"][0]["timeout_server_fin"].as_str(),
        Some("2s"),
        "{toml}"
    );
    assert!(
        t["frontend"][0].get("timeout_server_fin").is_none(),
        "{toml}"
    );
    // In HTTP mode it is carried, with where ringlb applies it said.
    let http = text.replace("mode tcp", "mode http");
    let (toml, t) = complete(&http);
    assert_eq!(
        t["frontend"][0]["timeout_client_fin"].as_str(),
        Some("5s"),
        "{toml}"
    );
    assert!(
        toml.contains("an HTTP exchange keeps timeout_client"),
        "{toml}"
    );
    // Not a time: reported.
    let (_, lost) = run("frontend f\n  bind :80\n  timeout client-fin soon\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n");
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].starts_with("h.cfg:3: timeout"), "{lost:?}");
}
