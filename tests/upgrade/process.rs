//! The new process: systemd's main PID, running as nobody, other worker counts and drivers.

use super::*;

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
