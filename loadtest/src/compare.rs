//! `ringlb-load compare`: the same load against a direct connection, ringlb and HAProxy
//! (and optionally nginx), alternating targets round by round so that drift of the
//! machine hits all of them alike. Reports medians, ratios, CPU seconds per 100k
//! requests and peak RSS of each proxy, as Markdown, plus an SVG percentile plot;
//! one such comparison per named scenario (`scenario.rs`), each with ringlb's
//! server-connection reuse read from its `/metrics`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use crate::client::{self, Plan, Target};
use crate::proxies::{
    cpu_seconds, peak_rss_kib, start_backends, start_haproxy, start_nginx, start_ringlb, Proc,
};
use crate::scenario::{scrape, ReuseFigures, Scenario};
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
    /// Both proxies' listeners with TCP_DEFER_ACCEPT (ringlb's `defer_accept`,
    /// HAProxy's bind option `defer-accept`).
    pub defer_accept: bool,
    /// ringlb's `global.io_driver` ("auto", "io_uring" or "legacy").
    pub io_driver: String,
    pub svg: Option<PathBuf>,
    pub scenarios: Vec<Scenario>,
}

/// What one scenario runs with.
pub struct Setup<'a> {
    pub opts: &'a CompareOpts,
    pub scenario: Scenario,
    /// The proxy mode for this scenario.
    pub mode: &'a str,
    /// The proxies' configurations and logs.
    pub tmp: PathBuf,
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

/// Every scenario asked for, one after another; their Markdown, each under a heading.
pub fn compare(opts: &CompareOpts) -> anyhow::Result<String> {
    let mut md = String::new();
    for &scenario in &opts.scenarios {
        let tmp = std::env::temp_dir().join(format!(
            "ringlb-compare-{}-{}",
            std::process::id(),
            scenario.name()
        ));
        std::fs::create_dir_all(&tmp)?;
        let setup = Setup {
            opts,
            scenario,
            mode: scenario.mode(&opts.mode),
            tmp,
        };
        eprintln!("scenario {}: {}", scenario.name(), scenario.describe());
        let result = run_scenario(&setup);
        if result.is_ok() {
            // Kept on failure: the proxies' configurations and logs are there.
            let _ = std::fs::remove_dir_all(&setup.tmp);
        }
        let _ = writeln!(md, "### Scenario `{}`\n\n{}", scenario.name(), result?);
    }
    Ok(md)
}

/// The plot's path for a scenario: the one given, with the scenario's name before the
/// extension when there are several.
fn svg_path(opts: &CompareOpts, scenario: Scenario) -> Option<PathBuf> {
    let path = opts.svg.as_ref()?;
    if opts.scenarios.len() < 2 {
        return Some(path.clone());
    }
    let stem = path
        .file_stem()
        .map_or("latency".into(), |s| s.to_string_lossy());
    Some(path.with_file_name(format!("{stem}-{}.svg", scenario.name())))
}

