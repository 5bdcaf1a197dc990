#!/usr/bin/env bash
# HTTP/2 clients against HTTP/1.1 clients on one ringlb (cleartext; h2load for both),
# same backends, same worker: requests/s (h2load) and the proxy's CPU seconds per 100k
# requests (user+sys from /proc/PID/stat), median of the rounds. Usage:
#   bash benches/h2.sh [ringlb binary] [rounds] [seconds]
# Needs h2load (Debian nghttp2-client) and a release ringlb-load (`cargo build
# --release -p ringlb-load`; RINGLB_LOAD=path overrides where it is looked for).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/ringlb} rounds=${2:-3} secs=${3:-5}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
serve b1 --body-size 128
serve b2 --body-size 128
cfg="$tmp/h2.toml" log="$tmp/h2.log"
cat >"$cfg" <<EOF
[global]
workers = 1
pin_workers = false

[[frontend]]
name = "h1"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "app"

[[frontend]]
name = "h2"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "app"
h2c = "prior-knowledge"

[[backend]]
name = "app"
[[backend.server]]
name = "b1"
address = "$b1"
[[backend.server]]
name = "b2"
address = "$b2"
EOF
RUST_LOG=info "$bin" run -c "$cfg" >"$log" 2>&1 &
pid=$!
pids+=("$pid")
for _ in $(seq 200); do grep -q "ringlb ready" "$log" && break; sleep 0.05; done
mapfile -t addrs < <(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}')
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

run() { # run LABEL ADDR H2LOAD-ARGS...: one round; prints "LABEL rps cpu_per_100k"
  local label=$1 addr=$2; shift 2
  local before after out
  before=$(cpu_ticks)
  out=$(h2load -D "$secs" --warm-up-time 1 "$@" "http://$addr/" 2>&1)
  after=$(cpu_ticks)
  python3 - "$label" "$out" "$before" "$after" "$hz" "$secs" <<'PY'
import re, sys
label, out, before, after, hz, secs = sys.argv[1:]
m = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
failed = re.search(r"(\d+) failed", out)
rps = float(m.group(1)) if m else 0.0
# The CPU reading spans the warm-up second too: count its requests at the same rate.
total = rps * (float(secs) + 1.0)
cpu = (int(after) - int(before)) / int(hz)
per100k = cpu / total * 100000 if total else float("nan")
print(f"{label} {rps:.0f} {per100k:.3f} failed={failed.group(1) if failed else '?'}")
PY
}

rows="$tmp/rows"
for _ in $(seq "$rounds"); do
  run "h1 -c10" "${addrs[0]}" --h1 -c 10 -m 1 >>"$rows"
  run "h1 -c100" "${addrs[0]}" --h1 -c 100 -m 1 >>"$rows"
  run "h2 -c10 -m10" "${addrs[1]}" -c 10 -m 10 >>"$rows"
  run "h2 -c100 -m1" "${addrs[1]}" -c 100 -m 1 >>"$rows"
done
python3 - "$rows" "$rounds" "$secs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
by = {}
for r in rows:
    label = " ".join(r[:-3])
    by.setdefault(label, []).append((float(r[-3]), float(r[-2]), r[-1]))
print(f"{sys.argv[2]} rounds of {sys.argv[3]} s, 1 worker, cleartext, 128-byte bodies")
print(f"{'load':<14} {'req/s':>9} {'CPU s/100k':>11}  failures")
for label, v in by.items():
    rps = statistics.median(x[0] for x in v)
    cpu = statistics.median(x[1] for x in v)
    print(f"{label:<14} {rps:>9.0f} {cpu:>11.3f}  {' '.join(x[2] for x in v)}")
PY
