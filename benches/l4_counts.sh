#!/usr/bin/env bash
# What one request/response exchange costs a proxy in TCP mode (issue 21: TCP mode
# requests/s), in counts, not times. The set-up of `ringlb-load compare --mode tcp
# --scenario keep-alive`: one ringlb worker (or HAProxy `mode tcp`, nbthread 1) in
# front of two `ringlb-load serve` backends (64-byte bodies); h2load sends N HTTP/1.1
# keep-alive requests on C connections (`--h1`, one in flight per connection), each
# relayed byte for byte (a relay's exchange: a read and a write each way). For each
# target and driver, a fresh proxy, a warm-up of N/5 requests, then:
#   1. traced through tracefs (the way of benches/h2_kernel.sh, no strace): system
#      calls by name (those that returned EAGAIN apart), io_uring operations by opcode,
#      completions and those that armed a poll, and the socket layer's receives and
#      sends (tracepoints sock_recv_length / sock_send_length, kernel 6.4+: however they
#      were asked for, with the receives that found nothing), of the proxy's threads;
#   2. with CALLGRIND=1 (ringlb only): a second proxy under callgrind, instrumentation
#      on for the N requests only: user-space instructions per exchange, the top
#      functions by inclusive cost, and calls per exchange of allocation, clock reads,
#      timer wheel and task-poll functions (CALLS, a list of name patterns).
# The connections' own set-up (C connects, accepts and closes) is inside the counts:
# C/N of a connection per exchange (0.25% with the defaults).
# Usage: bash benches/l4_counts.sh [N] [C]   (root: tracefs; defaults 20000 50)
#   TARGETS: NAME=PATH ringlb binaries (default ringlb=target/release/ringlb), e.g.
#   TARGETS="before=/work/bench/s10/ringlb after=target/release/ringlb";
#   DRIVERS: ringlb's io_driver values (default "io_uring legacy"); HAPROXY=0: leave
#   HAProxy out; TRACED=0: no tracefs run; RINGLB_LOAD: the backends' binary.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000} C=${2:-50}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
inst=
trap 'kill "${pids[@]}" 2>/dev/null; [ -z "$inst" ] || rmdir "$inst" 2>/dev/null; rm -rf "$tmp"' EXIT
TARGETS=${TARGETS:-"ringlb=${RINGLB:-./target/release/ringlb}"}
DRIVERS=${DRIVERS:-"io_uring legacy"}
CALLS=${CALLS:-"malloc free realloc clock_gettime Sleep.*poll TimerEntry.*reset wheel.*insert wheel.*remove task::raw::poll"}
TRACE=/sys/kernel/tracing
EVENTS="raw_syscalls/sys_enter raw_syscalls/sys_exit io_uring/io_uring_submit_req io_uring/io_uring_complete
  io_uring/io_uring_poll_arm sock/sock_recv_length sock/sock_send_length"
[ -d "$TRACE/events" ] || mount -t tracefs nodev "$TRACE" 2>/dev/null || true
if [ "${TRACED:-1}" = 1 ] && [ ! -d "$TRACE/events/raw_syscalls" ]; then
  echo "no tracefs at $TRACE (root needed)"
  exit 1
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
serve b1 --body-size 64
serve b2 --body-size 64
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)

ringlb_cfg() { # ringlb_cfg DRIVER
  cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = 1
pin_workers = false
max_connections = 4000
io_driver = "$1"

[[frontend]]
name = "bench"
bind = ["127.0.0.1:$port"]
mode = "tcp"
default_backend = "servers"

[[backend]]
name = "servers"
balance = "roundrobin"
[[backend.server]]
name = "s0"
address = "$b1"
[[backend.server]]
name = "s1"
address = "$b2"
TOML
}
cat >"$tmp/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:$port
    default_backend servers
backend servers
    balance roundrobin
    server s0 $b1
    server s1 $b2
CFG

