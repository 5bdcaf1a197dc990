//! Cookie persistence (HAProxy's `cookie SERVERID insert indirect nocache`, `prefix`,
//! `rewrite`) through the real binary with 2 workers: a client keeps its server over
//! new connections (whichever worker takes them), the server never sees the
//! persistence cookie with `indirect`, a server in maintenance loses its clients (who
//! get a new cookie) while a draining one keeps them, and bad settings are refused
//! with file:line.

mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use common::http::{read_message, Client};
use common::{admin, Ringlb, TempConfig, BIN};

/// A backend that names itself in every body and keeps every request head it saw.
/// `/login` sets the application's `JSESSIONID`, `/rw` sets `SERVERID` itself,
/// `/cacheable` answers with an `ETag` (a response a cache may store).
struct Named {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Named {
    fn start(name: &'static str) -> Named {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&heads);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut w) = stream else { continue };
                let seen = Arc::clone(&seen);
                thread::spawn(move || {
                    let mut r = BufReader::new(w.try_clone().unwrap());
                    while let Ok(Some((head, _))) = read_message(&mut r) {
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        seen.lock().unwrap().push(head);
                        let set = match path.as_str() {
                            "/login" => "Set-Cookie: JSESSIONID=abc; Path=/\r\n",
                            "/rw" => "Set-Cookie: SERVERID=fromapp; Path=/\r\n",
                            "/cacheable" => "ETag: \"v1\"\r\n",
                            _ => "",
                        };
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\n{set}Content-Length: {}\r\n\r\n{name}",
                            name.len()
                        );
                        if w.write_all(reply.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Named { addr, heads }
    }

    fn last_cookie(&self) -> Option<String> {
        let heads = self.heads.lock().unwrap();
        let head = heads.last()?;
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with("cookie:"))
            .map(|l| l[7..].trim().to_string())
    }

    fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }
}

fn config(servers: &[&Named], cookie: &str) -> String {
    let mut s = format!(
        "[global]\nworkers = 2\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n[backend.cookie]\n{cookie}\n"
    );
    for (i, n) in servers.iter().enumerate() {
        s.push_str(&format!(
            "[[backend.server]]\nname = \"s{i}\"\naddress = \"{}\"\ncookie = \"c{i}\"\n",
            n.addr
        ));
    }
    s
}

/// One request on a new connection: status, head (lower-cased names), body.
fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> (u16, String, String) {
    let mut c = Client::connect(addr);
    let cookie = cookie.map_or(String::new(), |v| format!("cookie: {v}\r\n"));
    c.send(
        format!("GET {path} HTTP/1.1\r\nhost: a\r\n{cookie}connection: close\r\n\r\n").as_bytes(),
    );
    let (status, head, body) = c.response(false);
    (
        status,
        head.to_ascii_lowercase(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn set_cookies(head: &str) -> Vec<&str> {
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .collect()
}

#[test]
fn insert_indirect_keeps_a_client_on_its_server_and_hides_the_cookie() {
    let s = [Named::start("s0"), Named::start("s1"), Named::start("s2")];
    let r = Ringlb::start(&config(
        &[&s[0], &s[1], &s[2]],
        "name = \"SERVERID\"\nmode = \"insert\"\nindirect = true\nnocache = true\nhttponly = true",
    ));
    let front = r.addr();
    // A new client: balanced, and told its server. The answer is cacheable (it has an
    // ETag), so nocache marks it private.
    let (status, head, body) = get(front, "/cacheable", Some("theme=dark"));
    assert_eq!(status, 200);
    let idx: usize = body.trim_start_matches('s').parse().unwrap();
    assert_eq!(
        set_cookies(&head),
        [format!("serverid=c{idx}; path=/; httponly")],
        "{head}"
    );
    assert!(head.contains("cache-control: private"), "{head}");
    // Without freshness or a validator HAProxy does not count it cacheable: the cookie
    // alone.
    let (_, plain, _) = get(front, "/", Some("theme=dark"));
    assert_eq!(set_cookies(&plain).len(), 1, "{plain}");
    assert!(!plain.contains("cache-control"), "{plain}");
    // Its next requests, each on a new connection (so over both workers), stay there;
    // the server sees the client's other cookies but never SERVERID; nothing is set.
    let cookie = format!("theme=dark; SERVERID=c{idx}; lang=fr");
    for _ in 0..12 {
        let (status, head, body) = get(front, "/", Some(&cookie));
        assert_eq!((status, body.as_str()), (200, format!("s{idx}").as_str()));
        assert!(set_cookies(&head).is_empty(), "{head}");
        assert!(!head.contains("cache-control"), "{head}");
        assert_eq!(s[idx].last_cookie().as_deref(), Some("theme=dark; lang=fr"));
    }
    // Only the cookie: the Cookie field goes away.
    get(front, "/", Some(&format!("SERVERID=c{idx}")));
    assert_eq!(s[idx].last_cookie(), None);
    // Clients without the cookie still spread over all servers.
    let mut seen = [0; 3];
    for _ in 0..9 {
        let (_, _, body) = get(front, "/", None);
        seen[body.trim_start_matches('s').parse::<usize>().unwrap()] += 1;
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
}

#[test]
fn an_unknown_value_is_rebalanced_and_rewritten() {
    let s = [Named::start("s0"), Named::start("s1")];
    let r = Ringlb::start(&config(&[&s[0], &s[1]], "name = \"SERVERID\""));
    let (status, head, body) = get(r.addr(), "/", Some("SERVERID=nope"));
    assert_eq!(status, 200);
    let want = format!("serverid=c{}; path=/", body.trim_start_matches('s'));
    assert_eq!(set_cookies(&head), [want]);
    // Without indirect the server sees the cookie as the client sent it.
    let idx: usize = body.trim_start_matches('s').parse().unwrap();
    assert_eq!(s[idx].last_cookie().as_deref(), Some("SERVERID=nope"));
}

#[test]
fn maintenance_moves_clients_and_drain_keeps_them() {
    let s = [Named::start("s0"), Named::start("s1")];
    let mut r = Ringlb::start(&config(
        &[&s[0], &s[1]],
        "name = \"SERVERID\"\nindirect = true",
    ));
    let (front, adm) = (r.addr(), r.admin_addr());
    // Drain s0: its clients keep it, new clients never get it.
    let (code, body) = admin(adm, "POST", "/api/servers/app/s0/state", "drain", None);
    assert_eq!(code, 200, "{body}");
    r.wait_applied(2, 0, "admin: Drain");
    for _ in 0..6 {
        let (_, head, body) = get(front, "/", Some("SERVERID=c0"));
        assert_eq!(body, "s0");
        assert!(set_cookies(&head).is_empty(), "{head}");
        let (_, head, body) = get(front, "/", None);
        assert_eq!(body, "s1");
        assert_eq!(set_cookies(&head), ["serverid=c1; path=/"]);
    }
    // Maintenance: its clients go elsewhere and are told their new server.
    let (code, body) = admin(adm, "POST", "/api/servers/app/s0/state", "maint", None);
    assert_eq!(code, 200, "{body}");
    r.wait_applied(2, 0, "admin: Maint");
    let before = s[0].requests();
    for _ in 0..6 {
        let (status, head, body) = get(front, "/", Some("SERVERID=c0"));
        assert_eq!((status, body.as_str()), (200, "s1"));
        assert_eq!(set_cookies(&head), ["serverid=c1; path=/"]);
    }
    assert_eq!(s[0].requests(), before);
}

#[test]
fn prefix_marks_the_application_cookie_and_unmarks_it_for_the_server() {
    let s = [Named::start("s0"), Named::start("s1")];
    let r = Ringlb::start(&config(
        &[&s[0], &s[1]],
        "name = \"JSESSIONID\"\nmode = \"prefix\"",
    ));
    let front = r.addr();
    let (_, head, body) = get(front, "/login", None);
    let idx: usize = body.trim_start_matches('s').parse().unwrap();
    assert_eq!(
        set_cookies(&head),
        [format!("jsessionid=c{idx}~abc; path=/")]
    );
    for _ in 0..8 {
        let (_, head, body) = get(front, "/", Some(&format!("a=1; JSESSIONID=c{idx}~abc")));
        assert_eq!(body, format!("s{idx}"));
        assert!(set_cookies(&head).is_empty(), "{head}");
        assert_eq!(s[idx].last_cookie().as_deref(), Some("a=1; JSESSIONID=abc"));
    }
    // A response without the application's cookie sets nothing.
    let (_, head, _) = get(front, "/", None);
    assert!(set_cookies(&head).is_empty(), "{head}");
}

#[test]
fn rewrite_replaces_the_value_the_server_set() {
    let s = [Named::start("s0"), Named::start("s1")];
    let r = Ringlb::start(&config(
        &[&s[0], &s[1]],
        "name = \"SERVERID\"\nmode = \"rewrite\"",
    ));
    let front = r.addr();
    let (_, head, body) = get(front, "/rw", None);
    let idx: usize = body.trim_start_matches('s').parse().unwrap();
    assert_eq!(set_cookies(&head), [format!("serverid=c{idx}; path=/")]);
    for _ in 0..6 {
        let (_, _, body) = get(front, "/", Some(&format!("SERVERID=c{idx}")));
        assert_eq!(body, format!("s{idx}"));
    }
}

#[test]
fn bad_cookie_settings_are_refused_with_their_line() {
    let base = "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:1\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
                [[backend]]\nname = \"app\"\n";
    let cases = [
        (
            "[backend.cookie]\nname = \"SERVER ID\"\n[[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n",
            "cookie.name \"SERVER ID\" must be a token",
        ),
        (
            "[backend.cookie]\nname = \"S\"\nmode = \"sticky\"\n[[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n",
            "cookie.mode \"sticky\"",
        ),
        (
            "[backend.cookie]\nname = \"S\"\n[[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\ncookie = \"x\"\n\
             [[backend.server]]\nname = \"b\"\naddress = \"127.0.0.1:3\"\ncookie = \"x\"\n",
            "server \"a\" has the same value",
        ),
        (
            "[backend.cookie]\nname = \"S\"\n[[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\ncookie = \"a;b\"\n",
            "server \"a\": cookie \"a;b\": a cookie value is 1 to 256 characters",
        ),
        (
            "[backend.cookie]\nname = \"S\"\nmode = \"prefix\"\n[[backend.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\ncookie = \"a~b\"\n",
            "cannot contain '~'",
        ),
    ];
    for (extra, want) in cases {
        let text = format!("{base}{extra}");
        let file = TempConfig::new(&text);
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&file.0)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}\n{stderr}");
        assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
        let path = file.0.display().to_string();
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{path}:")) && l.contains(want)),
            "no file:line for {want:?}:\n{stderr}"
        );
    }
}
