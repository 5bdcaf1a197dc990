#!/usr/bin/env bash
# Why one proxy's closed-loop rate moves from round to round (issue 21, TCP mode), and
# where its CPU goes. The `ringlb-load compare --mode tcp --scenario keep-alive` set-up:
# one proxy (ringlb 1 worker or HAProxy `mode tcp` nbthread 1, unpinned) in front of two
# `ringlb-load serve` backends (1 thread, 64-byte bodies); `ringlb-load run` sends
# HTTP/1.1 keep-alive requests on 50 connections, relayed byte for byte.
#   1. N closed-loop runs of 4 s on one proxy process; during 3 s of each, `perf stat`
#      on the proxy: CPU time (task-clock), context switches, and (ringlb) io_uring
#      enters, poll arms, task-work adds and completions, each per request. A run's
#      rate against its CPU per request and its counts says whether the spread is the
#      proxy doing more work or the same work taking longer.
#   2. PROFILE=1: `perf record` on the proxy for 3 s under the same load, then its
#      samples split into user space, the kernel's I/O interface (io_uring functions;
#      HAProxy: syscall entry, epoll and poll) and the rest of the kernel (TCP/IP,
#      scheduler, memory).
# Usage: bash benches/l4_spread.sh [N]     (root for perf; default N=8)
#   PROXY=ringlb|haproxy (default ringlb); RINGLB, RINGLB_LOAD: the binaries;
#   MODE=tcp|http (default tcp).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-8}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
R=${RINGLB:-./target/release/ringlb}
PROXY=${PROXY:-ringlb}
MODE=${MODE:-tcp}
serve b1 --body-size 64
serve b2 --body-size 64
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$PROXY" = ringlb ]; then
  cat >"$tmp/r.toml" <<TOML
[global]
workers = 1
pin_workers = false
max_connections = 4000
[[frontend]]
name = "bench"
bind = ["127.0.0.1:$port"]
mode = "$MODE"
default_backend = "servers"
[[backend]]
name = "servers"
[[backend.server]]
name = "s0"
address = "$b1"
[[backend.server]]
name = "s1"
address = "$b2"
TOML
  run_proxy "$R" "$tmp/r.toml"
  P=$px_pid
  events=task-clock,context-switches,syscalls:sys_enter_io_uring_enter,io_uring:io_uring_poll_arm,io_uring:io_uring_task_add,io_uring:io_uring_complete
else
  cat >"$tmp/h.cfg" <<CFG
global
    nbthread 1
    maxconn 4000
defaults
    mode $MODE
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:$port
    default_backend b
backend b
    server s0 $b1
    server s1 $b2
CFG
  haproxy -f "$tmp/h.cfg" >/dev/null 2>&1 &
  P=$!
  events=task-clock,context-switches,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port))" 2>/dev/null && break
    sleep 0.05
  done
fi
pids+=("$P")
url="http://127.0.0.1:$port/"
# One closed-loop run of 4 s after 1 s of warm-up; "$@" is run alongside, from 1.2 s.
load() {
  "$L" run "$url" -c 50 -t 1 -d 4s --warmup 1s --json >"$tmp/run.json" 2>/dev/null &
  local g=$!
  sleep 1.2
  "$@"
  wait "$g"
  python3 -c "import json; print(int(json.load(open('$tmp/run.json'))['achieved_rate']))"
}
echo "$PROXY, $MODE mode: $N closed-loop runs (50 connections, 4 s each)"
for i in $(seq "$N"); do
  rate=$(load perf stat -x, -p "$P" -e "$events" -o "$tmp/stat" -- sleep 3)
  # Per request: task-clock is in ms, so µs per request = ms * 1000 / requests.
  printf 'run %2d: %6d req/s; per request:' "$i" "$rate"
  awk -F, -v r="$rate" '/^[0-9]/ { v = $1 / (r * 3); if ($3 == "task-clock") printf " CPU %.1f us", v * 1000; else printf " %s %.3f", $3, v }' "$tmp/stat"
  echo
done
if [ "${PROFILE:-0}" = 1 ]; then
  load perf record -q -g -p "$P" -o "$tmp/perf.data" -- sleep 3 >/dev/null
  perf report -i "$tmp/perf.data" --no-children --sort dso,sym -g none -q 2>/dev/null | awk '
    { p = $1; sub("%", "", p); s = $NF }
    $3 == "[.]" { user += p; next }
    s ~ /^(__)?io_|uring/ { io += p; next }
    s ~ /epoll|^ep_|sys_recvfrom|sys_sendto|do_syscall|syscall|fdget|sock_poll|tcp_poll/ { io += p; next }
    { kern += p }
    END { printf "samples: user space %.1f%%, kernel I/O interface %.1f%%, rest of the kernel %.1f%%\n", user, io, kern }'
fi
