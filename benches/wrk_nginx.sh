#!/usr/bin/env bash
# ringlb vs HAProxy in issue 21's own set-up: nginx backends and wrk, next to
# `ringlb-load compare` (its own backends and generator; docs/benchmarks.md, "Two
# set-ups: wrk + nginx, and ringlb-load", says what differs and why the ratios do).
#   - backends: two nginx (1 worker process each, stock keep-alive settings, so each
#     closes a client connection after 1000 requests), serving a static file of BODY
#     bytes (default 615: the size of Debian's stock nginx index page), access log off;
#   - proxies: ringlb (`workers` = N, unpinned) and HAProxy 2.6 (`nbthread` N,
#     unpinned, `http-reuse always`); ringlb's `http_reuse` is REUSE (default `always`,
#     the same policy as HAProxy's);
#   - closed loop (wrk): keep-alive with 1 worker / nbthread 1 and `wrk -t1 -c50`;
#     keep-alive with 2 workers / nbthread 2 and `wrk -t2 -c100`; one request per
#     connection (`Connection: close`) with 1 worker and `wrk -t1 -c50`;
#   - open loop at 50% and 75% of HAProxy's median 1-worker keep-alive maximum, 50
#     keep-alive connections: `ringlb-load run --rate` (oha is not packaged here;
#     ringlb-load corrects for coordinated omission the way wrk2 and oha do);
#     corrected p50/p99/p99.9;
#   - every round runs every cell for both proxies, the order alternating from round
#     to round (ringlb first in odd rounds); medians over the rounds; ratios are
#     ringlb / HAProxy; CPU seconds per 100k requests of the proxy (user+sys from
#     /proc/PID/stat).
# Prints a paste-ready Markdown table.
# Usage: bash benches/wrk_nginx.sh [rounds] [seconds]   (defaults 3 and 5)
#   RINGLB / RINGLB_LOAD: the binaries (default target/release/...; build them with
#   `cargo build --release --workspace`); BODY: response body bytes; REUSE: ringlb's
#   http_reuse; OPEN=0: skip the open-loop cells; CELLS: the closed-loop cells to run (any
#   of "ka1 ka2 close", default all; the open loop's rates come from ka1's HAProxy
#   maximum, or HMAX=req/s when ka1 is left out); MACHINE: the note put next to every
#   number (default "2 shared cores, busy machine").
# Needs wrk, nginx and haproxy (Debian packages wrk, nginx, haproxy).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3} secs=${2:-5}
RINGLB=${RINGLB:-./target/release/ringlb}
BODY=${BODY:-615}
REUSE=${REUSE:-always}
OPEN=${OPEN:-1}
CELLS=${CELLS:-"ka1 ka2 close"}
MACHINE=${MACHINE:-"2 shared cores, busy machine"}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
for tool in wrk nginx haproxy; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install $tool" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
  echo "nothing listens on port $1; logs in $tmp:" >&2; tail -n 5 "$tmp"/*.log >&2; exit 1
}

# Two nginx backends, each its own master-less process with one worker.
mkdir -p "$tmp/www"
head -c "$BODY" /dev/zero | tr '\0' 'x' >"$tmp/www/index.html"
backends=() nginx_pids=()
for i in 1 2; do
  port=$(free_port)
  mkdir -p "$tmp/nginx$i"
  cat >"$tmp/nginx$i/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx$i/nginx.pid;
error_log stderr error;
events { worker_connections 10000; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx$i;
    proxy_temp_path $tmp/nginx$i;
    fastcgi_temp_path $tmp/nginx$i;
    uwsgi_temp_path $tmp/nginx$i;
    scgi_temp_path $tmp/nginx$i;
    server {
        listen 127.0.0.1:$port;
        root $tmp/www;
    }
}
EOF
  nginx -p "$tmp/nginx$i" -c "$tmp/nginx$i/nginx.conf" 2>"$tmp/nginx$i.log" &
  pids+=($!)
  nginx_pids+=($!)
  wait_port "$port"
  backends+=("127.0.0.1:$port")
done

# One ringlb and one HAProxy per worker count, all started now; each idles while the
# others are measured.
declare -A addr pid
for w in 1 2; do
  port=$(free_port)
  cat >"$tmp/ringlb$w.toml" <<EOF
[global]
workers = $w
pin_workers = false
max_connections = 4000

[[frontend]]
name = "bench"
bind = ["127.0.0.1:$port"]
mode = "http"
default_backend = "nginx"

[[backend]]
name = "nginx"
http_reuse = "$REUSE"
[[backend.server]]
name = "n1"
address = "${backends[0]}"
[[backend.server]]
name = "n2"
address = "${backends[1]}"
EOF
  RUST_LOG=warn "$RINGLB" run -c "$tmp/ringlb$w.toml" >"$tmp/ringlb$w.log" 2>&1 &
  pid[ringlb$w]=$!
  pids+=($!)
  wait_port "$port"
  addr[ringlb$w]=127.0.0.1:$port
  port=$(free_port)
  cat >"$tmp/haproxy$w.cfg" <<EOF
global
    nbthread $w
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:$port
    default_backend nginx
backend nginx
    balance roundrobin
    http-reuse always
    server n1 ${backends[0]}
    server n2 ${backends[1]}
EOF
  haproxy -db -f "$tmp/haproxy$w.cfg" >"$tmp/haproxy$w.log" 2>&1 &
  pid[haproxy$w]=$!
  pids+=($!)
  wait_port "$port"
  addr[haproxy$w]=127.0.0.1:$port
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The whole machine's busy ticks (all CPUs, everything but idle and iowait) and both
# nginx's: with the proxy's own, they say how the cell's CPU was shared (the rest is
# wrk and the kernel's softirq work).
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
nginx_ticks() { local t=0 p; for p in "${nginx_pids[@]}"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)
rows="$tmp/rows"
: >"$rows"

# closed CELL PROXY WORKERS WRK_OPTIONS...: one wrk run; appends a row.
closed() {
  local cell=$1 proxy=$2 w=$3; shift 3
  local p=${pid[$proxy$w]} before after out m0 m1 n0 n1
  before=$(cpu_ticks "$p") m0=$(machine_ticks) n0=$(nginx_ticks)
  out=$(wrk "$@" -d "${secs}s" --latency "http://${addr[$proxy$w]}/" 2>&1)
  after=$(cpu_ticks "$p") m1=$(machine_ticks) n1=$(nginx_ticks)
  python3 - "$cell" "$proxy" "$before" "$after" "$hz" "$out" "$((m1 - m0))" "$((n1 - n0))" >>"$rows" <<'PY'
import re, sys
cell, proxy, before, after, hz, out, machine, nginx = sys.argv[1:]
num = lambda pat: float(m.group(1)) if (m := re.search(pat, out)) else 0.0
def ms(s):
    v, unit = float(s[:-2] if s.endswith(("us", "ms")) else s[:-1]), s[-2:] if s.endswith(("us", "ms")) else s[-1]
    return v / 1000 if unit == "us" else v if unit == "ms" else v * 1000
rps = num(r"Requests/sec:\s+([0-9.]+)")
total = num(r"(\d+) requests in")
p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
errors = int(num(r"Non-2xx or 3xx responses: (\d+)"))
if (m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)):
    errors += sum(int(x) for x in m.groups())
cpu = (int(after) - int(before)) / int(hz)
per100k = cpu / total * 1e5 if total else float("nan")
secs = total / rps if rps else float("nan")
busy = int(machine) / int(hz) / secs if secs else float("nan")
share = (int(after) - int(before)) / int(machine) if int(machine) else float("nan")
ngx = int(nginx) / int(machine) if int(machine) else float("nan")
print(f"{cell}|{proxy}|{rps:.0f}|{ms(p99.group(1)) if p99 else float('nan'):.3f}|{per100k:.3f}|{errors}|{busy:.2f},{share:.2f},{ngx:.2f}")
PY
}

# open CELL PROXY RATE: one open-loop run at RATE, 50 keep-alive connections; a row.
open_loop() {
  local cell=$1 proxy=$2 rate=$3 out
  out=$($L run "http://${addr[${proxy}1]}/" --rate "$rate" -c 50 -t 1 -d "${secs}s" --warmup 1s --json)
  python3 - "$cell" "$proxy" "$out" >>"$rows" <<'PY'
import json, sys
cell, proxy, out = sys.argv[1:]
j = json.loads(out)
c = j["corrected"]
e = j["errors"]
errors = sum(v for v in e.values() if isinstance(v, int))
kept = "" if j["kept_up"] else "!"
print(f"{cell}|{proxy}|{j['achieved_rate']:.0f}{kept}|{c['p50_us']/1e3:.3f},{c['p99_us']/1e3:.3f},{c['p999_us']/1e3:.3f}|-|{errors}|-")
PY
}

want() { [[ " $CELLS " == *" $1 "* ]]; }
order() { if [ $(($1 % 2)) = 1 ]; then echo "ringlb haproxy"; else echo "haproxy ringlb"; fi; }

# Warm-up: every proxy's server connections and lazily built state.
for k in "${!addr[@]}"; do wrk -t1 -c10 -d1s "http://${addr[$k]}/" >/dev/null; done
for r in $(seq "$rounds"); do
  for proxy in $(order "$r"); do
    if want ka1; then closed "keep-alive, 1 worker, wrk -t1 -c50" "$proxy" 1 -t1 -c50; fi
  done
  for proxy in $(order "$r"); do
    if want ka2; then closed "keep-alive, 2 workers, wrk -t2 -c100" "$proxy" 2 -t2 -c100; fi
  done
  for proxy in $(order "$r"); do
    if want close; then closed "Connection: close, 1 worker, wrk -t1 -c50" "$proxy" 1 -t1 -c50 -H "Connection: close"; fi
  done
  echo "round $r of $rounds: closed loop done" >&2
done
if [ "$OPEN" = 1 ]; then
  hmax=${HMAX:-$(awk -F'|' '$1 ~ /^keep-alive, 1 worker/ && $2 == "haproxy" {print $3}' "$rows" | sort -n |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')}
  [ -n "$hmax" ] || { echo "open loop: no HAProxy 1-worker keep-alive maximum (CELLS without ka1: set HMAX)" >&2; exit 1; }
  for level in 50 75; do
    rate=$(python3 -c "print(max(1, round($hmax * $level / 100)))")
    for r in $(seq "$rounds"); do
      for proxy in $(order "$r"); do
        open_loop "open loop at ${level}% of HAProxy's max ($rate req/s), 1 worker, 50 connections" "$proxy" "$rate"
      done
    done
    echo "open loop at $level%: done" >&2
  done
fi

python3 - "$rows" "$rounds" "$secs" "$BODY" "$REUSE" "$MACHINE" "$(haproxy -v | head -n1 | awk '{print $3}')" "$(nginx -v 2>&1 | sed 's/.*nginx\///')" "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')" <<'PY'
import statistics, sys
rows_file, rounds, secs, body, reuse, machine, hv, nv, wv = sys.argv[1:]
cells, by = [], {}
for line in open(rows_file):
    cell, proxy, rate, lat, cpu, errors, shares = line.rstrip("\n").split("|")
    if cell not in cells:
        cells.append(cell)
    by.setdefault((cell, proxy), []).append((rate, lat, cpu, int(errors), shares))
med = statistics.median
print(f"wrk {wv} + nginx {nv} backends (2, one worker each, {body}-byte static file), ringlb "
      f"(`http_reuse = \"{reuse}\"`) vs HAProxy {hv} (`http-reuse always`), both unpinned; "
      f"{rounds} rounds of {secs} s, the proxies alternated every round; medians; ratios "
      f"ringlb / HAProxy. All numbers: {machine}.")
print()
print("| workload | ringlb req/s | HAProxy req/s | **req/s ratio** | ringlb CPU s/100k | HAProxy CPU s/100k | CPU ratio | ringlb p99 ms | HAProxy p99 ms | errors (r / h) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
opened = []
for cell in cells:
    r, h = by.get((cell, "ringlb"), []), by.get((cell, "haproxy"), [])
    if not r or not h:
        continue
    if cell.startswith("open loop"):
        opened.append((cell, r, h))
        continue
    rr, hr = med(float(x[0]) for x in r), med(float(x[0]) for x in h)
    rc, hc = med(float(x[2]) for x in r), med(float(x[2]) for x in h)
    rp, hp = med(float(x[1]) for x in r), med(float(x[1]) for x in h)
    err = f"{sum(x[3] for x in r)} / {sum(x[3] for x in h)}"
    print(f"| {cell} | {rr:.0f} | {hr:.0f} | **{rr / hr:.2f}×** | {rc:.3f} | {hc:.3f} | {rc / hc:.2f}× | "
          f"{rp:.2f} | {hp:.2f} | {err} |")
shared = [c for c in cells if not c.startswith("open loop") and by.get((c, "ringlb")) and by.get((c, "haproxy"))]
if shared:
    print()
    print("How the machine's CPU was shared in each closed-loop cell (medians; busy: CPUs' busy time "
          "per second of the run, out of the machine's CPUs; shares of that busy time: the proxy's own "
          "process, both nginx, and the rest: wrk, the kernel's softirq work not charged "
          "to a process, and anything else running):")
    print()
    print("| workload | proxy | machine busy (CPUs) | proxy share | nginx share | rest (wrk, softirq) |")
    print("|---|---|---:|---:|---:|---:|")
    for cell in shared:
        for proxy, name in (("ringlb", "ringlb"), ("haproxy", "HAProxy")):
            v = [[float(f) for f in x[4].split(",")] for x in by[(cell, proxy)]]
            busy, share, ngx = (med(x[i] for x in v) for i in range(3))
            print(f"| {cell} | {name} | {busy:.2f} | {share:.0%} | {ngx:.0%} | {1 - share - ngx:.0%} |")
if opened:
    print()
    print("Open loop (`ringlb-load run --rate`, latency corrected for coordinated omission; "
          "`!` marks a run that fell short of its rate):")
    print()
    print("| workload | ringlb p50 / p99 / p99.9 ms | HAProxy p50 / p99 / p99.9 ms | p99 ratio | **p99.9 ratio** | achieved req/s (r / h) | errors (r / h) |")
    print("|---|---:|---:|---:|---:|---|---|")
    for cell, r, h in opened:
        lat = lambda v, i: med(float(x[1].split(",")[i]) for x in v)
        rl, hl = [lat(r, i) for i in range(3)], [lat(h, i) for i in range(3)]
        rates = f"{','.join(x[0] for x in r)} / {','.join(x[0] for x in h)}"
        err = f"{sum(x[3] for x in r)} / {sum(x[3] for x in h)}"
        print(f"| {cell} | {rl[0]:.3f} / {rl[1]:.3f} / {rl[2]:.3f} | {hl[0]:.3f} / {hl[1]:.3f} / {hl[2]:.3f} | "
              f"{rl[1] / hl[1]:.2f}× | **{rl[2] / hl[2]:.2f}×** | {rates} | {err} |")
PY
