//! The commands: the Ansible set, levels and prompt, disable health/agent, set server addr.

use std::net::SocketAddr;

use super::*;

#[test]
fn ansible_commands_move_traffic() {
    if !tool_installed("ansible_commands_move_traffic", "socat") {
        return;
    }
    let (r, a, b, path) = start("ansible", "admin");
    let front = r.addr();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    stat_has_every_row(&path);
    maint_then_ready(&path, front);
    weights(&path, front);
    drain(&path, front, &a, &b);
    counters(&path, &a, &b);
    errors_and_info(&path, &r);
}

/// `show stat`: the header, a FRONTEND row, a row per server, a BACKEND row.
fn stat_has_every_row(path: &Path) {
    let stat = socat(path, "show stat\n");
    let lines: Vec<&str> = stat.lines().collect();
    assert!(
        lines[0].starts_with("# pxname,svname,qcur,qmax,scur,"),
        "{stat}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("web,FRONTEND,")),
        "{stat}"
    );
    assert!(lines.iter().any(|l| l.starts_with("app,a,")), "{stat}");
    assert!(
        lines.iter().any(|l| l.starts_with("app,BACKEND,")),
        "{stat}"
    );
    assert!(
        stat.ends_with("\n\n"),
        "an answer ends with a blank line: {stat:?}"
    );
}

/// Ansible's `state: disabled` (maint), then `enabled`.
fn maint_then_ready(path: &Path, front: SocketAddr) {
    assert_eq!(socat(path, "disable server app/a\n"), "\n");
    assert_eq!(spread(front, 8).get("b"), Some(&8));
    let stat = socat(path, "show stat\n");
    let row = stat.lines().find(|l| l.starts_with("app,a,")).unwrap();
    assert_eq!(row.split(',').nth(17), Some("MAINT"), "{row}");
    assert_eq!(socat(path, "enable server app/a\n"), "\n");
    let seen = spread(front, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );
}

/// Ansible's `weight:`: 0 takes no new traffic; `get weight` reads it back.
fn weights(path: &Path, front: SocketAddr) {
    assert_eq!(socat(path, "set weight app/a 0\n"), "\n");
    assert_eq!(socat(path, "get weight app/a\n"), "0 (initial 1)\n\n");
    assert_eq!(spread(front, 6).get("b"), Some(&6));
    assert_eq!(socat(path, "set server app/a weight 100%\n"), "\n");
    assert_eq!(
        socat(path, "get weight app/a; get weight app/b\n"),
        "1 (initial 1)\n\n1 (initial 1)\n\n"
    );
    let seen = spread(front, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );
}

/// Drain through `set server`, and the state file's view of it.
fn drain(path: &Path, front: SocketAddr, a: &Switch, b: &Switch) {
    assert_eq!(socat(path, "set server app/b state drain\n"), "\n");
    assert_eq!(spread(front, 4).get("a"), Some(&4));
    let state = socat(path, "show servers state app\n");
    assert!(
        state.starts_with("1\n# be_id be_name srv_id srv_name"),
        "{state}"
    );
    assert!(state.contains(" app 2 b 127.0.0.1 2 8 1 1 "), "{state}");
    assert!(a.requests() > 0 && b.requests() > 0);
}

/// The counters are the workers' (34 requests so far, all answered 200).
fn counters(path: &Path, a: &Switch, b: &Switch) {
    let stat = socat(path, "show stat\n");
    let col = |row: &str, name: &str| -> String {
        let header = stat.lines().next().unwrap().trim_start_matches("# ");
        let i = header.split(',').position(|c| c == name).unwrap();
        row.split(',').nth(i).unwrap().to_string()
    };
    let fe = stat
        .lines()
        .find(|l| l.starts_with("web,FRONTEND,"))
        .unwrap();
    assert_eq!(
        (col(fe, "req_tot"), col(fe, "hrsp_2xx")),
        ("34".into(), "34".into()),
        "{fe}"
    );
    let be = stat
        .lines()
        .find(|l| l.starts_with("app,BACKEND,"))
        .unwrap();
    assert_eq!(col(be, "hrsp_2xx"), "34", "{be}");
    let sa = stat.lines().find(|l| l.starts_with("app,a,")).unwrap();
    let sb = stat.lines().find(|l| l.starts_with("app,b,")).unwrap();
    let lbtot = |r: &str| col(r, "lbtot").parse::<usize>().unwrap();
    assert_eq!(
        (lbtot(sa), lbtot(sb)),
        (a.requests(), b.requests()),
        "{sa}\n{sb}"
    );
    assert_eq!(
        (col(sb, "status"), col(sb, "addr")),
        ("DRAIN".into(), b.addr.to_string())
    );
}

