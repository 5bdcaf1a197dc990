//! A real SMTP peer for the mail tests: `tests/mail_peers/smtp_sink.py` (standard
//! library Python speaking SMTP over a socket), its accepted messages read back as
//! JSON.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};

use super::{tool_installed, PATIENCE};

pub const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mail_peers/smtp_sink.py");
/// A running SMTP sink; killed on drop.
pub struct Sink {
    child: Child,
    pub mails: Receiver<serde_json::Value>,
    pub port: u16,
}

impl Sink {
    pub fn spawn(mut cmd: Command) -> Sink {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start the SMTP sink");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().and_then(Result::ok).unwrap_or_default();
        let port = ready
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the sink said {ready:?}"));
        let (tx, mails) = channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).expect("sink JSON"));
            }
        });
        Sink { child, mails, port }
    }

    /// On loopback; `hang`: accepts and never answers.
    pub fn local(test: &str, hang: bool) -> Option<Sink> {
        if !tool_installed(test, "python3") {
            return None;
        }
        let mut cmd = Command::new("python3");
        cmd.arg(SINK);
        if hang {
            cmd.arg("--hang");
        }
        Some(Sink::spawn(cmd))
    }

    /// The next mail (bounded wait).
    pub fn next(&self) -> serde_json::Value {
        self.mails
            .recv_timeout(PATIENCE)
            .expect("no mail arrived in time")
    }

    /// The next mail whose text contains `needle`; the ones before it are returned too.
    pub fn until(&self, needle: &str) -> (serde_json::Value, Vec<serde_json::Value>) {
        let mut before = Vec::new();
        loop {
            let m = self.next();
            if data(&m).contains(needle) {
                return (m, before);
            }
            before.push(m);
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn data(m: &serde_json::Value) -> &str {
    m["data"].as_str().unwrap_or("")
}

pub fn header<'a>(m: &'a serde_json::Value, name: &str) -> &'a str {
    let data = data(m);
    let head = data.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} header in {data:?}"))
}

pub fn body(m: &serde_json::Value) -> &str {
    data(m)
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .trim_end()
}
