//! The proxies `ringlb-load compare` runs side by side: their configurations (ringlb
//! with its admin listener for `/metrics`, HAProxy, nginx) for a scenario, started and
//! waited for, and what `/proc` tells of their CPU time and memory.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::compare::{CompareOpts, Setup};

/// A child process killed when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// `opts.backends` benchmark backends (`ringlb-load serve`, this binary): their
/// addresses and processes.
pub fn start_backends(opts: &CompareOpts) -> anyhow::Result<(Vec<SocketAddr>, Vec<Proc>)> {
    let me = std::env::current_exe().context("cannot find ringlb-load itself")?;
    let mut backends = Vec::new();
    let mut backend_procs = Vec::new();
    for i in 0..opts.backends.max(1) {
        let mut child = Command::new(&me)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "1",
                "--body-size",
            ])
            .arg(opts.body_size.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start a backend")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("backend stdout")?).read_line(&mut line)?;
        let addr: SocketAddr = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or("")
            .parse()
            .context("backend address")?;
        backend_procs.push(Proc {
            name: format!("backend{i}"),
            child,
        });
        backends.push(addr);
    }
    Ok((backends, backend_procs))
}

/// Start a proxy (stderr to `tmp/NAME.log`) and wait until it listens on `addr`.
fn launch(
    name: &str,
    mut cmd: Command,
    addr: SocketAddr,
    tmp: &std::path::Path,
) -> anyhow::Result<Proc> {
    let log = std::fs::File::create(tmp.join(format!("{name}.log")))?;
    let child = cmd
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| {
            format!(
                "cannot start {name} ({:?}; for haproxy or nginx: apt-get install it)",
                cmd.get_program()
            )
        })?;
    let mut p = Proc {
        name: name.into(),
        child,
    };
    wait_listening(addr, &mut p, tmp)?;
    Ok(p)
}

/// Wait until something accepts on `addr` (bounded); on failure show the child's log.
fn wait_listening(addr: SocketAddr, p: &mut Proc, tmp: &std::path::Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(_)) = p.child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(tmp.join(format!("{}.log", p.name))).unwrap_or_default();
    bail!("{} did not start listening on {addr}:\n{log}", p.name)
}

/// ringlb with its admin listener (for `/metrics`): its address, the admin's, the
/// process.
pub fn start_ringlb(
    setup: &Setup,
    backends: &[SocketAddr],
) -> anyhow::Result<(SocketAddr, SocketAddr, Proc)> {
    let (opts, tmp) = (setup.opts, &setup.tmp);
    let (addr, admin) = (free_port()?, free_port()?);
    let reuse = match setup.scenario.reuse().0 {
        Some(r) if setup.mode == "http" => format!("http_reuse = \"{r}\"\n"),
        _ => String::new(),
    };
    let defer = if opts.defer_accept {
        "defer_accept = true\n"
    } else {
        ""
    };
    let mut cfg = format!(
        "[global]\nworkers = {}\npin_workers = false\nio_driver = \"{}\"\nmax_connections = 4000\nadmin_bind = \"{admin}\"\n\n[[frontend]]\nname = \"bench\"\nbind = [\"{addr}\"]\nmode = \"{}\"\ndefault_backend = \"servers\"\n{defer}\n[[backend]]\nname = \"servers\"\nbalance = \"roundrobin\"\n{reuse}",
        opts.workers, opts.io_driver, setup.mode
    );
    for (i, b) in backends.iter().enumerate() {
        let _ = write!(
            cfg,
            "\n[[backend.server]]\nname = \"s{i}\"\naddress = \"{b}\"\n"
        );
    }
    let path = tmp.join("ringlb.toml");
    std::fs::write(&path, cfg)?;
    let mut cmd = Command::new(&opts.ringlb);
    cmd.args(["run", "-c"]).arg(&path).env("RUST_LOG", "warn");
    Ok((addr, admin, launch("ringlb", cmd, addr, tmp)?))
}

pub fn start_haproxy(setup: &Setup, backends: &[SocketAddr]) -> anyhow::Result<(SocketAddr, Proc)> {
    let (opts, tmp) = (setup.opts, &setup.tmp);
    let addr = free_port()?;
    let defer = if opts.defer_accept {
        " defer-accept"
    } else {
        ""
    };
    let mut cfg = format!(
        "global\n    nbthread {}\n    maxconn 4000\n\ndefaults\n    mode {}\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nfrontend bench\n    bind {addr}{defer}\n    default_backend servers\n\nbackend servers\n    balance roundrobin\n",
        opts.workers, setup.mode
    );
    if setup.mode == "http" {
        let _ = writeln!(cfg, "    http-reuse {}", setup.scenario.reuse().1);
    }
    for (i, b) in backends.iter().enumerate() {
        let _ = writeln!(cfg, "    server s{i} {b}");
    }
    let path = tmp.join("haproxy.cfg");
    std::fs::write(&path, cfg)?;
    let mut cmd = Command::new(&opts.haproxy);
    cmd.args(["-db", "-f"]).arg(&path);
    Ok((addr, launch("haproxy", cmd, addr, tmp)?))
}

pub fn start_nginx(
    setup: &Setup,
    nginx: &str,
    backends: &[SocketAddr],
) -> anyhow::Result<(SocketAddr, Proc)> {
    let (opts, tmp) = (setup.opts, &setup.tmp);
    let addr = free_port()?;
    let servers: String = backends
        .iter()
        .map(|b| format!("        server {b};\n"))
        .collect();
    // nginx's name for TCP_DEFER_ACCEPT (http servers only).
    let deferred = if opts.defer_accept { " deferred" } else { "" };
    let body = if setup.mode == "http" {
        format!(
            "http {{\n    access_log off;\n    upstream servers {{\n{servers}        keepalive 64;\n    }}\n    server {{\n        listen {addr} reuseport{deferred};\n        location / {{ proxy_pass http://servers; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n    }}\n}}\n"
        )
    } else {
        format!("stream {{\n    upstream servers {{\n{servers}    }}\n    server {{\n        listen {addr} reuseport;\n        proxy_pass servers;\n    }}\n}}\n")
    };
    // Debian builds the stream module as a dynamic module (package libnginx-mod-stream).
    let stream_module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    let load = if setup.mode == "tcp" && std::path::Path::new(stream_module).exists() {
        format!("load_module {stream_module};\n")
    } else {
        String::new()
    };
    let cfg = format!(
        "{load}worker_processes {};\ndaemon off;\nmaster_process off;\npid {}/nginx.pid;\nerror_log stderr error;\nevents {{ worker_connections 10000; }}\n{body}",
        opts.workers,
        tmp.display()
    );
    let path = tmp.join("nginx.conf");
    std::fs::write(&path, cfg)?;
    let mut cmd = Command::new(nginx);
    cmd.arg("-p").arg(tmp).arg("-c").arg(&path);
    Ok((addr, launch("nginx", cmd, addr, tmp)?))
}

/// User + system CPU seconds of a process, all threads (from /proc/PID/stat).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).context("utime")?.parse()?;
    let stime: f64 = f.get(12).context("stime")?.parse()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((utime + stime) / ticks)
}

/// Peak resident set size in KiB (VmHWM).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_cpu_and_rss() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(peak_rss_kib(pid).unwrap() > 0);
    }
}
