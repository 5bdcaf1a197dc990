#!/usr/bin/env bash
# Response compression cost, in counts where it can be (docs/architecture.md,
# "Response compression"). One ringlb worker in HTTP mode; a Python client sends N
# requests one after the other on ONE keep-alive connection and reads each response
# whole; callgrind counts the instructions ringlb executes while they run
# (instrumentation on for them only, as benches/setup_cost.sh does; the epoll driver,
# io_driver = "legacy", under valgrind). Rows:
#   - small (64-byte) responses from `ringlb-load serve`: before (RINGLB_BEFORE, a build
#     without compression, e.g. main) and after, without a [compression] table; after,
#     with one but a client that sends no Accept-Encoding; after, with one and a client
#     that accepts gzip but a type not in the list (the head is looked at, nothing is
#     compressed). These say what compression costs responses it does not compress.
#   - a large text response (BODY, default docs/configuration.md as text/html, served by
#     a second ringlb's `return` rule): passed through, and compressed with gzip at
#     level 1 and 6: instructions per response and bytes on the wire.
# Then, unless CPU=0, CPU seconds of the ringlb process per 1000 large responses under
# wrk (8 connections, DURATION each), compressed and not, alternated ROUNDS times: on a
# busy machine that is a ratio, not a speed.
# Usage: bash benches/compress_cost.sh [N]   (N defaults to 2000; valgrind, python3,
# wrk). RINGLB / RINGLB_BEFORE / RINGLB_LOAD override the binaries (default
# target/release/...; no RINGLB_BEFORE: that row is left out). Ends with Markdown
# tables.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-2000}
RINGLB=${RINGLB:-./target/release/ringlb}
RINGLB_BEFORE=${RINGLB_BEFORE:-}
L=${RINGLB_LOAD:-$L}
BODY=$(realpath "${BODY:-docs/configuration.md}")
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
serve small
rows=()

# The large-body backend: a ringlb answering every request itself with BODY.
cat >"$tmp/origin.toml" <<TOML
[global]
workers = 1
pin_workers = false
upgrade_socket = ""
[[frontend]]
name = "origin"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "unused"
[[frontend.http_rule]]
action = "return"
content_type = "text/html; charset=utf-8"
body_file = "$BODY"
[[backend]]
name = "unused"
[[backend.server]]
name = "none"
address = "127.0.0.1:9"
TOML
"$RINGLB" run -c "$tmp/origin.toml" 2>"$tmp/origin.log" &
pids+=($!)
for _ in $(seq 200); do grep -q "ringlb ready" "$tmp/origin.log" && break; sleep 0.05; done
big=$(grep -o "listening on [0-9.:]*" "$tmp/origin.log" | head -n1 | awk '{print $3}')

client() { # client N ADDR ACCEPT_ENCODING: N requests on one connection; prints bytes read
  python3 - "$1" "$2" "$3" <<'PY'
import socket, sys
n, (host, port), ae = int(sys.argv[1]), sys.argv[2].rsplit(":", 1), sys.argv[3]
s = socket.create_connection((host, int(port)))
f = s.makefile("rb")
req = b"GET / HTTP/1.1\r\nHost: x\r\n" + (b"Accept-Encoding: %s\r\n" % ae.encode() if ae else b"") + b"\r\n"
total = 0
for _ in range(n):
    s.sendall(req)
    status = f.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        sys.exit(f"bad status {status!r}")
    length, chunked = None, False
    while (line := f.readline()) not in (b"\r\n", b""):
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding" and b"chunked" in v.lower():
            chunked = True
    if chunked:
        while True:
            size = int(f.readline().split(b";")[0], 16)
            total += len(f.read(size)); f.readline()
            if size == 0:
                break
    else:
        total += len(f.read(length))
print(total)
PY
}

