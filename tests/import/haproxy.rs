//! `haproxy.cfg`: exit codes (complete, partial, unparsable), the corpus, line continuations, TLS binds.

use super::*;

#[test]
fn complete_translation_exits_0_passes_check_and_serves() {
    let b1 = Backend::start();
    let b2 = Backend::start();
    let cfg = format!(
        "global\n    maxconn 1000\n    nbthread 1\n\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\nfrontend web\n    bind 127.0.0.1:0\n    acl is_api path_beg /api\n    http-request set-header X-From \"ringlb import\"\n    use_backend api if is_api\n    default_backend app\n\nbackend app\n    balance roundrobin\n    server a1 {} check inter 500ms\n\nbackend api\n    server b1 {} check\n",
        b1.addr, b2.addr
    );
    let input = TempConfig::new(&cfg);
    let out = temp("complete.toml");
    let o = import(&[
        "haproxy",
        input.0.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("ringlb import: complete"));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(&format!("# {}:19: balance roundrobin", input.0.display())),
        "{text}"
    );
    check(&out);
    let mut r = Ringlb::start(&text);
    let mut c = Client::connect(r.addr());
    let (status, _, body) = c.get("/api/x");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("/api/x"));
    assert_eq!(b2.requests(), 1);
    assert!(b2
        .last_head()
        .to_ascii_lowercase()
        .contains("x-from: ringlb import"));
    c.get("/");
    assert_eq!(b1.requests(), 1);
    r.signal(libc::SIGTERM);
    r.wait_exit();
    let _ = std::fs::remove_file(out);
}

