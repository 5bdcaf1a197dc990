//! Servers found by DNS at runtime (HAProxy's `resolvers` + `server-template`),
//! through the real binary with 2 workers and a DNS server this test runs on
//! loopback: a server follows its name's record, a template fills its slots from the
//! A records and follows changes, a failed resolution keeps the last addresses, a
//! server with no address yet takes no traffic, and bad settings are refused.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use common::http::Client;
use common::{admin, Ringlb, TempConfig, BIN, PATIENCE};

/// A DNS server on loopback answering A questions from a table the test changes
/// (TTL 1 s); AAAA questions get an empty answer; `mute` makes it answer nothing.
struct Dns {
    addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>>,
    /// SRV name → (port, target) records; the targets' A records go in the
    /// additional section.
    srv: Srv,
    mute: Arc<AtomicBool>,
}

type Srv = Arc<Mutex<HashMap<String, Vec<(u16, String)>>>>;

impl Dns {
    fn start() -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let records: Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>> = Arc::default();
        let srv: Srv = Arc::default();
        let mute = Arc::new(AtomicBool::new(false));
        let (r, m, sv) = (Arc::clone(&records), Arc::clone(&mute), Arc::clone(&srv));
        thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if m.load(Ordering::SeqCst) || q.queries.len() != 1 {
                    continue;
                }
                let question = &q.queries[0];
                let name = question.name().to_ascii().trim_end_matches('.').to_string();
                let mut reply = Message::response(q.metadata.id, OpCode::Query);
                reply.metadata.message_type = MessageType::Response;
                reply.add_queries(q.queries.clone());
                if question.query_type() == RecordType::SRV {
                    answer_srv(&mut reply, &sv.lock().unwrap(), &r.lock().unwrap(), &name);
                    let _ = socket.send_to(&reply.to_vec().unwrap(), from);
                    continue;
                }
                match r.lock().unwrap().get(&name) {
                    None => reply.metadata.response_code = ResponseCode::NXDomain,
                    Some(ips) if question.query_type() == RecordType::A => {
                        for ip in ips {
                            let rec =
                                Record::from_rdata(question.name().clone(), 1, RData::A(A(*ip)));
                            reply.add_answer(rec);
                        }
                    }
                    Some(_) => {}
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), from);
            }
        });
        Dns {
            addr,
            records,
            srv,
            mute,
        }
    }

    fn set(&self, name: &str, ips: &[Ipv4Addr]) {
        self.records
            .lock()
            .unwrap()
            .insert(name.to_string(), ips.to_vec());
    }
}

/// The SRV records of `name`, with their targets' A records as additionals.
fn answer_srv(
    reply: &mut Message,
    srv: &HashMap<String, Vec<(u16, String)>>,
    a: &HashMap<String, Vec<Ipv4Addr>>,
    name: &str,
) {
    let Some(records) = srv.get(name) else {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return;
    };
    let owner = Name::from_ascii(format!("{name}.")).unwrap();
    for (port, target) in records {
        let t = Name::from_ascii(format!("{target}.")).unwrap();
        reply.add_answer(Record::from_rdata(
            owner.clone(),
            1,
            RData::SRV(SRV::new(10, 10, *port, t.clone())),
        ));
        for ip in a.get(target).into_iter().flatten() {
            reply.add_additional(Record::from_rdata(t.clone(), 1, RData::A(A(*ip))));
        }
    }
}

/// HTTP backends on 127.0.0.{2,3,...} sharing one port, each naming itself.
fn backends(names: &[&'static str]) -> (u16, Vec<Ipv4Addr>) {
    'again: loop {
        let first = TcpListener::bind("127.0.0.2:0").unwrap();
        let port = first.local_addr().unwrap().port();
        let mut listeners = vec![first];
        for i in 1..names.len() {
            match TcpListener::bind((Ipv4Addr::new(127, 0, 0, 2 + i as u8), port)) {
                Ok(l) => listeners.push(l),
                Err(_) => continue 'again,
            }
        }
        let mut ips = Vec::new();
        for (l, &name) in listeners.into_iter().zip(names) {
            if let SocketAddr::V4(a) = l.local_addr().unwrap() {
                ips.push(*a.ip());
            }
            thread::spawn(move || serve(l, name));
        }
        return (port, ips);
    }
}

