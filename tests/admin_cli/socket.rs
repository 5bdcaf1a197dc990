//! The socket's life: reload, upgrade, opened before privileges are dropped.

use super::*;

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
