#!/usr/bin/env bash
# What HTTPS costs ringlb in counts, not times (docs/benchmarks.md, "HTTPS in counts"):
# per full TLS handshake and per keep-alive request, for each I/O driver, the syscalls
# of the ringlb process (`strace -f -c`, with the calls that failed: a recv that found
# no data), the operations it submitted to the ring by opcode (tracepoint
# io_uring:io_uring_submit_req through tracefs), with CALLGRIND=1 the instructions it
# executed (valgrind --tool=callgrind, switched on for the measured part only), and the
# memory per idle TLS connection (RSS before and after opening IDLE of them).
# One ringlb worker, HTTPS frontend (ECDSA P-256 from `ringlb gen-cert`, TLS 1.3), one
# `ringlb-load serve` backend with 128-byte bodies; a Python client that waits for each
# response before sending the next request (as a browser or an API client does):
#   handshake: N connections one after another, one `Connection: close` request each;
#   keepalive: one connection, N requests on it (its one handshake is counted too:
#              1/N of one, under 0.5% of the instructions at N = 5000).
# Usage: bash benches/tls_counts.sh [N]   (root: tracefs; N defaults to 2000)
#   TARGETS: NAME=PATH ringlb binaries to compare (default ringlb=target/release/ringlb),
#   e.g. TARGETS="before=/tmp/old/ringlb after=target/release/ringlb";
#   DRIVERS: "io_uring legacy" (default); KINDS: "handshake keepalive idle" (default);
#   IDLE: idle connections for the memory count (400); SETTLE: seconds they stay idle
#   before it (0); CALLGRIND=1: instructions too.
# Also reached as `COUNTS=1 bash benches/tls.sh [N]`. Ends with a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-2000}
L=${RINGLB_LOAD:-$L}
TARGETS=${TARGETS:-"ringlb=${RINGLB:-./target/release/ringlb}"}
DRIVERS=${DRIVERS:-"io_uring legacy"}
KINDS=${KINDS:-"handshake keepalive idle"}
IDLE=${IDLE:-400}
TRACE=/sys/kernel/tracing
[ -d "$TRACE/events" ] || mount -t tracefs nodev "$TRACE" 2>/dev/null || true
[ -d "$TRACE/events/io_uring" ] || echo "no io_uring tracepoints in $TRACE: ring operations not counted"
serve backend --body-size 128
first=${TARGETS%% *}
"${first#*=}" gen-cert --name localhost --cert "$tmp/site.pem" --key "$tmp/site.key" >/dev/null
rows="$tmp/rows"
: >"$rows"

# client KIND COUNT ADDR [FIFO]: the measured client (see the header). With FIFO (idle),
# it holds its connections open until a line arrives there.
client() {
  python3 - "$@" <<'PY'
import socket, ssl, sys
kind, n, (host, port) = sys.argv[1], int(sys.argv[2]), sys.argv[3].rsplit(":", 1)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def connect():
    return ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname="localhost")
def response(s, buf):
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed before a whole response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"not a 200: {head[:80]!r}")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += s.recv(65536)
    return rest[length:]
if kind == "handshake":
    for _ in range(n):
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response(s, b"")
        s.close()
elif kind == "keepalive":
    s = connect()
    buf = b""
    for _ in range(n):
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = response(s, buf)
    s.close()
else:
    conns = []
    for _ in range(n):
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response(s, b"")
        conns.append(s)
    print("open", flush=True)
    open(sys.argv[4]).readline()
PY
}

start() { # start BIN DRIVER [wrapper...]: px_pid, px_addr
  local bin=$1 driver=$2; shift 2
  cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = 1
pin_workers = false
io_driver = "$driver"

[[frontend]]
name = "https"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "app"
[frontend.tls]
certificates = [{ cert = "$tmp/site.pem", key = "$tmp/site.key" }]

[[backend]]
name = "app"
[[backend.server]]
name = "b"
address = "$backend"
TOML
  run_proxy "$bin" "$tmp/ringlb.toml" "$@"
  pids+=("$px_pid") # stopped at exit too
}

rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }

# row NAME DRIVER KIND WHAT VALUE
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$rows"; }

