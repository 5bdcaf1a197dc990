//! State carried over: server states (API and checks), rate-limit counters, tracking caps.

use super::*;

/// The operator put s0 in maintenance and gave s1 weight 7: the new process has both.
#[test]
fn server_states_set_through_the_api_carry_over() {
    let (b0, b1) = (Backend::start(), Backend::start());
    let mut s = start(2, &[b0.addr, b1.addr], "states");
    let admin_addr = s.rl.admin_addr();
    let (st, _) = admin(
        admin_addr,
        "POST",
        "/api/servers/app/s0/state",
        "maint",
        None,
    );
    assert_eq!(st, 200);
    let (st, _) = admin(admin_addr, "POST", "/api/servers/app/s1/weight", "7", None);
    assert_eq!(st, 200);
    let pid = s.upgrade_ok();
    s.rl.wait_for("server state carried over");
    // The admin API is served by the new process, on the same address.
    let (st, body) = admin(admin_addr, "GET", "/api/servers", "", None);
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(s.rl.logged(&format!("process {pid} took over")));
    let servers = find_servers(&v);
    let s0 = servers.iter().find(|x| x["name"] == "s0").expect("s0");
    let s1 = servers.iter().find(|x| x["name"] == "s1").expect("s1");
    assert_eq!(s0["admin"], "maint", "{body}");
    assert_eq!(s1["weight"], 7, "{body}");
    // Traffic only reaches s1.
    let before = b0.requests();
    for _ in 0..10 {
        get_ok(s.rl.addr());
    }
    assert_eq!(b0.requests(), before);
}

/// The servers of backend "app" in `/api/servers`.
fn find_servers(v: &serde_json::Value) -> Vec<serde_json::Value> {
    let backends = v["backends"].as_array().cloned().unwrap_or_default();
    backends
        .iter()
        .find(|b| b["name"] == "app")
        .and_then(|b| b["servers"].as_array().cloned())
        .unwrap_or_default()
}

