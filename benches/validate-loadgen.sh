#!/usr/bin/env bash
# Checks ringlb-load against wrk (closed-loop throughput within 10%) and against a known
# injected delay (serve --delay 10ms must measure p50 ~ 10 ms). Prints both.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -p ringlb-load
source benches/lib.sh
serve addr
serve slow --delay 10ms

for i in 1 2 3; do
  echo "== round $i: wrk, then ringlb-load (1 thread, 50 connections, 5 s)"
  wrk -t1 -c50 -d5s "http://$addr/" | grep -E 'Requests/sec'
  $L run "http://$addr/" -t1 -c50 -d5s --warmup 0s --json | grep achieved_rate
done
echo "== injected delay: serve --delay 10ms, open loop at 1000 req/s"
$L run "http://$slow/" -t1 -c50 -d5s --rate 1000
