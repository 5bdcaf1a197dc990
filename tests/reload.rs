//! Hot reload through the real binary (SIGHUP and `POST /api/reload`): valid changes
//! apply without harming open connections; invalid files are refused and the old
//! configuration keeps serving; listeners come and go; operator changes survive.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use common::http::{Backend, Client};
use common::switch::{spread, Switch};
use common::{admin, Ringlb, PATIENCE};

fn config(binds: &[&str], servers: &[(&str, SocketAddr, u32)], extra_backend: &str) -> String {
    let binds: Vec<String> = binds.iter().map(|b| format!("\"{b}\"")).collect();
    let mut s = format!(
        "[global]\nworkers = 1\npin_workers = false\ngrace_period = \"5s\"\nadmin_bind = \"127.0.0.1:0\"\n\
         [[frontend]]\nname = \"web\"\nbind = [{}]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [[backend]]\nname = \"app\"\n{extra_backend}\n",
        binds.join(", ")
    );
    for (name, addr, weight) in servers {
        s.push_str(&format!(
            "[[backend.server]]\nname = \"{name}\"\naddress = \"{addr}\"\nweight = {weight}\n"
        ));
    }
    s
}

fn reload(r: &mut Ringlb, text: &str) {
    std::fs::write(r.config_path(), text).unwrap();
    r.reload_and_wait();
}

/// Start a big download and read its head and the first MiB; the caller reads the rest.
fn start_download(addr: SocketAddr, size: usize) -> (BufReader<TcpStream>, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET /len/{size} HTTP/1.1\r\nhost: t\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    let mut first = vec![0u8; 1 << 20];
    r.read_exact(&mut first).unwrap();
    (r, first.len())
}

fn finish_download(mut r: BufReader<TcpStream>, mut got: usize, size: usize) {
    let mut buf = vec![0u8; 1 << 16];
    while got < size {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "download cut at {got} of {size} bytes");
        assert!(buf[..n].iter().all(|&b| b == b'l'));
        got += n;
    }
    assert_eq!(got, size);
}

#[test]
fn a_valid_change_applies_while_a_long_download_continues() {
    let big = Backend::start();
    let b = Switch::start("b");
    let mut r = Ringlb::start(&config(&["127.0.0.1:0"], &[("a1", big.addr, 1)], ""));
    let front = r.addr();
    let size = 48 << 20;
    let (download, got) = start_download(front, size);
    // Add a server and make it three times as heavy as the first.
    reload(
        &mut r,
        &config(
            &["127.0.0.1:0"],
            &[("a1", big.addr, 1), ("b", b.addr, 3)],
            "",
        ),
    );
    finish_download(download, got, size);
    let seen = spread(front, 40);
    assert_eq!(
        (seen.get("ok"), seen.get("b")),
        (Some(&10), Some(&30)),
        "{seen:?}"
    );
    let (_, metrics) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_config_reloads_total 1"),
        "{metrics}"
    );
}

#[test]
fn removing_the_server_of_an_open_download_does_not_cut_it() {
    let big = Backend::start();
    let b = Switch::start("b");
    let mut r = Ringlb::start(&config(&["127.0.0.1:0"], &[("a1", big.addr, 1)], ""));
    let front = r.addr();
    let size = 32 << 20;
    let (download, got) = start_download(front, size);
    reload(&mut r, &config(&["127.0.0.1:0"], &[("b", b.addr, 1)], ""));
    // New requests go to the new server at once; the old download goes on.
    assert_eq!(spread(front, 4).get("b"), Some(&4));
    finish_download(download, got, size);
    let (_, json) = admin(r.admin_addr(), "GET", "/api/servers", "", None);
    assert!(
        !json.contains("\"a1\""),
        "a removed server is still listed: {json}"
    );
}

