#!/usr/bin/env bash
# Connection set-up cost in counts, not times (see docs/benchmarks.md, "Connection
# set-up: syscalls and instructions per connection"). One ringlb worker in HTTP mode in
# front of one `ringlb-load serve` backend; a client opens N connections one after the
# other, each sending one `Connection: close` request and reading to EOF. For each I/O
# driver it prints, per client connection:
#   - the syscalls of the ringlb process (`strace -f -c`, every thread);
#   - with io_uring, the operations submitted to the ring by opcode (tracepoint
#     io_uring:io_uring_submit_req through tracefs, filtered to ringlb's threads);
#   - with CALLGRIND=1, the instructions executed by ringlb while the N connections
#     run (valgrind --tool=callgrind, instrumentation switched on for them only), and
#     the top functions by inclusive cost (KEEP=FILE keeps the profile as FILE.DRIVER,
#     for `callgrind_annotate --tree=caller`).
#   - the TIME_WAIT sockets left behind per connection (`ss`), on ringlb's side of
#     its server connections and on the backend's side: who closed first.
# With MODE=tcp the frontend is in TCP mode in front of a `ringlb-load serve --echo`
# backend, and each client connection sends 64 bytes, reads them back and closes (a
# short TCP exchange, one per connection).
# Usage: bash benches/setup_cost.sh [N]   (root for tracefs; N defaults to 2000)
# RINGLB / RINGLB_LOAD override the binaries (default target/release/...); DRIVERS
# picks the drivers ("legacy io_uring"); KEYS adds lines to the backend (e.g.
# 'pool_max_connections = 0'), FRONTEND_KEYS to the frontend (e.g.
# 'defer_accept = true'). DELAY_MS makes each client wait that long between its
# connect and its first bytes, as a client across a network whose request follows
# the handshake by part of a round trip (on loopback the request is there at once).
# CPU=1 adds, before the strace run, a run of N connections without strace whose
# user and system CPU time of ringlb (/proc/PID/stat, every thread) is divided by
# N: a time, so noise on a busy machine. Ends with a Markdown table of the totals.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-2000}
RINGLB=${RINGLB:-./target/release/ringlb}
L=${RINGLB_LOAD:-$L}
DRIVERS=${DRIVERS:-"legacy io_uring"}
MODE=${MODE:-http}
TRACE=/sys/kernel/tracing
inst=
# Containers often start without tracefs mounted; without it the ring operations are
# not counted (said below).
[ -d "$TRACE/events" ] || mount -t tracefs nodev "$TRACE" 2>/dev/null || true
[ -d "$TRACE/events/io_uring" ] || echo "no io_uring tracepoints in $TRACE: ring operations not counted"
if [ "$MODE" = tcp ]; then serve backend --echo; else serve backend; fi
summary=()

client() { # client N ADDR: N sequential one-request connections
  python3 - "$1" "$2" "$MODE" "${DELAY_MS:-0}" <<'PY'
import socket, sys, time
n, (host, port) = int(sys.argv[1]), sys.argv[2].rsplit(":", 1)
delay = float(sys.argv[4]) / 1000
def connect():
    s = socket.create_connection((host, int(port)))
    if delay:
        time.sleep(delay)
    return s
if sys.argv[3] == "tcp":
    msg = bytes(range(64))
    for _ in range(n):
        s = connect()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg) and (chunk := s.recv(64)):
            got += chunk
        s.close()
        if got != msg:
            sys.exit(f"echo came back as {got!r}")
    sys.exit(0)
req = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
bad = 0
for _ in range(n):
    s = connect()
    s.sendall(req)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    bad += not data.startswith(b"HTTP/1.1 200")
if bad:
    sys.exit(f"{bad} of {n} responses were not 200")
PY
}

start_ringlb() { # start_ringlb DRIVER [wrapper...]: sets rl_pid, rl_addr
  local driver=$1; shift
  cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = 1
pin_workers = false
io_driver = "$driver"

[[frontend]]
name = "f"
bind = ["127.0.0.1:0"]
mode = "$MODE"
default_backend = "b"
${FRONTEND_KEYS:-}

[[backend]]
name = "b"
${KEYS:-}
[[backend.server]]
name = "s1"
address = "$backend"
TOML
  : >"$tmp/ringlb.log"
  "$@" "$RINGLB" run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
  rl_pid=$!
  pids+=("$rl_pid")
  for _ in $(seq 1200); do grep -q "ringlb ready" "$tmp/ringlb.log" && break; sleep 0.05; done
  grep -q "ringlb ready" "$tmp/ringlb.log" || { cat "$tmp/ringlb.log"; exit 1; }
  rl_addr=$(grep -o "listening on [0-9.:]*" "$tmp/ringlb.log" | head -n1 | awk '{print $3}')
}

stop_ringlb() {
  kill -TERM "$rl_pid" 2>/dev/null || true
  wait "$rl_pid" 2>/dev/null || true
}

per_conn() { awk -v n="$N" '{printf "  %-24s %8.2f\n", $2, $1 / n}'; }

cpu_ticks() { # cpu_ticks PID: "utime stime" of the process, every thread, in clock ticks
  awk '{sub(/.*\) /, ""); print $12, $13}' "/proc/$1/stat"
}

