//! Compared with the installed haproxy: `show stat` header, typed and JSON reports.

use super::*;

/// `haproxy -db -f FILE` serving a stats socket; killed on drop.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The installed haproxy with a stats socket, a frontend `web` and a backend `app`
/// with server `a` (no check, no agent, as ringlb's in [`start`]).
fn start_haproxy(test: &str) -> (Haproxy, PathBuf, PathBuf) {
    let hpath = socket_path(&format!("haproxy-{test}"));
    let cfg = std::env::temp_dir().join(format!("ringlb-cli-{}-{test}.cfg", std::process::id()));
    std::fs::write(
        &cfg,
        format!(
            "global\n  stats socket {} mode 600 level admin\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 127.0.0.1:{}\n  default_backend app\nbackend app\n  server a 127.0.0.1:9\n",
            hpath.display(),
            common::pp_peers::free_port()
        ),
    )
    .unwrap();
    let h = Haproxy(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy"),
    );
    let deadline = Instant::now() + PATIENCE;
    while std::os::unix::net::UnixStream::connect(&hpath).is_err() {
        assert!(
            Instant::now() < deadline,
            "haproxy never opened its stats socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (h, hpath, cfg)
}

#[test]
fn show_stat_header_is_haproxy_26s() {
    let test = "show_stat_header_is_haproxy_26s";
    if !tool_installed(test, "socat") || !tool_installed(test, "haproxy") {
        return;
    }
    let (_h, hpath, cfg) = start_haproxy("header");
    let theirs = socat(&hpath, "show stat\n");
    let (r, _a, _b, path) = start("header", "user");
    let ours = socat(&path, "show stat\n");
    let header = |s: &str| s.lines().next().unwrap_or("").to_string();
    assert_eq!(header(&ours), header(&theirs));
    // Every row has as many fields as the header.
    let columns = header(&theirs).matches(',').count();
    for row in ours.lines().skip(1).filter(|l| !l.is_empty()) {
        assert_eq!(row.matches(',').count(), columns, "{row}");
    }
    drop(r);
    let _ = std::fs::remove_file(&cfg);
}

/// A `typed` answer's fields: (object letter, or "" for `show info`; name) to
/// (position, tags, type).
fn typed_fields(text: &str) -> HashMap<(String, String), (String, String, String)> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(4, ':');
        let (head, tags, ty) = (
            parts.next().unwrap(),
            parts.next().unwrap_or_else(|| panic!("{line}")),
            parts.next().unwrap_or_else(|| panic!("{line}")),
        );
        let ids: Vec<&str> = head.split('.').collect();
        let n = ids.len();
        assert!(n == 3 || n == 6, "{line}");
        let obj = if n == 6 { ids[0] } else { "" };
        out.insert(
            (obj.to_string(), ids[n - 2].to_string()),
            (ids[n - 3].to_string(), tags.to_string(), ty.to_string()),
        );
    }
    out
}

/// A JSON field object's keys, recursively, as `a.b` paths.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    if let Some(m) = v.as_object() {
        for (k, sub) in m {
            let path = format!("{prefix}{k}");
            if k != "value" || sub.is_object() {
                key_paths(sub, &format!("{path}."), out);
            }
            out.push(path);
        }
    }
    out.sort();
}

/// Every field object in ours has a counterpart in theirs (same object type and
/// name) with the same keys, position, tags and value type.
fn same_json_fields(ours: &[serde_json::Value], theirs: &[serde_json::Value]) {
    let key = |f: &serde_json::Value| (f["objType"].clone(), f["field"]["name"].clone());
    assert!(!ours.is_empty());
    for f in ours {
        let h = theirs
            .iter()
            .find(|h| key(h) == key(f))
            .unwrap_or_else(|| panic!("haproxy has no {f}"));
        let (mut kf, mut kh) = (Vec::new(), Vec::new());
        key_paths(f, "", &mut kf);
        key_paths(h, "", &mut kh);
        assert_eq!(kf, kh, "{f}\n{h}");
        assert_eq!(f["field"]["pos"], h["field"]["pos"], "{f}\n{h}");
        assert_eq!(f["tags"], h["tags"], "{f}\n{h}");
        assert_eq!(f["value"]["type"], h["value"]["type"], "{f}\n{h}");
        let text = f["value"]["type"] == "str";
        assert_eq!(f["value"]["value"].is_string(), text, "{f}");
        assert_eq!(f["value"]["value"].is_u64(), !text, "{f}");
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim_end()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn typed_and_json_reports_are_haproxy_26s() {
    let test = "typed_and_json_reports_are_haproxy_26s";
    if !tool_installed(test, "socat") || !tool_installed(test, "haproxy") {
        return;
    }
    let (_h, hpath, cfg) = start_haproxy("typed");
    let (r, _a, _b, path) = start("typed", "admin");
    spread(r.addr(), 4);

    // `typed`: every field ringlb fills is at HAProxy's position with its tags and type.
    for cmd in ["show stat typed\n", "show info typed\n"] {
        let (ours, theirs) = (socat(&path, cmd), socat(&hpath, cmd));
        assert!(ours.ends_with("\n\n"), "{ours:?}");
        let (ours, theirs) = (typed_fields(&ours), typed_fields(&theirs));
        for (k, v) in &ours {
            assert_eq!(theirs.get(k), Some(v), "{cmd}{k:?}");
        }
        let objects: Vec<&str> = ours.keys().map(|(o, _)| o.as_str()).collect();
        if cmd.contains("stat") {
            for o in ["F", "B", "S"] {
                assert!(objects.contains(&o), "no {o} row: {ours:?}");
            }
        } else {
            assert_eq!(ours.len(), 15, "{ours:?}");
        }
    }
    let typed = socat(&path, "show stat typed\n");
    assert!(typed.contains("F.1.0.48.req_tot.1:MCP:u64:4\n"), "{typed}");
    assert!(
        typed.contains("S.1.1.17.status.1:SGP:str:no check\n"),
        "{typed}"
    );

    // `json`: the same fields, each object with HAProxy's keys.
    let (ours, theirs) = (
        json(&socat(&path, "show stat json\n")),
        json(&socat(&hpath, "show stat json\n")),
    );
    let flat = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().clone())
            .collect()
    };
    assert_eq!(ours.as_array().unwrap().len(), 4, "web, a, b, app: {ours}");
    same_json_fields(&flat(&ours), &flat(&theirs));
    let (ours, theirs) = (
        json(&socat(&path, "show info json\n")),
        json(&socat(&hpath, "show info json\n")),
    );
    same_json_fields(ours.as_array().unwrap(), theirs.as_array().unwrap());
    assert_eq!(ours[5]["value"]["value"], r.child.id(), "{ours}");

    // The answers to starting probes a server does not have are HAProxy's.
    for cmd in [
        "enable agent app/a\n",
        "enable health app/a\n",
        "disable agent app/a\n",
    ] {
        assert_eq!(socat(&path, cmd), socat(&hpath, cmd), "{cmd}");
    }
    let _ = std::fs::remove_file(&cfg);
}
