//! HAProxy's runtime CLI on `global.admin_socket`, served by the control thread like
//! the admin HTTP listener: read a line, answer each of its `;`-separated commands
//! (each answer ends with a blank line, as HAProxy's do), then close, unless the
//! client asked for `prompt` (then `> ` before each line, until `quit` or EOF).
//! Changes go through the same control-plane calls as the JSON API.

use std::cell::RefCell;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use super::cli::{self, Command};
use super::render::{self, Totals};
use crate::config::{AdminSocket, CliLevel};
use crate::control::{Control, Probe};
use crate::msg::Update;

/// A line must arrive within this (HAProxy's `stats timeout` default is 10 s).
const IDLE: Duration = Duration::from_secs(10);
/// How often the listener looks whether a reload moved the socket.
const RELOAD_LOOK: Duration = Duration::from_secs(1);
/// Longest command line.
const MAX_LINE: usize = 16 * 1024;

/// The bound socket, and which file it is (so that exit removes only ours, not a
/// newer process's after an upgrade).
pub struct CliSocket {
    pub path: PathBuf,
    listener: UnixListener,
    inode: (u64, u64),
    /// The file the process serves now (a reload may move it), for the remover.
    serving: Rc<RefCell<(PathBuf, (u64, u64))>>,
}

/// Listen on the configured path with its mode. A file nobody answers on (left by
/// a process that ended) is replaced; with `replace`, a live one too (an upgrade's
/// new process takes the path over from the old one). A directory created for it
/// belongs to `owner` (`global.user`'s ids) so that the file can be removed at exit
/// once privileges are dropped.
pub fn bind(cfg: &AdminSocket, replace: bool, owner: Option<(u32, u32)>) -> io::Result<CliSocket> {
    let path = &cfg.path;
    // An imported `/run/haproxy/admin.sock` names a directory a ringlb host may not
    // have; the socket's own mode decides who gets in.
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        }
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
    let inode = (m.dev(), m.ino());
    Ok(CliSocket {
        path: path.clone(),
        listener,
        inode,
        serving: Rc::new(RefCell::new((path.clone(), inode))),
    })
}

impl CliSocket {
    /// What exit calls: remove the socket file if it is still this one.
    pub fn remover(&self) -> impl FnOnce() {
        let serving = Rc::clone(&self.serving);
        move || {
            let (path, inode) = serving.borrow().clone();
            remove_if(&path, inode);
        }
    }
}

