//! The grpc health check (`kind = "grpc"`, issue 18) against real gRPC servers:
//! Python grpcio with the standard health service (tests/grpc_peers/health_server.py),
//! cleartext HTTP/2 and TLS with ALPN h2. A server follows its health status
//! (SERVING up, NOT_SERVING down after `fall` checks, back up), and every server that
//! cannot say SERVING is down with the reason in the log and in `/api/servers`: an
//! unknown service (NOT_FOUND), no health service (UNIMPLEMENTED), an HTTP/1.1
//! server, a killed server. An http check with `proto = "h2"` runs against HAProxy
//! serving HTTP/2. Waits are on log lines and on the API, never on sleeps.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::peers::{api_server, StatusApi};
use common::tls::{CertDir, TlsBackend};
use common::{Ringlb, PATIENCE};

const GRPCIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/grpc_peers/health_server.py"
);
const H2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc_peers/h2_server.py");
const FAST: &str = "interval = \"100ms\"\nfast_interval = \"50ms\"\ndown_interval = \"100ms\"\ntimeout = \"2s\"\nrise = 1\nfall = 2";

/// Python 3 with grpcio, grpcio-health-checking and h2 (CI: `pip install` in .ci/run).
fn have_grpcio(test: &str) -> bool {
    common::have_python(test, "grpc, grpc_health.v1.health, h2")
}

