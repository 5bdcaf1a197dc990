//! The hand-over itself: under load, back to back, at the hand-over, on a kept-alive connection, and the failures that leave the old process serving.

use super::*;

/// 2,000 requests per second in open loop for 10 s (after 1 s of warm-up) while the
/// proxy is upgraded five times: no error of any kind.
#[test]
fn five_upgrades_under_load_lose_nothing() {
    let Some(load) = load_binary("five_upgrades_under_load_lose_nothing") else {
        return;
    };
    let backend = Backend::start();
    let mut s = start(2, &[backend.addr], "load");
    let addr = s.rl.addr();
    let child = Command::new(&load)
        .arg("run")
        .arg(format!("http://{addr}/"))
        .args(["--rate", "2000", "-c", "50", "-d", "10s", "--warmup", "1s"])
        .args(["--timeout", "2s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringlb-load");
    std::thread::sleep(Duration::from_secs(2));
    let mut pids = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        pids.push(s.upgrade_ok());
        // Spread the five over the measured window.
        std::thread::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed()));
    }
    let out = child.wait_with_output().expect("ringlb-load");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "ringlb-load failed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&report).expect("ringlb-load --json");
    eprintln!("five upgrades under load (pids {pids:?}): {report}");
    let requests = v["requests"].as_u64().unwrap();
    let errors = &v["errors"];
    for kind in ["connect", "timeout", "status_5xx", "other"] {
        assert_eq!(errors[kind].as_u64(), Some(0), "{kind} errors: {report}");
    }
    // Open loop at 2,000/s for 10 s: a proxy that stalled would fall well short.
    assert!(
        requests >= 18_000,
        "only {requests} requests answered: {report}"
    );
    get_ok(addr);
}

/// A file that no longer validates: the new process refuses, says why, and the old
/// one keeps serving (and can still upgrade once the file is fixed).
#[test]
fn an_invalid_file_keeps_the_old_process_serving() {
    let backend = Backend::start();
    let mut s = start(1, &[backend.addr], "invalid");
    let addr = s.rl.addr();
    let good = std::fs::read_to_string(s.rl.config_path()).unwrap();
    std::fs::write(
        s.rl.config_path(),
        good.replace("workers = 1", "workers = \"many\""),
    )
    .unwrap();
    let out = upgrade(&s.socket, None);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("invalid") && said.contains("workers"),
        "{said}"
    );
    s.rl.wait_for("upgrade failed, this process keeps serving");
    s.get_ok(addr);
    std::fs::write(s.rl.config_path(), good).unwrap();
    s.upgrade_ok();
    s.get_ok(addr);
}

/// A binary that does not exist, and one that exits at once (before it is ready):
/// the old process keeps accepting.
#[test]
fn a_binary_that_cannot_take_over_leaves_the_old_one_serving() {
    let backend = Backend::start();
    let mut s = start(2, &[backend.addr], "binary");
    let addr = s.rl.addr();
    let out = upgrade(&s.socket, Some("/nonexistent/ringlb"));
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("cannot start"),
        "{said}"
    );
    s.get_ok(addr);
    let out = upgrade(&s.socket, Some("/bin/false"));
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("exited before it was ready"),
        "{said}"
    );
    for _ in 0..20 {
        s.get_ok(addr);
    }
    // Nothing is left half-done: the next upgrade works.
    s.upgrade_ok();
    s.get_ok(addr);
}

/// The new process receives the sockets but cannot serve (a new address in the file
/// is taken by another process): it says why, and the old one, whose sockets it
/// held for a moment, keeps serving on all of them.
#[test]
fn a_new_process_that_cannot_bind_leaves_the_old_one_serving() {
    let backend = Backend::start();
    let mut s = start(2, &[backend.addr], "bind");
    let addr = s.rl.addr();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let path = s.rl.config_path().to_path_buf();
    let good = std::fs::read_to_string(&path).unwrap();
    let bad = good.replace(
        "bind = [\"127.0.0.1:0\"]",
        &format!("bind = [\"127.0.0.1:0\", \"{busy}\"]"),
    );
    std::fs::write(&path, bad).unwrap();
    let out = upgrade(&s.socket, None);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&busy.to_string()) && said.contains("in use"),
        "{said}"
    );
    for _ in 0..20 {
        s.get_ok(addr);
    }
    std::fs::write(&path, good).unwrap();
    s.upgrade_ok();
    s.get_ok(addr);
}