start_proxy() { # start_proxy BINARY BACKEND COMPRESSION_TOML [wrapper...]: sets px_pid, px_addr
  local bin=$1 backend=$2 comp=$3; shift 3
  # Under valgrind the epoll driver: valgrind does not follow io_uring's work well.
  local driver=io_uring; [ $# -gt 0 ] && driver=legacy
  printf '[global]\nworkers = 1\npin_workers = false\nupgrade_socket = ""\nio_driver = "%s"\n[[frontend]]\nname = "f"\nbind = ["127.0.0.1:0"]\nmode = "http"\ndefault_backend = "b"\n%b\n[[backend]]\nname = "b"\n[[backend.server]]\nname = "s1"\naddress = "%s"\n' "$driver" "$comp" "$backend" >"$tmp/proxy.toml"
  run_proxy "$bin" "$tmp/proxy.toml" "$@"
}

counted() { # counted LABEL BINARY BACKEND COMPRESSION AE REQUESTS: one callgrind row
  local label=$1 bin=$2 backend=$3 comp=$4 ae=$5 n=$6 out="$tmp/cg.$RANDOM" bytes
  start_proxy "$bin" "$backend" "$comp" valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no
  client 20 "$px_addr" "$ae" >/dev/null # warm-up: the pooled server connection, the encoder
  callgrind_control -i on "$px_pid" >/dev/null 2>&1
  bytes=$(client "$n" "$px_addr" "$ae")
  local per; per=$(callgrind_per "$out" "$n")
  echo "  $label: $per instructions per response, $((bytes / n)) body bytes per response"
  rows+=("| $label | $per | $((bytes / n)) |")
}

GZ='[frontend.compression]\nalgorithms = ["gzip"]'
echo "== instructions per response, $N responses on one keep-alive connection (callgrind)"
if [ -n "$RINGLB_BEFORE" ]; then
  counted "64 B, before (no compression code)" "$RINGLB_BEFORE" "$small" "" "" "$N"
fi
counted "64 B, no compression table" "$RINGLB" "$small" "" "" "$N"
counted "64 B, table, no Accept-Encoding" "$RINGLB" "$small" "$GZ" "" "$N"
counted "64 B, table, gzip accepted, type not listed" "$RINGLB" "$small" "$GZ\ntypes = [\"text/html\"]" "gzip" "$N"
LN=$((N / 10))
counted "$(stat -c %s "$BODY") B text, passed through" "$RINGLB" "$big" "" "" "$LN"
counted "$(stat -c %s "$BODY") B text, gzip level 1" "$RINGLB" "$big" "$GZ" "gzip" "$LN"
counted "$(stat -c %s "$BODY") B text, gzip level 6" "$RINGLB" "$big" "$GZ\nlevel = 6" "gzip" "$LN"

cpu_rows=()
if [ "${CPU:-1}" = 1 ]; then
  cpu() { # cpu LABEL COMPRESSION AE: CPU seconds of ringlb per 1000 responses under wrk
    local label=$1 comp=$2 ae=$3
    start_proxy "$RINGLB" "$big" "$comp"
    local hz; hz=$(getconf CLK_TCK)
    local t0; t0=$(awk '{print $14 + $15}' "/proc/$px_pid/stat")
    local hdr=(); [ -n "$ae" ] && hdr=(-H "Accept-Encoding: $ae")
    local req; req=$(wrk -t1 -c8 -d"$DURATION" "${hdr[@]}" "http://$px_addr/" | awk '/^Requests\/sec/ {print $2}')
    local t1; t1=$(awk '{print $14 + $15}' "/proc/$px_pid/stat")
    stop_proxy
    local secs=${DURATION%s}
    awk -v l="$label" -v t="$((t1 - t0))" -v hz="$hz" -v r="$req" -v d="$secs" 'BEGIN {printf "  %s: %.1f req/s, %.3f CPU s per 1000 responses\n", l, r, t / hz / (r * d) * 1000}'
    cpu_rows+=("$(awk -v l="$label" -v t="$((t1 - t0))" -v hz="$hz" -v r="$req" -v d="$secs" 'BEGIN {printf "| %s | %.0f | %.3f |", l, r, t / hz / (r * d) * 1000}')")
  }
  echo "== CPU per response under wrk -c8 -d$DURATION, alternated $ROUNDS times (busy machine: compare the ratio)"
  for r in $(seq "$ROUNDS"); do
    cpu "round $r: passed through" "" ""
    cpu "round $r: gzip level 1" "$GZ" "gzip"
  done
fi

echo
echo "Instructions per response (callgrind, ringlb process, every thread, io_driver legacy; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| response | instructions | body bytes to the client |"
echo "|---|---:|---:|"
printf '%s\n' "${rows[@]}"
if [ "${#cpu_rows[@]}" -gt 0 ]; then
  echo
  echo "CPU of the ringlb process per 1000 large responses (wrk -t1 -c8 -d$DURATION; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); a busy machine makes req/s noise, the CPU ratio less so):"
  echo
  echo "| run | req/s | CPU s per 1000 |"
  echo "|---|---:|---:|"
  printf '%s\n' "${cpu_rows[@]}"
fi
