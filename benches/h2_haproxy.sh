#!/usr/bin/env bash
# HTTP/2 clients: ringlb against HAProxy (issue 18), same machine, same backends (two
# `ringlb-load serve`, 128-byte bodies), one worker / one thread each, HTTP/1.1 to the
# servers with keep-alive reuse. Each proxy listens twice: TLS with ALPN h2,http/1.1
# (HAProxy `bind ... ssl alpn h2,http/1.1`) and cleartext HTTP/2 with prior knowledge
# (ringlb `h2c = "prior-knowledge"`, HAProxy `bind ... proto h2`).
#   - h2load rounds, the proxies alternated within each round: requests/s, p99 of the
#     per-request times (h2load --log-file), the proxy's CPU seconds per 100k requests
#     (user+sys from /proc/PID/stat); medians of the rounds.
#   - memory per idle HTTP/2 connection: N connections that each made one request,
#     RSS before and after (benches/h2_idle.py), cleartext and TLS.
# Prints a markdown table (ratios ringlb/HAProxy) to paste into docs/benchmarks.md.
# Usage: bash benches/h2_haproxy.sh [rounds] [seconds] [idle N]
#   RINGLB / RINGLB_LOAD: the binaries (default target/release/...; build them with
#   `cargo build --release --workspace`); LOADS: the h2load loads, `;`-separated
#   (default "-c 50 -m 10;-c 10 -m 10;-c 100 -m 1"; set and empty: none,
#   the idle memory only); MACHINE: the note put next to
#   every number (default "2 shared cores, busy machine (other builds running)");
#   BACKEND_KEYS: extra TOML lines for ringlb's backend (e.g.
#   $'http_reuse = "always"\npool_max_connections = 1024').
# Needs h2load (Debian nghttp2-client), haproxy, openssl, python3 with `h2`.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} secs=${2:-5} idle_n=${3:-1000}
RINGLB=${RINGLB:-./target/release/ringlb}
LOADS=${LOADS-"-c 50 -m 10;-c 10 -m 10;-c 100 -m 1"}
MACHINE=${MACHINE:-"2 shared cores, busy machine (other builds running)"}
BACKEND_KEYS=${BACKEND_KEYS:-}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
serve b1 --body-size 128
serve b2 --body-size 128
source benches/h2_setup.sh
r_tls=$(free_port) r_clear=$(free_port) h_tls=$(free_port) h_clear=$(free_port)
maxconn=$((idle_n + 1000))

h2_ringlb_cfg "$tmp/ringlb.toml" "$r_tls" "$r_clear" "max_connections = $maxconn" "$BACKEND_KEYS"
h2_haproxy_cfg "$tmp/haproxy.cfg" "$h_tls" "$h_clear" "maxconn $maxconn"
"$RINGLB" run -c "$tmp/ringlb.toml" >"$tmp/ringlb.log" 2>&1 &
rpid=$!
pids+=("$rpid")
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
hpid=$!
pids+=("$hpid")
for _ in $(seq 200); do grep -q "ringlb ready" "$tmp/ringlb.log" && break; sleep 0.05; done
grep -q "ringlb ready" "$tmp/ringlb.log" || { cat "$tmp/ringlb.log"; exit 1; }
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$h_clear") 2>/dev/null && break; sleep 0.05; done
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

target() { # target PROXY TRANSPORT: sets pid and port
  case "$1/$2" in
    ringlb/tls) pid=$rpid port=$r_tls ;;
    ringlb/clear) pid=$rpid port=$r_clear ;;
    haproxy/tls) pid=$hpid port=$h_tls ;;
    haproxy/clear) pid=$hpid port=$h_clear ;;
  esac
}

run() { # run PROXY TRANSPORT LOAD: one h2load run; appends a row to $rows
  local proxy=$1 transport=$2 load=$3 pid port url before after out
  target "$proxy" "$transport"
  [ "$transport" = tls ] && url="https://127.0.0.1:$port/" || url="http://127.0.0.1:$port/"
  rm -f "$tmp/req.log"
  before=$(cpu_ticks "$pid")
  # shellcheck disable=SC2086 # LOAD is a list of h2load options
  out=$(h2load -D "$secs" --warm-up-time 1 $load --log-file="$tmp/req.log" "$url" 2>&1)
  after=$(cpu_ticks "$pid")
  python3 - "$proxy" "$transport" "$load" "$out" "$before" "$after" "$hz" "$secs" "$tmp/req.log" >>"$rows" <<'PY'
import re, sys
proxy, transport, load, out, before, after, hz, secs, log = sys.argv[1:]
m = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
failed = re.search(r"(\d+) failed", out)
rps = float(m.group(1)) if m else 0.0
times = []
with open(log) as f:
    for line in f:
        cols = line.split("\t")
        if len(cols) >= 3:
            times.append(int(cols[2]))
times.sort()
p99 = times[min(len(times) - 1, int(len(times) * 0.99))] / 1000 if times else float("nan")
# The CPU reading spans the warm-up second too: count its requests at the same rate.
total = rps * (float(secs) + 1.0)
cpu = (int(after) - int(before)) / int(hz)
per100k = cpu / total * 100000 if total else float("nan")
print(f"{proxy}|{transport}|{load}|{rps:.0f}|{p99:.3f}|{per100k:.3f}|{failed.group(1) if failed else '?'}")
PY
}