fn run_scenario(setup: &Setup) -> anyhow::Result<String> {
    let (opts, tmp) = (setup.opts, &setup.tmp);
    let (backends, backend_procs) = start_backends(opts)?;
    let mut targets = vec![TargetUnderTest::new("direct", backends[0], None)];
    let (addr, admin, p) = start_ringlb(setup, &backends)?;
    targets.push(TargetUnderTest::new("ringlb", addr, Some(p)));
    let (addr, p) = start_haproxy(setup, &backends)?;
    targets.push(TargetUnderTest::new("haproxy", addr, Some(p)));
    if let Some(nginx) = &opts.nginx {
        let (addr, p) = start_nginx(setup, nginx, &backends)?;
        targets.push(TargetUnderTest::new("nginx", addr, Some(p)));
    }

    let close = if setup.scenario.close() {
        "Connection: close\r\n"
    } else {
        ""
    };
    let plan_for = |addr: SocketAddr, rate: Option<f64>| Plan {
        target: Target::Http {
            addr,
            request: format!("GET / HTTP/1.1\r\nHost: {addr}\r\n{close}\r\n").into_bytes(),
        },
        threads: opts.load_threads,
        connections: opts.connections,
        rate,
        duration: opts.duration,
        warmup: opts.warmup,
        timeout: Duration::from_secs(2),
        progress: false,
    };

    closed_loop(opts, &mut targets, &plan_for)?;
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
    open_loop(opts, &mut targets, &levels, haproxy_max, &plan_for)?;
    let peak_rss: Vec<Option<u64>> = targets
        .iter()
        .map(|t| t.proc.as_ref().and_then(|p| peak_rss_kib(p.pid())))
        .collect();

    // TCP mode has no requests to reuse connections for.
    let reuse = match setup.mode {
        "http" => Some(scrape(admin).map(|m| ReuseFigures::parse(&m, "servers"))),
        _ => None,
    };
    if let Some(Err(e)) = &reuse {
        eprintln!("ringlb's /metrics: {e:#}");
    }
    if let Some(path) = svg_path(opts, setup.scenario) {
        let series: Vec<(String, &Histogram<u64>)> = targets
            .iter()
            .map(|t| (t.name.clone(), &t.levels[1].1))
            .collect();
        let title = format!(
            "Corrected latency at {:.0} req/s (50% of HAProxy's maximum)",
            (haproxy_max * 0.5).round()
        );
        std::fs::write(&path, svg::percentile_plot(&title, &series))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut md = markdown(setup, &targets, &levels, haproxy_max, &peak_rss);
    if let Some(Ok(f)) = reuse {
        let _ = writeln!(
            md,
            "\nringlb's server connections (its `/metrics`, whole run): {} opened for {} requests, \
             {} requests on reused ones: **{:.1} new server connections per 1,000 requests**.",
            f.opened,
            f.requests,
            f.reused,
            f.per_1000()
        );
    }
    drop(targets);
    drop(backend_procs);
    Ok(md)
}

type PlanFor<'a> = dyn Fn(SocketAddr, Option<f64>) -> Plan + 'a;

/// Closed loop: each target's maximum throughput and CPU per request, alternating the
/// order every round.
fn closed_loop(
    opts: &CompareOpts,
    targets: &mut [TargetUnderTest],
    plan_for: &PlanFor,
) -> anyhow::Result<()> {
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
    Ok(())
}

/// Open loop at each of `levels` (shares of HAProxy's maximum): corrected latency.
fn open_loop(
    opts: &CompareOpts,
    targets: &mut [TargetUnderTest],
    levels: &[f64],
    haproxy_max: f64,
    plan_for: &PlanFor,
) -> anyhow::Result<()> {
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
    Ok(())
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

fn markdown(
    setup: &Setup,
    targets: &[TargetUnderTest],
    levels: &[f64],
    haproxy_max: f64,
    rss: &[Option<u64>],
) -> String {
    let opts = setup.opts;
    let mut s = String::new();
    let by_name = |n: &str| targets.iter().position(|t| t.name == n);
    let (rl, hp) = (by_name("ringlb"), by_name("haproxy"));
    let _ = writeln!(
        s,
        "{}. Mode `{}`, {} proxy worker(s)/thread(s), {} load thread(s), {} connections, {} backend(s) \
         (`ringlb-load serve`, {} B bodies), {} rounds of {:?} (+{:?} warm-up) per cell, targets alternated every round; medians{}.\n",
        setup.scenario.describe(), setup.mode, opts.workers, opts.load_threads, opts.connections, opts.backends, opts.body_size, opts.rounds, opts.duration, opts.warmup,
        if opts.defer_accept { "; both proxies' listeners with TCP_DEFER_ACCEPT (`--defer-accept`)" } else { "" }
    );
    if opts.io_driver != "auto" {
        let _ = writeln!(
            s,
            "ringlb's I/O driver: `io_driver = \"{}\"`.\n",
            opts.io_driver
        );
    }
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
}
