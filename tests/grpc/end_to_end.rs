//! gRPC end to end over cleartext and TLS; `proto` errors with file, line and key.

use super::*;

/// Every case of the gRPC client came through as it does without ringlb.
fn assert_grpc_cases(lines: &[String], how: &str) {
    let expect = [
        "unary ok u:hello",
        "server_stream ok s0,s1,s2,s3,s4",
        "client_stream ok 50:50000",
        "bidi ok b:1,b:2,b:3",
        "pingpong ok b:p0,b:p1,b:p2",
        "big_response ok 4194304",
        "big_request ok u:yy",
        "fail status INVALID_ARGUMENT bad argument: x1",
        "deadline status DEADLINE_EXCEEDED",
        "cancelled_on_server yes",
    ];
    for (i, want) in expect.iter().enumerate() {
        let got = lines.get(i).map(String::as_str).unwrap_or("");
        assert!(
            got.starts_with(want),
            "{how}: case {i}: want {want:?}, got {got:?}\n{lines:#?}"
        );
    }
}

#[test]
fn grpc_end_to_end_over_cleartext_and_tls_on_both_sides() {
    if !tools("grpc_end_to_end", "grpc") {
        return;
    }
    let clear_port = free_port().to_string();
    let clear = Peer::start("grpc_peer.py", &["server", &clear_port]);
    let servers = format!(
        "[[backend.server]]\nname = \"g\"\naddress = \"127.0.0.1:{clear_port}\"\nproto = \"h2\"\n"
    );
    let (r, certs) = start(&servers);
    let ca = certs.0.join("site.pem").display().to_string();
    let lines = grpc_client(&r.addrs[0].to_string(), None);
    assert_grpc_cases(&lines, "cleartext client, cleartext server");
    let tls_target = format!("127.0.0.1:{}", r.addrs[1].port());
    let lines = grpc_client(&tls_target, Some(&ca));
    assert_grpc_cases(&lines, "TLS client (ALPN h2), cleartext server");
    // Every request was counted, all went on one connection, and none is still
    // holding the server (the expired deadlines' streams included).
    assert!(metric(&r, "ringlb_server_requests_total", "g") >= 18.0);
    assert_eq!(metric(&r, "ringlb_server_connections_total", "g"), 1.0);
    assert_eq!(metric(&r, "ringlb_server_current_connections", "g"), 0.0);
    drop(r);
    drop(clear);

    // The server over TLS: ringlb offers h2 by ALPN, the gRPC server selects it.
    let tls_port = free_port().to_string();
    let cert = certs.0.join("backend.pem").display().to_string();
    let key = certs.0.join("backend.key").display().to_string();
    let _tls = Peer::start("grpc_peer.py", &["server", &tls_port, &cert, &key]);
    let servers = format!(
        "[[backend.server]]\nname = \"g\"\naddress = \"127.0.0.1:{tls_port}\"\nproto = \"h2\"\n\
         tls = true\nsni = \"localhost\"\nca_file = \"{cert}\"\n"
    );
    let r = Ringlb::start(&config(&certs, &servers));
    let lines = grpc_client(&r.addrs[0].to_string(), None);
    assert_grpc_cases(&lines, "cleartext client, TLS server");
}

#[test]
fn proto_is_checked_with_file_line_and_key() {
    let certs = CertDir::new();
    certs.write("site", &["www.example.test"]);
    let text = config(
        &certs,
        "[[backend.server]]\nname = \"x\"\naddress = \"127.0.0.1:1\"\nproto = \"h3\"\n",
    );
    let cfg = common::TempConfig::new(&text);
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{err}");
    let line = text.lines().position(|l| l.starts_with("proto")).unwrap() + 1;
    assert!(err.contains(&format!(":{line}:")), "{err}");
    assert!(
        err.contains("server \"x\": proto: \"h3\" is not \"h1\" or \"h2\""),
        "{err}"
    );
}
