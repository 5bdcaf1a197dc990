#!/usr/bin/env bash
# What a proxy does per request under an open-loop load, in counts, for the tail work
# (docs/benchmarks.md, "Tails: what sets p99.9, in counts"). Counts do not depend on
# how busy the machine is the way times do: syscalls by name, io_uring operations by
# opcode, io_uring operations punted to the kernel's io-wq threads, operations that
# found no data and armed a poll, waits in the kernel for completions, context switches
# (voluntary: the proxy went to sleep; involuntary: it was preempted with work to do),
# CPU migrations and page faults of the proxy, per request, counted by `perf stat` on
# the proxy's threads over the middle of the run. One ringlb worker (or HAProxy
# nbthread 1) in HTTP mode in front of two `ringlb-load serve` backends (128-byte
# bodies), a `ringlb-load run --rate` open loop of CONNS keep-alive connections (or one
# request per connection with CLOSE=1). The latency percentiles are printed too, but on
# a shared machine they are noise.
# Usage: bash benches/tail_counts.sh [RATE] [SECONDS]   (root, for perf's tracepoints)
#   TARGETS: "ringlb haproxy" (default) or a list of NAME=PATH ringlb binaries to
#   compare builds, e.g. TARGETS="before=/tmp/old/ringlb after=target/release/ringlb";
#   DRIVER: io_uring (default) or legacy; CONNS: 50; CLOSE=1; RINGLB_LOAD: the load
#   generator (default target/release/ringlb-load); GLOBAL: extra [global] lines;
#   REUSE: ringlb's http_reuse (default always, as HAProxy's here);
#   MALLOC=1: also count calls to glibc's malloc/free/realloc/calloc (uprobes, added
#   with `perf probe` for the run and removed after; each call then costs a trap, so
#   the latencies of that run mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
RATE=${1:-10000}
SECS=${2:-6}
L=${RINGLB_LOAD:-$L}
TARGETS=${TARGETS:-"ringlb haproxy"}
DRIVER=${DRIVER:-io_uring}
CONNS=${CONNS:-50}
CLOSE=${CLOSE:-0}
GLOBAL=${GLOBAL:-}
REUSE=${REUSE:-always}
serve b1 --body-size 128
serve b2 --body-size 128
backend_pids="${pids[0]},${pids[1]}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

syscalls="io_uring_enter recvfrom sendto recvmsg sendmsg read write readv writev poll ppoll epoll_wait epoll_ctl accept4 socket connect setsockopt getsockopt shutdown close brk mmap munmap madvise mprotect futex"
# io_uring opcodes (include/uapi/linux/io_uring.h, kernel 6.x).
opcodes="6:POLL_ADD 11:TIMEOUT 13:ACCEPT 14:ASYNC_CANCEL 16:CONNECT 19:CLOSE 22:READ 23:WRITE 26:SEND 27:RECV"
events=(-e raw_syscalls:sys_enter)
for s in $syscalls; do events+=(-e "syscalls:sys_enter_$s"); done
for o in $opcodes; do events+=(-e io_uring:io_uring_submit_req --filter "opcode == ${o%%:*}"); done
# Wake-ups by a timer rather than by I/O: an io_uring wait that ended with ETIME, an
# epoll_wait that returned no event.
events+=(-e syscalls:sys_exit_io_uring_enter --filter "ret == -62" -e syscalls:sys_exit_epoll_wait --filter "ret == 0")
events+=(-e io_uring:io_uring_queue_async_work -e io_uring:io_uring_poll_arm
  -e io_uring:io_uring_cqring_wait -e context-switches -e cpu-migrations -e page-faults)
if [ "${MALLOC:-0}" = 1 ]; then
  libc=$(ldconfig -p | awk '/libc.so.6 .*x86-64/ {print $NF; exit}')
  perf probe -q -x "$libc" -a malloc -a free -a realloc -a calloc
  trap 'kill "${pids[@]}" 2>/dev/null; perf probe -q -d "probe_libc:*"; rm -rf "$tmp"' EXIT
  for f in malloc free realloc calloc; do events+=(-e "probe_libc:$f"); done
fi

start_target() { # start_target NAME [BIN]: sets pid, addr
  local name=$1 bin=${2:-}
  local port; port=$(free_port)
  addr=127.0.0.1:$port
  if [ "$name" = haproxy ]; then
    printf 'global\n    nbthread 1\n    maxconn 4000\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\nfrontend f\n    bind %s\n    default_backend app\nbackend app\n    balance roundrobin\n    http-reuse always\n    server b1 %s\n    server b2 %s\n' \
      "$addr" "$b1" "$b2" >"$tmp/haproxy.cfg"
    haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/$name.log" 2>&1 &
  else
    printf '[global]\nworkers = 1\npin_workers = false\nio_driver = "%s"\n%s\n\n[[frontend]]\nname = "f"\nbind = ["%s"]\nmode = "http"\ndefault_backend = "app"\n\n[[backend]]\nname = "app"\nhttp_reuse = "%s"\n[[backend.server]]\nname = "b1"\naddress = "%s"\n[[backend.server]]\nname = "b2"\naddress = "%s"\n' \
      "$DRIVER" "$GLOBAL" "$addr" "$REUSE" "$b1" "$b2" >"$tmp/$name.toml"
    RUST_LOG=warn "$bin" run -c "$tmp/$name.toml" >"$tmp/$name.log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.05; done
  cat "$tmp/$name.log"; exit 1
}

ctxt() { # ctxt PID: voluntary and involuntary context switches (all threads), CPU ticks
  cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt/ {v += $2} /^nonvoluntary_ctxt/ {n += $2} END {printf "%d %d ", v, n}'
  awk '{print $14 + $15}' /proc/"$1"/stat
}

