//! Real peers for health-check tests: an HTTP status API on its own port (like
//! Patroni's 8008), a Redis-like server speaking RESP, and a HAProxy agent. Each
//! records what the checks sent it and counts connections, so tests wait on counts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// Wait (bounded) until `counter` reaches `n`.
pub fn wait_count(counter: &AtomicUsize, n: usize, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} {what}",
            counter.load(Ordering::SeqCst)
        );
        thread::sleep(Duration::from_millis(5));
    }
}

type Handler = dyn Fn(&str) -> (u16, String) + Send + Sync;

/// An HTTP API answering every request with what `answer` says of its head; it keeps
/// every request head.
pub struct StatusApi {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
    pub requests: Arc<AtomicUsize>,
    answer: Arc<Mutex<Arc<Handler>>>,
}

impl StatusApi {
    pub fn start(answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> StatusApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let answer: Arc<Mutex<Arc<Handler>>> = Arc::new(Mutex::new(Arc::new(answer)));
        let (h, q, a) = (heads.clone(), requests.clone(), answer.clone());
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                let (h, q, a) = (h.clone(), q.clone(), a.clone());
                thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(PATIENCE));
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    let f = a.lock().unwrap().clone();
                    let (status, body) = f(&head);
                    h.lock().unwrap().push(head);
                    let mut w = s;
                    let _ = write!(
                        w,
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    q.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        StatusApi {
            addr,
            heads,
            requests,
            answer,
        }
    }

    pub fn set(&self, answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) {
        *self.answer.lock().unwrap() = Arc::new(answer);
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Wait for `n` more answered requests than now.
    pub fn wait_more(&self, n: usize) {
        wait_count(&self.requests, self.count() + n, "check requests");
    }

    pub fn last_head(&self) -> String {
        self.heads
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

/// What the fake Redis answers to `INFO replication`, or that it answers nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Master,
    Slave,
    /// Reads commands, answers none.
    Mute,
}

/// A Redis-like server: `PING` → `+PONG`, `INFO replication` → a bulk string with
/// `role:master` or `role:slave`; anything else → `-ERR`.
pub struct FakeRedis {
    pub addr: SocketAddr,
    pub role: Arc<Mutex<Role>>,
    pub commands: Arc<AtomicUsize>,
}

impl FakeRedis {
    pub fn start(role: Role) -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let role = Arc::new(Mutex::new(role));
        let commands = Arc::new(AtomicUsize::new(0));
        let (r, c) = (role.clone(), commands.clone());
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                let (r, c) = (r.clone(), c.clone());
                thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(PATIENCE));
                    let mut reader = BufReader::new(s.try_clone().unwrap());
                    let mut w = s;
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        c.fetch_add(1, Ordering::SeqCst);
                        let role = *r.lock().unwrap();
                        let reply = match (line.trim_end(), role) {
                            (_, Role::Mute) => continue,
                            ("PING", _) => "+PONG\r\n".to_string(),
                            ("INFO replication", role) => {
                                let name = if role == Role::Master {
                                    "master"
                                } else {
                                    "slave"
                                };
                                let body = format!(
                                    "# Replication\r\nrole:{name}\r\nconnected_slaves:0\r\n"
                                );
                                format!("${}\r\n{body}\r\n", body.len())
                            }
                            _ => "-ERR unknown command\r\n".to_string(),
                        };
                        if w.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeRedis {
            addr,
            role,
            commands,
        }
    }

    pub fn set(&self, role: Role) {
        *self.role.lock().unwrap() = role;
    }
}

/// A HAProxy agent: to every connection it answers its current line and closes,
/// after noting what it was sent (`agent_send`).
pub struct AgentPeer {
    pub addr: SocketAddr,
    pub answer: Arc<Mutex<String>>,
    pub asked: Arc<AtomicUsize>,
    pub received: Arc<Mutex<Vec<u8>>>,
}

impl AgentPeer {
    pub fn start(answer: &str) -> AgentPeer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = Arc::new(Mutex::new(answer.to_string()));
        let asked = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (a, n, got) = (answer.clone(), asked.clone(), received.clone());
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                // What the check sends comes first; then the answer, then close.
                let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                let mut buf = [0u8; 256];
                if let Ok(k) = s.read(&mut buf) {
                    *got.lock().unwrap() = buf[..k].to_vec();
                }
                let line = a.lock().unwrap().clone();
                let _ = s.write_all(line.as_bytes());
                n.fetch_add(1, Ordering::SeqCst);
            }
        });
        AgentPeer {
            addr,
            answer,
            asked,
            received,
        }
    }

    pub fn say(&self, line: &str) {
        *self.answer.lock().unwrap() = line.to_string();
    }

    /// Wait until the agent has answered `n` more times than now.
    pub fn wait_more(&self, n: usize) {
        let now = self.asked.load(Ordering::SeqCst);
        wait_count(&self.asked, now + n, "agent answers");
    }
}

/// Read `/api/servers` and return the server `name` of backend 0.
pub fn api_server(admin: SocketAddr, name: &str) -> serde_json::Value {
    let (_, json) = super::admin(admin, "GET", "/api/servers", "", None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["backends"][0]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no server {name} in {json}"))
}

/// Connections through a TCP frontend, one small echo round trip each.
pub fn tcp_round_trips(addr: SocketAddr, n: usize) {
    for i in 0..n {
        let mut s = super::connect(addr);
        super::ping(&mut s, format!("hello {i}").as_bytes());
    }
}
