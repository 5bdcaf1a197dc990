//! `ringlb-load compare`: the same load against a direct connection, ringlb and HAProxy
//! (and optionally nginx), alternating targets round by round so that drift of the
//! machine hits all of them alike. Reports medians, ratios, CPU seconds per 100k
//! requests and peak RSS of each proxy, as Markdown, plus an SVG percentile plot.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use crate::client::{self, Plan, Target};
use crate::stats::{new_histogram, Percentiles};
use crate::svg;

#[derive(Debug, Clone)]
pub struct CompareOpts {
    pub ringlb: PathBuf,
    pub haproxy: String,
    pub nginx: Option<String>,
    /// "tcp" (layer-4 proxies, HTTP load through them) or "http".
    pub mode: String,
    pub workers: usize,
    pub load_threads: usize,
    pub connections: usize,
    pub rounds: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub backends: usize,
    pub body_size: usize,
    pub svg: Option<PathBuf>,
}

/// A child process killed when dropped.
struct Proc {
    name: String,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

struct TargetUnderTest {
    name: String,
    addr: SocketAddr,
    proc: Option<Proc>,
    throughput: Vec<f64>,
    cpu_per_100k: Vec<f64>,
    /// Per load level: the corrected percentiles of each round, and all rounds merged.
    levels: Vec<(Vec<Percentiles>, Histogram<u64>)>,
}

pub fn compare(opts: &CompareOpts) -> anyhow::Result<String> {
    let me = std::env::current_exe().context("cannot find ringlb-load itself")?;
    let tmp = std::env::temp_dir().join(format!("ringlb-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
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
    let mut targets = vec![TargetUnderTest::new("direct", backends[0], None)];
    let (addr, p) = start_ringlb(opts, &tmp, &backends)?;
    targets.push(TargetUnderTest::new("ringlb", addr, Some(p)));
    let (addr, p) = start_haproxy(opts, &tmp, &backends)?;
    targets.push(TargetUnderTest::new("haproxy", addr, Some(p)));
    if let Some(nginx) = &opts.nginx {
        let (addr, p) = start_nginx(opts, nginx, &tmp, &backends)?;
        targets.push(TargetUnderTest::new("nginx", addr, Some(p)));
    }

    let plan_for = |addr: SocketAddr, rate: Option<f64>| Plan {
        target: Target::Http {
            addr,
            request: format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
        },
        threads: opts.load_threads,
        connections: opts.connections,
        rate,
        duration: opts.duration,
        warmup: opts.warmup,
        timeout: Duration::from_secs(2),
        progress: false,
    };

    // Closed loop: maximum throughput, alternating the order every round.
    for round in 0..opts.rounds {
        for i in order(targets.len(), round) {
            let t = &mut targets[i];
            let cpu0 = t.proc.as_ref().map(|p| cpu_seconds(p.pid()));
            let stats = client::run(&plan_for(t.addr, None))?;
            let rate = stats.ok as f64 / opts.duration.as_secs_f64();
            eprintln!(
                "round {}: {:<8} closed loop {:>10.0} req/s ({} errors)",
                round + 1,
                t.name,
                rate,
                stats.errors()
            );
            t.throughput.push(rate);
            if let (Some(p), Some(Ok(c0))) = (&t.proc, cpu0) {
                // Warm-up requests burn CPU too: count them in.
                let requests = stats.ok as f64
                    * (1.0 + opts.warmup.as_secs_f64() / opts.duration.as_secs_f64());
                if let Ok(c1) = cpu_seconds(p.pid()) {
                    t.cpu_per_100k.push((c1 - c0) / (requests / 100_000.0));
                }
            }
        }
    }
    let haproxy_max = median(
        &targets
            .iter()
            .find(|t| t.name == "haproxy")
            .map(|t| t.throughput.clone())
            .unwrap_or_default(),
    );
    if haproxy_max <= 0.0 {
        bail!(
            "HAProxy served nothing: see its configuration in {}",
            tmp.display()
        );
    }
    let levels = [0.25, 0.50, 0.75];
    for t in targets.iter_mut() {
        t.levels = levels
            .iter()
            .map(|_| (Vec::new(), new_histogram()))
            .collect();
    }
    for (li, level) in levels.iter().enumerate() {
        let rate = (haproxy_max * level).round();
        for round in 0..opts.rounds {
            for i in order(targets.len(), round) {
                let t = &mut targets[i];
                let stats = client::run(&plan_for(t.addr, Some(rate)))?;
                let p = Percentiles::of(&stats.corrected);
                eprintln!(
                    "round {}: {:<8} {:>3.0}% ({rate} req/s): p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms",
                    round + 1,
                    t.name,
                    level * 100.0,
                    p.p50_us as f64 / 1e3,
                    p.p99_us as f64 / 1e3,
                    p.p999_us as f64 / 1e3
                );
                t.levels[li].0.push(p);
                let _ = t.levels[li].1.add(&stats.corrected);
            }
        }
    }
    let peak_rss: Vec<Option<u64>> = targets
        .iter()
        .map(|t| t.proc.as_ref().and_then(|p| peak_rss_kib(p.pid())))
        .collect();

    if let Some(path) = &opts.svg {
        let series: Vec<(String, &Histogram<u64>)> = targets
            .iter()
            .map(|t| (t.name.clone(), &t.levels[1].1))
            .collect();
        let title = format!(
            "Corrected latency at {:.0} req/s (50% of HAProxy's maximum)",
            (haproxy_max * 0.5).round()
        );
        std::fs::write(path, svg::percentile_plot(&title, &series))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let md = markdown(opts, &targets, &levels, haproxy_max, &peak_rss);
    drop(targets);
    drop(backend_procs);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(md)
}

impl TargetUnderTest {
    fn new(name: &str, addr: SocketAddr, proc: Option<Proc>) -> Self {
        TargetUnderTest {
            name: name.into(),
            addr,
            proc,
            throughput: Vec::new(),
            cpu_per_100k: Vec::new(),
            levels: Vec::new(),
        }
    }
}

/// Round r runs the targets rotated by r: A B C, B C A, C A B, ...
fn order(n: usize, round: usize) -> Vec<usize> {
    (0..n).map(|i| (i + round) % n).collect()
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn median_u64(v: impl Iterator<Item = u64>) -> f64 {
    median(&v.map(|x| x as f64).collect::<Vec<_>>())
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
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

fn start_ringlb(
    opts: &CompareOpts,
    tmp: &std::path::Path,
    backends: &[SocketAddr],
) -> anyhow::Result<(SocketAddr, Proc)> {
    let addr = free_port()?;
    let mut cfg = format!(
        "[global]\nworkers = {}\npin_workers = false\nmax_connections = 4000\n\n[[frontend]]\nname = \"bench\"\nbind = [\"{addr}\"]\nmode = \"{}\"\ndefault_backend = \"servers\"\n\n[[backend]]\nname = \"servers\"\nbalance = \"roundrobin\"\n",
        opts.workers, opts.mode
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
    Ok((addr, launch("ringlb", cmd, addr, tmp)?))
}

fn start_haproxy(
    opts: &CompareOpts,
    tmp: &std::path::Path,
    backends: &[SocketAddr],
) -> anyhow::Result<(SocketAddr, Proc)> {
    let addr = free_port()?;
    let mut cfg = format!(
        "global\n    nbthread {}\n    maxconn 4000\n\ndefaults\n    mode {}\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\nfrontend bench\n    bind {addr}\n    default_backend servers\n\nbackend servers\n    balance roundrobin\n",
        opts.workers, opts.mode
    );
    if opts.mode == "http" {
        cfg.push_str("    http-reuse always\n");
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

fn start_nginx(
    opts: &CompareOpts,
    nginx: &str,
    tmp: &std::path::Path,
    backends: &[SocketAddr],
) -> anyhow::Result<(SocketAddr, Proc)> {
    let addr = free_port()?;
    let servers: String = backends
        .iter()
        .map(|b| format!("        server {b};\n"))
        .collect();
    let body = if opts.mode == "http" {
        format!(
            "http {{\n    access_log off;\n    upstream servers {{\n{servers}        keepalive 64;\n    }}\n    server {{\n        listen {addr} reuseport;\n        location / {{ proxy_pass http://servers; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}\n    }}\n}}\n"
        )
    } else {
        format!("stream {{\n    upstream servers {{\n{servers}    }}\n    server {{\n        listen {addr} reuseport;\n        proxy_pass servers;\n    }}\n}}\n")
    };
    // Debian builds the stream module as a dynamic module (package libnginx-mod-stream).
    let stream_module = "/usr/lib/nginx/modules/ngx_stream_module.so";
    let load = if opts.mode == "tcp" && std::path::Path::new(stream_module).exists() {
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
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
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
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn markdown(
    opts: &CompareOpts,
    targets: &[TargetUnderTest],
    levels: &[f64],
    haproxy_max: f64,
    rss: &[Option<u64>],
) -> String {
    let mut s = String::new();
    let by_name = |n: &str| targets.iter().position(|t| t.name == n);
    let (rl, hp) = (by_name("ringlb"), by_name("haproxy"));
    let _ = writeln!(
        s,
        "Mode `{}`, {} proxy worker(s)/thread(s), {} load thread(s), {} connections, {} backend(s) \
         (`ringlb-load serve`, {} B bodies), {} rounds of {:?} (+{:?} warm-up) per cell, targets alternated every round; medians.\n",
        opts.mode, opts.workers, opts.load_threads, opts.connections, opts.backends, opts.body_size, opts.rounds, opts.duration, opts.warmup
    );
    let _ = writeln!(
        s,
        "| target | max req/s (closed loop) | CPU s per 100k req | peak RSS |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for (i, t) in targets.iter().enumerate() {
        let cpu = if t.cpu_per_100k.is_empty() {
            "-".to_string()
        } else {
            format!("{:.2}", median(&t.cpu_per_100k))
        };
        let rss = rss[i].map_or("-".to_string(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        let _ = writeln!(
            s,
            "| {} | {:.0} | {cpu} | {rss} |",
            t.name,
            median(&t.throughput)
        );
    }
    if let (Some(r), Some(h)) = (rl, hp) {
        let _ = writeln!(
            s,
            "\nringlb / HAProxy throughput: **{:.2}×**; CPU per request: **{:.2}×** (lower is better).\n",
            median(&targets[r].throughput) / median(&targets[h].throughput).max(1e-9),
            median(&targets[r].cpu_per_100k) / median(&targets[h].cpu_per_100k).max(1e-9)
        );
    }
    let _ = writeln!(s, "Corrected latency (ms) at fixed rates, as a share of HAProxy's maximum ({haproxy_max:.0} req/s):\n");
    let _ = writeln!(
        s,
        "| load | target | p50 | p99 | p99.9 | p99 ringlb/HAProxy |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for (li, level) in levels.iter().enumerate() {
        let p99 = |i: usize| median_u64(targets[i].levels[li].0.iter().map(|p| p.p99_us));
        for t in targets {
            let l = &t.levels[li].0;
            let ratio = match (t.name.as_str(), rl, hp) {
                ("ringlb", Some(r), Some(h)) => format!("{:.2}×", p99(r) / p99(h).max(1e-9)),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "| {:.0}% ({:.0}/s) | {} | {:.3} | {:.3} | {:.3} | {ratio} |",
                level * 100.0,
                (haproxy_max * level).round(),
                t.name,
                median_u64(l.iter().map(|p| p.p50_us)) / 1e3,
                median_u64(l.iter().map(|p| p.p99_us)) / 1e3,
                median_u64(l.iter().map(|p| p.p999_us)) / 1e3
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn rounds_rotate_the_order() {
        assert_eq!(order(3, 0), vec![0, 1, 2]);
        assert_eq!(order(3, 1), vec![1, 2, 0]);
        assert_eq!(order(3, 2), vec![2, 0, 1]);
    }

    #[test]
    fn reads_this_process_cpu_and_rss() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(peak_rss_kib(pid).unwrap() > 0);
    }
}