/// A lone connection made as the old process lets go is answered (no later
/// connection comes to wake anyone up): ten times in a row.
#[test]
fn a_connection_right_at_the_handover_is_answered() {
    let backend = Backend::start();
    let mut s = start(2, &[backend.addr], "lone");
    let addr = s.rl.addr();
    for _ in 0..10 {
        let client = std::thread::spawn(move || {
            (0..20)
                .map(|_| get(addr))
                .find(|r| *r != Ok(200))
                .unwrap_or(Ok(200))
        });
        s.upgrade_ok();
        let got = client.join().unwrap();
        assert_eq!(got, Ok(200), "log:\n{}", s.rl.log.join("\n"));
        s.get_ok(addr);
    }
}

/// `ringlb upgrade` right after the previous one reported success, and a second one
/// sent while the first is under way: every caller hears an answer and every upgrade
/// takes over. The old process has no connection to drain and exits at once, so its
/// answer must be written before it is gone; and a caller must not reach a new
/// process that is not ready yet. Ten rounds, twenty upgrades.
#[test]
fn upgrades_back_to_back_are_all_answered() {
    let backend = Backend::start();
    let mut s = start(1, &[backend.addr], "burst");
    let addr = s.rl.addr();
    let (mut took, mut drained) = (Vec::new(), Vec::new());
    for round in 0..10 {
        let socket = s.socket.clone();
        let second = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(round % 5));
            upgrade(&socket, None)
        });
        let first = upgrade(&s.socket, None);
        for out in [first, second.join().unwrap()] {
            let said = text(&out);
            if !out.status.success() {
                let _ = s.rl.logged("");
                panic!("round {round}: {said}\nlog:\n{}", s.rl.log.join("\n"));
            }
            // "process P took over; process Q drains its connections ..."
            let pids: Vec<u32> = said
                .split("process ")
                .skip(1)
                .filter_map(|r| {
                    r.split_whitespace()
                        .next()?
                        .trim_end_matches(';')
                        .parse()
                        .ok()
                })
                .collect();
            assert_eq!(pids.len(), 2, "{said}");
            took.push(pids[0]);
            drained.push(pids[1]);
        }
    }
    // One chain: each process took over once, and all but the last drained.
    let last: Vec<u32> = took
        .iter()
        .copied()
        .filter(|p| !drained.contains(p))
        .collect();
    assert_eq!(last.len(), 1, "took over: {took:?}, drained: {drained:?}");
    s.pid = last[0];
    s.get_ok(addr);
}

/// A keep-alive connection idle on the old process when it lets go is not closed
/// under its client: its next request is answered, with `connection: close`. A first
/// SIGTERM to the draining process changes nothing.
#[test]
fn an_idle_keep_alive_connection_gets_its_next_answer_from_the_old_process() {
    let backend = Backend::start();
    let mut s = start(1, &[backend.addr], "idle");
    let addr = s.rl.addr();
    let mut idle = common::http::Client::connect(addr);
    let (status, head, _) = idle.get("/");
    assert_eq!(status, 200);
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    s.upgrade_ok();
    s.rl.signal(libc::SIGTERM);
    s.rl.wait_for("already draining after an upgrade");
    assert!(
        s.rl.child.try_wait().unwrap().is_none(),
        "the old process left"
    );
    let (status, head, _) = idle.get("/");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(s.rl.wait_exit().success());
    s.get_ok(addr);
}
