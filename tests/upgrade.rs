//! Binary upgrade (`ringlb upgrade`, SIGUSR2): the running process starts the new
//! binary, hands it the very listening sockets, and drains once it is ready. Under
//! an open-loop load of 2,000 req/s, five upgrades in a row lose no request and
//! refuse no connection; a new process that cannot start, exits, or reads an invalid
//! file leaves the old one serving; operators' server states carry over; systemd
//! hears MAINPID= and READY=1; a process running as `global.user` upgrades too.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::http::Backend;
use common::*;

/// A ringlb that may have been replaced: the process that serves now is killed when
/// the test ends (the first one is the `Ringlb`'s child; later ones are not).
struct Serving {
    rl: Ringlb,
    socket: PathBuf,
    pid: u32,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.pid != self.rl.child.id() {
            unsafe { libc::kill(self.pid as i32, libc::SIGKILL) };
        }
        // And any generation the test did not hear of (an answer that never came).
        for pid in running_with(self.rl.config_path()) {
            if pid != self.rl.child.id() {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The processes whose command line names `config` (every generation runs `-c` it).
fn running_with(config: &Path) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let want = config.as_os_str().as_encoded_bytes();
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        cmdline.split(|&b| b == 0).any(|a| a == want).then_some(pid)
    })
    .collect()
}

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-upgrade-{}-{tag}.sock", std::process::id()))
}

/// HTTP mode, `workers` workers, two servers, the admin API and the upgrade socket.
fn config(workers: usize, backends: &[SocketAddr], socket: &Path, extra_global: &str) -> String {
    let mut s = format!(
        "[global]\nworkers = {workers}\npin_workers = false\ngrace_period = \"5s\"\n\
         admin_bind = \"127.0.0.1:0\"\nupgrade_socket = \"{}\"\n{extra_global}\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n",
        socket.display()
    );
    for (i, b) in backends.iter().enumerate() {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"s{i}\"\naddress = \"{b}\"\n"
        ));
    }
    s
}

fn start(workers: usize, backends: &[SocketAddr], tag: &str) -> Serving {
    let socket = socket_path(tag);
    let rl = Ringlb::start(&config(workers, backends, &socket, ""));
    let pid = rl.child.id();
    Serving { rl, socket, pid }
}

/// `ringlb upgrade --socket S [--binary B]`.
fn upgrade(socket: &Path, binary: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("upgrade").arg("--socket").arg(socket);
    if let Some(b) = binary {
        cmd.arg("--binary").arg(b);
    }
    cmd.stdin(Stdio::null())
        .output()
        .expect("run ringlb upgrade")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Serving {
    /// Upgrade to the same binary; the new process's pid.
    fn upgrade_ok(&mut self) -> u32 {
        let out = upgrade(&self.socket, None);
        let said = text(&out);
        assert!(
            out.status.success(),
            "upgrade failed: {said}\nlog:\n{}",
            self.rl.log.join("\n")
        );
        let pid = said
            .split("process ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {said:?}"));
        assert_ne!(pid, self.pid);
        self.pid = pid;
        pid
    }
}

/// One GET through the proxy on a new connection: its status, or what went wrong.
fn get(addr: SocketAddr) -> Result<u16, String> {
    get_from("127.0.0.1", addr)
}

/// [`get`] from source address `src` (any of 127.0.0.0/8).
fn get_from(src: &str, addr: SocketAddr) -> Result<u16, String> {
    use std::io::{Read, Write};
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| format!("socket: {e}"))?;
    let from: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&from.into()).map_err(|e| format!("bind: {e}"))?;
    sock.connect(&addr.into())
        .map_err(|e| format!("connect: {e}"))?;
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("read: {e} after {:?}", String::from_utf8_lossy(&out)))?;
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("no status in {text:?}"))
}

fn get_ok(addr: SocketAddr) {
    assert_eq!(get(addr), Ok(200));
}

impl Serving {
    /// [`get_ok`], with the log when it fails.
    fn get_ok(&mut self, addr: SocketAddr) {
        let got = get(addr);
        if got != Ok(200) {
            let _ = self.rl.logged("");
            panic!("GET: {got:?}; log:\n{}", self.rl.log.join("\n"));
        }
    }
}

/// The load generator, built next to the ringlb binary by `cargo test --workspace`
/// (or `cargo build -p loadtest`); skipped visibly when missing.
fn load_binary(test: &str) -> Option<PathBuf> {
    let path = Path::new(BIN).with_file_name("ringlb-load");
    if path.exists() {
        return Some(path);
    }
    let why = format!("{} is not built (cargo build -p loadtest)", path.display());
    if std::env::var("RINGLB_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and RINGLB_REQUIRE_TOOLS=1 forbids skipping");
    }
    say_skipped(test, &why);
    None
}

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