start() { # start NAME PATH [wrapper...]: the proxy, listening; sets pid
  local name=$1 bin=$2
  shift 2
  if [ "$name" = haproxy ]; then
    haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/proxy.log" 2>&1 &
  else
    "$@" "$bin" run -c "$tmp/ringlb.toml" >"$tmp/proxy.log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.05; done
  cat "$tmp/proxy.log"
  exit 1
}
stop() { kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
load() { # load COUNT: COUNT exchanges on C keep-alive connections, all answered
  local out
  out=$(h2load --h1 -n "$1" -c "$C" -m 1 "http://127.0.0.1:$port/" 2>&1)
  grep -q "$1 succeeded, 0 failed" <<<"$out" || { echo "$out"; exit 1; }
}
declare -A NR
while read -r _ name nr; do NR[$nr]=${name#__NR_}; done < <(grep '^#define __NR_' /usr/include/x86_64-linux-gnu/asm/unistd_64.h)

rows="$tmp/rows"
: >"$rows"
row() { printf '%s\t%s\n' "$1" "$2" >>"$rows.$col"; }
cols=()
traced() { # traced: the tracefs run on the proxy in $pid, into column $col
  local e
  inst="$TRACE/instances/l4counts-$$"
  mkdir "$inst"
  echo 16384 >"$inst/buffer_size_kb"
  ls "/proc/$pid/task" | tr '\n' ' ' >"$inst/set_event_pid"
  for e in $EVENTS; do echo 1 >"$inst/events/$e/enable"; done
  load "$N"
  echo 0 >"$inst/tracing_on"
  grep -q "lost events" "$inst/trace" && echo "  ($col: trace buffer overflowed; use a smaller N)" >&2
  row "syscalls (all)" "$(grep -c 'sys_enter: NR' "$inst/trace" || true)"
  { grep -o 'sys_enter: NR [0-9]*' "$inst/trace" || true; } | awk '{print $3}' | sort -n | uniq -c |
    while read -r c nr; do row "syscall ${NR[$nr]:-$nr}" "$c"; done
  { grep -o 'sys_exit: NR [0-9]* = -11$' "$inst/trace" || true; } | awk '{print $3}' | sort -n | uniq -c |
    while read -r c nr; do row "syscall ${NR[$nr]:-$nr} (EAGAIN)" "$c"; done
  row "ring operations (all)" "$(grep -c 'io_uring_submit_req:' "$inst/trace" || true)"
  { grep 'io_uring_submit_req:' "$inst/trace" | grep -o "opcode [A-Z_]*" || true; } | awk '{print $2}' | sort | uniq -c |
    while read -r c op; do row "ring op $op" "$c"; done
  row "ring completions" "$(grep -c 'io_uring_complete:' "$inst/trace" || true)"
  row "ring ops that armed a poll" "$(grep -c 'io_uring_poll_arm:' "$inst/trace" || true)"
  # The socket layer's receives and sends, however they were asked for (syscall or
  # ring operation, inline or from a poll's task work), and the receives that found
  # nothing (EAGAIN).
  row "socket receives (sock_recv_length)" "$(grep -c 'sock_recv_length:' "$inst/trace" || true)"
  row "socket receives (sock_recv_length), EAGAIN" "$(grep -c 'sock_recv_length:.*error = -11' "$inst/trace" || true)"
  row "socket sends (sock_send_length)" "$(grep -c 'sock_send_length:' "$inst/trace" || true)"
  for e in $EVENTS; do echo 0 >"$inst/events/$e/enable"; done
  rmdir "$inst"
  inst=
}
callgrind() { # callgrind NAME BIN: instructions and calls per exchange, into $col
  local out="$tmp/callgrind.out"
  rm -f "$out"*
  start "$1" "$2" valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no
  px_pid=$pid
  load $((N / 5))
  callgrind_control -i on "$pid" >/dev/null 2>&1
  load "$N"
  callgrind_control -i off "$pid" >/dev/null 2>&1
  callgrind_control -d "$pid" >/dev/null 2>&1
  for _ in $(seq 600); do [ -s "$out.1" ] && break; sleep 0.1; done
  stop
  [ -z "${KEEP:-}" ] || cp "$out.1" "$KEEP.$col"
  row "user-space instructions (callgrind)" "$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {c=$1; gsub(",", "", c); print c}')"
  python3 - "$out.1" $CALLS <<'PY' >>"$rows.$col"
# Calls into functions whose name matches each pattern (summed over the callers), from
# the callgrind file's `cfn=` / `calls=` lines (names are given once, then by id).
import re, sys
path, pats = sys.argv[1], sys.argv[2:]
names, counts, cur = {}, {p: 0 for p in pats}, None
ref = re.compile(r"^cfn=\((\d+)\)(?: (.*))?$")
for line in open(path, errors="replace"):
    m = ref.match(line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2)
        cur = names.get(m.group(1), "")
        continue
    if line.startswith("fn="):
        m = re.match(r"^fn=\((\d+)\)(?: (.*))?$", line)
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
        continue
    if line.startswith("calls=") and cur is not None:
        n = int(line.split("=", 1)[1].split()[0])
        for p in pats:
            if re.search(r"(^|[^A-Za-z_])" + p + r"($|[^A-Za-z_])", cur):
                counts[p] += n
        cur = None
for p in pats:
    print(f"calls to /{p}/ (callgrind)\t{counts[p]}")
PY
  echo "$col: top functions by inclusive instructions, per exchange" >&2
  callgrind_annotate --inclusive=yes "$out.1" 2>/dev/null | awk -v n="$N" '
    /^ *[0-9,]+ \(/ && /\[/ && shown < 30 {c=$1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); printf "  %10.0f %s\n", c / n, substr($0, 1, 140); shown++}' >&2
}

for target in $TARGETS; do
  name=${target%%=*} bin=${target#*=}
  for driver in $DRIVERS; do
    col="$name $driver"
    cols+=("$col")
    : >"$rows.$col"
    ringlb_cfg "$driver"
    if [ "${TRACED:-1}" = 1 ]; then
      start "$name" "$bin"
      load $((N / 5))
      traced
      stop
    fi
    [ "${CALLGRIND:-0}" = 0 ] || callgrind "$name" "$bin"
  done
done
if [ "${HAPROXY:-1}" = 1 ] && [ "${TRACED:-1}" = 1 ]; then
  col="HAProxy $(haproxy -v | head -n1 | awk '{print $3}')"
  cols+=("$col")
  : >"$rows.$col"
  start haproxy haproxy
  load $((N / 5))
  traced
  stop
fi

python3 - "$rows" "$N" "$C" "${cols[@]}" <<'PY'
import sys
rows, n, c, cols = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
data, whats = {}, []
for col in cols:
    for line in open(f"{rows}.{col}"):
        what, value = line.rstrip("\n").split("\t")
        if what not in whats:
            whats.append(what)
        data[(col, what)] = float(value or 0) / n
print(f"\nTCP mode, keep-alive, h2load `--h1 -n {n} -c {c} -m 1`: per exchange\n")
print("| per exchange | " + " | ".join(cols) + " |")
print("|---|" + "---:|" * len(cols))
key = lambda w: (not w.endswith("(all)"), w.startswith("syscall "), w.startswith("calls"), w)
for what in sorted(whats, key=key):
    vals = [data.get((col, what), 0.0) for col in cols]
    if max(vals) < 0.005 and "(all)" not in what:
        continue
    fmt = "{:.0f}" if "instructions" in what else "{:.3f}"
    print(f"| {what} | " + " | ".join(fmt.format(v) for v in vals) + " |")
PY
