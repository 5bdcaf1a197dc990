#!/usr/bin/env bash
# The control thread under load: what a backend's death costs, what a reload costs,
# how fast a change reaches the workers, and what an idle ringlb burns.
#   1. failover: three backends, HTTP checks (interval 1s, fast 250ms, fall 3), open-loop
#      load; one backend is killed (SIGKILL) mid-run. Reports the time from the kill to
#      ringlb's DOWN line and the failed requests, with passive health off and on.
#   2. reload: the same load while the file is reloaded 10 times (weights change, a
#      server comes and goes): failed requests.
#   3. broadcast: 100 admin API changes; time from the control thread's broadcast to
#      each worker applying it (from ringlb's own debug timestamps).
#   4. idle CPU: ringlb with checks on 3 servers (interval 2s), 20 s with no traffic.
# Usage: bash benches/control.sh [rate]
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-4000}"
cargo build --release --workspace
source benches/lib.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); admin=$(free_port)
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
errors_of() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); e=r["errors"]; print(r["requests"], sum(e.values()), json.dumps(e))' "$1"; }

config() { # $1: error_limit, $2: weights "w1 w2 w3", $3: servers (default 3)
  local limit=$1 n=${3:-3}; read -r w1 w2 w3 <<<"$2"
  local ws=("$w1" "$w2" "$w3")
  cat <<EOT
[global]
workers = 2
pin_workers = false
admin_bind = "127.0.0.1:$admin"
[[frontend]]
name = "web"
bind = ["127.0.0.1:$port"]
mode = "http"
default_backend = "app"
[[backend]]
name = "app"
error_limit = $limit
[backend.check]
kind = "http"
path = "/health"
interval = "1s"
fast_interval = "250ms"
down_interval = "1s"
timeout = "500ms"
rise = 2
fall = 3
EOT
  for i in $(seq 0 $((n - 1))); do
    printf '[[backend.server]]\nname = "s%s"\naddress = "%s"\nweight = %s\ncheck = true\n' \
      "$i" "${backends[$i]}" "${ws[$i]}"
  done
}

start_ringlb() {
  RUST_LOG="${RUST_LOG:-info}" ./target/release/ringlb run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
  rl=$!
  wait_port "$port"; wait_port "$admin"
}

echo "## failover (rate $rate req/s, 2 workers)"
for limit in 0 10; do
  backends=()
  serve b0; serve b1; serve b2; backends=("$b0" "$b1" "$b2")
  victim=${pids[-1]}
  config "$limit" "1 1 1" >"$tmp/ringlb.toml"
  start_ringlb
  $L run "http://127.0.0.1:$port/" --rate "$rate" -c 50 -t 1 -d 8s --warmup 1s --json >"$tmp/load.json" &
  load=$!
  sleep 4
  killed=$(date +%s.%N)
  kill -9 "$victim"
  wait "$load"
  down=$(grep -m1 'app/s2 DOWN' "$tmp/ringlb.log" | cut -d' ' -f1)
  why=$(grep -m1 'app/s2 DOWN' "$tmp/ringlb.log" | sed 's/.*DOWN: //')
  secs=$(python3 -c "import datetime,sys; d=datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp(); print(f'{d-float(sys.argv[2]):.3f}')" "$down" "$killed")
  read -r total failed detail < <(errors_of "$tmp/load.json")
  echo "error_limit=$limit: DOWN ${secs}s after the kill ($why); $failed of $total requests failed $detail"
  kill "$rl"; wait "$rl" 2>/dev/null || true
done

echo "## reload under load (10 reloads)"
serve c0; serve c1; serve c2; backends=("$c0" "$c1" "$c2")
config 10 "1 1 1" >"$tmp/ringlb.toml"
start_ringlb
$L run "http://127.0.0.1:$port/" --rate "$rate" -c 50 -t 1 -d 8s --warmup 1s --json >"$tmp/load.json" &
load=$!
sleep 1.5
for i in $(seq 10); do
  if (( i % 2 )); then config 10 "1 2 3" 2 >"$tmp/ringlb.toml"; else config 10 "3 1 1" >"$tmp/ringlb.toml"; fi
  kill -HUP "$rl"
  sleep 0.5
done
wait "$load"
reloads=$(grep -c 'configuration reloaded' "$tmp/ringlb.log" || true)
read -r total failed detail < <(errors_of "$tmp/load.json")
echo "$reloads reloads applied; $failed of $total requests failed $detail"
kill "$rl"; wait "$rl" 2>/dev/null || true

echo "## broadcast latency (100 admin changes, 2 workers)"
config 10 "1 1 1" >"$tmp/ringlb.toml"
RUST_LOG=info,ringlb::control::plane=debug,ringlb::apply=debug start_ringlb
for i in $(seq 50); do
  curl -s -o /dev/null -d drain "http://127.0.0.1:$admin/api/servers/app/s1/state"
  curl -s -o /dev/null -d ready "http://127.0.0.1:$admin/api/servers/app/s1/state"
done
kill "$rl"; wait "$rl" 2>/dev/null || true
python3 - "$tmp/ringlb.log" <<'EOT'
import datetime, re, sys
ts = lambda l: datetime.datetime.fromisoformat(l.split()[0].replace("Z", "+00:00")).timestamp()
sent, lat = None, []
for line in open(sys.argv[1]):
    if "server state broadcast" in line and "server=1" in line:
        sent = ts(line)
    elif "server state applied" in line and "server=1" in line and sent:
        lat.append((ts(line) - sent) * 1e3)
lat.sort()
if lat:
    print(f"{len(lat)} applications: median {lat[len(lat)//2]:.3f} ms, max {lat[-1]:.3f} ms")
EOT

echo "## idle CPU (checks on 3 servers every 2s, no traffic, 20 s)"
config 10 "1 1 1" >"$tmp/ringlb.toml"
sed -i 's/interval = "1s"/interval = "2s"/' "$tmp/ringlb.toml"
start_ringlb
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$rl/stat"; }
before=$(cpu); sleep 20; after=$(cpu)
python3 -c "print(f'{($after-$before)/$tick/20*100:.2f}% of one core')"
kill "$rl"; wait "$rl" 2>/dev/null || true