/// Under systemd (`$NOTIFY_SOCKET`) the old process names the new one the main
/// process and says it is ready; SIGUSR2 upgrades like `ringlb upgrade`.
#[test]
fn systemd_hears_the_new_main_pid_after_sigusr2() {
    let path = std::env::temp_dir().join(format!("ringlb-upgrade-notify-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let notify = UnixDatagram::bind(&path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let backend = Backend::start();
    let socket = socket_path("notify");
    let cfg = TempConfig::new(&config(1, &[backend.addr], &socket, ""));
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("-c")
        .arg(&cfg.0)
        .env("NOTIFY_SOCKET", &path);
    let mut rl = Ringlb::spawn(cmd, Some(cfg));
    rl.wait_for("ringlb ready");
    let old = rl.child.id();
    let mut s = Serving {
        rl,
        socket,
        pid: old,
    };
    s.rl.signal(libc::SIGUSR2);
    let line = s.rl.wait_for("took over; stopped accepting");
    let pid: u32 = line
        .split("process ")
        .nth(1)
        .and_then(|r| r.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line}"));
    s.pid = pid;
    let deadline = Instant::now() + PATIENCE;
    let mut heard = Vec::new();
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        if let Ok(n) = notify.recv(&mut buf) {
            heard.push(String::from_utf8_lossy(&buf[..n]).to_string());
            if heard
                .iter()
                .any(|h| h.starts_with(&format!("MAINPID={pid}\nREADY=1")))
            {
                break;
            }
        }
    }
    assert!(
        heard
            .iter()
            .any(|h| h.starts_with(&format!("MAINPID={pid}\nREADY=1"))),
        "{heard:?}"
    );
    // The new process did not claim readiness itself, and the old one went quiet.
    assert_eq!(
        heard.iter().filter(|h| h.contains("READY=1")).count(),
        2,
        "{heard:?}"
    );
    let a = s.rl.addr();
    s.get_ok(a);
    assert!(
        s.rl.wait_exit().success(),
        "the old process exits once drained"
    );
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(n) = notify.recv(&mut buf) {
        let h = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(!h.contains("STOPPING=1"), "the old process said {h:?}");
    }
    let a = s.rl.addr();
    s.get_ok(a);
    let _ = std::fs::remove_file(&path);
}

/// Started as root with `global.user = "nobody"` on a port below 1024: the
/// unprivileged process cannot bind that port again, and does not need to.
#[test]
fn a_process_running_as_nobody_hands_a_low_port_over() {
    if unsafe { libc::geteuid() } != 0 {
        common::netns::skip(
            "a_process_running_as_nobody_hands_a_low_port_over",
            "not root",
        );
        return;
    }
    let low = (600..1000)
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .find(|a| TcpListener::bind(a).is_ok())
        .expect("a free port below 1024");
    let backend = Backend::start();
    let socket = socket_path("nobody");
    let text = config(2, &[backend.addr], &socket, "user = \"nobody\"")
        .replace("127.0.0.1:0\"]", &format!("{low}\"]"));
    let rl = Ringlb::start(&text);
    let pid = rl.child.id();
    let mut s = Serving { rl, socket, pid };
    s.get_ok(low);
    let new = s.upgrade_ok();
    let uid = std::fs::read_to_string(format!("/proc/{new}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .to_string();
    assert!(!uid.split_whitespace().any(|u| u == "0"), "{uid}");
    for _ in 0..10 {
        s.get_ok(low);
    }
    s.upgrade_ok();
    s.get_ok(low);
}

/// The new file asks for fewer workers, then more: the surplus sockets of the group
/// are served (no connection waits in a socket nobody accepts from), and extra
/// workers bind their own. Many new connections, spread by the kernel's hash over
/// every socket of the group, are all answered.
#[test]
fn a_different_worker_count_serves_every_socket_of_the_group() {
    let backend = Backend::start();
    let mut s = start(2, &[backend.addr], "workers");
    let addr = s.rl.addr();
    let path = s.rl.config_path().to_path_buf();
    let text = std::fs::read_to_string(&path).unwrap();
    for workers in [1, 3, 2] {
        let now = std::fs::read_to_string(&path).unwrap();
        let line = now
            .lines()
            .find(|l| l.starts_with("workers = "))
            .unwrap()
            .to_string();
        std::fs::write(&path, now.replace(&line, &format!("workers = {workers}"))).unwrap();
        s.upgrade_ok();
        for _ in 0..40 {
            s.get_ok(addr);
        }
    }
    std::fs::write(&path, text).unwrap();
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

/// The epoll driver (`io_driver = "legacy"`) and `steering = "source"`: upgrades to
/// 3 workers, then 1, then 2 (the group's steering program attached again for its
/// size), each while a client keeps connecting from eight source addresses.
#[test]
fn legacy_driver_and_source_steering_across_worker_counts() {
    let backend = Backend::start();
    let socket = socket_path("steer");
    let text = config(2, &[backend.addr], &socket, "io_driver = \"legacy\"").replace(
        "mode = \"http\"\ndefault_backend",
        "mode = \"http\"\nsteering = \"source\"\ndefault_backend",
    );
    let rl = Ringlb::start(&text);
    let pid = rl.child.id();
    let mut s = Serving { rl, socket, pid };
    let addr = s.rl.addr();
    let path = s.rl.config_path().to_path_buf();
    for workers in [3, 1, 2] {
        let now = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            now.replace(
                now.lines().find(|l| l.starts_with("workers = ")).unwrap(),
                &format!("workers = {workers}"),
            ),
        )
        .unwrap();
        let client = std::thread::spawn(move || {
            for round in 0..10 {
                for i in 2..10 {
                    let got = get_from(&format!("127.0.0.{i}"), addr);
                    if got != Ok(200) {
                        return Err(format!("round {round}, source 127.0.0.{i}: {got:?}"));
                    }
                }
            }
            Ok(())
        });
        s.upgrade_ok();
        let done = client.join().unwrap();
        assert_eq!(done, Ok(()), "log:\n{}", s.rl.log.join("\n"));
        for i in 2..10 {
            assert_eq!(get_from(&format!("127.0.0.{i}"), addr), Ok(200));
        }
    }
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
    assert_eq!(
        tally_from("127.0.0.2", addr, 3),
        (3, 0),
        "its entry was dropped"
    );
}
