#!/usr/bin/env bash
# Tail latency with one slow-at-times server: three backends, one of which adds 20 ms
# to every response for 1 s out of every 3 s; ringlb (HTTP, 1 worker) in front with
# balance = roundrobin, leastconn, p2c in turn (alternated over rounds), open loop at
# a fixed rate.
# Usage: bash benches/p2c_spike.sh [rate] [rounds] [algorithms...]
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-2000}"; rounds="${2:-2}"
shift $(( $# > 2 ? 2 : $# ))
algorithms=("${@:-roundrobin leastconn p2c}")
read -r -a algorithms <<<"${algorithms[*]}"
cargo build --release --workspace
source benches/lib.sh
serve steady1
serve steady2
serve spiky --spike 3s,20ms,1s
cat >"$tmp/summary.py" <<'EOT'
import json, sys
r = json.load(sys.stdin)
c = r["corrected"]
ms = lambda k: c[k] / 1e3
print(f"p50 {ms('p50_us'):.2f} ms  p90 {ms('p90_us'):.2f} ms  p99 {ms('p99_us'):.2f} ms  "
      f"p99.9 {ms('p999_us'):.2f} ms  ({r['achieved_rate']:.0f} req/s)")
EOT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for round in $(seq "$rounds"); do
  for balance in "${algorithms[@]}"; do
    cat >"$tmp/ringlb.toml" <<EOT
[global]
workers = 1
pin_workers = false
[[frontend]]
name = "web"
bind = ["127.0.0.1:$port"]
mode = "http"
default_backend = "app"
[[backend]]
name = "app"
balance = "$balance"
[[backend.server]]
name = "steady1"
address = "$steady1"
[[backend.server]]
name = "steady2"
address = "$steady2"
[[backend.server]]
name = "spiky"
address = "$spiky"
EOT
    ./target/release/ringlb run -c "$tmp/ringlb.toml" 2>/dev/null &
    rl=$!
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
    printf 'round %s %-10s ' "$round" "$balance"
    $L run "http://127.0.0.1:$port/" --rate "$rate" -c 50 -t 1 -d 10s --warmup 2s --json \
      | python3 "$tmp/summary.py"
    kill "$rl"; wait "$rl" 2>/dev/null || true
  done
done