/// Errors in HAProxy's words (nothing changed); `help`, `show info`, `show backend`.
fn errors_and_info(path: &Path, r: &Ringlb) {
    assert_eq!(
        socat(path, "disable server app/zz\n"),
        "No such server.\n\n"
    );
    assert_eq!(socat(path, "set weight nope/a 1\n"), "No such backend.\n\n");
    assert_eq!(
        socat(path, "set weight app/a 300\n"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert!(socat(path, "frobnicate\n").starts_with("Unknown command"));
    assert!(socat(path, "help\n").contains("show servers state"));
    let info = socat(path, "show info\n");
    assert!(info.starts_with("Name: ringlb\nVersion: "), "{info}");
    assert!(info.contains(&format!("Pid: {}\n", r.child.id())), "{info}");
    assert_eq!(socat(path, "show backend\n"), "# name\napp\n\n");
}

#[test]
fn levels_prompt_and_removal_at_exit() {
    if !tool_installed("levels_prompt_and_removal_at_exit", "socat") {
        return;
    }
    let (mut r, _a, _b, path) = start("levels/in-a-new-dir", "operator");
    assert_eq!(
        socat(&path, "disable server app/a\n"),
        "Permission denied\n\n"
    );
    assert_eq!(socat(&path, "show cli level\n"), "operator\n\n");
    assert_eq!(
        socat(&path, "disable health app/a; enable agent app/a\n"),
        "Permission denied\n\nPermission denied\n\n"
    );
    // A session lowers its own level, never raises it.
    assert_eq!(socat(&path, "user; show cli level\n"), "\nuser\n\n");
    assert!(socat(&path, "get weight app/a\n").starts_with("1 (initial 1)"));

    let out = socat(&path, "prompt\nshow cli level\nget weight app/b\nquit\n");
    assert_eq!(out, "\n> operator\n\n> 1 (initial 1)\n\n> ");

    r.signal(libc::SIGTERM);
    r.wait_exit();
    assert!(!path.exists(), "the socket file is removed at exit");
    let _ = std::fs::remove_dir(path.parent().unwrap());
}

#[test]
fn disable_health_and_agent_freeze_the_state() {
    if !tool_installed("disable_health_and_agent_freeze_the_state", "socat") {
        return;
    }
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let agent = AgentPeer::start("up\n");
    let path = socket_path("health");
    let mut r = Ringlb::start(&checked_config(&a, &b, agent.addr.port(), &path));
    let front = r.addr();
    b.wait_probes(2);

    // b fails its check and goes down; with its check stopped it stays down, even
    // once it would pass, and takes no traffic.
    b.set_health(503);
    r.wait_for("app/b DOWN");
    assert_eq!(socat(&path, "disable health app/b\n"), "\n");
    b.set_health(200);
    let probed = b.probes();
    a.wait_probes(a.probes() + 5);
    assert!(
        b.probes() <= probed + 1,
        "b probed while its check is stopped"
    );
    assert_eq!(status_of(&path, "b"), "DOWN");
    assert_eq!(spread(front, 6).get("a"), Some(&6));
    assert_eq!(socat(&path, "enable health app/b\n"), "\n");
    r.wait_for("app/b UP");
    let seen = spread(front, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );

    // a, up, with its check stopped: HAProxy's `no check`, and it keeps its traffic
    // while it fails; resumed, the check takes it down.
    assert_eq!(socat(&path, "disable health app/a\n"), "\n");
    assert_eq!(status_of(&path, "a"), "no check");
    a.set_health(503);
    b.wait_probes(b.probes() + 5);
    let seen = spread(front, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );
    assert_eq!(socat(&path, "enable health app/a\n"), "\n");
    r.wait_for("app/a DOWN");
    a.set_health(200);
    r.wait_for("app/a UP");

    // The agent stopped: not asked, its `down` not heard; resumed, it is.
    assert_eq!(socat(&path, "disable agent app/a\n"), "\n");
    agent.say("down\n");
    let asked = agent.asked.load(std::sync::atomic::Ordering::SeqCst);
    b.wait_probes(b.probes() + 5);
    assert!(agent.asked.load(std::sync::atomic::Ordering::SeqCst) <= asked + 1);
    assert_eq!(status_of(&path, "a"), "UP");
    assert_eq!(socat(&path, "enable agent app/a\n"), "\n");
    let line = r.wait_for("app/a DOWN");
    assert!(line.contains("agent says"), "{line}");

    // HAProxy's answers: b has no agent; no such server.
    assert_eq!(socat(&path, "disable agent app/b\n"), "\n");
    assert_eq!(
        socat(&path, "enable agent app/b\n"),
        "Agent was not configured on this server, cannot enable.\n\n"
    );
    assert_eq!(
        socat(&path, "disable health app/zz\n"),
        "No such server.\n\n"
    );
}

#[test]
fn set_server_addr_moves_traffic() {
    if !tool_installed("set_server_addr_moves_traffic", "socat") {
        return;
    }
    let (r, a, b, path) = start("addr", "admin");
    let c = Switch::start("c");
    let (ip, port) = (c.addr.ip(), c.addr.port());
    // a's address becomes c's: a's share of the traffic goes there.
    assert_eq!(
        socat(&path, &format!("set server app/a addr {ip} port {port}\n")),
        format!(
            "no need to change the addr, port changed from '{}' to '{port}' by 'stats socket command'\n\n",
            a.addr.port()
        )
    );
    let seen = spread(r.addr(), 8);
    assert_eq!(
        (seen.get("c"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );
    let stat = socat(&path, "show stat typed\n");
    assert!(
        stat.contains(&format!("S.1.1.73.addr.1:CGS:str:{}\n", c.addr)),
        "{stat}"
    );
    for (cmd, answer) in [
        (
            format!("set server app/a addr {ip}\n"),
            "no need to change the addr by 'stats socket command'\n\n",
        ),
        (
            "set server app/b addr 127.0.0.300\n".into(),
            "Invalid addr '127.0.0.300' by 'stats socket command'\n\n",
        ),
        (
            "set server app/zz addr 127.0.0.1\n".into(),
            "No such server.\n\n",
        ),
    ] {
        assert_eq!(socat(&path, &cmd), answer, "{cmd}");
    }
    assert_eq!(spread(r.addr(), 4).get("b"), Some(&2));
    assert_eq!(b.requests(), 6);
    assert_eq!(a.requests(), 0, "nothing reached a's old address");
}