/// A checked server that its checks hold down stays down in the new process until it
/// passes `rise` checks there, even if it came back meanwhile: a fresh start would
/// count it up at once.
#[test]
fn a_server_down_by_its_checks_stays_down_across_an_upgrade() {
    use socket2::{Domain, Socket, Type};
    // Bound but not listening: connects are refused, the check fails.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let dead: SocketAddr = sock.local_addr().unwrap().as_socket().unwrap();
    let socket = socket_path("down");
    let text = config(1, &[dead], &socket, "")
        .replace("name = \"s0\"", "name = \"s0\"\ncheck = true")
        .replace(
            "[[backend]]\nname = \"app\"\n",
            "[[backend]]\nname = \"app\"\n[backend.check]\ninterval = \"1h\"\nrise = 3\nfall = 1\n",
        );
    let rl = Ringlb::start(&text);
    let pid = rl.child.id();
    let mut s = Serving { rl, socket, pid };
    let admin_addr = s.rl.admin_addr();
    let oper = |addr| {
        let (_, body) = admin(addr, "GET", "/api/servers", "", None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let s0 = find_servers(&v)
            .into_iter()
            .find(|x| x["name"] == "s0")
            .unwrap();
        (
            s0["oper"].as_str().unwrap_or("").to_string(),
            s0["check"]["last_ok"].clone(),
        )
    };
    let deadline = Instant::now() + PATIENCE;
    while oper(admin_addr).0 != "down" {
        assert!(Instant::now() < deadline, "s0 never went down");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The server comes back; the old process would only see it at its next check.
    sock.listen(16).unwrap();
    s.upgrade_ok();
    s.rl.wait_for("server state carried over");
    // The new process's first check passes (one of `rise` = 3): still down.
    loop {
        let (state, last_ok) = oper(admin_addr);
        if last_ok == serde_json::Value::Bool(true) {
            assert_eq!(state, "down");
            break;
        }
        assert!(Instant::now() < deadline, "no check in the new process");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A rate limit of 20 requests a minute per client address, tracked at connection.
const RATE_LIMIT: &str = "\n[[frontend.tcp_rule]]\naction = \"track\"\ntable = \"per_ip\"\n\
    [[frontend.acl]]\nname = \"too_fast\"\n\
    counter = { table = \"per_ip\", name = \"http_req_rate\", above = 20 }\n\
    [[frontend.http_rule]]\naction = \"deny\"\nstatus = 429\nif = \"too_fast\"\n";

/// `n` GETs from `src`, each on a new connection: (allowed, refused with 429).
fn tally_from(src: &str, addr: SocketAddr, n: usize) -> (usize, usize) {
    let mut out = (0, 0);
    for _ in 0..n {
        match get_from(src, addr) {
            Ok(200) => out.0 += 1,
            Ok(429) => out.1 += 1,
            other => panic!("GET from {src}: {other:?}"),
        }
    }
    out
}

/// A ringlb with `workers` workers and the rate limit above on a `per_ip` table
/// (60 s period) in front of a backend (returned: it serves while kept); `global`
/// goes in `[global]`.
fn start_limited(workers: usize, tag: &str, global: &str) -> (Serving, Backend) {
    let backend = Backend::start();
    let socket = socket_path(tag);
    let tables = format!(
        "{global}

[[table]]
name = \"per_ip\"\nkey = \"src\"\nperiod = \"60s\"\n"
    );
    let text = config(workers, &[backend.addr], &socket, &tables).replace(
        "default_backend = \"app\"\n",
        &format!("default_backend = \"app\"\n{RATE_LIMIT}"),
    );
    let rl = Ringlb::start(&text);
    let pid = rl.child.id();
    (Serving { rl, socket, pid }, backend)
}

/// Tracking tables carry over: a client over its rate limit stays limited after an
/// upgrade, one under it keeps its count, and a new client is not limited; with the
/// same worker count and with another (each entry goes to the worker that source
/// steering sends its client to).
#[test]
fn a_client_over_its_rate_limit_stays_limited_across_upgrades() {
    let (mut s, _backend) = start_limited(2, "tables", "");
    let addr = s.rl.addr();
    let (ok, limited) = tally_from("127.0.0.2", addr, 26);
    assert!(
        (19..=21).contains(&ok) && ok + limited == 26,
        "{ok} allowed"
    );
    assert_eq!(tally_from("127.0.0.3", addr, 15), (15, 0));
    let path = s.rl.config_path().to_path_buf();
    for workers in [2, 3] {
        let now = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            now.replace("workers = 2", &format!("workers = {workers}")),
        )
        .unwrap();
        s.upgrade_ok();
        s.rl.wait_for("tracking-table entries from the old process dealt to the workers");
        assert_eq!(
            tally_from("127.0.0.2", addr, 3),
            (0, 3),
            "{workers} workers: the limited client is still limited"
        );
        // 15 (then 16) of its 20 already counted: a few more pass, not 20.
        let (ok, limited) = tally_from("127.0.0.3", addr, if workers == 2 { 1 } else { 10 });
        let want = if workers == 2 { (1, 0) } else { (4, 6) };
        assert!(
            ok.abs_diff(want.0) <= 1 && ok + limited == want.0 + want.1,
            "{workers} workers: ({ok}, {limited}), want about {want:?}"
        );
        assert_eq!(tally_from("127.0.0.4", addr, 1).0, 1, "a new client passes");
    }
}

/// `global.upgrade_table_entries` bounds what is carried: the most recently used
/// entry goes over, the others are dropped and logged (that client starts afresh).
#[test]
fn tracking_entries_beyond_the_cap_are_dropped_and_logged() {
    let (mut s, _backend) = start_limited(1, "tablecap", "upgrade_table_entries = 1");
    let addr = s.rl.addr();
    let (_, limited) = tally_from("127.0.0.2", addr, 26);
    assert!(limited >= 5, "{limited} refused");
    assert_eq!(tally_from("127.0.0.5", addr, 1), (1, 0));
    s.upgrade_ok();
    s.rl.wait_for("the least recently used are not carried over");
    assert!(s.rl.logged("dropped=1"), "{}", s.rl.log.join("\n"));
    // The old process's worker stops accepting when its release message arrives, a
    // moment after the upgrade is answered; a connection it took meanwhile would meet
    // the old table, where this client is still limited.
    s.rl.wait_logged("stopped accepting (handed over)");
    assert_eq!(
        tally_from("127.0.0.2", addr, 3),
        (3, 0),
        "its entry was dropped"
    );
}