for t in $TARGETS; do
  name=${t%%=*} bin=${t#*=}
  for driver in $DRIVERS; do
    for kind in $KINDS; do
      echo "== $name, io_driver = \"$driver\", $kind" >&2
      start "$bin" "$driver"
      client handshake 20 "$px_addr" # warm-up: server connections, lazily built state
      if [ "$kind" = idle ]; then
        mkfifo "$tmp/hold"
        r0=$(rss "$px_pid")
        client idle "$IDLE" "$px_addr" "$tmp/hold" >"$tmp/idle.out" &
        cl=$!
        for _ in $(seq 1200); do grep -q open "$tmp/idle.out" && break; sleep 0.05; done
        # SETTLE: seconds the connections stay idle before the count (default 0:
        # right after the last one opened); past 2 s each has been idle past the
        # worker's first idle second and a settling of its buffer pool.
        sleep "${SETTLE:-0}"
        r1=$(rss "$px_pid")
        echo done >"$tmp/hold"
        wait "$cl"
        rm -f "$tmp/hold"
        row "$name" "$driver" idle "RSS bytes per idle TLS connection" "$(((r1 - r0) / IDLE))"
        stop_proxy
        continue
      fi
      strace -f -c -q -p "$px_pid" -o "$tmp/strace" 2>"$tmp/strace.err" &
      st=$!
      sleep 1 # strace attaches within milliseconds and gives no readiness signal
      inst=
      if [ "$driver" = io_uring ] && [ -d "$TRACE/events/io_uring" ]; then
        inst="$TRACE/instances/ringlb-tls-$$"
        mkdir "$inst"
        ls "/proc/$px_pid/task" | tr '\n' ' ' >"$inst/set_event_pid"
        echo 1 >"$inst/events/io_uring/io_uring_submit_req/enable"
      fi
      client "$kind" "$N" "$px_addr"
      kill -INT "$st"; wait "$st" || true
      # strace -c: "% time seconds usecs/call calls [errors] syscall"
      awk '/^-+/{sep++; next} sep==1 && NF>=5 {e = (NF == 6) ? $5 : 0; print $4, e, $NF}' "$tmp/strace" |
        while read -r calls errors sc; do
          row "$name" "$driver" "$kind" "syscall $sc" "$calls"
          if [ "$errors" != 0 ]; then row "$name" "$driver" "$kind" "syscall $sc (failed)" "$errors"; fi
        done
      row "$name" "$driver" "$kind" "syscalls (all)" \
        "$(awk '/^-+/{sep++; next} sep==1 && NF>=5 {t += $4} END {print t + 0}' "$tmp/strace")"
      if [ -n "$inst" ]; then
        echo 0 >"$inst/events/io_uring/io_uring_submit_req/enable"
        grep -o "opcode [A-Z_]*" "$inst/trace" | awk '{print $2}' | sort | uniq -c |
          while read -r c op; do row "$name" "$driver" "$kind" "ring $op" "$c"; done
        row "$name" "$driver" "$kind" "ring operations (all)" "$(grep -c "opcode " "$inst/trace" || true)"
        rmdir "$inst"
      fi
      stop_proxy
      if [ "${CALLGRIND:-0}" = 1 ]; then
        out="$tmp/callgrind.out"
        rm -f "$out"*
        start "$bin" "$driver" valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no
        client handshake 20 "$px_addr"
        callgrind_control -i on "$px_pid" >/dev/null 2>&1
        client "$kind" "$N" "$px_addr"
        callgrind_control -i off "$px_pid" >/dev/null 2>&1
        callgrind_control -d "$px_pid" >/dev/null 2>&1
        for _ in $(seq 600); do [ -s "$out.1" ] && break; sleep 0.1; done
        stop_proxy
        row "$name" "$driver" "$kind" "instructions (callgrind)" \
          "$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {c=$1; gsub(",", "", c); print c}')"
      fi
    done
  done
done

python3 - "$rows" "$N" "$IDLE" "$TARGETS" <<'PY'
import sys
rows, n, idle, targets = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
names = [t.split("=", 1)[0] for t in targets]
data, order = {}, []
for line in open(rows):
    name, driver, kind, what, value = line.rstrip("\n").split("\t")
    key = (driver, kind, what)
    if key not in order:
        order.append(key)
    per = 1 if kind == "idle" else n
    data[(name, key)] = float(value) / per
unit = {"handshake": "per handshake", "keepalive": "per keep-alive request", "idle": ""}
print(f"\nringlb, 1 worker, HTTPS (TLS 1.3, ECDSA P-256), N = {n} handshakes / keep-alive requests, "
      f"{idle} idle connections; counts, taken on 2 shared cores, busy machine.\n")
print("| driver | what | " + " | ".join(names) + " |")
print("|---|---|" + "---:|" * len(names))
for driver, kind, what in sorted(order, key=lambda k: (k[0], k[1], not k[2].startswith(("instr", "syscalls (all)", "ring operations (all)", "RSS")), k[2])):
    vals = [data.get((name, (driver, kind, what))) for name in names]
    if all(v is None or v < 0.005 for v in vals):
        continue
    fmt = (lambda v: f"{v:,.0f}") if kind == "idle" or what.startswith("instr") else (lambda v: f"{v:.2f}")
    label = f"{what} {unit[kind]}".strip()
    print(f"| {driver} | {label} | " + " | ".join("-" if v is None else fmt(v) for v in vals) + " |")
PY