time_wait() { # time_wait FILE: the TIME_WAIT sockets to the backend (ringlb's side,
  # "r ...") and of the backend ("b ..."), one per line, sorted
  local port=${backend##*:}
  { ss -Htan state time-wait "dport = :$port" | awk '{print "r", $3, $4}'
    ss -Htan state time-wait "sport = :$port" | awk '{print "b", $3, $4}'; } | sort >"$1"
}

for driver in $DRIVERS; do
  echo "== io_driver = \"$driver\", $N connections"
  start_ringlb "$driver"
  client 50 "$rl_addr" # warm-up: pooled server connections, lazily built state
  if [ "${CPU:-0}" = 1 ]; then
    read -r u0 s0 < <(cpu_ticks "$rl_pid")
    client "$N" "$rl_addr"
    read -r u1 s1 < <(cpu_ticks "$rl_pid")
    cpu=$(awk -v n="$N" -v hz="$(getconf CLK_TCK)" -v u=$((u1 - u0)) -v s=$((s1 - s0)) \
      'BEGIN {printf "%.1f / %.1f", u / hz * 1e6 / n, s / hz * 1e6 / n}')
    echo "CPU per connection, user / system, µs (/proc, no strace; busy machine: noise): $cpu"
    summary+=("| $MODE | $driver | CPU µs per connection, user / system (/proc; time: busy machine) | $cpu |")
  fi
  strace -f -c -q -p "$rl_pid" -o "$tmp/strace" 2>"$tmp/strace.err" &
  st=$!
  sleep 1 # strace attaches within milliseconds and gives no readiness signal
  if [ "$driver" = io_uring ] && [ -d "$TRACE/events/io_uring" ]; then
    inst="$TRACE/instances/ringlb-setup-$$"
    mkdir "$inst"
    ls "/proc/$rl_pid/task" | tr '\n' ' ' >"$inst/set_event_pid"
    echo 1 >"$inst/events/io_uring/io_uring_submit_req/enable"
  fi
  time_wait "$tmp/tw.before"
  client "$N" "$rl_addr"
  kill -INT "$st"; wait "$st" || true
  time_wait "$tmp/tw.after" # new ones only: those of an earlier run may expire meanwhile
  tw_ringlb=$(comm -13 "$tmp/tw.before" "$tmp/tw.after" | grep -c '^r' || true)
  tw_backend=$(comm -13 "$tmp/tw.before" "$tmp/tw.after" | grep -c '^b' || true)
  echo "TIME_WAIT sockets left per connection: ringlb's side $(awk -v n="$N" -v t="$tw_ringlb" 'BEGIN {printf "%.2f", t / n}'), backend's side $(awk -v n="$N" -v t="$tw_backend" 'BEGIN {printf "%.2f", t / n}')"
  summary+=("| $MODE | $driver | TIME_WAIT sockets per connection, ringlb's side / backend's side | $(awk -v n="$N" -v a="$tw_ringlb" -v b="$tw_backend" 'BEGIN {printf "%.2f / %.2f", a / n, b / n}') |")
  echo "syscalls per connection (strace -f -c):"
  awk '/^-+/{sep++; next} sep==1 && NF>=5 {print $4, $NF}' "$tmp/strace" | sort -rn | per_conn
  awk '/^-+/{sep++; next} sep==1 && NF>=5 {t += $4} END {print t, "TOTAL"}' "$tmp/strace" | per_conn
  summary+=("| $MODE | $driver | syscalls per connection (strace -f -c) | $(awk -v n="$N" '/^-+/{sep++; next} sep==1 && NF>=5 {t += $4} END {printf "%.2f", t / n}' "$tmp/strace") |")
  if [ -n "$inst" ]; then
    echo 0 >"$inst/events/io_uring/io_uring_submit_req/enable"
    echo "io_uring operations per connection (io_uring_submit_req):"
    grep -o "opcode [A-Z_]*" "$inst/trace" | awk '{print $2}' | sort | uniq -c | sort -rn | per_conn
    grep -c "opcode " "$inst/trace" | awk -v n="$N" '{printf "  %-24s %8.2f\n", "TOTAL", $1 / n}'
    summary+=("| $MODE | $driver | ring operations per connection (io_uring_submit_req) | $(grep -c "opcode " "$inst/trace" | awk -v n="$N" '{printf "%.2f", $1 / n}') |")
    rmdir "$inst"; inst=
  fi
  stop_ringlb
  if [ "${CALLGRIND:-0}" = 1 ]; then
    out="$tmp/callgrind.out"
    start_ringlb "$driver" valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no
    client 50 "$rl_addr"
    callgrind_control -i on "$rl_pid" >/dev/null 2>&1
    client "$N" "$rl_addr"
    callgrind_control -i off "$rl_pid" >/dev/null 2>&1
    # A dump now: ringlb under valgrind may take long to stop on SIGTERM.
    callgrind_control -d "$rl_pid" >/dev/null 2>&1
    for _ in $(seq 600); do [ -s "$out.1" ] && break; sleep 0.1; done
    kill -KILL "$rl_pid" 2>/dev/null || true
    wait "$rl_pid" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && cp "$out.1" "$KEEP.$driver"
    echo "instructions per connection (callgrind, every thread; top 15 by inclusive cost):"
    callgrind_annotate --inclusive=yes "$out.1" 2>/dev/null | awk -v n="$N" '
      /PROGRAM TOTALS/ {c=$1; gsub(",", "", c); printf "  %-24s %10.0f\n", "TOTAL", c / n}
      /^ *[0-9,]+ \(/ && /\[/ && shown < 15 {c=$1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); printf "  %10.0f %s\n", c / n, substr($0, 1, 120); shown++}'
    summary+=("| $MODE | $driver | user-space instructions per connection (callgrind) | $(callgrind_annotate "$out.1" 2>/dev/null | awk -v n="$N" '/PROGRAM TOTALS/ {c=$1; gsub(",", "", c); printf "%.0f", c / n}') |")
  fi
done
echo
echo "$N connections, one after another, frontend keys: '${FRONTEND_KEYS:-}', backend keys: '${KEYS:-}', client delay ${DELAY_MS:-0} ms ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| mode | driver | what | per connection |"
echo "|---|---|---|---:|"
printf '%s\n' "${summary[@]}"
