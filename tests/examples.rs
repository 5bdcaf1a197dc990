//! The examples in configs/ do what their comments say, run against local backends.

mod common;

use common::http::Client;
use common::switch::Switch;
use common::Ringlb;

fn example(name: &str) -> String {
    let path = format!("{}/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn tcp_example_sends_traffic_to_the_backup_once_the_primary_is_down() {
    let (pg1, pg2) = (Switch::start("pg1"), Switch::start("pg2"));
    let text = example("tcp.toml")
        .replace("127.0.0.1:6432", "127.0.0.1:0")
        .replace("127.0.0.1:5432", &pg1.addr.to_string())
        .replace("127.0.0.1:5433", &pg2.addr.to_string())
        .replace("interval = \"2s\"", "interval = \"100ms\"");
    let mut r = Ringlb::start(&text);
    // (The backends speak HTTP, which a TCP frontend carries as bytes.)
    let (status, _, body) = Client::connect(r.addr()).get("/q");
    assert_eq!((status, body.as_slice()), (200, &b"pg1 /q"[..]));
    pg1.stop();
    r.wait_for("pg/pg1 DOWN");
    let (status, _, body) = Client::connect(r.addr()).get("/q");
    assert_eq!((status, body.as_slice()), (200, &b"pg2 /q"[..]));
}