fn serve(l: TcpListener, name: &'static str) {
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        thread::spawn(move || {
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            while let Ok(Some(_)) = common::http::read_message(&mut r) {
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                    name.len()
                );
                if s.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
        });
    }
}

fn config(dns: &Dns, servers: &str) -> String {
    format!(
        "[global]\nworkers = 2\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         [resolvers]\nnameservers = [\"{}\"]\ntimeout = \"200ms\"\nattempts = 1\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n{servers}",
        dns.addr
    )
}

/// Bodies of `n` requests, each on a new connection, counted.
fn spread(front: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let (status, _, body) = Client::connect(front).get("/");
        let key = if status == 200 {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            status.to_string()
        };
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

/// Wait until requests only reach the servers in `want` (bounded by PATIENCE).
fn wait_spread(front: SocketAddr, want: &[&str]) -> HashMap<String, usize> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = spread(front, 8);
        let only = seen.keys().all(|k| want.contains(&k.as_str()));
        if only && (want.len() == 1 || seen.len() == want.len()) {
            return seen;
        }
        assert!(Instant::now() < deadline, "wanted {want:?}, got {seen:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_follows_its_name_and_keeps_it_when_dns_fails() {
    let dns = Dns::start();
    let (port, ips) = backends(&["a", "b"]);
    dns.set("app.test", &[ips[0]]);
    let mut r = Ringlb::start(&config(
        &dns,
        &format!("[[backend.server]]\nname = \"s\"\naddress = \"app.test:{port}\"\nresolve_interval = \"1s\"\n"),
    ));
    r.wait_logged(&format!("app/s: address {}:{port} (DNS app.test)", ips[0]));
    let front = r.addr();
    assert_eq!(wait_spread(front, &["a"]).get("a"), Some(&8));
    dns.set("app.test", &[ips[1]]);
    r.wait_logged(&format!("app/s: address {}:{port} (DNS app.test)", ips[1]));
    wait_spread(front, &["b"]);
    // The nameserver goes silent: the last address stays, and it is said.
    dns.mute.store(true, Ordering::SeqCst);
    r.wait_logged("DNS app.test: no answer");
    assert_eq!(spread(front, 8).get("b"), Some(&8));
}

#[test]
fn a_template_fills_its_slots_and_follows_the_records() {
    let dns = Dns::start();
    let (port, ips) = backends(&["a", "b", "c"]);
    dns.set("web.test", &[ips[0], ips[1]]);
    let mut r = Ringlb::start(&config(
        &dns,
        &format!("[[backend.server_template]]\nprefix = \"web\"\ncount = 3\naddress = \"web.test:{port}\"\nresolve_interval = \"1s\"\n"),
    ));
    let (front, adm) = (r.addr(), r.admin_addr());
    r.wait_logged(&format!("app/web2: address {}:{port}", ips[1]));
    let seen = wait_spread(front, &["a", "b"]);
    assert_eq!(seen.values().sum::<usize>(), 8);
    // The empty slot is in maintenance, the others show their address.
    let (_, json) = admin(adm, "GET", "/api/servers", "", None);
    assert!(json.contains("\"state\":\"MAINT (resolution)\""), "{json}");
    assert!(
        json.contains(&format!("\"resolved_address\":\"{}:{port}\"", ips[1])),
        "{json}"
    );
    let (_, metrics) = admin(adm, "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_dns_resolution_failures_total 0"),
        "{metrics}"
    );
    // a leaves, c comes: c takes a's slot (web1), b keeps web2.
    dns.set("web.test", &[ips[1], ips[2]]);
    r.wait_logged(&format!("app/web1: address {}:{port}", ips[2]));
    wait_spread(front, &["b", "c"]);
    // All three.
    dns.set("web.test", &[ips[0], ips[1], ips[2]]);
    r.wait_logged(&format!("app/web3: address {}:{port}", ips[0]));
    wait_spread(front, &["a", "b", "c"]);
    // A reload keeps the addresses: no request finds a server without one.
    r.reload_and_wait();
    let seen = spread(front, 9);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(!seen.contains_key("503"), "{seen:?}");
}

