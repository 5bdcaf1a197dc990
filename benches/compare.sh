#!/usr/bin/env bash
# ringlb vs HAProxy (vs a direct connection, optionally nginx) on this machine, with
# ringlb-load. Writes Markdown tables and an SVG plot; paste them into
# docs/benchmarks.md. Usage:
#   bash benches/compare.sh [tcp|http] [extra ringlb-load compare options...]
# e.g. bash benches/compare.sh tcp --workers 2 --rounds 5 --nginx /usr/sbin/nginx
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-tcp}"
shift || true
command -v haproxy >/dev/null || { echo "installing haproxy"; apt-get update -qq && apt-get install -y -qq haproxy; }
cargo build --release --workspace
mkdir -p target/bench
./target/release/ringlb-load compare --mode "$mode" \
  --ringlb target/release/ringlb \
  --svg "target/bench/latency-$mode.svg" \
  --out "target/bench/compare-$mode.md" "$@"
echo "wrote target/bench/compare-$mode.md and target/bench/latency-$mode.svg"
