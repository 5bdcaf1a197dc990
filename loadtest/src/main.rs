//! `ringlb-load`: an open-loop, coordinated-omission-corrected load generator (the wrk2
//! way) and a benchmark backend, thread-per-core on monoio like ringlb itself.

mod client;
mod compare;
mod http1;
mod proxies;
mod scenario;
mod schedule;
mod serve;
mod stats;
mod svg;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use client::{Plan, Target};
use serve::{ServeOpts, Spike};
use stats::Report;

#[derive(Parser)]
#[command(
    name = "ringlb-load",
    version,
    about = "Load generator and benchmark backend for ringlb"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put load on a URL: http://HOST:PORT/PATH (HTTP/1.1 keep-alive) or tcp://HOST:PORT
    /// (echo request/response of --payload bytes).
    Run(RunArgs),
    /// A benchmark backend: HTTP/1.1 keep-alive with a fixed body, or a TCP echo server.
    Serve(ServeArgs),
    /// Start backends, ringlb and HAProxy (optionally nginx), run the same loads against
    /// each, alternating, and print a Markdown comparison.
    Compare(CompareArgs),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// The ringlb binary to test.
    #[arg(long, default_value = "target/release/ringlb")]
    ringlb: PathBuf,
    #[arg(long, default_value = "haproxy")]
    haproxy: String,
    /// Also test nginx (path of the binary).
    #[arg(long)]
    nginx: Option<String>,
    /// Proxy mode: tcp or http.
    #[arg(long, default_value = "tcp")]
    mode: String,
    /// Worker threads of each proxy (ringlb workers, HAProxy nbthread, nginx processes).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Load generator threads.
    #[arg(long, default_value_t = 1)]
    load_threads: usize,
    #[arg(short, long, default_value_t = 50)]
    connections: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(short, long, default_value = "5s", value_parser = duration)]
    duration: Duration,
    #[arg(long, default_value = "1s", value_parser = duration)]
    warmup: Duration,
    #[arg(long, default_value_t = 2)]
    backends: usize,
    #[arg(long, default_value_t = 64)]
    body_size: usize,
    /// Both proxies accept a connection once its first bytes are there (ringlb's
    /// `defer_accept = true`, HAProxy's `bind ... defer-accept`).
    #[arg(long)]
    defer_accept: bool,
    /// ringlb's I/O driver (`global.io_driver`): auto, io_uring or legacy (epoll).
    #[arg(long, default_value = "auto", value_parser = ["auto", "io_uring", "legacy"])]
    io_driver: String,
    /// Write the latency-by-percentile plot (at 50% load) here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also write the Markdown here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Named workloads, run one after another (comma-separated or repeated):
    /// keep-alive (in --mode), close-always and close-safe (one request per client
    /// connection, http mode, both proxies with that reuse policy), tcp-close (one
    /// request per client connection, tcp mode), or all.
    #[arg(long, value_delimiter = ',', default_value = "keep-alive", value_parser = scenarios)]
    scenario: Vec<Vec<scenario::Scenario>>,
}

#[derive(clap::Args)]
struct RunArgs {
    url: String,
    /// Requests per second in total (open loop). Without it: closed loop, as fast as
    /// responses come.
    #[arg(long)]
    rate: Option<f64>,
    /// Connections in total.
    #[arg(short, long, default_value_t = 50)]
    connections: usize,
    /// Threads (default: one per core).
    #[arg(short, long)]
    threads: Option<usize>,
    /// Measured time, after the warm-up.
    #[arg(short, long, default_value = "10s", value_parser = duration)]
    duration: Duration,
    /// Load before measuring starts (discarded).
    #[arg(long, default_value = "1s", value_parser = duration)]
    warmup: Duration,
    /// A request with no complete response after this is a timeout error.
    #[arg(long, default_value = "2s", value_parser = duration)]
    timeout: Duration,
    /// tcp://: bytes sent per request (and expected back).
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// http://: the Host header (default: from the URL).
    #[arg(long)]
    host: Option<String>,
    /// http://: GET or HEAD.
    #[arg(long, default_value = "GET")]
    method: String,
    /// http://: one request per connection (`Connection: close`; a new connection for
    /// every request, its connect time counted in the latency).
    #[arg(long)]
    close: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the corrected latency distribution in HdrHistogram's .hgrm text format.
    #[arg(long)]
    hgrm: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    #[arg(short, long)]
    threads: Option<usize>,
    /// Response body size in bytes.
    #[arg(long, default_value_t = 64)]
    body_size: usize,
    /// Response status for everything but /health.
    #[arg(long, default_value_t = 200)]
    status: u16,
    /// Added to every response (not /health).
    #[arg(long, default_value = "0s", value_parser = duration)]
    delay: Duration,
    /// Plus a uniform random part in [0, jitter).
    #[arg(long, default_value = "0s", value_parser = duration)]
    delay_jitter: Duration,
    /// EVERY,EXTRA,LENGTH: e.g. "5s,20ms,1s" adds 20 ms to responses for 1 s every 5 s.
    #[arg(long, value_parser = spike)]
    spike: Option<Spike>,
    /// Be a TCP echo server instead (for tcp:// loads).
    #[arg(long)]
    echo: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    ringlb::config::parse_duration(s)
}