/// A Python peer: the grpcio server (`health`: the health service, `bare`: no
/// service at all; TLS with `tls` = (certificate, key) paths), or the hand-driven h2
/// server (`close`, `compressed`, `trailers-only`). Driven through its stdin, heard
/// through its stdout.
struct GrpcServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl GrpcServer {
    fn start(mode: &str, tls: Option<(&std::path::Path, &std::path::Path)>) -> GrpcServer {
        let script = match mode {
            "health" | "bare" => GRPCIO,
            _ => H2,
        };
        let mut cmd = Command::new("python3");
        // grpcio logs every failed TLS handshake at info level otherwise.
        cmd.arg(script).arg(mode).env("GRPC_VERBOSITY", "ERROR");
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("grpc server did not start: {line:?}"));
        GrpcServer {
            child,
            stdin,
            stdout,
            port,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One command; its answer line.
    fn say(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.line()
    }

    /// The next line the peer prints (the tests' time limit bounds the wait).
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    fn set(&mut self, service: &str, status: &str) {
        assert_eq!(self.say(&format!("set {service} {status}")), "ok");
    }

    fn checks(&mut self) -> usize {
        self.say("checks").parse().unwrap()
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP frontend, backend "db" with a grpc check (`check` adds keys) and `servers`
/// (name, address, extra keys), one worker.
fn config(check: &str, servers: &[(&str, String, String)]) -> String {
    let mut s = format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\n\
         [[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"db\"\n\n\
         [[backend]]\nname = \"db\"\n[backend.check]\nkind = \"grpc\"\n{FAST}\n{check}\n"
    );
    for (name, addr, extra) in servers {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"{name}\"\naddress = \"{addr}\"\ncheck = true\n{extra}\n"
        ));
    }
    s
}

/// Wait (bounded) until the API shows a passed check of `server`.
fn wait_check_ok(r: &Ringlb, server: &str) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let s = api_server(r.admin_addr(), server);
        if s["check"]["last_ok"] == true {
            return s;
        }
        assert!(Instant::now() < deadline, "no passed check: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first line saying `server` went down, in whatever order servers went down.
fn down_line(r: &mut Ringlb, server: &str) -> String {
    let needle = format!("db/{server} DOWN");
    r.wait_logged(&needle);
    r.log.iter().find(|l| l.contains(&needle)).unwrap().clone()
}

/// The reason `/api/servers` shows for the last check of `server`.
fn api_detail(r: &Ringlb, server: &str) -> String {
    let s = api_server(r.admin_addr(), server);
    assert_eq!(s["check"]["last_ok"], false, "{s}");
    s["check"]["last_detail"].as_str().unwrap_or("").to_string()
}

#[test]
fn a_server_follows_its_health_status_and_is_down_when_killed() {
    if !have_grpcio("a_server_follows_its_health_status_and_is_down_when_killed") {
        return;
    }
    let mut g = GrpcServer::start("health", None);
    let mut r = Ringlb::start(&config("", &[("a", g.addr(), String::new())]));
    let s = wait_check_ok(&r, "a");
    assert_eq!(s["check"]["kind"], "grpc", "{s}");
    assert_eq!(s["state"], "UP", "{s}");
    assert!(g.checks() >= 1);

    g.set("-", "NOT_SERVING");
    let line = r.wait_for("db/a DOWN");
    assert!(
        line.contains("2 consecutive failed check(s)")
            && line.contains("health status NOT_SERVING"),
        "{line}"
    );
    assert_eq!(api_detail(&r, "a"), "health status NOT_SERVING");

    g.set("-", "SERVING");
    r.wait_for("db/a UP");
    wait_check_ok(&r, "a");

    // Killed: nothing listens any more.
    drop(g);
    let line = r.wait_for("db/a DOWN");
    assert!(line.contains("connection refused"), "{line}");
}

#[test]
fn servers_that_cannot_say_serving_are_down_with_the_reason() {
    if !have_grpcio("servers_that_cannot_say_serving_are_down_with_the_reason") {
        return;
    }
    let mut health = GrpcServer::start("health", None);
    let bare = GrpcServer::start("bare", None);
    let h1 = StatusApi::start(|_| (200, "ok".into()));
    let mut r = Ringlb::start(&config(
        "grpc_service = \"app.Orders\"",
        &[
            ("unknown", health.addr(), String::new()),
            ("bare", bare.addr(), String::new()),
            ("h1", h1.addr.to_string(), String::new()),
        ],
    ));
    let line = down_line(&mut r, "unknown");
    assert!(line.contains("gRPC status 5 NOT_FOUND"), "{line}");
    let line = down_line(&mut r, "bare");
    assert!(line.contains("gRPC status 12 UNIMPLEMENTED"), "{line}");
    let line = down_line(&mut r, "h1");
    assert!(line.contains("no HTTP/2 answer"), "{line}");
    assert!(api_detail(&r, "h1").contains("no HTTP/2 answer"));
    assert!(api_detail(&r, "bare").starts_with("gRPC status 12 UNIMPLEMENTED"));
    // The request named the service: once the server knows it, the check passes.
    health.set("app.Orders", "SERVING");
    r.wait_for("db/unknown UP");
    health.set("app.Orders", "NOT_SERVING");
    let line = r.wait_for("db/unknown DOWN");
    assert!(line.contains("health status NOT_SERVING"), "{line}");
    assert_eq!(api_server(r.admin_addr(), "h1")["check"]["kind"], "grpc");
}

#[test]
fn the_check_speaks_tls_with_alpn_h2() {
    if !have_grpcio("the_check_speaks_tls_with_alpn_h2") {
        return;
    }
    let dir = CertDir::new();
    dir.write("grpc", &["grpc.test"]);
    let (cert, key) = (dir.0.join("grpc.pem"), dir.0.join("grpc.key"));
    let mut g = GrpcServer::start("health", Some((&cert, &key)));
    let tls = format!(
        "tls = true\nsni = \"grpc.test\"\nca_file = \"{}\"",
        cert.display()
    );
    // An HTTPS server without HTTP/2 (no ALPN; it answers the preface in HTTP/1.1).
    let h1 = TlsBackend::start(&dir, "grpc");
    let mut r = Ringlb::start(&config(
        "",
        &[
            ("secure", g.addr(), tls.clone()),
            ("https1", h1.addr.to_string(), tls),
        ],
    ));
    let s = wait_check_ok(&r, "secure");
    assert_eq!(s["state"], "UP", "{s}");
    let line = down_line(&mut r, "https1");
    assert!(line.contains("no HTTP/2 answer"), "{line}");
    assert_eq!(h1.sni.lock().unwrap().as_deref(), Some("grpc.test"));
    g.set("-", "NOT_SERVING");
    let line = r.wait_for("db/secure DOWN");
    assert!(line.contains("health status NOT_SERVING"), "{line}");
    g.set("-", "SERVING");
    r.wait_for("db/secure UP");
    // A cleartext check of the TLS server: the server closes on the preface.
    drop(r);
    let mut r = Ringlb::start(&config(
        "tls = false",
        &[("secure", g.addr(), "tls = true\nverify = false".into())],
    ));
    let line = down_line(&mut r, "secure");
    assert!(
        line.contains("HTTP/2: the server closed the connection"),
        "{line}"
    );
}

#[test]
fn the_request_is_a_grpc_call_and_edge_answers_are_judged() {
    if !have_grpcio("the_request_is_a_grpc_call_and_edge_answers_are_judged") {
        return;
    }
    let mut close = GrpcServer::start("close", None);
    let compressed = GrpcServer::start("compressed", None);
    let trailers_only = GrpcServer::start("trailers-only", None);
    // A server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().collect();
        drop(held);
    });
    let mut r = Ringlb::start(&config(
        "grpc_service = \"app.Orders\"",
        &[
            ("close", close.addr(), String::new()),
            ("compressed", compressed.addr(), String::new()),
            ("trailers", trailers_only.addr(), String::new()),
            ("silent", silent_addr.to_string(), String::new()),
        ],
    ));
    // The call as the server saw it: path, te, content-type, :authority (the
    // address as written), and HealthCheckRequest{service: "app.Orders"} framed.
    let want = format!(
        "call {} /grpc.health.v1.Health/Check trailers application/grpc 000000000c0a0a{}",
        close.addr(),
        "app.Orders"
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    for _ in 0..3 {
        assert_eq!(close.line(), want);
    }
    // A server that closes right after its answer is up: the answer counts.
    assert_eq!(wait_check_ok(&r, "close")["state"], "UP");
    let line = down_line(&mut r, "compressed");
    assert!(line.contains("message compressed"), "{line}");
    let line = down_line(&mut r, "trailers");
    assert!(
        line.contains("malformed HealthCheckResponse: no message"),
        "{line}"
    );
    let line = down_line(&mut r, "silent");
    assert!(line.contains("no answer within 2s"), "{line}");
    assert!(!r.logged("db/close DOWN"), "{:?}", r.log);
}

#[test]
fn an_http_check_with_proto_h2_speaks_http2_to_haproxy() {
    if !common::pp_peers::have(
        "an_http_check_with_proto_h2_speaks_http2_to_haproxy",
        "/usr/sbin/haproxy",
    ) {
        return;
    }
    // One HAProxy, two HTTP/2 ports: the first healthy, the second answering 503.
    // The body names the HTTP version the request came in, so only HTTP/2 passes.
    let sick_port = common::pp_peers::free_port();
    let h = common::pp_peers::haproxy(&format!(
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
         frontend f\n  bind 127.0.0.1:{{PORT}} proto h2\n  bind 127.0.0.1:{sick_port} proto h2\n\
         http-request return status 503 if {{ dst_port {sick_port} }}\n\
         http-request return status 200 content-type text/plain lf-string \"HTTP/%[fc_http_major] %[req.hdr(host)] %[path]\" if {{ path /ready }} {{ method HEAD GET }}\n\
         http-request return status 404\n"
    ));
    let h1 = StatusApi::start(|_| (200, "HTTP/2".into()));
    let check = "kind = \"http\"\nproto = \"h2\"\npath = \"/ready\"\nexpect_status = 200\nexpect_body = \"HTTP/2 \"";
    let text = config(
        check,
        &[
            ("h2", h.addr.to_string(), String::new()),
            (
                "sick",
                h.addr.to_string(),
                format!("check_port = {sick_port}"),
            ),
            ("h1", h1.addr.to_string(), String::new()),
        ],
    )
    .replace("kind = \"grpc\"\n", "");
    let mut r = Ringlb::start(&text);
    let s = wait_check_ok(&r, "h2");
    assert_eq!(
        (s["state"].as_str(), s["check"]["kind"].as_str()),
        (Some("UP"), Some("http")),
        "{s}"
    );
    let line = down_line(&mut r, "sick");
    assert!(line.contains("HTTP status 503, expected 200"), "{line}");
    let line = down_line(&mut r, "h1");
    assert!(line.contains("no HTTP/2 answer"), "{line}");
    // What reached the HTTP/1.1 server was the HTTP/2 preface, not a request.
    let head = h1.last_head();
    assert!(head.starts_with("PRI * HTTP/2.0\r\n"), "{head:?}");
}
