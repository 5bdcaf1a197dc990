//! HAProxy's runtime CLI on `global.admin_socket`, through the real binary and a real
//! peer (socat, as operators' scripts use it): the commands Ansible's haproxy module
//! sends (`show stat`, `disable server`, `enable server`, `set weight`) change where
//! traffic goes; levels refuse changes; `prompt` keeps the session; the socket file
//! has its mode, is created in a new directory and removed at exit (also after
//! dropping privileges to `global.user`, root only); a reload moves it
//! and applies a new level and mode; an upgrade's new process serves the same path;
//! and HAProxy 2.6's `show stat` header, taken from the installed haproxy, is column
//! for column ringlb's; so are the fields' positions, tags and types in `show stat`
//! and `show info`'s `typed` and `json` formats; `disable health` and `disable agent`
//! freeze a server's state while its probes stop.
//!
//! Files (one test binary, `cargo test --test admin_cli`):
//! - `main.rs`: the shared helpers: socket path, `socat`, starting ringlb, a checked config, a server's status.
//! - `commands.rs`: the commands: the Ansible set, levels and prompt, disable health/agent, set server addr.
//! - `socket.rs`: the socket's life: reload, upgrade, opened before privileges are dropped.
//! - `haproxy.rs`: compared with the installed haproxy: `show stat` header, typed and JSON reports.

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::peers::AgentPeer;
use common::switch::{admin_config, spread, Switch};
use common::{tool_installed, Ringlb, PATIENCE};

mod commands;
mod haproxy;
mod socket;

fn socket_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ringlb-cli-{}-{test}.sock", std::process::id()))
}

/// `echo "$input" | socat stdio unix-connect:$path`: what the socket answered.
fn socat(path: &Path, input: &str) -> String {
    let mut child = Command::new("socat")
        .arg("-t5")
        .arg("stdio")
        .arg(format!("unix-connect:{}", path.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start socat");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("socat output");
    assert!(
        out.status.success(),
        "socat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start(test: &str, level: &str) -> (Ringlb, Switch, Switch, PathBuf) {
    let (a, b) = (Switch::start("a"), Switch::start("b"));
    let path = socket_path(test);
    let global = format!(
        "admin_socket = \"{}\"\nadmin_socket_mode = \"660\"\nadmin_socket_level = \"{level}\"\n",
        path.display()
    );
    let r = Ringlb::start(&admin_config(1, &a, &b, &global));
    (r, a, b, path)
}

/// Servers a and b with an http check every 100 ms (rise 1, fall 1); a has an agent.
fn checked_config(a: &Switch, b: &Switch, agent_port: u16, path: &Path) -> String {
    format!(
        "[global]\nworkers = 1\npin_workers = false\nadmin_bind = \"127.0.0.1:0\"\n\
         admin_socket = \"{}\"\nadmin_socket_level = \"admin\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\n[backend.check]\nkind = \"http\"\npath = \"/health\"\ninterval = \"100ms\"\n\
         timeout = \"2s\"\nrise = 1\nfall = 1\nagent_interval = \"100ms\"\n\n\
         [[backend.server]]\nname = \"a\"\naddress = \"{}\"\ncheck = true\n\
         agent_check = true\nagent_port = {agent_port}\n\n\
         [[backend.server]]\nname = \"b\"\naddress = \"{}\"\ncheck = true\n",
        path.display(),
        a.addr,
        b.addr
    )
}

/// A server's `status` column in `show stat`.
fn status_of(path: &Path, server: &str) -> String {
    let stat = socat(path, "show stat\n");
    let prefix = format!("app,{server},");
    let row = stat.lines().find(|l| l.starts_with(&prefix)).unwrap();
    row.split(',').nth(17).unwrap().to_string()
}
