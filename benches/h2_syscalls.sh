#!/usr/bin/env bash
# System calls per HTTP/2 request (a count, not a time): the same set-up as
# h2_cost.sh (one worker, epoll driver, cleartext prior knowledge, one `ringlb-load
# serve` backend with BODY-byte responses), ringlb run natively under `strace -c -f`
# while h2load sends N requests on C connections with M streams each (after a
# warm-up). Prints one markdown row per syscall and the total, per request.
# (With io_uring, the default driver, I/O goes through the ring instead: these counts
# say how many reads and writes a request takes, not how many syscalls.)
# Usage: bash benches/h2_syscalls.sh [N] [C] [M] [BODY]   (defaults 20000 1 10 128)
# RINGLB / RINGLB_LOAD override the binaries (default target/release/...).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-20000} C=${2:-1} M=${3:-10} BODY=${4:-128}
RINGLB=${RINGLB:-./target/release/ringlb}
L=${RINGLB_LOAD:-$L}
serve backend --body-size "$BODY"
cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = 1
pin_workers = false
io_driver = "legacy"

[[frontend]]
name = "f"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "b"
h2c = "prior-knowledge"

[[backend]]
name = "b"
[[backend.server]]
name = "s1"
address = "$backend"
TOML
"$RINGLB" run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
rl_pid=$!
pids+=("$rl_pid")
for _ in $(seq 600); do grep -q "ringlb ready" "$tmp/ringlb.log" && break; sleep 0.05; done
grep -q "ringlb ready" "$tmp/ringlb.log" || { cat "$tmp/ringlb.log"; exit 1; }
addr=$(grep -o "listening on [0-9.:]*" "$tmp/ringlb.log" | head -n1 | awk '{print $3}')
h2load -n 500 -c "$C" -m "$M" "http://$addr/" >/dev/null # warm-up
strace -c -f -p "$rl_pid" -o "$tmp/strace" 2>/dev/null &
st_pid=$!
for _ in $(seq 100); do grep -q TracerPid:.*[1-9] "/proc/$rl_pid/status" && break; sleep 0.05; done
res=$(h2load -n "$N" -c "$C" -m "$M" "http://$addr/")
kill -INT "$st_pid"
wait "$st_pid" 2>/dev/null || true
grep -q "$N succeeded, 0 failed" <<<"$res" || { echo "$res"; exit 1; }
echo "| syscall | per request ($N requests, -c $C -m $M, $BODY-byte bodies) |"
echo "|---|---:|"
awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {if ($4 / n >= 0.001) printf "| %s | %.3f |\n", $NF, $4 / n}
  $NF == "total" {printf "| **total** | **%.3f** |\n", $4 / n}' "$tmp/strace"
