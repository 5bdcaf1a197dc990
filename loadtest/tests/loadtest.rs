//! ringlb-load against its own benchmark backend on loopback: rate accuracy, error
//! classes, JSON and .hgrm output. Each test runs a few seconds at most.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_ringlb-load");

/// A `ringlb-load serve` child, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--threads", "1"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .expect("serve prints its address");
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-second open-loop run on 2 connections against `url`.
fn short_run(url: &str, rate: &str) -> serde_json::Value {
    run_json(&[
        url, "--rate", rate, "-c", "2", "-t", "1", "-d", "1s", "--warmup", "0s",
    ])
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("run")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

#[test]
fn open_loop_rate_is_accurate_to_1_percent() {
    let serve = Serve::start(&[]);
    let url = format!("http://{}/", serve.addr);
    let r = run_json(&[
        &url, "--rate", "5000", "-c", "20", "-t", "1", "-d", "3s", "--warmup", "500ms",
    ]);
    let achieved = r["achieved_rate"].as_f64().unwrap();
    assert!(
        (achieved - 5000.0).abs() <= 50.0,
        "achieved {achieved} req/s of 5000"
    );
    assert_eq!(r["mode"], "open");
    assert_eq!(r["kept_up"], true);
    assert_eq!(r["requests"].as_u64().unwrap(), 15_000);
    assert_eq!(r["errors"]["timeout"], 0);
    // Corrected latency can never be below the uncorrected one.
    assert!(r["corrected"]["p99_us"].as_u64() >= r["uncorrected"]["p99_us"].as_u64());
}

#[test]
fn closed_loop_over_tcp_echo_counts_requests() {
    let serve = Serve::start(&["--echo"]);
    let url = format!("tcp://{}", serve.addr);
    let r = run_json(&[
        &url,
        "-c",
        "4",
        "-t",
        "1",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--payload",
        "100",
    ]);
    assert_eq!(r["mode"], "closed");
    assert!(r["requests"].as_u64().unwrap() > 100, "{r}");
    assert_eq!(r["errors"]["other"], 0);
}

#[test]
fn close_sends_every_request_on_a_new_connection() {
    let serve = Serve::start(&[]);
    let url = format!("http://{}/", serve.addr);
    // The backend closes after a request that asks it to, without saying so in its
    // response: the next request must go on a new connection, or it would fail.
    let r = run_json(&[
        &url, "--close", "-c", "2", "-t", "1", "-d", "1s", "--warmup", "0s",
    ]);
    assert!(r["requests"].as_u64().unwrap() > 50, "{r}");
    assert_eq!(r["errors"]["other"], 0, "{r}");
    assert_eq!(r["errors"]["connect"], 0, "{r}");
}

#[test]
fn status_503_is_counted_as_5xx_not_as_success() {
    let serve = Serve::start(&["--status", "503"]);
    let url = format!("http://{}/", serve.addr);
    let r = short_run(&url, "200");
    assert_eq!(r["requests"], 0);
    assert_eq!(r["errors"]["status_5xx"], 200);
    assert_eq!(r["kept_up"], false);
}

#[test]
fn a_backend_that_closes_gives_other_errors_and_a_dead_port_connect_errors() {
    // Accepts, reads the request, closes without answering.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
        }
    });
    let r = short_run(&format!("http://{addr}/"), "100");
    assert_eq!(r["requests"], 0);
    assert!(r["errors"]["other"].as_u64().unwrap() >= 90, "{r}");

    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = short_run(&format!("http://{dead}/"), "100");
    assert!(r["errors"]["connect"].as_u64().unwrap() >= 90, "{r}");
}

#[test]
fn hgrm_file_is_written_and_injected_delay_is_never_undercut() {
    let serve = Serve::start(&["--delay", "10ms"]);
    let path = std::env::temp_dir().join(format!("ringlb-load-{}.hgrm", std::process::id()));
    let url = format!("http://{}/", serve.addr);
    let r = run_json(&[
        &url,
        "--rate",
        "200",
        "-c",
        "10",
        "-t",
        "1",
        "-d",
        "1s",
        "--warmup",
        "0s",
        "--hgrm",
        path.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        text.starts_with("       Value     Percentile TotalCount"),
        "{text}"
    );
    assert!(text.contains("#[Max     ="), "{text}");
    // A response delayed by 10 ms cannot be measured faster than that.
    assert!(
        r["uncorrected"]["p50_us"].as_u64().unwrap() >= 10_000,
        "{r}"
    );
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let out = Command::new(BIN)
        .args(["run", "ftp://127.0.0.1:1/"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported scheme"));
    let out = Command::new(BIN)
        .args(["serve", "--spike", "1s,20ms,5s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("LENGTH must not exceed EVERY"));
}