fn scenarios(s: &str) -> Result<Vec<scenario::Scenario>, String> {
    scenario::Scenario::parse(s)
}

fn spike(s: &str) -> Result<Spike, String> {
    let parts: Vec<&str> = s.split(',').collect();
    let [every, extra, length] = parts.as_slice() else {
        return Err(format!(
            "{s:?}: expected EVERY,EXTRA,LENGTH, e.g. 5s,20ms,1s"
        ));
    };
    let spike = Spike {
        every: duration(every)?,
        extra: duration(extra)?,
        length: duration(length)?,
    };
    if spike.every.is_zero() || spike.length > spike.every {
        return Err(format!(
            "{s:?}: LENGTH must not exceed EVERY, and EVERY must be > 0"
        ));
    }
    Ok(spike)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Serve(a) => serve::serve(ServeOpts {
            listen: a.listen,
            threads: a.threads.unwrap_or_else(cores),
            body_size: a.body_size,
            status: a.status,
            delay: a.delay,
            jitter: a.delay_jitter,
            spike: a.spike,
            echo: a.echo,
        }),
        Command::Compare(a) => {
            if !matches!(a.mode.as_str(), "tcp" | "http") {
                bail!("--mode must be tcp or http");
            }
            let md = compare::compare(&compare::CompareOpts {
                ringlb: a.ringlb,
                haproxy: a.haproxy,
                nginx: a.nginx,
                mode: a.mode,
                workers: a.workers.max(1),
                load_threads: a.load_threads.max(1),
                connections: a.connections.max(1),
                rounds: a.rounds.max(1),
                duration: a.duration,
                warmup: a.warmup,
                backends: a.backends.max(1),
                body_size: a.body_size,
                defer_accept: a.defer_accept,
                io_driver: a.io_driver,
                svg: a.svg,
                scenarios: a.scenario.into_iter().flatten().collect(),
            })?;
            print!("{md}");
            if let Some(out) = a.out {
                std::fs::write(&out, &md)
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            Ok(())
        }
    }
}

/// Parse `http://host:port/path` or `tcp://host:port` into a target.
fn parse_target(url: &str, args: &RunArgs) -> anyhow::Result<Target> {
    let (scheme, rest) = url
        .split_once("://")
        .context("the URL needs a scheme: http:// or tcp://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let default_port = if scheme == "http" { 80 } else { 0 };
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addr = with_port
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority:?}"))?
        .next()
        .with_context(|| format!("{authority:?} resolves to no address"))?;
    match scheme {
        "http" => {
            if !matches!(args.method.as_str(), "GET" | "HEAD") {
                bail!("--method must be GET or HEAD");
            }
            let host = args.host.clone().unwrap_or_else(|| authority.to_string());
            let close = if args.close {
                "Connection: close\r\n"
            } else {
                ""
            };
            let request = format!(
                "{} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ringlb-load\r\n{close}\r\n",
                args.method
            );
            Ok(Target::Http {
                addr,
                request: request.into_bytes(),
            })
        }
        "tcp" => {
            if args.payload == 0 {
                bail!("--payload must be at least 1 byte");
            }
            Ok(Target::Tcp {
                addr,
                payload: args.payload,
            })
        }
        other => bail!("unsupported scheme {other:?}: use http:// or tcp://"),
    }
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let target = parse_target(&args.url, &args)?;
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if let Some(r) = args.rate {
        if !(r > 0.0 && r.is_finite()) {
            bail!("--rate must be a positive number of requests per second");
        }
    }
    let threads = args
        .threads
        .unwrap_or_else(cores)
        .clamp(1, args.connections);
    let plan = Plan {
        target,
        threads,
        connections: args.connections,
        rate: args.rate,
        duration: args.duration,
        warmup: args.warmup,
        timeout: args.timeout,
        progress: !args.json,
    };
    let stats = client::run(&plan)?;
    let report = Report::new(
        args.url.clone(),
        threads,
        args.connections,
        args.duration,
        args.rate,
        &stats,
    );
    if let Some(path) = &args.hgrm {
        std::fs::write(path, stats::hgrm(&stats.corrected))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    if !report.kept_up {
        eprintln!(
            "ringlb-load: WARNING: achieved {:.1} req/s of the {:.1} asked: the open loop could not keep up",
            report.achieved_rate,
            args.rate.unwrap_or(0.0)
        );
    }
    Ok(())
}
