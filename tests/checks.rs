//! Health checks as production configurations write them, through the real binary:
//! a check port apart from the traffic port (Patroni), HTTP checks with method, host,
//! headers, status sets and a body substring, a check over TLS to a server whose
//! traffic is plain, and scripted tcp checks against a Redis-like server. Waits are on
//! log lines and on counts at the peers, never on sleeps.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::peers::{api_server, tcp_round_trips, FakeRedis, Role, StatusApi};
use common::tls::{CertDir, TlsBackend};
use common::{Echo, Ringlb};

/// Checks every 100 ms, one result decides (rise = fall = 1). Tests assert *which*
/// failure shows (or none): the timeout leaves a loaded machine seconds of margin, so
/// that a check that was merely slow never stands in for the failure under test.
const FAST: &str = "interval = \"100ms\"\nfast_interval = \"50ms\"\ndown_interval = \"100ms\"\ntimeout = \"2s\"\nrise = 1\nfall = 1";

/// A TCP frontend, backend "db" with `servers` (name, address, extra keys), one worker.
fn tcp_config(check: &str, servers: &[(&str, String, String)]) -> String {
    let mut s = format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"db\"\n\n\
         [[backend]]\nname = \"db\"\n[backend.check]\n{FAST}\n{check}\n"
    );
    for (name, addr, extra) in servers {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"{name}\"\naddress = \"{addr}\"\ncheck = true\n{extra}\n"
        ));
    }
    s
}

/// Patroni's REST API: 200 on `GET /primary` for the leader, 503 otherwise.
fn patroni(primary: Arc<AtomicBool>) -> impl Fn(&str) -> (u16, String) + Send + Sync {
    move |head: &str| {
        let leader = primary.load(Ordering::SeqCst);
        match (head.starts_with("GET /primary "), leader) {
            (true, true) => (200, "{\"role\": \"primary\"}".into()),
            _ => (503, "{\"role\": \"replica\"}".into()),
        }
    }
}

#[test]
fn patroni_pair_traffic_goes_to_the_primary_and_follows_a_switchover() {
    let (pg1, pg2) = (Echo::start(), Echo::start());
    let (p1, p2) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(false)),
    );
    let (api1, api2) = (
        StatusApi::start(patroni(p1.clone())),
        StatusApi::start(patroni(p2.clone())),
    );
    let text = tcp_config(
        "kind = \"http\"\npath = \"/primary\"\nexpect_status = 200",
        &[
            (
                "pg1",
                pg1.addr.to_string(),
                format!("check_port = {}", api1.addr.port()),
            ),
            (
                "pg2",
                pg2.addr.to_string(),
                format!("check_port = {}", api2.addr.port()),
            ),
        ],
    );
    let mut r = Ringlb::start(&text);
    let line = r.wait_for("db/pg2 DOWN");
    assert!(line.contains("HTTP status 503, expected 200"), "{line}");
    r.wait_applied(1, 1, "oper: Down");
    tcp_round_trips(r.addr(), 6);
    assert_eq!(
        (pg1.count(), pg2.count()),
        (6, 0),
        "traffic must go to the primary only"
    );
    // The checks went to the API port, not to the traffic port.
    assert!(
        api1.last_head().starts_with("GET /primary HTTP/1.1"),
        "{}",
        api1.last_head()
    );
    let s = api_server(r.admin_addr(), "pg1");
    assert_eq!(s["check"]["target"], api1.addr.to_string(), "{s}");

    // Switchover: pg2 is promoted, pg1 steps down.
    p1.store(false, Ordering::SeqCst);
    p2.store(true, Ordering::SeqCst);
    r.wait_for("db/pg1 DOWN");
    r.wait_logged("db/pg2 UP");
    r.wait_applied(1, 1, "oper: Up");
    r.wait_applied(1, 0, "oper: Down");
    tcp_round_trips(r.addr(), 4);
    assert_eq!(
        (pg1.count(), pg2.count()),
        (6, 4),
        "traffic must follow the new primary"
    );
}

#[test]
fn http_check_sends_method_host_headers_and_judges_status_and_body() {
    let traffic = Echo::start();
    let api = StatusApi::start(|_| (200, "{\"state\": \"running\", \"role\": \"master\"}".into()));
    let check = format!(
        "kind = \"http\"\nmethod = \"OPTIONS\"\npath = \"/status?x=1\"\nhost = \"db.example\"\n\
         headers = [\"X-Check: ringlb\", \"Accept: application/json\"]\nexpect_status = \"200-299\"\n\
         expect_body = \"\\\"state\\\": \\\"running\\\"\"\nport = {}",
        api.addr.port()
    );
    let mut r = Ringlb::start(&tcp_config(
        &check,
        &[("a", traffic.addr.to_string(), String::new())],
    ));
    api.wait_more(2);
    let head = api.last_head();
    assert!(
        head.starts_with("OPTIONS /status?x=1 HTTP/1.1\r\n"),
        "{head}"
    );
    for want in [
        "host: db.example\r\n",
        "X-Check: ringlb\r\n",
        "Accept: application/json\r\n",
        "connection: close\r\n",
    ] {
        assert!(head.contains(want), "{want:?} not in {head:?}");
    }
    assert!(!r.logged("DOWN"), "{:?}", r.log);
    // The body no longer says running: down, and the log says why.
    api.set(|_| (200, "{\"state\": \"stopped\"}".into()));
    let line = r.wait_for("db/a DOWN");
    assert!(
        line.contains("does not contain \"\\\"state\\\": \\\"running\\\"\""),
        "{line}"
    );
    api.set(|_| (200, "{\"state\": \"running\"}".into()));
    r.wait_for("db/a UP");
    // A status outside the range fails even with the right body.
    api.set(|_| (302, "{\"state\": \"running\"}".into()));
    let line = r.wait_for("db/a DOWN");
    assert!(line.contains("HTTP status 302, expected 200-299"), "{line}");
    let s = api_server(r.admin_addr(), "a");
    assert_eq!(s["check"]["last_ok"], false, "{s}");
    assert_eq!(s["state"], "DOWN", "{s}");
}

