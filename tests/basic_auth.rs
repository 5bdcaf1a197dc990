//! HTTP basic authentication through the real binary with curl: a `[[userlist]]` with a
//! plain and a crypt(3) SHA-512 password, an `http_auth` ACL and the `auth` rule action
//! (HAProxy's `http-request auth realm R if !{ http_auth(L) }`), per request on
//! HTTP/1.1 keep-alive and per stream on HTTP/2; and the admin listener with
//! `global.admin_userlist` (HAProxy's `stats auth`).

mod common;

use std::process::Command;

use common::http::Backend;
use common::Ringlb;

/// The SHA-crypt specification's first SHA-512 test vector: "Hello world!".
const HASH: &str = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";

fn curl_installed(test: &str) -> bool {
    common::tool_installed(test, "curl")
}

fn config(backend: &Backend) -> String {
    format!(
        "[global]\nworkers = 2\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\nadmin_userlist = \"ops\"\n\n\
         [[userlist]]\nname = \"ops\"\n\
         [[userlist.user]]\nname = \"alice\"\ninsecure_password = \"s3cret\"\ngroups = [\"admin\"]\n\
         [[userlist.user]]\nname = \"bob\"\npassword = \"{HASH}\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\n{RULES}\n\
         [[frontend]]\nname = \"web-h2c\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n{RULES}\n\
         [[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"s\"\naddress = \"{}\"\n",
        backend.addr
    )
}

/// The same rules on both frontends.
const RULES: &str = "[[frontend.acl]]\nname = \"known\"\nhttp_auth = { userlist = \"ops\" }\n\
         [[frontend.acl]]\nname = \"admins\"\nhttp_auth = { userlist = \"ops\", groups = [\"admin\"] }\n\
         [[frontend.acl]]\nname = \"admin_area\"\npath_prefix = [\"/admin\"]\n\
         [[frontend.http_rule]]\naction = \"auth\"\nrealm = \"Ops area\"\nunless = \"known\"\n\
         [[frontend.http_rule]]\naction = \"auth\"\nrealm = \"Admins\"\nif = \"admin_area !admins\"\n";

/// curl with `transfers` (each its own arguments, one curl run: a later transfer
/// reuses the connection); every transfer's `code realm-header num_connects`.
fn curl_all(transfers: &[&[&str]]) -> Vec<String> {
    let mut cmd = Command::new("curl");
    for (i, t) in transfers.iter().enumerate() {
        if i > 0 {
            cmd.arg("--next");
        }
        cmd.args(["-s", "-o", "/dev/null", "--max-time", "20"])
            .args([
                "-w",
                "%{http_code} %header{www-authenticate} %{num_connects}\n",
            ])
            .args(*t);
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

fn curl(args: &[&str]) -> Vec<String> {
    curl_all(&[args])
}

#[test]
fn missing_wrong_and_good_credentials_per_request() {
    if !curl_installed("basic_auth_requests") {
        return;
    }
    let backend = Backend::start();
    let r = Ringlb::start(&config(&backend));
    let url = format!("http://127.0.0.1:{}/page", r.addrs[0].port());
    let admin_url = format!("http://127.0.0.1:{}/admin/x", r.addrs[0].port());
    let realm = "Basic realm=\"Ops area\"";
    assert_eq!(curl(&[&url]), [format!("401 {realm} 1")]);
    assert_eq!(
        curl(&["-u", "alice:wrong", &url]),
        [format!("401 {realm} 1")]
    );
    assert_eq!(
        curl(&["-u", "mallory:s3cret", &url]),
        [format!("401 {realm} 1")]
    );
    assert_eq!(
        curl(&["-u", "bob:hello world!", &url]),
        [format!("401 {realm} 1")]
    );
    assert_eq!(curl(&["-u", "alice:s3cret", &url]), ["200  1"]);
    assert_eq!(curl(&["-u", "bob:Hello world!", &url]), ["200  1"]);
    // Groups: bob is known but not an admin.
    assert_eq!(
        curl(&["-u", "bob:Hello world!", &admin_url]),
        ["401 Basic realm=\"Admins\" 1"]
    );
    assert_eq!(curl(&["-u", "alice:s3cret", &admin_url]), ["200  1"]);
    // Rules run per request: on one keep-alive connection, without, then with.
    let both = curl_all(&[&[&url], &["-u", "alice:s3cret", &url]]);
    assert_eq!(both, [format!("401 {realm} 1"), "200  0".to_string()]);
    // The refused requests never reached the server.
    assert_eq!(backend.requests(), 4);
}

/// nghttp (CI installs nghttp2-client) with `args`: each stream's status, by stream id.
fn nghttp(args: &[&str]) -> Option<Vec<String>> {
    if !common::tool_installed("basic_auth_h2", "nghttp") {
        return None;
    }
    let out = Command::new("nghttp").arg("-nv").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut statuses: Vec<(u32, String)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("recv (stream_id=")?.1;
            let (id, rest) = rest.split_once(')')?;
            let status = rest.trim().strip_prefix(":status: ")?;
            Some((id.parse().ok()?, status.to_string()))
        })
        .collect();
    statuses.sort();
    Some(statuses.into_iter().map(|(_, s)| s).collect())
}

#[test]
fn rules_run_per_stream_on_http2() {
    let backend = Backend::start();
    let r = Ringlb::start(&config(&backend));
    let base = format!("http://127.0.0.1:{}", r.addrs[1].port());
    let (page, admin) = (format!("{base}/page"), format!("{base}/admin/x"));
    // Concurrent streams of one connection, each judged on its own: bob is a known
    // user, not an admin.
    let bob = "authorization: Basic Ym9iOkhlbGxvIHdvcmxkIQ==";
    let again = format!("{page}?again");
    let Some(got) = nghttp(&["-H", bob, &page, &admin, &again]) else {
        return;
    };
    assert_eq!(got, ["200", "401", "200"]);
    assert_eq!(nghttp(&[&page, &admin]).unwrap(), ["401", "401"]);
    assert_eq!(backend.requests(), 2);
}

#[test]
fn the_admin_listener_asks_for_a_listed_user() {
    if !curl_installed("basic_auth_admin") {
        return;
    }
    let backend = Backend::start();
    let r = Ringlb::start(&config(&backend));
    let api = format!("http://{}/api/servers", r.admin_addr());
    let got = curl(&[&api]);
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("401 Basic realm=\"ringlb\""), "{got:?}");
    assert!(curl(&["-u", "alice:nope", &api])[0].starts_with("401 "));
    assert_eq!(curl(&["-u", "alice:s3cret", &api]), ["200  1"]);
    assert_eq!(curl(&["-u", "bob:Hello world!", &api]), ["200  1"]);
}
