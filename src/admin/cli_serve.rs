//! HAProxy's runtime CLI on `global.admin_socket`, served by the control thread like
//! the admin HTTP listener: read a line, answer each of its `;`-separated commands
//! (each answer ends with a blank line, as HAProxy's do), then close, unless the
//! client asked for `prompt` (then `> ` before each line, until `quit` or EOF).
//! Changes go through the same control-plane calls as the JSON API.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use super::cli::{self, Command};
use super::render::{self, Totals};
use crate::config::{AdminSocket, CliLevel};
use crate::control::Control;
use crate::lb::{Admin, Oper};

/// A line must arrive within this (HAProxy's `stats timeout` default is 10 s).
const IDLE: Duration = Duration::from_secs(10);
/// Longest command line.
const MAX_LINE: usize = 16 * 1024;

/// The bound socket, and which file it is (so that exit removes only ours, not a
/// newer process's after an upgrade).
pub struct CliSocket {
    pub path: PathBuf,
    listener: UnixListener,
    inode: (u64, u64),
}

/// Listen on the configured path with its mode. A file nobody answers on (left by
/// a process that ended) is replaced; with `replace`, a live one too (an upgrade's
/// new process takes the path over from the old one).
pub fn bind(cfg: &AdminSocket, replace: bool) -> io::Result<CliSocket> {
    let path = &cfg.path;
    // An imported `/run/haproxy/admin.sock` names a directory a ringlb host may not
    // have; the socket's own mode decides who gets in.
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    if path.exists() {
        if !replace && UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process serves it",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.mode))?;
    listener.set_nonblocking(true)?;
    let m = std::fs::metadata(path)?;
    Ok(CliSocket {
        path: path.clone(),
        listener,
        inode: (m.dev(), m.ino()),
    })
}

impl CliSocket {
    /// What exit calls: remove the socket file if it is still this one.
    pub fn remover(&self) -> impl FnOnce() {
        let (path, inode) = (self.path.clone(), self.inode);
        move || remove_if(&path, inode)
    }
}

fn remove_if(path: &Path, inode: (u64, u64)) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if (m.dev(), m.ino()) == inode {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub async fn serve(control: Rc<Control>, socket: CliSocket) {
    let listener = match monoio::net::UnixListener::from_std(socket.listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("admin socket: cannot register listener: {e}");
            return;
        }
    };
    tracing::info!(
        "admin socket (HAProxy CLI) listening on {}",
        socket.path.display()
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                monoio::spawn(session(Rc::clone(&control), stream));
            }
            Err(e) => {
                tracing::warn!("admin socket: accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One connection: lines until the answer is done (or, in prompt mode, `quit`).
async fn session(control: Rc<Control>, mut stream: monoio::net::UnixStream) {
    let mut level = control
        .config
        .borrow()
        .global
        .admin_socket
        .as_ref()
        .map_or(CliLevel::User, |s| s.level);
    let mut prompt = false;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let line = match monoio::time::timeout(IDLE, read_line(&mut stream, &mut pending)).await {
            Ok(Some(line)) => line,
            _ => break,
        };
        let mut out = String::new();
        let mut quit = false;
        for cmd in cli::split_commands(&line) {
            match cli::parse(&cmd) {
                Ok(Command::Quit) => quit = true,
                Ok(Command::Prompt) => {
                    prompt = !prompt;
                    out.push('\n');
                }
                Ok(Command::Lower(to)) => {
                    level = level.min(to);
                    out.push('\n');
                }
                Ok(c) if cli::needs(&c) > level => {
                    out.push_str(cli::PERMISSION_DENIED);
                    out.push('\n');
                }
                Ok(c) => {
                    out.push_str(&execute(&control, &c, level).await);
                    out.push('\n');
                }
                Err(answer) => {
                    out.push_str(&answer);
                    out.push('\n');
                }
            }
            if quit {
                break;
            }
        }
        if prompt && !quit {
            out.push_str("> ");
        }
        let (r, _) = stream.write_all(out.into_bytes()).await;
        if r.is_err() || quit || !prompt {
            break;
        }
    }
}

/// The next line (without its end), `None` at EOF before any byte or beyond the
/// limit. A last line without `\n` counts.
async fn read_line(stream: &mut monoio::net::UnixStream, pending: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            return Some(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        if pending.len() > MAX_LINE {
            return None;
        }
        let (r, buf) = stream.read(Vec::with_capacity(4096)).await;
        match r {
            Ok(0) | Err(_) if pending.is_empty() => return None,
            Ok(0) | Err(_) => {
                let line = String::from_utf8_lossy(pending).trim_end().to_string();
                pending.clear();
                return Some(line);
            }
            Ok(_) => pending.extend_from_slice(&buf),
        }
    }
}

/// A command's answer (without the blank line that ends it).
async fn execute(control: &Rc<Control>, cmd: &Command, level: CliLevel) -> String {
    match cmd {
        Command::Help => cli::HELP.to_string(),
        Command::ShowCliLevel => format!("{}\n", level.name()),
        Command::ShowInfo => show_info(control, &Totals::of(&control.collect().await)),
        Command::ShowStat => show_stat(control, &Totals::of(&control.collect().await)),
        Command::ShowServersState(b) => servers_state(control, b.as_deref()),
        Command::ShowBackend => {
            let mut o = String::from("# name\n");
            for (b, _) in render::live_servers(control) {
                o.push_str(&control.table.borrow().backends[b].config.name);
                o.push('\n');
            }
            o
        }
        Command::ShowTable => {
            let stats = control.collect().await;
            let mut o = String::new();
            for t in super::tables::merged(&stats) {
                o.push_str(&format!(
                    "# table: {}, type: -, size:-, used:{}\n",
                    t.name, t.entries
                ));
            }
            o
        }
        Command::GetWeight(b, s) => match find(control, b, s) {
            Ok((bi, si)) => {
                let t = control.table.borrow();
                let e = &t.backends[bi].servers[si];
                format!("{} (initial {})\n", e.weight, e.config.weight)
            }
            Err(e) => e.into(),
        },
        Command::SetAdmin(b, s, admin) => match find(control, b, s) {
            Ok((bi, si)) => {
                control.set_admin(bi, si, Some(*admin), None);
                tracing::info!(
                    "{b}/{s}: admin state set to {} (admin socket)",
                    render::admin_name(*admin)
                );
                control.barrier().await;
                String::new()
            }
            Err(e) => e.into(),
        },
        Command::SetWeight(b, s, w) => match find(control, b, s) {
            Ok((bi, si)) => {
                let initial = control.table.borrow().backends[bi].servers[si]
                    .config
                    .weight;
                match w.resolve(initial) {
                    Ok(w) => {
                        control.set_admin(bi, si, None, Some(w));
                        tracing::info!("{b}/{s}: weight set to {w} (admin socket)");
                        control.barrier().await;
                        String::new()
                    }
                    Err(e) => e.into(),
                }
            }
            Err(e) => e.into(),
        },
        Command::ClearTable(t, k) => match super::server::clear_key(control, t, k).await {
            Ok(()) => String::new(),
            Err(e) => format!("{e}\n"),
        },
        Command::Prompt | Command::Quit | Command::Lower(_) => String::new(),
    }
}

fn find(control: &Control, b: &str, s: &str) -> Result<(usize, usize), &'static str> {
    let table = control.table.borrow();
    if !table
        .backends
        .iter()
        .any(|be| be.live && be.config.name == b)
    {
        return Err("No such backend.\n");
    }
    table.find(b, s).ok_or("No such server.\n")
}

fn show_info(control: &Control, totals: &Totals) -> String {
    let config = control.config.borrow();
    let up = SystemTime::now()
        .duration_since(control.started)
        .map_or(0, |d| d.as_secs());
    let sum = |f: fn(&crate::msg::stats::FrontendStats) -> u64| -> u64 {
        totals.frontends.iter().map(f).sum()
    };
    let stopping = u8::from(control.stopping.get());
    format!(
        "Name: ringlb\nVersion: {}\nNbthread: {}\nNbproc: 1\nProcess_num: 1\nPid: {}\nUptime: {}\nUptime_sec: {up}\nMaxconn: {}\nHard_maxconn: {}\nCurrConns: {}\nCumConns: {}\nCumReq: {}\nStopping: {stopping}\nStart_time_sec: {}\n",
        env!("CARGO_PKG_VERSION"),
        config.global.workers,
        std::process::id(),
        cli::uptime(up),
        config.global.max_connections,
        config.global.max_connections,
        sum(|f| f.current),
        sum(|f| f.connections),
        sum(|f| f.requests),
        render::unix(control.started),
    )
}

/// `show stat`: the header, then per frontend a FRONTEND row, per backend a row per
/// server and a BACKEND row, HAProxy's order.
fn show_stat(control: &Control, totals: &Totals) -> String {
    let mut o = format!("# {},\n", cli::STAT_COLUMNS);
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    for (i, fe) in config.frontends.iter().enumerate() {
        let f = totals
            .frontends
            .get(slots.frontends[i])
            .cloned()
            .unwrap_or_default();
        let mode = if fe.mode == crate::config::Mode::Http {
            "http"
        } else {
            "tcp"
        };
        let mut row = vec![
            ("pxname", fe.name.clone()),
            ("svname", "FRONTEND".into()),
            ("scur", f.current.to_string()),
            ("slim", fe.max_connections.to_string()),
            ("stot", f.connections.to_string()),
            ("ereq", f.invalid_requests.to_string()),
            ("status", "OPEN".into()),
            ("pid", "1".into()),
            ("iid", (i + 1).to_string()),
            ("sid", "0".into()),
            ("type", "0".into()),
            ("req_tot", f.requests.to_string()),
            ("mode", mode.into()),
            ("conn_tot", f.connections.to_string()),
        ];
        classes(&mut row, &f.responses);
        o.push_str(&cli::stat_row(&row));
    }
    let table = control.table.borrow();
    for (iid, (b, servers)) in render::live_servers(control).into_iter().enumerate() {
        let be = &table.backends[b];
        let (mut up, mut act, mut bck, mut weight, mut scur, mut stot) =
            (false, 0, 0, 0u64, 0u64, 0u64);
        let mut sum = [0u64; 5];
        for s in servers {
            let e = &be.servers[s];
            let (st, active) = totals.server(b, s);
            let serving = e.oper() == Oper::Up && e.admin == Admin::Ready && e.config.resolved;
            if serving {
                up = true;
                weight += u64::from(e.weight);
                if e.config.backup {
                    bck += 1
                } else {
                    act += 1
                }
            }
            scur += u64::from(active);
            stot += st.connections;
            for (k, v) in sum.iter_mut().enumerate() {
                *v += st.responses[k];
            }
            let status = server_status(e, &be.config.check);
            let mut row = vec![
                ("pxname", be.config.name.clone()),
                ("svname", e.config.name.clone()),
                ("qcur", "0".into()),
                ("scur", active.to_string()),
                ("stot", st.connections.to_string()),
                ("econ", st.connect_errors.to_string()),
                ("eresp", st.response_errors.to_string()),
                ("status", status),
                ("weight", e.weight.to_string()),
                ("act", u8::from(!e.config.backup).to_string()),
                ("bck", u8::from(e.config.backup).to_string()),
                ("lastchg", since(e.last_change)),
                ("pid", "1".into()),
                ("iid", (iid + 1).to_string()),
                ("sid", (s + 1).to_string()),
                ("lbtot", st.requests.to_string()),
                ("type", "2".into()),
                ("addr", e.config.address_text.clone()),
                ("uweight", e.config.weight.to_string()),
            ];
            classes(&mut row, &st.responses);
            o.push_str(&cli::stat_row(&row));
        }
        let q = totals.backends.get(b);
        let mut row = vec![
            ("pxname", be.config.name.clone()),
            ("svname", "BACKEND".into()),
            ("qcur", q.map_or(0, |q| q.queue_current).to_string()),
            ("scur", scur.to_string()),
            ("stot", stot.to_string()),
            ("status", if up { "UP" } else { "DOWN" }.into()),
            ("weight", weight.to_string()),
            ("act", act.to_string()),
            ("bck", bck.to_string()),
            ("pid", "1".into()),
            ("iid", (iid + 1).to_string()),
            ("sid", "0".into()),
            ("type", "1".into()),
            ("algo", format!("{:?}", be.config.balance).to_lowercase()),
        ];
        classes(&mut row, &sum);
        o.push_str(&cli::stat_row(&row));
    }
    o
}

/// A server's `status` column in HAProxy's words.
fn server_status(
    e: &crate::control::table::ServerEntry,
    check: &crate::config::HealthCheck,
) -> String {
    match (e.admin, e.oper()) {
        (Admin::Maint, _) => "MAINT".into(),
        (Admin::Drain, _) => "DRAIN".into(),
        _ if !e.config.check => "no check".into(),
        _ => render::state_text(e, check.fall, check.rise),
    }
}

fn classes(row: &mut Vec<(&'static str, String)>, r: &[u64; 5]) {
    for (name, v) in ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx"]
        .iter()
        .zip(r)
    {
        row.push((name, v.to_string()));
    }
}

fn since(t: SystemTime) -> String {
    SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs())
        .to_string()
}

/// `show servers state [backend]`, HAProxy's format version 1 (fields ringlb has
/// no value for: `-` or 0).
fn servers_state(control: &Control, only: Option<&str>) -> String {
    let table = control.table.borrow();
    if let Some(b) = only {
        if !table
            .backends
            .iter()
            .any(|be| be.live && be.config.name == b)
        {
            return "Can't find backend.\n".into();
        }
    }
    let mut o = cli::SERVERS_STATE_HEADER.to_string();
    for (iid, (b, servers)) in render::live_servers(control).into_iter().enumerate() {
        let be = &table.backends[b];
        if only.is_some_and(|n| n != be.config.name) {
            continue;
        }
        for s in servers {
            let e = &be.servers[s];
            let op = if e.oper() == Oper::Up { 2 } else { 0 };
            let admin = match e.admin {
                Admin::Ready => 0,
                Admin::Maint => 1,
                Admin::Drain => 8,
            };
            let a = e.config.address;
            o.push_str(&format!(
                "{} {} {} {} {} {op} {admin} {} {} {} 0 0 0 {} 0 0 0 - {} - 0 0 - - 0\n",
                iid + 1,
                be.config.name,
                s + 1,
                e.config.name,
                a.ip(),
                e.weight,
                e.config.weight,
                since(e.last_change),
                u8::from(e.config.check),
                a.port(),
            ));
        }
    }
    o
}
