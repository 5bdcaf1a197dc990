#!/usr/bin/env bash
# What each balancing algorithm costs per request, in counts (docs/balancing.md).
# One ringlb worker in HTTP mode (io_driver = "legacy" under valgrind) in front of
# three `ringlb-load serve` backends; a Python client sends N requests one after the
# other on ONE keep-alive connection, each with its own path, query parameter and
# X-Tenant header (so hashing spreads them); callgrind counts the instructions ringlb
# executes while they run (instrumentation on for them only, as compress_cost.sh).
# Rows: roundrobin with RINGLB_BEFORE (a build without this work, e.g. main; left out
# when unset), then this build with roundrobin (what a backend that does not hash pays
# for the new code: the key lookup is skipped), first, uri (map-based, consistent),
# url_param, hdr(), and roundrobin with dynamic limits (min_connections).
# Usage: bash benches/balance_cost.sh [N]   (N defaults to 2000; valgrind, python3).
# RINGLB / RINGLB_BEFORE / RINGLB_LOAD override the binaries (default
# target/release/...). Ends with a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-2000}
RINGLB=${RINGLB:-./target/release/ringlb}
RINGLB_BEFORE=${RINGLB_BEFORE:-}
L=${RINGLB_LOAD:-$L}
serve b1
serve b2
serve b3
rows=()

client() { # client N ADDR: N requests on one connection, each with other keys
  python3 - "$1" "$2" <<'PY'
import socket, sys
n, (host, port) = int(sys.argv[1]), sys.argv[2].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
f = s.makefile("rb")
for i in range(n):
    s.sendall(b"GET /assets/%d/app.js?user=u%d&v=1 HTTP/1.1\r\nHost: x\r\nX-Tenant: t%d\r\n\r\n" % (i, i, i))
    status = f.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        sys.exit(f"bad status {status!r}")
    length = 0
    while (line := f.readline()) not in (b"\r\n", b""):
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    f.read(length)
PY
}

start_proxy() { # start_proxy BINARY BACKEND_KEYS SERVER_KEYS [wrapper...]: sets px_pid, px_addr
  local bin=$1 keys=$2 skeys=$3; shift 3
  {
    printf '[global]\nworkers = 1\npin_workers = false\nupgrade_socket = ""\nio_driver = "legacy"\n'
    printf '[[frontend]]\nname = "f"\nbind = ["127.0.0.1:0"]\nmode = "http"\ndefault_backend = "b"\n'
    printf '[[backend]]\nname = "b"\n%b\n' "$keys"
    local i=0
    for a in "$b1" "$b2" "$b3"; do
      i=$((i + 1))
      printf '[[backend.server]]\nname = "s%d"\naddress = "%s"\n%b\n' "$i" "$a" "$skeys"
    done
  } >"$tmp/proxy.toml"
  run_proxy "$bin" "$tmp/proxy.toml" "$@"
}

counted() { # counted LABEL BINARY BACKEND_KEYS SERVER_KEYS: one callgrind row
  local label=$1 bin=$2 keys=$3 skeys=$4 out="$tmp/cg.$RANDOM"
  start_proxy "$bin" "$keys" "$skeys" valgrind --tool=callgrind --callgrind-out-file="$out" --instr-atstart=no
  client 30 "$px_addr" # warm-up: pooled server connections, tables built
  callgrind_control -i on "$px_pid" >/dev/null 2>&1
  client "$N" "$px_addr"
  local per; per=$(callgrind_per "$out" "$N")
  echo "  $label: $per instructions per request"
  rows+=("| $label | $per |")
}

echo "== instructions per request, $N requests on one keep-alive connection (callgrind)"
if [ -n "$RINGLB_BEFORE" ]; then
  counted "roundrobin, before" "$RINGLB_BEFORE" 'balance = "roundrobin"' ""
fi
counted "roundrobin" "$RINGLB" 'balance = "roundrobin"' ""
counted "first" "$RINGLB" 'balance = "first"' 'max_connections = 100'
counted "uri (map-based)" "$RINGLB" 'balance = "uri"' ""
counted "uri (consistent)" "$RINGLB" 'balance = "uri"\n[backend.hash]\ntype = "consistent"' ""
counted "url_param user" "$RINGLB" 'balance = "url_param"\n[backend.hash]\nparam = "user"' ""
counted "hdr(X-Tenant)" "$RINGLB" 'balance = "hdr"\n[backend.hash]\nheader = "X-Tenant"' ""
counted "roundrobin, min_connections" "$RINGLB" 'balance = "roundrobin"\nfull_connections = 100' 'max_connections = 100\nmin_connections = 10'

echo
echo "Instructions per request (callgrind, ringlb process, every thread, io_driver legacy, 3 servers; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| balance | instructions per request |"
echo "|---|---:|"
printf '%s\n' "${rows[@]}"
