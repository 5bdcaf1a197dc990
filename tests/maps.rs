//! HAProxy's map files end to end (docs/rules.md, "Maps"): `use_backend` with a name
//! computed per request (`backend_format`), map converters in header values, the
//! errors a bad map gives at load, and a reload that reads a changed map (or keeps
//! the running one when the new file is bad). Also ACL pattern files (`values_file`,
//! HAProxy's `-f`). Real binary, real sockets.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::http::{http_config, Backend, Client};
use common::Ringlb;
use ringlb::config::Config;

/// A map file in the temp dir (beside the test configurations), removed on drop.
struct MapFile(PathBuf);

impl MapFile {
    fn new(name: &str, text: &str) -> MapFile {
        let p = std::env::temp_dir().join(format!("ringlb-map-{}-{name}", std::process::id()));
        std::fs::write(&p, text).expect("write map");
        MapFile(p)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    /// The name relative to the temp dir (where the configurations are).
    fn relative(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }
}

impl Drop for MapFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn backend(name: &str, addr: SocketAddr) -> String {
    format!("\n[[backend]]\nname = \"{name}\"\n[[backend.server]]\nname = \"{name}1\"\naddress = \"{addr}\"\n")
}

/// A request with this Host; the status and the `X-Pool` header the backend saw.
fn get(addr: SocketAddr, host: &str) -> u16 {
    let mut c = Client::connect(addr);
    c.send(format!("GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    c.response(false).0
}

const ROUTES: &str = r#"
[[frontend.http_rule]]
action = "use_backend"
backend_format = "%[req.hdr(host),lower,map_dom(MAP)]"
[[frontend.http_rule]]
action = "use_backend"
backend = "be_b"
[[frontend.http_rule]]
action = "set_header"
name = "X-Pool"
format = "%[req.hdr(host),lower,map_dom(MAP,unknown)]"
"#;

#[test]
fn a_host_map_routes_and_a_name_that_is_no_backend_goes_to_the_default() {
    let (app, a, b) = (Backend::start(), Backend::start(), Backend::start());
    let map = MapFile::new(
        "hosts.map",
        "# host        backend\nexample.com   be_a\nexample.org   be_b\nold.example.net retired\n",
    );
    let frontend = ROUTES.replace("MAP", &map.relative());
    let config =
        http_config(app.addr, "", &frontend) + &backend("be_a", a.addr) + &backend("be_b", b.addr);
    let mut rl = Ringlb::start(&config);
    for host in ["example.com", "WWW.Example.com:8080", "api.example.com"] {
        assert_eq!(get(rl.addr(), host), 200, "{host}");
    }
    assert_eq!((app.requests(), a.requests(), b.requests()), (0, 3, 0));
    assert!(
        a.last_head().to_ascii_lowercase().contains("x-pool: be_a"),
        "{}",
        a.last_head()
    );
    assert_eq!(get(rl.addr(), "shop.example.org"), 200);
    assert_eq!(b.requests(), 1);
    // A line naming no backend, and a host in no line: neither takes the fixed
    // use_backend after it; the default backend does (HAProxy's default_backend).
    assert_eq!(get(rl.addr(), "old.example.net"), 200);
    assert_eq!(get(rl.addr(), "nowhere.test"), 200);
    assert_eq!((app.requests(), b.requests()), (2, 1));
    assert!(
        app.last_head()
            .to_ascii_lowercase()
            .contains("x-pool: unknown"),
        "{}",
        app.last_head()
    );

    // A changed map is read by a reload...
    std::fs::write(&map.0, "example.com be_b\n").unwrap();
    rl.reload_and_wait();
    assert_eq!(get(rl.addr(), "example.com"), 200);
    assert_eq!((a.requests(), b.requests()), (3, 2));
    // ...and one that cannot be read is refused: the running configuration stays.
    let kept = std::fs::read(&map.0).unwrap();
    std::fs::remove_file(&map.0).unwrap();
    rl.signal(libc::SIGHUP);
    rl.wait_logged("reload refused");
    std::fs::write(&map.0, kept).unwrap();
    assert_eq!(get(rl.addr(), "example.com"), 200);
    assert_eq!((a.requests(), b.requests()), (3, 3));
}

fn parse(text: &str, origin: &Path) -> Result<Config, String> {
    Config::parse(text, &origin.display().to_string()).map_err(|e| e.to_string())
}

#[test]
fn a_bad_map_or_rule_is_named_at_load() {
    let app: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let origin = std::env::temp_dir().join("maps-test.toml");
    let with = |frontend: &str| http_config(app, "", frontend) + &backend("be_a", app);
    let rule = |key_value: &str| {
        format!("[[frontend.http_rule]]\naction = \"use_backend\"\n{key_value}\n")
    };

    let missing = with(&rule("backend_format = \"%[path,map_beg(no-such.map)]\""));
    let err = parse(&missing, &origin).unwrap_err();
    let line = missing
        .lines()
        .position(|l| l.starts_with("backend_format"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(":{line}:"))
            && err.contains("backend_format")
            && err.contains("no-such.map")
            && err.contains("cannot read"),
        "{err}"
    );

    let nets = MapFile::new("nets.map", "10.0.0.0/8 be_a\n10.0.0.0/40 be_a\n");
    let bad_line = with(&rule(&format!(
        "backend_format = \"%[src,map_ip({})]\"",
        nets.path()
    )));
    let err = parse(&bad_line, &origin).unwrap_err();
    assert!(
        err.contains(&format!("map file {}:2:", nets.path())),
        "{err}"
    );

    let both = with(&rule("backend = \"be_a\"\nbackend_format = \"%[path]\""));
    assert!(parse(&both, &origin)
        .unwrap_err()
        .contains("backend or backend_format, not both"));
    let literal = with(&rule("backend_format = \"be_z\""));
    assert!(parse(&literal, &origin)
        .unwrap_err()
        .contains("\"be_z\" is not a defined backend"));
    let literal = with(&rule("backend_format = \"be_a\""));
    assert!(
        parse(&literal, &origin).is_ok(),
        "a name without samples is a fixed use_backend"
    );
    let unknown = with(&rule("backend_format = \"%[path,map_glob(x.map)]\""));
    assert!(parse(&unknown, &origin).unwrap_err().contains("map_dom"));
    // An empty map is valid: every lookup misses.
    let empty = MapFile::new("empty.map", "# filled by a deploy script\n");
    let ok = with(&rule(&format!(
        "backend_format = \"%[path,map_beg({})]\"",
        empty.path()
    )));
    assert!(parse(&ok, &origin).is_ok());
}

#[test]
fn check_lists_the_maps_it_read() {
    let app: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let hosts = MapFile::new(
        "check-hosts.map",
        "# two entries\na.example app\nb.example app\n",
    );
    let rules = format!(
        "[[frontend.http_rule]]\naction = \"use_backend\"\nbackend_format = \"%[req.hdr(host),lower,map_dom({0},app)]\"\n\
         [[frontend.http_rule]]\naction = \"set_header\"\nname = \"X-Site\"\nformat = \"%[req.hdr(host),map_dom({0})]\"\n",
        hosts.relative()
    );
    let cfg = common::TempConfig::new(&http_config(app, "", &rules));
    let out = std::process::Command::new(common::BIN)
        .args(["check", "-c"])
        .arg(&cfg.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = format!("map {:?} (map_dom): 2 line(s)", hosts.relative());
    assert_eq!(
        stdout.matches(&line).count(),
        1,
        "read once, listed once: {stdout}"
    );
}

const PATTERN_RULES: &str = r#"
[[frontend.acl]]
name = "static"
path_prefix = ["/assets/"]
values_file = "STATIC"
[[frontend.acl]]
name = "bot"
header = { name = "User-Agent", prefix = [] }
ignore_case = true
values_file = "BOTS"
[[frontend.http_rule]]
action = "deny"
if = "bot"
[[frontend.http_rule]]
action = "use_backend"
backend = "be_a"
if = "static"
"#;

#[test]
fn acl_pattern_files_add_to_the_list() {
    let (app, a) = (Backend::start(), Backend::start());
    let stat = MapFile::new("static.lst", "# static trees\n/static/\n\n  /img/  \n");
    let bots = MapFile::new("bots.lst", "BadBot\nscanner/\n");
    let frontend = PATTERN_RULES
        .replace("STATIC", &stat.relative())
        .replace("BOTS", &bots.relative());
    let rl = Ringlb::start(&(http_config(app.addr, "", &frontend) + &backend("be_a", a.addr)));
    let send = |path: &str, ua: &str| {
        let mut c = Client::connect(rl.addr());
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: {ua}\r\n\r\n").as_bytes());
        c.response(false).0
    };
    for path in ["/static/a.css", "/img/logo.png", "/assets/app.js"] {
        assert_eq!(send(path, "curl/8"), 200, "{path}");
    }
    assert_eq!(
        (a.requests(), app.requests()),
        (3, 0),
        "file lines and inline values"
    );
    assert_eq!(send("/index.html", "curl/8"), 200);
    assert_eq!(app.requests(), 1);
    assert_eq!(
        send("/", "badbot/2.0"),
        403,
        "ignore_case applies to the file's lines"
    );
    assert_eq!(send("/", "Scanner/1"), 403);
    assert_eq!(app.requests(), 1);

    let origin = std::env::temp_dir().join("maps-test.toml");
    let with = |acl: &str| {
        http_config(
            app.addr,
            "",
            &format!("[[frontend.acl]]\nname = \"x\"\n{acl}\n"),
        )
    };
    let err = parse(&with("src = []\nvalues_file = \"a.lst\""), &origin).unwrap_err();
    assert!(
        err.contains("values_file adds to a list") && err.contains("src_file"),
        "{err}"
    );
    let err = parse(&with("path = []\nvalues_file = \"no-such.lst\""), &origin).unwrap_err();
    assert!(
        err.contains("values_file: cannot read") && err.contains("no-such.lst"),
        "{err}"
    );
    let err = parse(
        &with(
            "header = { name = \"X\" }\nvalues_file = \"BOTS\""
                .replace("BOTS", &bots.relative())
                .as_str(),
        ),
        &origin,
    )
    .unwrap_err();
    assert!(
        err.contains("values_file needs one of equals, prefix, regex"),
        "{err}"
    );
}

/// An HTTP/2 stream is routed by the same map: its `:authority` is the Host the
/// rules read (curl, cleartext HTTP/2 with prior knowledge).
#[test]
fn http2_streams_are_routed_by_the_map_too() {
    let (app, a) = (Backend::start(), Backend::start());
    let map = MapFile::new("h2-hosts.map", "example.com be_a\n");
    let rules = format!(
        "h2c = \"prior-knowledge\"\n[[frontend.http_rule]]\naction = \"use_backend\"\nbackend_format = \"%[req.hdr(host),lower,map_dom({})]\"\n",
        map.relative()
    );
    let rl = Ringlb::start(&(http_config(app.addr, "", &rules) + &backend("be_a", a.addr)));
    let curl = |authority: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "20",
                "--http2-prior-knowledge",
            ])
            .args(["-w", "%{http_code} %{http_version}", "--connect-to"])
            .arg(format!("{authority}:80:{}", rl.addr()))
            .arg(format!("http://{authority}/x"))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl("www.example.com"), "200 2");
    assert_eq!((a.requests(), app.requests()), (1, 0));
    assert_eq!(curl("other.test"), "200 2");
    assert_eq!((a.requests(), app.requests()), (1, 1));
}