#[test]
fn status_sets_ranges_and_the_default_of_any_2xx_or_3xx() {
    let traffic = Echo::start();
    let api = StatusApi::start(|_| (404, String::new()));
    let check = format!(
        "kind = \"http\"\npath = \"/h\"\nexpect_status = [\"200-204\", 404]\nport = {}",
        api.addr.port()
    );
    let mut r = Ringlb::start(&tcp_config(
        &check,
        &[("a", traffic.addr.to_string(), String::new())],
    ));
    api.wait_more(3);
    assert!(!r.logged("DOWN"), "404 is in the set: {:?}", r.log);
    api.set(|_| (205, String::new()));
    let line = r.wait_for("db/a DOWN");
    assert!(
        line.contains("HTTP status 205, expected 200-204,404"),
        "{line}"
    );
    drop(r);

    // Without expect_status: any 2xx or 3xx, like a bare `option httpchk`.
    api.set(|_| (302, String::new()));
    let check = format!("kind = \"http\"\nport = {}", api.addr.port());
    let mut r = Ringlb::start(&tcp_config(
        &check,
        &[("a", traffic.addr.to_string(), String::new())],
    ));
    api.wait_more(3);
    assert!(!r.logged("DOWN"), "302 is a 3xx: {:?}", r.log);
    api.set(|_| (400, String::new()));
    let line = r.wait_for("db/a DOWN");
    assert!(line.contains("HTTP status 400, expected 200-399"), "{line}");
}

#[test]
fn check_over_tls_on_a_tcp_server_whose_traffic_is_plain() {
    let dir = CertDir::new();
    dir.write("check", &["check.test"]);
    let tls = TlsBackend::start(&dir, "check");
    let traffic = Echo::start();
    let ca = dir.0.join("check.pem");
    let check = format!(
        "kind = \"http\"\npath = \"/ready\"\ntls = true\nsni = \"check.test\"\nca_file = \"{}\"\nport = {}",
        ca.display(),
        tls.addr.port()
    );
    let mut r = Ringlb::start(&tcp_config(
        &check,
        &[("a", traffic.addr.to_string(), String::new())],
    ));
    tls.wait_requests(2);
    assert_eq!(tls.sni.lock().unwrap().as_deref(), Some("check.test"));
    assert!(!r.logged("DOWN"), "{:?}", r.log);
    let s = api_server(r.admin_addr(), "a");
    assert_eq!(
        (s["check"]["tls"].clone(), s["check"]["last_ok"].clone()),
        (true.into(), true.into()),
        "{s}"
    );
    // The traffic itself stays plain.
    tcp_round_trips(r.addr(), 2);
    assert_eq!(traffic.count(), 2);
    drop(r);

    // A name the certificate does not carry fails the check (verification is on).
    let wrong = check.replace("sni = \"check.test\"", "sni = \"other.test\"");
    let mut r = Ringlb::start(&tcp_config(
        &wrong,
        &[("a", traffic.addr.to_string(), String::new())],
    ));
    let line = r.wait_for("db/a DOWN");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}

#[test]
fn scripted_check_against_a_redis_like_server() {
    let (m, s) = (
        FakeRedis::start(Role::Master),
        FakeRedis::start(Role::Slave),
    );
    let script = "[[backend.check.step]]\nsend = \"PING\\r\\n\"\n[[backend.check.step]]\nexpect = \"+PONG\"\n\
                  [[backend.check.step]]\nsend = \"INFO replication\\r\\n\"\n[[backend.check.step]]\nexpect_regex = \"role:master\\\\b\"";
    let text = tcp_config(
        script,
        &[
            ("m", m.addr.to_string(), String::new()),
            ("s", s.addr.to_string(), String::new()),
        ],
    );
    let mut r = Ringlb::start(&text);
    let line = r.wait_for("db/s DOWN");
    assert!(
        line.contains("step 4 expect_regex \"role:master\\\\b\": got \"role:slave\""),
        "{line}"
    );
    assert!(!r.logged("db/m DOWN"), "{:?}", r.log);
    let api = api_server(r.admin_addr(), "s");
    assert!(
        api["check"]["last_detail"]
            .as_str()
            .unwrap()
            .starts_with("step 4"),
        "{api}"
    );
    assert_eq!(api["check"]["kind"], "script");
    // A server that stops answering fails at the step that waited, within the timeout:
    // the PING's (step 2), or, for a check that had its PONG just before the server
    // went mute, the INFO's (step 4, which has only the PONG's line end to look at).
    m.set(Role::Mute);
    let line = r.wait_for("db/m DOWN");
    assert!(
        line.contains("step 2 expect \"+PONG\": nothing received within 2s")
            || line.contains(
                "step 4 expect_regex \"role:master\\\\b\": got \"\\r\\n\" (no match within 2s)"
            ),
        "{line}"
    );
    // Promotion brings the other one up.
    s.set(Role::Master);
    r.wait_for("db/s UP");
}

