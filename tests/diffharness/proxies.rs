//! The two proxies under comparison: HAProxy with the case's file, ringlb with what
//! `ringlb import` made of it; both with their own loopback ports, in front of the
//! same test backends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::import::{run_import, ImportRun, EXIT_COMPLETE, EXIT_PARTIAL};
use crate::common::pp_peers::{free_port, wait_listening};
use crate::common::{Ringlb, BIN};

use super::rewrite::{rewrite, Shape, Targets};

/// Free loopback ports for every bind of the case.
pub fn ports_for(shape: &Shape) -> BTreeMap<String, Vec<u16>> {
    shape
        .binds
        .iter()
        .map(|(name, n)| (name.clone(), (0..*n).map(|_| free_port()).collect()))
        .collect()
}

/// Each frontend's addresses, in the order of its binds.
pub fn entry_points(ports: &BTreeMap<String, Vec<u16>>) -> BTreeMap<String, Vec<SocketAddr>> {
    ports
        .iter()
        .map(|(n, p)| {
            let a = p.iter().map(|p| SocketAddr::from(([127, 0, 0, 1], *p)));
            (n.clone(), a.collect())
        })
        .collect()
}

/// The certificate files the case's binds name (`crt NAME`, relative to the case
/// directory, where both proxies run): a self-signed certificate for the names the
/// scripts use, with its key in the same PEM file, as HAProxy wants it.
pub fn write_certificates(dir: &Path, files: &[String]) {
    let names = ["www.example.com", "*.example.com", "localhost"];
    for f in files {
        let (cert, key) = ringlb::tls::self_signed_between(&names, -1, 30).expect("certificate");
        std::fs::write(dir.join(f), format!("{cert}{key}")).unwrap();
    }
}

/// HAProxy in the foreground; its output goes to a file of the case directory.
pub struct Haproxy {
    child: Child,
    pub log: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub fn start_haproxy(
    dir: &Path,
    text: &str,
    ports: &BTreeMap<String, Vec<u16>>,
    servers: &BTreeMap<String, SocketAddr>,
) -> Haproxy {
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, rewrite(text, &Targets { ports, servers })).unwrap();
    let log = dir.join("haproxy.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("/usr/sbin/haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start haproxy");
    for p in ports.values().flatten() {
        wait_listening(SocketAddr::from(([127, 0, 0, 1], *p)), &mut child);
    }
    Haproxy { child, log }
}

/// An HTTP/2 server standing in front of a test backend, for a case's `server ...
/// proto h2`: HAProxy accepting HTTP/2 with prior knowledge (`bind ... proto h2`) and
/// passing each request to the backend over HTTP/1.1. Both proxies under comparison
/// talk to the same one; a killed or sick backend makes it answer 503, health checks
/// included.
pub fn h2_front(dir: &Path, backend: SocketAddr) -> (Haproxy, SocketAddr) {
    std::fs::create_dir_all(dir).unwrap();
    let text = "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nfrontend h2\n    bind 127.0.0.1:0 proto h2\n    default_backend real\n\nbackend real\n    server real 127.0.0.1:0\n";
    let port = free_port();
    let ports = BTreeMap::from([("h2".to_string(), vec![port])]);
    let servers = BTreeMap::from([("real/real".to_string(), backend)]);
    let h = start_haproxy(dir, text, &ports, &servers);
    (h, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// ringlb with the importer's translation of the rewritten file, or why there is
/// none.
pub struct Imported {
    /// The rewritten case file the importer read (its report names this file).
    pub input: PathBuf,
    pub run: ImportRun,
    pub output: PathBuf,
}

pub fn import(
    dir: &Path,
    text: &str,
    ports: &BTreeMap<String, Vec<u16>>,
    servers: &BTreeMap<String, SocketAddr>,
) -> Imported {
    let input = dir.join("ringlb-input.cfg");
    std::fs::write(&input, rewrite(text, &Targets { ports, servers })).unwrap();
    let output = dir.join("ringlb.toml");
    let o = output.to_string_lossy().into_owned();
    let run = run_import("haproxy", &input, &["-o", &o, "--allow-partial"]);
    Imported { input, run, output }
}

pub fn start_ringlb(imp: &Imported) -> Result<Ringlb, String> {
    if !matches!(imp.run.code, EXIT_COMPLETE | EXIT_PARTIAL) {
        return Err(format!(
            "ringlb import exited {}: {}",
            imp.run.code,
            imp.run.stderr.trim()
        ));
    }
    let mut cmd = Command::new(BIN);
    cmd.arg("run").arg("-c").arg(&imp.output);
    let mut r = Ringlb::spawn(cmd, None);
    // `wait_for` panics with the log when the line never comes; say which config.
    let text = std::fs::read_to_string(&imp.output).unwrap_or_default();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.wait_for("ringlb ready");
    })) {
        Ok(()) => Ok(r),
        Err(_) => Err(format!(
            "ringlb did not start with the imported configuration:\n{}\n--- log ---\n{}",
            text,
            r.log.join("\n")
        )),
    }
}