rows="$tmp/rows"
: >"$rows"
close_opt=()
[ "$CLOSE" = 1 ] && close_opt=(--close)
for t in $TARGETS; do
  name=${t%%=*} bin=${t#*=}
  [ "$name" = "$t" ] && bin=${RINGLB:-./target/release/ringlb}
  start_target "$name" "$bin"
  # Warm-up 1 s after a 0.2 s connect phase; counting covers the middle of the
  # measured window, so that no connect or ramp is in it.
  $L run "http://$addr/" --rate "$RATE" -c "$CONNS" -t 1 -d "${SECS}s" --warmup 1s --json \
    "${close_opt[@]}" >"$tmp/$name.json" &
  load=$!
  sleep 1.7
  window=$(python3 -c "print(max(1.0, $SECS - 1.0))")
  c0=$(ctxt "$pid")
  # The requests answered in the window: the backends' response writes (one SEND each),
  # counted alongside, so that a proxy falling behind the rate is counted right.
  perf stat -x, -o "$tmp/$name.served" -e io_uring:io_uring_submit_req --filter "opcode == 26" \
    -p "$backend_pids" -- sleep "$window" 2>/dev/null &
  served=$!
  perf stat -x, -o "$tmp/$name.perf" "${events[@]}" -p "$pid" -- sleep "$window" 2>/dev/null
  wait "$served"
  c1=$(ctxt "$pid")
  wait "$load"
  python3 - "$name" "$tmp/$name.perf" "$tmp/$name.json" "$tmp/$name.served" "$c0" "$c1" "$opcodes" >>"$rows" <<'PY'
import json, os, sys
name, perf, js, served, c0, c1, opcodes = sys.argv[1:]
requests = max(1.0, next(float(l.split(",")[0]) for l in open(served) if "io_uring_submit_req" in l))
counts, op = {}, iter(o.split(":")[1] for o in opcodes.split())
for line in open(perf):
    f = line.strip().split(",")
    if len(f) < 3 or not f[0].replace(".", "").isdigit():
        continue
    ev = f[2]
    if ev == "io_uring:io_uring_submit_req":
        ev = "ring " + next(op)
    elif ev == "syscalls:sys_exit_io_uring_enter":
        ev = "timer wake-ups (io_uring_enter ETIME)"
    elif ev == "syscalls:sys_exit_epoll_wait":
        ev = "timer wake-ups (epoll_wait 0 events)"
    elif ev.startswith("syscalls:sys_enter_"):
        ev = ev[len("syscalls:sys_enter_"):]
    elif ev == "raw_syscalls:sys_enter":
        ev = "syscalls (all)"
    elif ev.startswith("io_uring:io_uring_"):
        ev = "ring " + ev[len("io_uring:io_uring_"):]
    elif ev.startswith("probe_libc:"):
        ev = ev[len("probe_libc:"):] + " calls"
    counts[ev] = float(f[0])
v0, n0, t0 = map(int, c0.split())
v1, n1, t1 = map(int, c1.split())
counts["voluntary switches"] = v1 - v0
counts["involuntary switches"] = n1 - n0
# CPU microseconds (user + system, clock ticks of 10 ms: coarse, and on a busy machine
# inflated by cache and frequency effects; compare side by side only).
counts["CPU µs (noise)"] = (t1 - t0) * 1e6 / os.sysconf("SC_CLK_TCK")
j = json.load(open(js))
c = j["corrected"]
lat = f"{c['p50_us']/1e3:.3f}/{c['p99_us']/1e3:.3f}/{c['p999_us']/1e3:.3f}"
print(json.dumps({"name": name, "requests": requests, "per": {k: v / requests for k, v in counts.items()},
                  "lat": lat, "kept_up": j["kept_up"], "achieved": j["achieved_rate"]}))
PY
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done

python3 - "$rows" "$RATE" "$CONNS" "$CLOSE" "$DRIVER" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rate, conns, close, driver = sys.argv[2:]
names = [r["name"] for r in rows]
keys = []
for r in rows:
    keys += [k for k in r["per"] if k not in keys]
load = "one request per connection" if close == "1" else f"{conns} keep-alive connections"
print(f"\nPer request, open loop at {rate} req/s, {load}, 1 worker / nbthread 1, "
      f"ringlb io_driver = \"{driver}\", http_reuse as HAProxy's; counted by perf stat on the proxy's threads over the "
      f"middle of the run; 2 shared cores. Syscalls by name, ring operations by opcode, mallocs "
      f"and faults repeat from run to run; enters, poll arms and switches move with batching; "
      f"CPU time and latencies are noise on a busy machine.\n")
print("| per request | " + " | ".join(names) + " |")
print("|---|" + "---:|" * len(names))
for k in keys:
    vals = [r["per"].get(k) for r in rows]
    # Zero rows are left out, but for what the tail work looks for.
    shown = ("ring queue_async_work", "page-faults", "brk", "mmap", "munmap", "madvise",
             "timer wake-ups (io_uring_enter ETIME)", "timer wake-ups (epoll_wait 0 events)")
    if k not in shown and all(v is None or v < 0.0005 for v in vals):
        continue
    print(f"| {k} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in vals) + " |")
print("| requests counted (backends' responses) | " + " | ".join(f"{r['requests']:.0f}" for r in rows) + " |")
print("| corrected p50/p99/p99.9 ms (noise) | " + " | ".join(r["lat"] for r in rows) + " |")
print("| kept up (achieved req/s) | " + " | ".join(f"{r['kept_up']} ({r['achieved']:.0f})" for r in rows) + " |")
PY