#[test]
fn a_reload_moves_the_check_target_and_an_agent_removed_lets_go_of_the_server() {
    let traffic = Echo::start();
    let (bad, good) = (
        StatusApi::start(|_| (503, String::new())),
        StatusApi::start(|_| (200, String::new())),
    );
    let agent = common::peers::AgentPeer::start("stopped # hold\n");
    let server = |api: &StatusApi, agent_keys: &str| {
        tcp_config(
            "kind = \"http\"",
            &[(
                "a",
                traffic.addr.to_string(),
                format!("check_port = {}\n{agent_keys}", api.addr.port()),
            )],
        )
    };
    let mut r = Ringlb::start(&server(&bad, ""));
    r.wait_logged("db/a DOWN");
    std::fs::write(r.config_path(), server(&good, "")).unwrap();
    r.reload_and_wait();
    // (The check may pass before the reload's last line: count, do not wait for a new one.)
    r.wait_count(&["db/a UP"], 1);
    assert_eq!(
        api_server(r.admin_addr(), "a")["check"]["target"],
        good.addr.to_string()
    );

    // An agent added by a reload holds the server down; removed, it lets go.
    let with_agent = format!(
        "agent_check = true\nagent_port = {}\nagent_interval = \"100ms\"",
        agent.addr.port()
    );
    std::fs::write(r.config_path(), server(&good, &with_agent)).unwrap();
    r.reload_and_wait();
    r.wait_count(&["db/a DOWN", "agent says \"stopped\""], 1);
    std::fs::write(r.config_path(), server(&good, "")).unwrap();
    r.reload_and_wait();
    assert_eq!(api_server(r.admin_addr(), "a")["state"], "UP");
    tcp_round_trips(r.addr(), 1);
    assert_eq!(traffic.count(), 1);
}

/// A real `redis-server` on a free loopback port, killed on drop.
struct Redis(std::process::Child, std::net::SocketAddr);

impl Redis {
    fn start(extra: &[&str]) -> Redis {
        let addr = common::closed_port();
        let port = addr.port().to_string();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dir", &std::env::temp_dir().display().to_string()])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let r = Redis(child, addr);
        assert_eq!(r.command("PING"), "+PONG\r\n");
        r
    }

    /// Send one inline command (retrying the connect until the server listens) and
    /// return the first line of the answer.
    fn command(&self, cmd: &str) -> String {
        use std::io::{BufRead, BufReader, Write};
        let deadline = std::time::Instant::now() + common::PATIENCE;
        let stream = loop {
            match std::net::TcpStream::connect(self.1) {
                Ok(s) => break s,
                Err(e) => assert!(std::time::Instant::now() < deadline, "redis: {e}"),
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
        (&stream)
            .write_all(format!("{cmd}\r\n").as_bytes())
            .unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        line
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn real_redis_primary_passes_the_script_and_a_replica_fails_until_promoted() {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "redis-server is required"
        );
        common::say_skipped(
            "real_redis",
            "redis-server not installed (RINGLB_REQUIRE_TOOLS=1 makes this a failure)",
        );
        return;
    }
    let primary = Redis::start(&[]);
    let primary_port = primary.1.port().to_string();
    let replica = Redis::start(&["--replicaof", "127.0.0.1", &primary_port]);
    let script = "[[backend.check.step]]\nsend = \"PING\\r\\n\"\n[[backend.check.step]]\nexpect = \"+PONG\"\n\
                  [[backend.check.step]]\nsend = \"INFO replication\\r\\n\"\n[[backend.check.step]]\nexpect_regex = \"role:master\\\\b\"";
    let text = tcp_config(
        script,
        &[
            ("primary", primary.1.to_string(), String::new()),
            ("replica", replica.1.to_string(), String::new()),
        ],
    );
    let mut r = Ringlb::start(&text);
    let line = r.wait_for("db/replica DOWN");
    assert!(
        line.contains("step 4 expect_regex \"role:master\\\\b\": got \"role:slave\""),
        "{line}"
    );
    assert!(!r.logged("db/primary DOWN"), "{:?}", r.log);
    assert_eq!(replica.command("REPLICAOF NO ONE"), "+OK\r\n");
    r.wait_for("db/replica UP");
    assert!(!r.logged("db/primary DOWN"), "{:?}", r.log);
}
