#!/usr/bin/env bash
# Server-connection reuse in counts: new server connections per 1,000 requests
# (`ringlb_backend_connections_opened_total` over the sum of
# `ringlb_server_requests_total`, from ringlb's /metrics, the figure `ringlb-load
# compare` reports), for one ringlb binary or two (before / after), under four
# workloads: HTTP/1.1 keep-alive clients, one request per client connection with
# `http_reuse = "safe"` and with `"always"` (`Connection: close`), and HTTP/2 clients
# with 500 streams in flight (h2load -c 50 -m 10, cleartext prior knowledge). One
# worker, two `ringlb-load serve` backends (64-byte bodies), a fresh ringlb for each
# cell, backend keys otherwise at their defaults. The counts depend on how many
# requests are in flight at once, not on the machine's speed: they can be taken on a
# busy machine (requests/s cannot).
# Usage: bash benches/reuse_counts.sh [seconds per cell] [h2load requests]
#   RINGLB: the binary measured (default target/release/ringlb); RINGLB_BEFORE: a
#   second binary, shown first; RINGLB_LOAD: the load generator; KEYS: extra TOML lines
#   for the backend of every cell (e.g. 'pool_max_connections = 64'; `http_reuse` only
#   with WORKLOADS left without close-always, which sets it); WORKLOADS: the rows
#   (default "keep-alive close-safe close-always h2"); WORKERS: ringlb's workers
#   (default 1).
# Needs h2load (Debian nghttp2-client) for the HTTP/2 row (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3} h2_n=${2:-30000}
RINGLB=${RINGLB:-./target/release/ringlb}
KEYS=${KEYS:-}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
serve b1 --body-size 64
serve b2 --body-size 64

start_ringlb() { # start_ringlb BINARY BACKEND_KEYS: sets rl_pid, rl_addr (HTTP/1.1), rl_h2 (h2c), rl_admin
  cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = ${WORKERS:-1}
pin_workers = false
admin_bind = "127.0.0.1:0"

[[frontend]]
name = "f"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "b"

[[frontend]]
name = "f2"
bind = ["127.0.0.1:0"]
mode = "http"
h2c = "prior-knowledge"
default_backend = "b"

[[backend]]
name = "b"
$2
$KEYS
[[backend.server]]
name = "s1"
address = "$b1"
[[backend.server]]
name = "s2"
address = "$b2"
TOML
  : >"$tmp/ringlb.log"
  "$1" run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
  rl_pid=$!
  pids+=("$rl_pid")
  for _ in $(seq 1200); do grep -q "ringlb ready" "$tmp/ringlb.log" && break; sleep 0.05; done
  grep -q "ringlb ready" "$tmp/ringlb.log" || { cat "$tmp/ringlb.log"; exit 1; }
  rl_addr=$(grep "frontend=f " "$tmp/ringlb.log" | grep -o "listening on [0-9.:]*" | awk '{print $3}')
  rl_h2=$(grep "frontend=f2 " "$tmp/ringlb.log" | grep -o "listening on [0-9.:]*" | awk '{print $3}')
  rl_admin=$(grep -o "admin API listening on [0-9.:]*" "$tmp/ringlb.log" | head -n1 | awk '{print $5}')
}

per_1000() { # new server connections per 1,000 requests, from /metrics
  # Workers send their counters to the control thread periodically: read until two
  # reads half a second apart agree.
  local prev= now=
  for _ in $(seq 40); do
    now=$(curl -s "http://$rl_admin/metrics" | awk '
      /^ringlb_backend_connections_opened_total\{backend="b"\}/ {o += $2}
      /^ringlb_server_requests_total\{backend="b",/ {r += $2}
      END {if (r > 0) printf "%.1f (%d / %d)", 1000 * o / r, o, r; else print "-"}')
    [ "$now" != - ] && [ "$now" = "$prev" ] && break
    prev=$now
    sleep 0.5
  done
  echo "$now"
}

cell() { # cell BINARY WORKLOAD: one fresh ringlb, one load; prints the figure
  local keys=
  [ "$2" = close-always ] && keys='http_reuse = "always"'
  start_ringlb "$1" "$keys"
  case $2 in
    keep-alive) $L run -c 50 -d "${secs}s" --warmup 0s "http://$rl_addr/" >/dev/null ;;
    close-*) $L run --close -c 50 -d "${secs}s" --warmup 0s "http://$rl_addr/" >/dev/null ;;
    h2) h2load -c 50 -m 10 -n "$h2_n" "http://$rl_h2/" >"$tmp/h2load.out" 2>&1 ||
      { cat "$tmp/h2load.out"; exit 1; } ;;
  esac
  per_1000
  kill -TERM "$rl_pid" 2>/dev/null || true
  wait "$rl_pid" 2>/dev/null || true
}

workloads=${WORKLOADS:-keep-alive close-safe close-always h2}
if ! command -v h2load >/dev/null; then
  workloads=${workloads//h2/}
  echo "no h2load: HTTP/2 row skipped"
fi
bins=("$RINGLB")
[ -n "${RINGLB_BEFORE:-}" ] && bins=("$RINGLB_BEFORE" "$RINGLB")
declare -A got
for w in $workloads; do
  for i in "${!bins[@]}"; do got[$w,$i]=$(cell "${bins[$i]}" "$w"); done
done

describe() {
  case $1 in
    keep-alive) echo "HTTP/1.1 keep-alive, 50 connections (\`safe\`)" ;;
    close-safe) echo "one request per client connection, \`safe\`" ;;
    close-always) echo "one request per client connection, \`always\`" ;;
    h2) echo "HTTP/2, h2load \`-c 50 -m 10 -n $h2_n\` (\`safe\`)" ;;
  esac
}
echo
echo "New server connections per 1,000 requests (opened / requests), ${WORKERS:-1} worker(s), 2 backends, ${secs} s per HTTP/1.1 cell ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
if [ ${#bins[@]} = 2 ]; then
  echo "| workload | before (${RINGLB_BEFORE}) | after (${RINGLB}) |"
  echo "|---|---:|---:|"
  for w in $workloads; do echo "| $(describe "$w") | ${got[$w,0]} | ${got[$w,1]} |"; done
else
  echo "| workload | ${RINGLB} |"
  echo "|---|---:|"
  for w in $workloads; do echo "| $(describe "$w") | ${got[$w,0]} |"; done
fi
