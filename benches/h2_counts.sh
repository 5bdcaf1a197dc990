#!/usr/bin/env bash
# What an HTTP/2 request costs ringlb outside its own instructions, in counts: one
# worker (the default io_uring driver, as in production), a cleartext prior-knowledge
# frontend in front of two `ringlb-load serve` backends (BODY-byte bodies), h2load
# sending N requests at each LOADS entry (after a warm-up of the same load). Per 1000
# requests: server connections opened (`ringlb_backend_connections_opened_total`),
# minor page faults, voluntary context switches (from /proc/PID/stat and status), and
# ringlb's user and system CPU in ms (times: noise on a busy machine; the rest are
# counts). Prints a markdown table.
# Usage: bash benches/h2_counts.sh [N] [BODY]   (defaults 50000 128)
#   RINGLB / RINGLB_LOAD: the binaries (default target/release/...); LOADS: h2load
#   loads, `;`-separated (default "-c 10 -m 10;-c 50 -m 10;-c 100 -m 1"); KEYS: extra
#   TOML lines for the backend; LABEL: the table's first column (default: the binary);
#   STRACE=1: the measured run under `strace -c -f` too, whose system calls per request
#   are printed after each row (with io_uring, reads and writes of sockets in readiness
#   mode are plain syscalls; the ring's are counted in io_uring_enter). Under strace
#   ringlb runs slower, so batching differs: take those and the CPU columns apart.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000} BODY=${2:-128}
RINGLB=${RINGLB:-./target/release/ringlb}
LOADS=${LOADS:-"-c 10 -m 10;-c 50 -m 10;-c 100 -m 1"}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
serve b1 --body-size "$BODY"
serve b2 --body-size "$BODY"
cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = 1
pin_workers = false
admin_bind = "127.0.0.1:0"

[[frontend]]
name = "f"
bind = ["127.0.0.1:0"]
mode = "http"
h2c = "prior-knowledge"
default_backend = "b"

[[backend]]
name = "b"
${KEYS:-}
[[backend.server]]
name = "s1"
address = "$b1"
[[backend.server]]
name = "s2"
address = "$b2"
TOML

opened() { # connections opened so far (read until two reads agree: workers report periodically)
  local prev= now=
  for _ in $(seq 40); do
    now=$(curl -s "http://$admin/metrics" | awk '/^ringlb_backend_connections_opened_total\{backend="b"\}/ {o += $2} END {print o + 0}')
    [ "$now" = "$prev" ] && break
    prev=$now
    sleep 0.5
  done
  echo "$now"
}
# minflt utime stime (clock ticks) and voluntary context switches of the process
proc_counts() {
  awk '{print $10, $14, $15}' "/proc/$1/stat" | tr '\n' ' '
  awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status"
}

echo "| ringlb | h2load ($N requests, $BODY-byte bodies) | server connections opened per 1000 requests | minor page faults per 1000 | voluntary context switches per 1000 | user CPU ms per 1000 | system CPU ms per 1000 |"
echo "|---|---|---:|---:|---:|---:|---:|"
tick=$(getconf CLK_TCK)
IFS=';' read -ra loads <<<"$LOADS"
for load in "${loads[@]}"; do
  : >"$tmp/ringlb.log"
  "$RINGLB" run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1200); do grep -q "ringlb ready" "$tmp/ringlb.log" && break; sleep 0.05; done
  grep -q "ringlb ready" "$tmp/ringlb.log" || { cat "$tmp/ringlb.log"; exit 1; }
  addr=$(grep -o "listening on [0-9.:]*" "$tmp/ringlb.log" | head -n1 | awk '{print $3}')
  admin=$(grep -o "admin API listening on [0-9.:]*" "$tmp/ringlb.log" | head -n1 | awk '{print $5}')
  # shellcheck disable=SC2086
  h2load -n $((N / 5)) $load "http://$addr/" >/dev/null # warm-up: the same load
  o0=$(opened)
  read -r f0 u0 s0 v0 <<<"$(proc_counts "$pid")"
  # shellcheck disable=SC2086
  if [ -n "${STRACE:-}" ]; then
    strace -c -f -p "$pid" -o "$tmp/strace" 2>/dev/null &
    st_pid=$!
    for _ in $(seq 100); do grep -q 'TracerPid:.*[1-9]' "/proc/$pid/status" && break; sleep 0.05; done
  fi
  # shellcheck disable=SC2086
  res=$(h2load -n "$N" $load "http://$addr/")
  if [ -n "${STRACE:-}" ]; then
    kill -INT "$st_pid"
    wait "$st_pid" 2>/dev/null || true
  fi
  read -r f1 u1 s1 v1 <<<"$(proc_counts "$pid")"
  grep -q "$N succeeded, 0 failed" <<<"$res" || { echo "$res"; exit 1; }
  o1=$(opened)
  awk -v n="$N" -v o=$((o1 - o0)) -v f=$((f1 - f0)) -v v=$((v1 - v0)) -v u=$((u1 - u0)) -v s=$((s1 - s0)) \
    -v t="$tick" -v who="${LABEL:-$RINGLB}" -v load="$load" 'BEGIN {
      k = 1000 / n
      printf "| %s | `%s` | %.1f | %.1f | %.1f | %.0f | %.0f |\n", who, load, o * k, f * k, v * k, u * 1000 / t * k, s * 1000 / t * k }'
  [ -z "${STRACE:-}" ] || awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {if ($4 / n >= 0.01) printf "    %s %.3f\n", $NF, $4 / n}
    $NF == "total" {printf "    total %.3f per request\n", $4 / n}' "$tmp/strace"
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