#[test]
fn partial_translation_exits_3_and_writes_only_when_allowed() {
    // The corpus file with a third log target, which ringlb cannot carry.
    let text = std::fs::read_to_string(corpus("k8s-apiserver.cfg")).unwrap();
    let file = temp("k8s-partial.cfg");
    let third = text.replacen("    daemon\n", "    log 10.0.0.9 local2\n    daemon\n", 1);
    std::fs::write(&file, third).unwrap();
    let f = file.to_str().unwrap();
    let out = temp("partial.toml");
    let _ = std::fs::remove_file(&out);
    let o = import(&["haproxy", f, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    let lost = lost_lines(&err, f);
    assert!(
        lost.contains(&format!(
            "{f}:7: log: not translated: ringlb sends its logs to one target (the first `log` line's, as global.log_target/syslog), and a copy of its own lines to at most one more (global.syslog_copy): send a copy elsewhere with a syslog relay"
        )),
        "{err}"
    );
    assert!(err.contains("--allow-partial"));
    assert!(!out.exists(), "output written without --allow-partial");

    let o = import(&["haproxy", f, "-o", out.to_str().unwrap(), "--allow-partial"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(lost_lines(&stderr(&o), f), lost);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("NOT translated"), "{text}");
    // The frontend is in tcp mode: dontlognull becomes its key.
    assert!(
        text.contains("dontlognull\nlog_empty_connections = false"),
        "{text}"
    );
    check(&out);
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(file);
}

#[test]
fn unparsable_input_exits_1_with_file_and_line() {
    let input = TempConfig::new("global\n    maxconn 10\nfrontend f\n    bind \"127.0.0.1:80\n");
    let o = import(&["haproxy", input.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!("{}:4: unmatched double quote", input.0.display())
    );
    let input = TempConfig::new("  maxconn 10\n");
    let o = import(&["haproxy", input.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(":1: unknown keyword 'maxconn' out of section"));
    let input = TempConfig::new("vrrp_instance VI_1 {\n  interface eth0\n");
    let o = import(&["keepalived", input.0.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(":1: block not closed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn corpus_files_translate_and_pass_check() {
    for (name, complete) in [
        ("webshop.cfg", true),
        // Complete since on-marked-down shutdown-sessions translates.
        ("patroni.cfg", true),
        // Complete since a second, events-only `log` line becomes global.syslog_copy.
        ("k8s-apiserver.cfg", true),
    ] {
        let file = corpus(name);
        let out = temp(name);
        let o = import(&[
            "haproxy",
            file.to_str().unwrap(),
            "--allow-partial",
            "-o",
            out.to_str().unwrap(),
        ]);
        let expect = if complete { 0 } else { 3 };
        assert_eq!(o.status.code(), Some(expect), "{name}: {}", stderr(&o));
        lost_lines(&stderr(&o), file.to_str().unwrap());
        check(&out);
        let _ = std::fs::remove_file(out);
    }
}

/// The corpus is HAProxy's own syntax: `haproxy -c` accepts every file.
#[test]
fn corpus_files_are_valid_haproxy() {
    if !common::pp_peers::have("corpus_files_are_valid_haproxy", "/usr/sbin/haproxy") {
        return;
    }
    for name in ["webshop.cfg", "patroni.cfg", "k8s-apiserver.cfg"] {
        let o = Command::new("/usr/sbin/haproxy")
            .arg("-c")
            .arg("-f")
            .arg(corpus(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
}

/// A backslash at the end of a line is no continuation, for HAProxy as for the
/// importer: both see the next line as a directive of its own.
#[test]
fn trailing_backslash_is_read_as_haproxy_reads_it() {
    let cfg = "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend f\n  bind 127.0.0.1:0\n  default_backend b\nbackend b\n  server s 127.0.0.1:80 \\\n    check\n";
    let input = TempConfig::new(cfg);
    let f = input.0.display().to_string();
    let o = import(&["haproxy", &f]);
    assert_eq!(o.status.code(), Some(3));
    let lost = lost_lines(&stderr(&o), &f);
    assert!(
        lost.iter()
            .any(|l| l.starts_with(&format!("{f}:10: server \\: "))),
        "{lost:?}"
    );
    assert!(
        lost.iter().any(|l| l.starts_with(&format!("{f}:10: \\: "))),
        "{lost:?}"
    );
    assert!(
        lost.iter()
            .any(|l| l.starts_with(&format!("{f}:11: check: "))),
        "{lost:?}"
    );
    if !common::pp_peers::have(
        "trailing_backslash_is_read_as_haproxy_reads_it",
        "/usr/sbin/haproxy",
    ) {
        return;
    }
    let o = Command::new("/usr/sbin/haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&input.0)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(":10] : 'server b/s' : unknown keyword '\\'"),
        "{err}"
    );
    assert!(err.contains(":11] : unknown keyword 'check'"), "{err}");
}

/// `bind ... ssl crt FILE` with HAProxy's combined PEM (chain and key in one file):
/// plain and TLS binds become two frontends, h2 is left out of ALPN, and the result
/// loads the certificate.
#[test]
fn tls_binds_with_a_combined_pem() {
    let dir = temp("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
    let o = Command::new(BIN)
        .args([
            "gen-cert",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let pem = dir.join("site.pem");
    let both = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&key).unwrap();
    std::fs::write(&pem, both).unwrap();
    let cfg = format!(
        "frontend web\n  mode http\n  bind 127.0.0.1:0\n  bind 127.0.0.1:0 ssl crt {} alpn h2,http/1.1\n  default_backend app\nbackend app\n  server s 127.0.0.1:9\n",
        pem.display()
    );
    let input = dir.join("haproxy.cfg");
    std::fs::write(&input, cfg).unwrap();
    let out = dir.join("ringlb.toml");
    let o = import(&[
        "haproxy",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(t["frontend"][1]["name"].as_str(), Some("web-tls"));
    // ringlb's http mode speaks h2 too: `alpn h2,http/1.1` is kept as written.
    let alpn: Vec<&str> = t["frontend"][1]["tls"]["alpn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(alpn, ["h2", "http/1.1"]);
    check(&out);
    let _ = std::fs::remove_dir_all(dir);
}