fn remove_if(path: &Path, inode: (u64, u64)) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if (m.dev(), m.ino()) == inode {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Serve the socket; after a reload that moved `admin_socket`, serve the new path
/// (the old file is removed); without `admin_socket` any more, stop and remove it.
pub async fn serve(control: Rc<Control>, socket: CliSocket) {
    let mut socket = socket;
    loop {
        let (path, inode, serving) = (
            socket.path.clone(),
            socket.inode,
            Rc::clone(&socket.serving),
        );
        let Some(next) = serve_until_moved(&control, socket).await else {
            remove_if(&path, inode);
            *serving.borrow_mut() = (PathBuf::new(), (0, 0));
            return;
        };
        remove_if(&path, inode);
        *serving.borrow_mut() = (next.path.clone(), next.inode);
        socket = CliSocket { serving, ..next };
    }
}

/// Accept until a reload asks for another path (`Some`: the new socket, bound) or
/// for none (`None`).
async fn serve_until_moved(control: &Rc<Control>, socket: CliSocket) -> Option<CliSocket> {
    let listener = match monoio::net::UnixListener::from_std(socket.listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("admin socket: cannot register listener: {e}");
            return std::future::pending().await;
        }
    };
    tracing::info!(
        "admin socket (HAProxy CLI) listening on {}",
        socket.path.display()
    );
    let mut seen = control.reloads.get();
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    monoio::spawn(session(Rc::clone(control), stream));
                }
                Err(e) => {
                    tracing::warn!("admin socket: accept failed: {e}");
                    monoio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = monoio::time::sleep(RELOAD_LOOK) => {}
        }
        if control.reloads.get() == seen {
            continue;
        }
        seen = control.reloads.get();
        let wanted = control.config.borrow().global.admin_socket.clone();
        match wanted {
            None => {
                tracing::info!(
                    "reload: admin_socket removed: {} closed",
                    socket.path.display()
                );
                return None;
            }
            Some(w) if w.path == socket.path => {
                let mode = std::fs::Permissions::from_mode(w.mode);
                if let Err(e) = std::fs::set_permissions(&socket.path, mode) {
                    tracing::warn!("reload: admin_socket_mode: {e}");
                }
            }
            Some(w) => match bind(&w, false, None) {
                Ok(next) => return Some(next),
                Err(e) => tracing::error!(
                    "reload: admin_socket: cannot listen on {}: {e}; still serving {}",
                    w.path.display(),
                    socket.path.display()
                ),
            },
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
        Command::ShowInfo(format) => {
            super::cli_views::show_info(control, &Totals::of(&control.collect().await), *format)
        }
        Command::ShowStat(format) => {
            super::cli_views::show_stat(control, &Totals::of(&control.collect().await), *format)
        }
        Command::ShowServersState(b) => super::cli_views::servers_state(control, b.as_deref()),
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
        Command::SetAddr(b, s, ip, port) => match find(control, b, s) {
            Ok((bi, si)) => set_addr(control, (bi, si), (b, s), *ip, *port).await,
            Err(e) => e.into(),
        },
        Command::SetProbe(b, s, probe, on) => match find(control, b, s) {
            Ok((bi, si)) => set_probe(control, (bi, si), (b, s), *probe, *on).await,
            Err(e) => e.into(),
        },
        Command::ClearTable(t, k) => match super::server::clear_key(control, t, k).await {
            Ok(()) => String::new(),
            Err(e) => format!("{e}\n"),
        },
        Command::Prompt | Command::Quit | Command::Lower(_) => String::new(),
    }
}

/// `set server B/S addr`: the workers connect to the new address (the message DNS
/// resolution sends), checks and agent probe it; a reload returns to the file's.
async fn set_addr(
    control: &Rc<Control>,
    (bi, si): (usize, usize),
    (b, s): (&str, &str),
    ip: std::net::IpAddr,
    port: Option<u16>,
) -> String {
    let (addr, said) = {
        let mut table = control.table.borrow_mut();
        let Some(e) = table.server_mut(bi, si) else {
            return "No such server.\n".into();
        };
        let (addr, said) = cli::new_addr(e.config.address, ip, port);
        e.config.address = addr;
        e.config.address_text = addr.to_string();
        (addr, said)
    };
    control.broadcaster.send_all(|| Update::Address {
        backend: bi,
        server: si,
        addr,
    });
    control.sync(bi, si);
    tracing::info!("{b}/{s}: address {addr} (admin socket)");
    control.barrier().await;
    said
}

/// `enable|disable health|agent`. As HAProxy 2.6: stopping a probe the server does
/// not have says nothing; starting one is refused.
async fn set_probe(
    control: &Rc<Control>,
    (bi, si): (usize, usize),
    (b, s): (&str, &str),
    probe: Probe,
    on: bool,
) -> String {
    let what = match probe {
        Probe::Health => "health check",
        Probe::Agent => "agent",
    };
    if !control.pause_probe(bi, si, probe, !on) {
        return match (on, probe) {
            (false, _) => String::new(),
            (true, Probe::Health) => {
                "Health check was not configured on this server, cannot enable.\n".into()
            }
            (true, Probe::Agent) => {
                "Agent was not configured on this server, cannot enable.\n".into()
            }
        };
    }
    let done = if on { "resumed" } else { "stopped" };
    tracing::info!("{b}/{s}: {what} {done} (admin socket)");
    control.barrier().await;
    String::new()
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
