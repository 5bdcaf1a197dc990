#!/usr/bin/env bash
# Does a burst of new connections hold up the established ones? A count, not a time:
# one ringlb worker with the legacy (epoll) driver, 5 established keep-alive clients,
# then N connections opened at once while the 5 send a request; `strace` on the
# worker thread records the order of its syscalls, and the script prints the longest
# run of accept4 calls with no other work between them (epoll_ctl and mprotect, which
# come with each accepted connection, do not break a run). Before the accept loop was
# bounded that run was the whole backlog (N + 1, the last one EAGAIN); now the loop lets
# the queued tasks run after 4 (HAProxy's tune.maxaccept default), and the run ends when
# monoio next polls epoll (tens of accepts). With io_uring each accept is a ring
# operation of its own loop turn, so there is no run to measure.
# Usage: bash benches/accept_burst.sh [N]   (N defaults to 300)
#   RINGLB: "NAME=PATH ..." binaries to compare (default target/release/ringlb);
#   RINGLB_LOAD: the backend (default target/release/ringlb-load).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-300}
L=${RINGLB_LOAD:-$L}
RINGLB=${RINGLB:-./target/release/ringlb}
serve backend --body-size 128
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo "| ringlb | connections in the burst | longest run of accept4 with no other work between |"
echo "|---|---:|---:|"
for t in $RINGLB; do
  name=${t%%=*} bin=${t#*=}
  port=$(free_port)
  printf '[global]\nworkers = 1\npin_workers = false\nio_driver = "legacy"\n\n[[frontend]]\nname = "f"\nbind = ["127.0.0.1:%s"]\nmode = "http"\ndefault_backend = "b"\n\n[[backend]]\nname = "b"\n[[backend.server]]\nname = "s"\naddress = "%s"\n' \
    "$port" "$backend" >"$tmp/r.toml"
  RUST_LOG=warn "$bin" run -c "$tmp/r.toml" >"$tmp/r.log" 2>&1 &
  rpid=$!
  pids+=("$rpid")
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  worker=$(grep -l ringlb-worker /proc/"$rpid"/task/*/comm | head -n1 | cut -d/ -f5)
  strace -p "$worker" -o "$tmp/strace" 2>/dev/null &
  st=$!
  sleep 0.5 # strace attaches within milliseconds and gives no readiness signal
  python3 - "127.0.0.1:$port" "$N" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2])
req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
established = [socket.create_connection((host, int(port))) for _ in range(5)]
for s in established:
    s.sendall(req)
    s.recv(65536)
time.sleep(0.3)
burst = []
for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((host, int(port)))
    except BlockingIOError:
        pass
    burst.append(s)
for s in established:
    s.sendall(req)
for s in established:
    s.settimeout(5)
    if not s.recv(65536).startswith(b"HTTP/1.1 200"):
        sys.exit("an established client got no answer")
for s in burst:
    s.close()
PY
  sleep 0.3
  kill -INT "$st"; wait "$st" || true
  run=$(awk '{split($1, a, "("); n = a[1]
    if (n == "accept4") run++; else if (n != "epoll_ctl" && n != "mprotect") { if (run > mx) mx = run; run = 0 }}
    END { if (run > mx) mx = run; print mx + 0 }' "$tmp/strace")
  echo "| $name | $N | $run |"
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
done
