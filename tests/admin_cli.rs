//! HAProxy's runtime CLI on `global.admin_socket`, through the real binary and a real
//! peer (socat, as operators' scripts use it): the commands Ansible's haproxy module
//! sends (`show stat`, `disable server`, `enable server`, `set weight`) change where
//! traffic goes; levels refuse changes; `prompt` keeps the session; the socket file
//! has its mode, is created in a new directory and removed at exit (also after
//! dropping privileges to `global.user`, root only); a reload moves it
//! and applies a new level and mode; an upgrade's new process serves the same path;
//! and HAProxy 2.6's `show stat` header, taken from the installed haproxy, is column
//! for column ringlb's; so are the fields' positions, tags and types in `show stat`
//! and `show info`'s `typed` and `json` formats; `disable health` and `disable agent`
//! freeze a server's state while its probes stop.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::peers::AgentPeer;
use common::switch::{admin_config, spread, Switch};
use common::{tool_installed, Ringlb, PATIENCE};

fn socket_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-cli-{}-{test}.sock", std::process::id()))
}

/// `echo "$input" | socat stdio unix-connect:$path`: what the socket answered.
fn socat(path: &Path, input: &str) -> String {
    let mut child = Command::new("socat")
        .arg("-t5")
        .arg("stdio")
        .arg(format!("unix-connect:{}", path.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start socat");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("socat output");
    assert!(
        out.status.success(),
        "socat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start(test: &str, level: &str) -> (Ringlb, Switch, Switch, PathBuf) {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let path = socket_path(test);
    let global = format!(
        "admin_socket = \"{}\"\nadmin_socket_mode = \"660\"\nadmin_socket_level = \"{level}\"\n",
        path.display()
    );
    let r = Ringlb::start(&admin_config(1, &a, &b, &global));
    (r, a, b, path)
}

#[test]
fn ansible_commands_move_traffic() {
    if !tool_installed("ansible_commands_move_traffic", "socat") {
        return;
    }
    let (r, a, b, path) = start("ansible", "admin");
    let front = r.addr();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    let stat = socat(&path, "show stat\n");
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

    // Ansible's `state: disabled` (maint), then `enabled`.
    assert_eq!(socat(&path, "disable server app/a\n"), "\n");
    assert_eq!(spread(front, 8).get("b"), Some(&8));
    let stat = socat(&path, "show stat\n");
    let row = stat.lines().find(|l| l.starts_with("app,a,")).unwrap();
    assert_eq!(row.split(',').nth(17), Some("MAINT"), "{row}");
    assert_eq!(socat(&path, "enable server app/a\n"), "\n");
    let seen = spread(front, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );

    // Ansible's `weight:`: 0 takes no new traffic; `get weight` reads it back.
    assert_eq!(socat(&path, "set weight app/a 0\n"), "\n");
    assert_eq!(socat(&path, "get weight app/a\n"), "0 (initial 1)\n\n");
    assert_eq!(spread(front, 6).get("b"), Some(&6));
    assert_eq!(socat(&path, "set server app/a weight 100%\n"), "\n");
    assert_eq!(
        socat(&path, "get weight app/a; get weight app/b\n"),
        "1 (initial 1)\n\n1 (initial 1)\n\n"
    );
    let seen = spread(front, 8);
    assert_eq!(
        (seen.get("a"), seen.get("b")),
        (Some(&4), Some(&4)),
        "{seen:?}"
    );

    // Drain through `set server`, and the state file's view of it.
    assert_eq!(socat(&path, "set server app/b state drain\n"), "\n");
    assert_eq!(spread(front, 4).get("a"), Some(&4));
    let state = socat(&path, "show servers state app\n");
    assert!(
        state.starts_with("1\n# be_id be_name srv_id srv_name"),
        "{state}"
    );
    assert!(state.contains(" app 2 b 127.0.0.1 2 8 1 1 "), "{state}");
    assert!(a.requests() > 0 && b.requests() > 0);
    // The counters are the workers' (34 requests so far, all answered 200).
    let stat = socat(&path, "show stat\n");
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

    // Errors in HAProxy's words; nothing changed.
    assert_eq!(
        socat(&path, "disable server app/zz\n"),
        "No such server.\n\n"
    );
    assert_eq!(
        socat(&path, "set weight nope/a 1\n"),
        "No such backend.\n\n"
    );
    assert_eq!(
        socat(&path, "set weight app/a 300\n"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert!(socat(&path, "frobnicate\n").starts_with("Unknown command"));
    assert!(socat(&path, "help\n").contains("show servers state"));
    let info = socat(&path, "show info\n");
    assert!(info.starts_with("Name: ringlb\nVersion: "), "{info}");
    assert!(info.contains(&format!("Pid: {}\n", r.child.id())), "{info}");
    assert_eq!(socat(&path, "show backend\n"), "# name\napp\n\n");
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

/// Servers a and b with an http check every 100 ms (rise 1, fall 1); a has an agent.
fn checked_config(a: &Switch, b: &Switch, agent_port: u16, path: &Path) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         admin_socket = \"{}\"\nadmin_socket_level = \"admin\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n[backend.check]\nkind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\n\
         timeout = \"2s\"\nrise = 1\nfall = 1\nagent_interval = \"100ms\"\n\n\
         [[backend.server]]\nname = \"a\"\naddress = \"{}\"\ncheck = true\n\
         agent_check = true\nagent_port = {agent_port}\n\n\
         [[backend.server]]\nname = \"b\"\naddress = \"{}\"\ncheck = true\n",
        path.display(),
        a.addr,
        b.addr
    )
}

/// A server's `status` column in `show stat`.
fn status_of(path: &Path, server: &str) -> String {
    let stat = socat(path, "show stat\n");
    let prefix = format!("app,{server},");
    let row = stat.lines().find(|l| l.starts_with(&prefix)).unwrap();
    row.split(',').nth(17).unwrap().to_string()
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

#[test]
fn a_reload_moves_the_socket_and_applies_level_and_mode() {
    if !tool_installed(
        "a_reload_moves_the_socket_and_applies_level_and_mode",
        "socat",
    ) {
        return;
    }
    let (mut r, _a, _b, path) = start("before-reload", "user");
    assert_eq!(
        socat(&path, "set weight app/a 2\n"),
        "Permission denied\n\n"
    );
    let moved = socket_path("after-reload");
    let text = std::fs::read_to_string(r.config_path()).unwrap();
    let text = text
        .replace(&path.display().to_string(), &moved.display().to_string())
        .replace(
            "admin_socket_level = \"user\"",
            "admin_socket_level = \"admin\"",
        )
        .replace("admin_socket_mode = \"660\"", "admin_socket_mode = \"600\"");
    std::fs::write(r.config_path(), text).unwrap();
    r.reload_and_wait();
    // Logged once the old file is removed and the new one serves.
    r.wait_count(&[&format!("listening on {}", moved.display())], 1);
    assert!(!path.exists(), "the old socket file is removed");
    let mode = std::fs::metadata(&moved).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(socat(&moved, "set weight app/a 2\n"), "\n");
    assert_eq!(socat(&moved, "get weight app/a\n"), "2 (initial 1)\n\n");
}

#[test]
fn an_upgrade_hands_the_path_to_the_new_process() {
    if !tool_installed("an_upgrade_hands_the_path_to_the_new_process", "socat") {
        return;
    }
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let (path, upgrade) = (socket_path("upgrade-cli"), socket_path("upgrade-ctl"));
    let global = format!(
        "admin_socket = \"{}\"\nupgrade_socket = \"{}\"\n",
        path.display(),
        upgrade.display()
    );
    let mut r = Ringlb::start(&admin_config(1, &a, &b, &global));
    let old = r.child.id();
    let out = Command::new(common::BIN)
        .arg("upgrade")
        .arg("--socket")
        .arg(&upgrade)
        .stdin(Stdio::null())
        .output()
        .expect("run ringlb upgrade");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    let new: u32 = said
        .split("process ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {said:?}"));
    // Killed however the test ends.
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
    let _new = Kill(new);
    // The old process drains and exits; its exit leaves the new process's file.
    r.wait_exit();
    assert_ne!(old, new);
    let info = socat(&path, "show info\n");
    assert!(info.contains(&format!("Pid: {new}\n")), "{info}");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&upgrade);
}

#[test]
fn opened_before_privileges_are_dropped() {
    let test = "opened_before_privileges_are_dropped";
    if !tool_installed(test, "socat") {
        return;
    }
    if unsafe { libc::geteuid() } != 0 {
        common::netns::skip(test, "not running as root (switching user needs it)");
        return;
    }
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let dir = std::env::temp_dir().join(format!("ringlb-cli-{}-run", std::process::id()));
    let path = dir.join("admin.sock");
    let global = format!(
        "user = \"nobody\"\nadmin_socket = \"{}\"\nadmin_socket_level = \"admin\"\n",
        path.display()
    );
    let mut r = Ringlb::start(&admin_config(1, &a, &b, &global));
    let status = std::fs::read_to_string(format!("/proc/{}/status", r.child.id())).unwrap();
    let uid = |l: &str| l.split_whitespace().nth(1).unwrap().parse::<u32>().unwrap();
    let nobody = uid(status.lines().find(|l| l.starts_with("Uid:")).unwrap());
    assert_ne!(nobody, 0, "ringlb runs as nobody: {status}");
    // The directory ringlb made belongs to the user it runs as; the socket to root.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), nobody);
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0);
    assert_eq!(
        socat(&path, "set weight app/a 3; get weight app/a\n"),
        "\n3 (initial 1)\n\n"
    );
    r.signal(libc::SIGTERM);
    r.wait_exit();
    assert!(!path.exists(), "removed at exit, without privileges");
    let _ = std::fs::remove_dir(&dir);
}

/// `haproxy -db -f FILE` serving a stats socket; killed on drop.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The installed haproxy with a stats socket, a frontend `web` and a backend `app`
/// with server `a` (no check, no agent, as ringlb's in [`start`]).
fn start_haproxy(test: &str) -> (Haproxy, PathBuf, PathBuf) {
    let hpath = socket_path(&format!("haproxy-{test}"));
    let cfg = std::env::temp_dir().join(format!("ringlb-cli-{}-{test}.cfg", std::process::id()));
    std::fs::write(
        &cfg,
        format!(
            "global\n  stats socket {} mode 600 level admin\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:{}\n  default_backend app\nbackend app\n  server a 127.0.0.1:9\n",
            hpath.display(),
            common::pp_peers::free_port()
        ),
    )
    .unwrap();
    let h = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy"),
    );
    let deadline = Instant::now() + PATIENCE;
    while std::os::unix::net::UnixStream::connect(&hpath).is_err() {
        assert!(
            Instant::now() < deadline,
            "haproxy never opened its stats socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (h, hpath, cfg)
}

#[test]
fn show_stat_header_is_haproxy_26s() {
    let test = "show_stat_header_is_haproxy_26s";
    if !tool_installed(test, "socat") || !tool_installed(test, "haproxy") {
        return;
    }
    let (_h, hpath, cfg) = start_haproxy("header");
    let theirs = socat(&hpath, "show stat\n");
    let (r, _a, _b, path) = start("header", "user");
    let ours = socat(&path, "show stat\n");
    let header = |s: &str| s.lines().next().unwrap_or("").to_string();
    assert_eq!(header(&ours), header(&theirs));
    // Every row has as many fields as the header.
    let columns = header(&theirs).matches(',').count();
    for row in ours.lines().skip(1).filter(|l| !l.is_empty()) {
        assert_eq!(row.matches(',').count(), columns, "{row}");
    }
    drop(r);
    let _ = std::fs::remove_file(&cfg);
}

/// A `typed` answer's fields: (object letter, or "" for `show info`; name) to
/// (position, tags, type).
fn typed_fields(text: &str) -> HashMap<(String, String), (String, String, String)> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(4, ':');
        let (head, tags, ty) = (
            parts.next().unwrap(),
            parts.next().unwrap_or_else(|| panic!("{line}")),
            parts.next().unwrap_or_else(|| panic!("{line}")),
        );
        let ids: Vec<&str> = head.split('.').collect();
        let n = ids.len();
        assert!(n == 3 || n == 6, "{line}");
        let obj = if n == 6 { ids[0] } else { "" };
        out.insert(
            (obj.to_string(), ids[n - 2].to_string()),
            (ids[n - 3].to_string(), tags.to_string(), ty.to_string()),
        );
    }
    out
}

/// A JSON field object's keys, recursively, as `a.b` paths.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(m) = v.as_object() {
        for (k, sub) in m {
            let path = format!("{prefix}{k}");
            if k != "value" || sub.is_object() {
                key_paths(sub, &format!("{path}."), out);
            }
            out.push(path);
        }
    }
    out.sort();
}

