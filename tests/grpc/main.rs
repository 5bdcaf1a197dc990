//! HTTP/2 to servers (`proto = "h2"`, issue 18) end to end: real gRPC peers (Python
//! grpcio server and client) through ringlb, the client over cleartext h2 (prior
//! knowledge) and over TLS with ALPN h2, the server over cleartext h2 and over TLS:
//! unary, server, client and bidirectional streaming (also ping-pong: the client
//! waits for each reply before it sends on), an error status with its
//! message (trailers), a deadline that expires (its cancellation reaches the server),
//! 4 MiB messages both ways (flow control). Plain HTTP through an HTTP/2 server (a
//! Python h2 server) from curl over HTTP/1.1 and HTTP/2: the translation, trailers
//! to HTTP/1.1 clients only with `TE: trailers`, RST_STREAM and GOAWAY. Failure
//! paths: the server down, a server that speaks only HTTP/1.1, a TLS server that does
//! not select h2 by ALPN.
//!
//! Files (one test binary, `cargo test --test grpc`):
//! - `main.rs`: the shared helpers: the peers (`Peer`, `tools`), config, start, metrics, the gRPC client, curl, raw HTTP/1.1.
//! - `end_to_end.rs`: gRPC end to end over cleartext and TLS; `proto` errors with file, line and key.
//! - `h2_server.rs`: HTTP/1.1 clients through an h2 server: stream limit, GOAWAY, failure paths, early hints.
//! - `bodies.rs`: bodies streamed both ways through an h2 server, with and without `Expect: 100-continue`.

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};

use common::pp_peers::free_port;
use common::tls::{CertDir, TlsBackend};
use common::Ringlb;

mod bodies;
mod end_to_end;
mod h2_server;

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2_peers");

/// python3 with `module`, and curl; skipped visibly (a failure with
/// RINGLB_REQUIRE_TOOLS=1) when missing.
fn tools(test: &str, module: &str) -> bool {
    let python = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    let curl = Command::new("curl").arg("--version").output().is_ok();
    let found = python && curl;
    if !found {
        assert_ne!(
            std::env::var("RINGLB_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "python3 with {module}, and curl, are required"
        );
        common::say_skipped(
            test,
            &format!(
                "python3 {module} or curl missing (RINGLB_REQUIRE_TOOLS=1 makes this a failure)"
            ),
        );
    }
    found
}

/// A Python peer, killed on drop; what it prints comes as lines.
struct Peer(Child, Receiver<String>);

impl Peer {
    /// `python3 <script> <args>`, once it printed its ready line.
    fn start(script: &str, args: &[&str]) -> Peer {
        let mut child = Command::new("python3")
            .arg(format!("{PEERS}/{script}"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let peer = Peer(child, rx);
        peer.wait_line("ready");
        peer
    }

    /// Wait for a line containing `needle`.
    fn wait_line(&self, needle: &str) {
        loop {
            match self.1.recv_timeout(common::PATIENCE) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("the peer never printed {needle:?}"),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two frontends on backend "app" of `servers` (TOML `[[backend.server]]` tables):
/// "clear" (h2c prior knowledge) and "tls" (ALPN h2, http/1.1), and "h1" (HTTP/1.1).
fn config(certs: &CertDir, servers: &str) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [defaults]\ntimeout_server = \"20s\"\n\n\
         [[frontend]]\nname = \"clear\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n\n\
         [[frontend]]\nname = \"tls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n\
         [frontend.tls]\ncertificates = [{}]\nalpn = [\"h2\", \"http/1.1\"]\n\n\
         [[frontend]]\nname = \"h1\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n{servers}",
        certs.entry("site")
    )
}

fn start(servers: &str) -> (Ringlb, CertDir) {
    let certs = CertDir::new();
    certs.write("site", &["www.example.test"]);
    certs.write("backend", &["localhost"]);
    let r = Ringlb::start(&config(&certs, servers));
    (r, certs)
}

/// A server's value of the metric `family` (`/metrics`).
fn metric(r: &Ringlb, family: &str, server: &str) -> f64 {
    let (_, text) = common::admin(r.admin_addr(), "GET", "/metrics", "", None);
    let series = format!("{family}{{backend=\"app\",server=\"{server}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// Run the gRPC client against `target` (TLS when `ca` is given); its lines.
fn grpc_client(target: &str, ca: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("timeout");
    cmd.args([
        "120",
        "python3",
        &format!("{PEERS}/grpc_peer.py"),
        "client",
        target,
    ]);
    if let Some(ca) = ca {
        cmd.args([ca, "www.example.test"]);
    }
    let out = cmd.output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "grpc client failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines().map(str::to_string).collect()
}

/// curl; (exit code, status and version line, body).
fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, meta) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        out.status.code().unwrap_or(-1),
        meta.to_string(),
        body.to_string(),
    )
}

/// ringlb (see [`start`]) in front of one `h2_server.py` (`args` after its port) as
/// a server with `proto = "h2"`.
fn start_h2_peer(args: &[&str]) -> (Peer, Ringlb, CertDir) {
    let port = free_port().to_string();
    let mut all = vec![port.as_str()];
    all.extend_from_slice(args);
    let server = Peer::start("h2_server.py", &all);
    let servers = format!(
        "[[backend.server]]\nname = \"h\"\naddress = \"127.0.0.1:{port}\"\nproto = \"h2\"\n"
    );
    let (r, certs) = start(&servers);
    (server, r, certs)
}

/// One HTTP/1.1 request to /echo on a fresh connection (`extra`: fields, then the
/// body, if any, after the empty line); the whole raw response (the server closes
/// after it: `Connection: close`).
fn raw_h1(addr: std::net::SocketAddr, method: &str, extra: &str) -> String {
    let mut s = common::connect(addr);
    write!(
        s,
        "{method} /echo HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n{extra}"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_string()
}
