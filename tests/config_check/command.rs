//! `ringlb check`: exit codes and summary, every example in configs/, bad check values.

use super::*;

#[test]
fn check_command_exit_codes_and_summary() {
    let good = TempConfig::new(BASE);
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&good.0)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("configuration is valid: 1 frontend(s)"),
        "{stdout}"
    );

    let bad = TempConfig::new(&BASE.replace("127.0.0.1:9001\"", "127.0.0.1:9001\"\nweight = 300"));
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&bad.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = bad.0.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:12:10: backend \"app\" server \"a1\": weight 300 is out of range 0..=256"
        )),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args(["check", "-c", "/nonexistent/ringlb.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ringlb.toml: cannot read"));
}

#[test]
fn every_example_in_configs_passes_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        // Checked from a copy in a temporary directory, with the self-signed
        // certificate the example's comments tell users to make (`ringlb gen-cert`).
        let text = std::fs::read_to_string(&path).unwrap();
        let tmp =
            std::env::temp_dir().join(format!("ringlb-configs-{}-{checked}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let copy = tmp.join(path.file_name().unwrap());
        std::fs::write(&copy, &text).unwrap();
        // Files an example names beside it (CIDR lists) come along.
        for other in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = other.path();
            if p.extension().and_then(|e| e.to_str()) == Some("lst") {
                std::fs::copy(&p, tmp.join(p.file_name().unwrap())).unwrap();
            }
        }
        if text.contains("certs/site.pem") {
            let made = Command::new(BIN)
                .args(["gen-cert", "--name", "localhost", "--cert"])
                .arg(tmp.join("certs/site.pem"))
                .arg("--key")
                .arg(tmp.join("certs/site.key"))
                .output()
                .unwrap();
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&copy)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            out.status.success(),
            "{} fails check:\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 3, "configs/ holds only {checked} example(s)");
}

#[test]
fn ringlb_check_refuses_bad_check_values_each_with_its_line() {
    let text = BASE.replace(
        "name = \"app\"\n",
        "name = \"app\"\n[backend.check]\nkind = \"tcp\"\nport = 0\n\
         [[backend.check.step]]\nsend = \"PING\\r\\n\"\nexpect = \"+PONG\"\n\
         [[backend.check.step]]\nexpect_regex = \"role:(master\"\n",
    ) + "agent_check = true\n";
    let bad = TempConfig::new(&text);
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&bad.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = bad.0.display().to_string();
    for want in [
        format!("{file}:10:8: backend \"app\": check.port 0 is out of range 1..=65535"),
        format!("{file}:11:1: backend \"app\": check.step[1]: give exactly one of send, expect, expect_regex"),
        format!("{file}:15:16: backend \"app\": check.step[2]: expect_regex: invalid regex: unclosed group"),
        format!("{file}:20:15: backend \"app\" server \"a1\": agent_check = true needs agent_port"),
    ] {
        assert!(stderr.contains(&want), "{want:?} not in:\n{stderr}");
    }
}
