//! Cost of one `pick()` per algorithm at 2, 16 and 256 servers (target: under 50 ns
//! for all but a Maglev rebuild, measured separately). `cargo bench --bench pick`;
//! results in docs/benchmarks.md.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ringlb::config::Balance;
use ringlb::lb::{self, Pick, ServerState};

fn servers(n: usize) -> Vec<ServerState> {
    (0..n)
        .map(|i| {
            let mut s = ServerState::new(1 + (i as u32 % 4), false);
            s.active = (i as u32 * 7) % 5;
            s.latency.observe(
                Duration::from_micros(200 + (i as u64 * 37) % 300),
                Instant::now(),
            );
            s
        })
        .collect()
}

fn picks(c: &mut Criterion) {
    let now = Instant::now();
    for balance in [
        Balance::Roundrobin,
        Balance::Leastconn,
        Balance::Source,
        Balance::Random,
        Balance::P2c,
    ] {
        let mut group = c.benchmark_group(format!("pick/{balance:?}").to_lowercase());
        for n in [2usize, 16, 32, 256] {
            let s = servers(n);
            let mut b = lb::new_balancer(balance, n, 42);
            let mut client = 0u32;
            // The first pick builds Maglev's table; measure steady-state picks.
            let _ = b.pick(
                &s,
                &Pick {
                    avoid: None,
                    client: None,
                    hash: None,
                    now,
                    epoch: 0,
                },
            );
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
                bench.iter(|| {
                    client = client.wrapping_add(0x9E37_79B9);
                    let pick = Pick {
                        avoid: None,
                        client: Some(IpAddr::from(client.to_be_bytes())),
                        hash: None,
                        now,
                        epoch: 0,
                    };
                    black_box(b.pick(black_box(&s), &pick))
                })
            });
        }
        group.finish();
    }
    // Maglev rebuild: a weight change makes the next pick rebuild the 65,537-entry table.
    let mut group = c.benchmark_group("source_rebuild");
    for n in [2usize, 16, 256] {
        let mut s = servers(n);
        let mut b = lb::new_balancer(Balance::Source, n, 42);
        let mut flip = false;
        let mut epoch = 0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| {
                flip = !flip;
                s[0].weight = if flip { 2 } else { 3 };
                epoch += 1;
                black_box(b.pick(
                    &s,
                    &Pick {
                        avoid: None,
                        client: None,
                        hash: None,
                        now,
                        epoch,
                    },
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, picks);
criterion_main!(benches);
