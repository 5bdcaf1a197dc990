#!/usr/bin/env bash
# Two ringlb binaries side by side on the same backends and the same load, alternated
# round by round (A B A B ...), for "before and after" a change on the data path:
# requests/s and CPU seconds per 100k requests (user+sys of the proxy, from
# /proc/PID/stat), medians and the ratio B/A. Usage:
#   bash benches/ab.sh OLD_RINGLB NEW_RINGLB [mode http|tcp] [rounds] [seconds] [workers]
# e.g. git worktree add /tmp/base main~5 && (cd /tmp/base && cargo build --release)
#      bash benches/ab.sh /tmp/base/target/release/ringlb target/release/ringlb http 5 4 1
# The load generator and backends are this checkout's ringlb-load (build it first).
# A_GLOBAL / B_GLOBAL: extra [global] lines for A / B, e.g. the same binary without and
# with logging: B_GLOBAL=$'access_log = true\naccess_log_format = "httplog"'
# CLOSE=1: one HTTP request per client connection (`ringlb-load run --close`), in
# either mode (through a tcp-mode proxy: a server connection per client connection).
set -euo pipefail
cd "$(dirname "$0")/.."
a_bin=$1 b_bin=$2 mode=${3:-http} rounds=${4:-5} secs=${5:-4} workers=${6:-1}
source benches/lib.sh
serve b1 --body-size 128
serve b2 --body-size 128
backends="[[backend.server]]
name = \"b1\"
address = \"$b1\"
[[backend.server]]
name = \"b2\"
address = \"$b2\""

start() { # start NAME BIN: a ringlb on a free port; prints its address into $tmp/NAME.addr
  local name=$1 bin=$2 cfg="$tmp/$1.toml" log="$tmp/$1.log" extra_var="$1_GLOBAL"
  printf '[global]\nworkers = %s\npin_workers = false\n%s\n\n[[frontend]]\nname = "f"\nbind = ["127.0.0.1:0"]\nmode = "%s"\ndefault_backend = "app"\n\n[[backend]]\nname = "app"\n%s\n' \
    "$workers" "${!extra_var:-}" "$mode" "$backends" >"$cfg"
  RUST_LOG=info "$bin" run -c "$cfg" >"$log" 2>&1 &
  pids+=($!)
  echo $! >"$tmp/$name.pid"
  for _ in $(seq 200); do grep -q "ringlb ready" "$log" && break; sleep 0.05; done
  grep -o 'listening on [0-9.:]*' "$log" | head -n1 | awk '{print $3}' >"$tmp/$name.addr"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start A "$a_bin"
start B "$b_bin"
# The backends are HTTP servers in both modes: a tcp-mode proxy relays the same
# HTTP/1.1 keep-alive exchanges byte for byte.
scheme=http
close=()
if [ "${CLOSE:-0}" = 1 ]; then close=(--close); scheme=http; fi
hz=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
  for t in A B; do
    addr=$(cat "$tmp/$t.addr") pid=$(cat "$tmp/$t.pid")
    before=$(cpu_ticks "$pid")
    json=$($L run "$scheme://$addr/" "${close[@]}" -c 50 -t 1 -d "${secs}s" --warmup 1s --json)
    after=$(cpu_ticks "$pid")
    python3 - "$t" "$json" "$before" "$after" "$hz" >>"$tmp/rows" <<'EOF'
import json, sys
t, j, before, after, hz = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rps = j["achieved_rate"]
# The CPU reading spans the 1 s warm-up too: count its requests at the same rate.
total = rps * (j["duration_s"] + 1.0)
cpu = (after - before) / hz
per100k = cpu / total * 100000 if total else float("nan")
print(f"{t} {rps:.0f} {per100k:.3f}")
EOF
  done
done
python3 - "$tmp/rows" "$mode" "$workers" "$rounds" "$secs" "${CLOSE:-0}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda t, i: statistics.median(float(r[i]) for r in rows if r[0] == t)
a_rps, b_rps, a_cpu, b_cpu = med("A", 1), med("B", 1), med("A", 2), med("B", 2)
print(f"mode {sys.argv[2]}{', one request per connection' if sys.argv[6] == '1' else ''}, {sys.argv[3]} worker(s), {sys.argv[4]} alternated rounds of {sys.argv[5]} s, "
      f"50 connections, 1 load thread, 2 backends (128 B), 2 shared cores; medians")
print("| | A (old) | B (new) | B/A |")
print("|---|---|---|---|")
print(f"| requests/s | {a_rps:.0f} | {b_rps:.0f} | {b_rps / a_rps:.3f} |")
print(f"| CPU s per 100k requests | {a_cpu:.3f} | {b_cpu:.3f} | {b_cpu / a_cpu:.3f} |")
EOF
