//! `global.script_user` (keepalived's `script_user`) and `enable_script_security`
//! with the real binary, as root in a network namespace: ringlb holds a virtual IP
//! alone (no frontend), its notify program and its track script each write what
//! `id -u` and `id -g` say; both are the configured user's, not root's. A program
//! another user could change is refused at start with its file, line and key.
//! Root only: skipped with a reason elsewhere, a failure in CI
//! (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::netns::Lan;
use common::vrrp::start_ringlb;
use common::{Ringlb, TempConfig, BIN, PATIENCE};

/// A directory of root's with the programs and a world-writable output directory
/// (the programs run as `nobody`); removed on drop.
struct Scripts {
    dir: PathBuf,
}

impl Scripts {
    fn new(test: &str) -> Scripts {
        let dir = std::env::temp_dir().join(format!("ringlb-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("out")).expect("mkdir");
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(dir.join("out"), PermissionsExt::from_mode(0o777)).expect("chmod");
        let s = Scripts { dir };
        // notify: PROGRAM STATE PRIORITY; the track script: no arguments.
        s.program(
            "notify",
            "echo \"$(id -u) $(id -g) $1\" >> \"$OUT/notify\"\n",
        );
        s.program("track", "echo \"$(id -u) $(id -g)\" > \"$OUT/track\"\n");
        s
    }

    fn program(&self, name: &str, body: &str) {
        let path = self.dir.join(name);
        let out = self.dir.join("out");
        std::fs::write(&path, format!("#!/bin/sh\nOUT={}\n{body}", out.display())).expect("write");
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o755)).expect("chmod");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The output file's lines once it has `n` of them.
    fn wait_lines(&self, name: &str, n: usize) -> Vec<String> {
        let path = self.dir.join("out").join(name);
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(start.elapsed() < PATIENCE, "{path:?}: {lines:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// ringlb holding 192.0.2.100 alone on `eth0`, with these `[global]` keys. The
/// track script's timeout is generous: a failure (weight 0) would be a FAULT, and a
/// loaded machine must not make one.
fn config(global: &str, notify: &Path, track: &Path) -> String {
    format!(
        "[global]\nadmin_bind = \"127.0.0.1:9900\"\n{global}\n\
         [vrrp]\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = 150\n\
         advert_interval = \"100ms\"\nvirtual_ips = [\"192.0.2.100/24\"]\nnotify = \"{}\"\n\n\
         [[vrrp.track_script]]\nname = \"whoami\"\ncommand = [\"{}\"]\ninterval = \"200ms\"\ntimeout = \"10s\"\n",
        notify.display(),
        track.display()
    )
}

#[test]
fn notify_and_track_scripts_run_as_the_script_user() {
    let test = "notify_and_track_scripts_run_as_the_script_user";
    let Some(lan) = Lan::new(test, 1) else {
        return;
    };
    let s = Scripts::new(test);
    let global = "script_user = \"nobody\"\nenable_script_security = true";
    let mut r = start_ringlb(
        &lan,
        0,
        &config(global, &s.path("notify"), &s.path("track")),
        51,
    );
    r.wait_for("vrrp: entering MASTER state");
    let nobody = "65534 65534";
    assert_eq!(s.wait_lines("track", 1), [nobody]);
    let notified = s.wait_lines("notify", 2);
    assert_eq!(
        notified,
        [format!("{nobody} BACKUP"), format!("{nobody} MASTER")],
        "{}",
        r.log.join("\n")
    );
    // Without the key, they run as ringlb does (root here).
    drop(r);
    let plain = Scripts::new(&format!("{test}-root"));
    let mut r = start_ringlb(
        &lan,
        0,
        &config("", &plain.path("notify"), &plain.path("track")),
        51,
    );
    r.wait_for("vrrp: entering MASTER state");
    assert_eq!(plain.wait_lines("track", 1), ["0 0"]);
}

#[test]
fn script_security_refuses_a_program_others_can_change() {
    let test = "script_security_refuses_a_program_others_can_change";
    let Some(lan) = Lan::new(test, 1) else {
        return;
    };
    let s = Scripts::new(test);
    std::fs::set_permissions(s.path("track"), PermissionsExt::from_mode(0o777)).expect("chmod");
    let global = "script_user = \"nobody\"\nenable_script_security = true";
    let text = config(global, &s.path("notify"), &s.path("track"));
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("command"))
        .expect("command");
    let cfg = TempConfig::new(&text);
    let mut cmd = lan.command(0, BIN);
    cmd.arg("run").arg("-c").arg(&cfg.0);
    let mut r = Ringlb::spawn(cmd, None);
    assert!(!r.wait_exit().success(), "started with an insecure program");
    let want = format!(
        "{}:{line}:11: vrrp.track_script[0].command {:?}: {} is writable by everyone",
        cfg.0.display(),
        s.path("track").display(),
        s.path("track").display()
    );
    assert!(
        r.log.iter().any(|l| l.contains(&want)),
        "{want}\n{}",
        r.log.join("\n")
    );
}