#[test]
fn an_srv_template_takes_targets_and_ports_from_the_records() {
    let dns = Dns::start();
    // Three backends on one address, each on its own port.
    let ports: Vec<(u16, &str)> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let l = TcpListener::bind("127.0.0.2:0").unwrap();
            let port = l.local_addr().unwrap().port();
            thread::spawn(move || serve(l, name));
            (port, name)
        })
        .collect();
    dns.set("host.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
    let set_srv = |which: &[usize]| {
        let recs = which
            .iter()
            .map(|&i| (ports[i].0, "host.test".to_string()))
            .collect();
        dns.srv
            .lock()
            .unwrap()
            .insert("_http._tcp.web.test".into(), recs);
    };
    set_srv(&[0, 1]);
    let mut r = Ringlb::start(&config(
        &dns,
        "[[backend.server_template]]\nprefix = \"web\"\ncount = 3\naddress = \"_http._tcp.web.test\"\nresolve_interval = \"1s\"\nresolve_prefer = \"ipv4\"\n",
    ));
    let front = r.addr();
    r.wait_logged(&format!(
        "app/web2: address 127.0.0.2:{} (DNS _http._tcp.web.test)",
        ports[1].0
    ));
    wait_spread(front, &["a", "b"]);
    // a's record goes, c's comes: c takes a's slot.
    set_srv(&[1, 2]);
    r.wait_logged(&format!("app/web1: address 127.0.0.2:{}", ports[2].0));
    wait_spread(front, &["b", "c"]);
}

#[test]
fn a_server_without_an_address_takes_no_traffic() {
    let dns = Dns::start();
    dns.mute.store(true, Ordering::SeqCst);
    let (port, _) = backends(&["a"]);
    let mut r = Ringlb::start(&config(
        &dns,
        &format!("[[backend.server]]\nname = \"s\"\naddress = \"app.test:{port}\"\nresolve_interval = \"1s\"\n"),
    ));
    r.wait_logged("DNS app.test: no answer");
    let seen = spread(r.addr(), 4);
    assert_eq!(seen.get("503"), Some(&4), "{seen:?}");
}

#[test]
fn bad_resolution_settings_are_refused_with_their_line() {
    let head = "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:1\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
                [[backend]]\nname = \"app\"\n";
    let ns = "[resolvers]\nnameservers = [\"127.0.0.1:53\"]\n";
    let cases = [
        (
            format!("{ns}{head}[[backend.server]]\nname = \"s\"\naddress = \"10.0.0.1:80\"\nresolve_interval = \"5s\"\n"),
            "must be HOST:PORT to be resolved at runtime",
        ),
        (
            format!("{ns}{head}[[backend.server]]\nname = \"s\"\naddress = \"db.test:80\"\nresolve_interval = \"5s\"\nresolve_prefer = \"ipv5\"\n"),
            "resolve_prefer \"ipv5\"",
        ),
        (
            format!("{ns}{head}[[backend.server_template]]\nprefix = \"w\"\ncount = 0\naddress = \"w.test:80\"\n"),
            "count",
        ),
        (
            format!("[resolvers]\nnameservers = [\"dns.example\"]\n{head}[[backend.server_template]]\nprefix = \"w\"\ncount = 2\naddress = \"w.test:80\"\n"),
            "\"dns.example\" is not IP or IP:PORT",
        ),
    ];
    for (text, want) in cases {
        let file = TempConfig::new(&text);
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&file.0)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}\n{stderr}");
        let path = file.0.display().to_string();
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{path}:")) && l.contains(want)),
            "want {want:?} with file:line in:\n{stderr}"
        );
    }
    // A template alone is a valid backend, and its name is not resolved by `check`.
    let ok = TempConfig::new(&format!(
        "{ns}{head}[[backend.server_template]]\nprefix = \"w\"\ncount = 2\naddress = \"nowhere.invalid:80\"\n"
    ));
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&ok.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
