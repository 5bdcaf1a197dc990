//! The Debian package, installed for real: `dpkg -i` of the .deb built from the
//! binary these tests use (`packaging/deb.sh dev -o <target>/debug/ringlb-test.deb`,
//! as `.ci/run` does; or `RINGLB_DEB=FILE`), its files checked, its conffile
//! validated by the installed binary, the installed binary run briefly, then purged.
//! Needs root and dpkg; skips visibly otherwise (fails under RINGLB_REQUIRE_TOOLS=1
//! or RINGLB_REQUIRE_PRIVILEGED=1).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

const NAME: &str = "package::dpkg_install_check_run_and_purge";

fn required() -> bool {
    ["RINGLB_REQUIRE_TOOLS", "RINGLB_REQUIRE_PRIVILEGED"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| v == "1"))
}

fn skip(why: &str) {
    if required() {
        panic!(
            "{NAME}: {why}, and RINGLB_REQUIRE_TOOLS/RINGLB_REQUIRE_PRIVILEGED=1 forbid skipping"
        );
    }
    say_skipped(NAME, why);
}

/// The package to test, unless there is none or it is older than the binary.
fn deb() -> Result<PathBuf, String> {
    let path = std::env::var_os("RINGLB_DEB").map_or_else(
        || Path::new(BIN).with_file_name("ringlb-test.deb"),
        PathBuf::from,
    );
    let built = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    match (built(&path), built(Path::new(BIN))) {
        (Err(_), _) => Err(format!(
            "no package at {} (build it with packaging/deb.sh dev -o {0})",
            path.display()
        )),
        (Ok(deb), Ok(bin)) if deb < bin => Err(format!(
            "{} is older than {BIN} (rebuild it with packaging/deb.sh dev -o {0})",
            path.display()
        )),
        _ => Ok(path),
    }
}

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Purges the package even when an assertion fails half-way.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "ringlb"]).output();
    }
}

#[test]
fn dpkg_install_check_run_and_purge() {
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root (dpkg -i needs it)");
    }
    for tool in ["dpkg", "dpkg-deb", "man"] {
        if !have(tool) {
            return skip(&format!("{tool} is not installed"));
        }
    }
    let deb = match deb() {
        Ok(d) => d,
        Err(why) => return skip(&why),
    };
    let deb = deb.to_str().expect("utf-8 path");
    if Path::new("/usr/bin/ringlb").exists() {
        return skip("/usr/bin/ringlb exists already (installed by hand?): not touching it");
    }

    run("dpkg", &["-i", deb]);
    let _purge = Installed;

    for file in [
        "/usr/bin/ringlb",
        "/lib/systemd/system/ringlb.service",
        "/etc/ringlb/ringlb.toml",
        "/usr/share/bash-completion/completions/ringlb",
        "/usr/share/zsh/vendor-completions/_ringlb",
        "/usr/share/fish/vendor_completions.d/ringlb.fish",
    ] {
        assert!(Path::new(file).exists(), "{file} is not installed");
    }
    let unit = std::fs::read_to_string("/lib/systemd/system/ringlb.service").unwrap();
    assert!(unit.contains("Type=notify"), "{unit}");
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}", "ringlb"]);
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains("/etc/ringlb/ringlb.toml"),
        "the configuration is not a conffile"
    );
    run("getent", &["passwd", "ringlb"]);
    let bash = std::fs::read_to_string("/usr/share/bash-completion/completions/ringlb").unwrap();
    assert!(
        bash.contains("gen-cert"),
        "bash completion lacks subcommands"
    );

    check_man_page(deb);

    let check = run(
        "/usr/bin/ringlb",
        &["check", "-c", "/etc/ringlb/ringlb.toml"],
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("configuration is valid"));
    if have("systemd-analyze") {
        // The unit's syntax and its commands (installed now); man pages may be
        // excluded by dpkg in containers, hence --man=no.
        run(
            "systemd-analyze",
            &["verify", "--man=no", "/lib/systemd/system/ringlb.service"],
        );
    }

    // The installed binary serves: on a free loopback port, not the conffile's 8080.
    let echo = Echo::start();
    let cfg = TempConfig::new(&tcp_config(1, &[(echo.addr, 1)], ""));
    let mut cmd = Command::new("/usr/bin/ringlb");
    cmd.arg("run").arg("-c").arg(&cfg.0);
    let mut rl = Ringlb::spawn(cmd, Some(cfg));
    rl.wait_for("ringlb ready");
    assert_eq!(echo_roundtrip(rl.addr(), b"deb".to_vec()), b"deb".to_vec());
    rl.signal(libc::SIGTERM);
    assert!(rl.wait_exit().success());

    run("dpkg", &["--purge", "ringlb"]);
    assert!(!Path::new("/usr/bin/ringlb").exists());
    assert!(
        !Path::new("/etc/ringlb/ringlb.toml").exists(),
        "purge left the conffile"
    );
}

/// `man -l` renders ringlb(1): installed, or from the package itself where dpkg is
/// told to leave out /usr/share/man (container images).
fn check_man_page(deb: &str) {
    let installed = Path::new("/usr/share/man/man1/ringlb.1.gz");
    let extracted = std::env::temp_dir().join(format!("ringlb-deb-{}", std::process::id()));
    let page = if installed.exists() {
        installed.to_path_buf()
    } else {
        run("dpkg-deb", &["-x", deb, extracted.to_str().unwrap()]);
        extracted.join("usr/share/man/man1/ringlb.1.gz")
    };
    let out = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man -l");
    let _ = std::fs::remove_dir_all(&extracted);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("SUBCOMMANDS") && text.contains("ringlb-run"),
        "man -l {}: {}\n{text}{}",
        page.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