/// Every field object in ours has a counterpart in theirs (same object type and
/// name) with the same keys, position, tags and value type.
fn same_json_fields(ours: &[serde_json::Value], theirs: &[serde_json::Value]) {
    let key = |f: &serde_json::Value| (f["objType"].clone(), f["field"]["name"].clone());
    assert!(!ours.is_empty());
    for f in ours {
        let h = theirs
            .iter()
            .find(|h| key(h) == key(f))
            .unwrap_or_else(|| panic!("haproxy has no {f}"));
        let (mut kf, mut kh) = (Vec::new(), Vec::new());
        key_paths(f, "", &mut kf);
        key_paths(h, "", &mut kh);
        assert_eq!(kf, kh, "{f}\n{h}");
        assert_eq!(f["field"]["pos"], h["field"]["pos"], "{f}\n{h}");
        assert_eq!(f["tags"], h["tags"], "{f}\n{h}");
        assert_eq!(f["value"]["type"], h["value"]["type"], "{f}\n{h}");
        let text = f["value"]["type"] == "str";
        assert_eq!(f["value"]["value"].is_string(), text, "{f}");
        assert_eq!(f["value"]["value"].is_u64(), !text, "{f}");
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim_end()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn typed_and_json_reports_are_haproxy_26s() {
    let test = "typed_and_json_reports_are_haproxy_26s";
    if !tool_installed(test, "socat") || !tool_installed(test, "haproxy") {
        return;
    }
    let (_h, hpath, cfg) = start_haproxy("typed");
    let (r, _a, _b, path) = start("typed", "admin");
    spread(r.addr(), 4);

    // `typed`: every field ringlb fills is at HAProxy's position with its tags and type.
    for cmd in ["show stat typed\n", "show info typed\n"] {
        let (ours, theirs) = (socat(&path, cmd), socat(&hpath, cmd));
        assert!(ours.ends_with("\n\n"), "{ours:?}");
        let (ours, theirs) = (typed_fields(&ours), typed_fields(&theirs));
        for (k, v) in &ours {
            assert_eq!(theirs.get(k), Some(v), "{cmd}{k:?}");
        }
        let objects: Vec<&str> = ours.keys().map(|(o, _)| o.as_str()).collect();
        if cmd.contains("stat") {
            for o in ["F", "B", "S"] {
                assert!(objects.contains(&o), "no {o} row: {ours:?}");
            }
        } else {
            assert_eq!(ours.len(), 15, "{ours:?}");
        }
    }
    let typed = socat(&path, "show stat typed\n");
    assert!(typed.contains("F.1.0.48.req_tot.1:MCP:u64:4\n"), "{typed}");
    assert!(
        typed.contains("S.1.1.17.status.1:SGP:str:no check\n"),
        "{typed}"
    );

    // `json`: the same fields, each object with HAProxy's keys.
    let (ours, theirs) = (
        json(&socat(&path, "show stat json\n")),
        json(&socat(&hpath, "show stat json\n")),
    );
    let flat = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().clone())
            .collect()
    };
    assert_eq!(ours.as_array().unwrap().len(), 4, "web, a, b, app: {ours}");
    same_json_fields(&flat(&ours), &flat(&theirs));
    let (ours, theirs) = (
        json(&socat(&path, "show info json\n")),
        json(&socat(&hpath, "show info json\n")),
    );
    same_json_fields(ours.as_array().unwrap(), theirs.as_array().unwrap());
    assert_eq!(ours[5]["value"]["value"], r.child.id(), "{ours}");

    // The answers to starting probes a server does not have are HAProxy's.
    for cmd in [
        "enable agent app/a\n",
        "enable health app/a\n",
        "disable agent app/a\n",
    ] {
        assert_eq!(socat(&path, cmd), socat(&hpath, cmd), "{cmd}");
    }
    let _ = std::fs::remove_file(&cfg);
}