#[test]
fn an_invalid_file_is_refused_and_the_old_configuration_keeps_serving() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let good = config(&["127.0.0.1:0"], &[("a", a.addr, 1), ("b", b.addr, 1)], "");
    let mut r = Ringlb::start(&good);
    let front = r.addr();
    let bad = good.replace(
        "weight = 1\n[[backend.server]]",
        "weight = 999\n[[backend.server]]",
    );
    std::fs::write(r.config_path(), &bad).unwrap();
    r.signal(libc::SIGHUP);
    let line = r.wait_for("weight 999 is out of range");
    assert!(
        line.contains(".toml:17:10: backend \"app\" server \"a\""),
        "the error names file, line and field: {line}"
    );
    r.wait_for("reload refused; the running configuration is unchanged");
    let seen = spread(front, 4);
    assert_eq!((seen.get("a"), seen.get("b")), (Some(&2), Some(&2)));
    // The same through the API: 400 and the errors.
    let (status, body) = admin(r.admin_addr(), "POST", "/api/reload", "", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("weight 999 is out of range"), "{body}");
    let (_, metrics) = admin(r.admin_addr(), "GET", "/metrics", "", None);
    assert!(
        metrics.contains("ringlb_config_reload_failures_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringlb_config_reloads_total 0"),
        "{metrics}"
    );
}

#[test]
fn listeners_are_added_and_removed_by_reload() {
    let a = Switch::start("a");
    let servers = [("a", a.addr, 1)];
    let mut r = Ringlb::start(&config(&["127.0.0.1:0"], &servers, ""));
    let first = r.addr();
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let second = free.to_string();
    reload(&mut r, &config(&["127.0.0.1:0", &second], &servers, ""));
    assert_eq!(spread(free, 2).get("a"), Some(&2));
    assert_eq!(spread(first, 2).get("a"), Some(&2));
    // Drop the first address: a connection open on it stays served.
    let mut open = Client::connect(first);
    reload(&mut r, &config(&[&second], &servers, ""));
    r.wait_logged(&format!("stopped accepting worker=0 addr={first}"));
    assert!(TcpStream::connect(first).is_err(), "{first} still accepts");
    assert_eq!(open.get("/still-here").0, 200);
    assert_eq!(spread(free, 2).get("a"), Some(&2));
}

#[test]
fn operator_changes_survive_a_reload() {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let text = config(&["127.0.0.1:0"], &[("a", a.addr, 1), ("b", b.addr, 1)], "");
    let mut r = Ringlb::start(&text);
    let adm = r.admin_addr();
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/a/state", "maint", None).0,
        200
    );
    assert_eq!(
        admin(adm, "POST", "/api/servers/app/b/weight", "7", None).0,
        200
    );
    assert_eq!(spread(r.addr(), 4).get("b"), Some(&4));
    // Reload with a change elsewhere (balance): a stays in maint, b keeps weight 7.
    let changed = config(
        &["127.0.0.1:0"],
        &[("a", a.addr, 1), ("b", b.addr, 1)],
        "balance = \"leastconn\"",
    );
    reload(&mut r, &changed);
    assert_eq!(spread(r.addr(), 6).get("b"), Some(&6));
    let (_, json) = admin(adm, "GET", "/api/servers", "", None);
    assert!(json.contains("\"admin\":\"maint\""), "{json}");
    assert!(json.contains("\"weight\":7"), "{json}");
    // Statistics carried over: b's count includes the requests before the reload.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["backends"][0]["servers"][1]["requests_total"], 10,
        "{json}"
    );
}

#[test]
fn reload_without_a_file_is_refused_in_demo_mode() {
    // The demo has no file to read again; POST /api/reload is not available there, but
    // SIGHUP must not kill it either.
    let mut cmd = std::process::Command::new(common::BIN);
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--workers",
        "1",
    ]);
    let mut r = Ringlb::spawn(cmd, None);
    r.wait_for("ringlb ready");
    r.signal(libc::SIGHUP);
    r.wait_for("no configuration file to reload");
    assert!(
        r.child.try_wait().unwrap().is_none(),
        "demo exited on SIGHUP"
    );
}