rows="$tmp/rows"
: >"$rows"
IFS=';' read -ra loads <<<"$LOADS"
for round in $(seq "$rounds"); do
  for transport in clear tls; do
    for load in "${loads[@]}"; do
      # Alternated: who goes first changes from round to round.
      if [ $((round % 2)) = 1 ]; then order="ringlb haproxy"; else order="haproxy ringlb"; fi
      for proxy in $order; do run "$proxy" "$transport" "$load"; done
    done
  done
done

idle="$tmp/idle"
: >"$idle"
for transport in clear tls; do
  for proxy in ringlb haproxy; do
    target "$proxy" "$transport"
    echo "$proxy|$transport|$(python3 benches/h2_idle.py "$pid" "127.0.0.1:$port" "$idle_n" "$transport")" >>"$idle"
  done
done

python3 - "$rows" "$idle" "$rounds" "$secs" "$idle_n" "$MACHINE" "$(haproxy -v | head -n1 | awk '{print $3}')" <<'PY'
import statistics, sys
rows_file, idle_file, rounds, secs, idle_n, machine, hv = sys.argv[1:]
by = {}
for line in open(rows_file):
    proxy, transport, load, rps, p99, cpu, failed = line.strip().split("|")
    by.setdefault((transport, load, proxy), []).append((float(rps), float(p99), float(cpu), failed))
med = lambda v, i: statistics.median(x[i] for x in v)
print(f"HTTP/2 clients, ringlb vs HAProxy {hv}: 1 worker / 1 thread each, {rounds} alternated "
      f"rounds of {secs} s (h2load, 1 s warm-up), 128-byte responses from two HTTP/1.1 servers; "
      f"medians. Ratios are ringlb / HAProxy. All numbers: {machine}.")
print()
print("| transport | h2load | ringlb req/s | HAProxy req/s | req/s ratio | ringlb p99 ms | HAProxy p99 ms | p99 ratio | ringlb CPU s/100k | HAProxy CPU s/100k | failed (r / h) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
seen = []
for (transport, load, _) in by:
    if (transport, load) not in seen:
        seen.append((transport, load))
for transport, load in seen:
    r, h = by.get((transport, load, "ringlb"), []), by.get((transport, load, "haproxy"), [])
    if not r or not h:
        continue
    rr, hr, rp, hp, rc, hc = med(r, 0), med(h, 0), med(r, 1), med(h, 1), med(r, 2), med(h, 2)
    fails = f"{','.join(x[3] for x in r)} / {','.join(x[3] for x in h)}"
    print(f"| {transport} | `{load}` | {rr:.0f} | {hr:.0f} | **{rr / hr:.2f}x** | {rp:.2f} | {hp:.2f} | "
          f"**{rp / hp:.2f}x** | {rc:.3f} | {hc:.3f} | {fails} |")
print()
print(f"Memory per idle HTTP/2 connection ({idle_n} connections that each made one request, "
      f"RSS growth / N; {machine}):")
print()
print("| transport | ringlb KiB/conn | HAProxy KiB/conn | ratio | ringlb RSS before → after → closed (KiB) | HAProxy RSS before → after → closed (KiB) |")
print("|---|---:|---:|---:|---|---|")
idle = {}
for line in open(idle_file):
    proxy, transport, rest = line.strip().split("|", 2)
    parts = rest.split()
    kv = dict(p.split("=") for p in parts[1:])
    idle[(proxy, transport)] = (float(parts[0]), f"{kv['before']} → {kv['after']} → {kv['closed']}")
for transport in ("clear", "tls"):
    r, h = idle.get(("ringlb", transport)), idle.get(("haproxy", transport))
    if r and h:
        # HAProxy's growth can be below RSS's resolution: no ratio to a near-zero.
        ratio = f"{r[0] / h[0]:.2f}x" if h[0] >= 1.0 else "- (HAProxy < 1 KiB)"
        print(f"| {transport} | {r[0]:.2f} | {h[0]:.2f} | **{ratio}** | {r[1]} | {h[1]} |")
PY
