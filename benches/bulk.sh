#!/usr/bin/env bash
# Bulk transfer through a TCP-mode proxy (issue 21: >= 0.8x of a direct connection).
# One Python peer (benches/bulk_peer.py) serves; a client moves SIZE MiB down (server ->
# client) and then up (client -> server), one connection each, through:
#   direct   the peer itself
#   ringlb   each binary in RINGLB (NAME=PATH ..., default new=target/release/ringlb),
#            with each io_driver in DRIVERS (default "io_uring legacy"), 1 worker
#   haproxy  HAProxy `mode tcp`, nbthread 1 (skipped when not installed), and
#            haproxy-splice: the same with `option splice-auto` (HAProxy's splice path)
#   direct-x2  two direct transfers at once, each one's rate: what two TCP streams'
#            worth of kernel work gets on these cores (a proxied byte crosses loopback
#            twice); a reference point for the proxies, not a proxy
# Rounds alternate the order of the targets; each cell is the median of ROUNDS. Prints
# a Markdown table: MiB/s each way, the ratio to direct, the proxy's CPU time (user +
# system, from /proc/PID/stat) per GiB moved, and the CPU time of all the processes
# of the transfer (client, server and proxy; the kernel's loopback work is charged
# mostly to them) per GiB, and how many cores those processes kept busy (CPU seconds
# per second): on a busy machine the CPU times are the steadier figures. A target
# that needs k times direct's CPU per GiB, with direct already keeping every core
# busy, cannot go faster than 1/k of direct.
# With COUNTS=1 it also counts, per MiB moved through each ringlb and driver, the
# syscalls (strace -f -c) and, with io_uring and tracefs, the ring operations by
# opcode (tracepoint io_uring:io_uring_submit_req): deterministic where the times are
# not (use it on a busy machine).
# Usage: bash benches/bulk.sh [SIZE_MIB=1024] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
SIZE_MIB=${1:-1024}; ROUNDS=${2:-3}
BYTES=$((SIZE_MIB * 1024 * 1024))
RINGLB=${RINGLB:-new=target/release/ringlb}
DRIVERS=${DRIVERS:-"io_uring legacy"}
TRACE=/sys/kernel/tracing
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

python3 benches/bulk_peer.py serve >"$tmp/peer" &
pids+=($!); peer_pid=$!
for _ in $(seq 100); do [ -s "$tmp/peer" ] && break; sleep 0.05; done
peer="127.0.0.1:$(head -n1 "$tmp/peer")"

declare -A addr rpid
targets=(direct)
addr[direct]=$peer
for spec in $RINGLB; do
  name=${spec%%=*}; bin=${spec#*=}
  for driver in $DRIVERS; do
    t="ringlb-$name-$driver"; port=$(free_port)
    cat >"$tmp/$t.toml" <<EOT
[global]
workers = 1
pin_workers = false
io_driver = "$driver"
[defaults]
timeout_client = "60s"
timeout_server = "60s"
[[frontend]]
name = "f"
bind = ["127.0.0.1:$port"]
mode = "tcp"
default_backend = "b"
[[backend]]
name = "b"
[[backend.server]]
name = "s"
address = "$peer"
EOT
    "$bin" run -c "$tmp/$t.toml" 2>"$tmp/$t.log" &
    pids+=($!); rpid[$t]=$!
    wait_port "$port"
    addr[$t]="127.0.0.1:$port"; targets+=("$t")
  done
done
if command -v haproxy >/dev/null; then
  for t in haproxy haproxy-splice; do
    port=$(free_port)
    opt=; [ "$t" = haproxy-splice ] && opt="    option splice-auto"
    cat >"$tmp/$t.cfg" <<EOT
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
$opt
frontend f
    bind 127.0.0.1:$port
    default_backend b
backend b
    server s $peer
EOT
    haproxy -f "$tmp/$t.cfg" -db >"$tmp/$t.log" 2>&1 &
    pids+=($!); rpid[$t]=$!
    wait_port "$port"
    addr[$t]="127.0.0.1:$port"; targets+=("$t")
  done
fi
addr[direct-x2]=$peer; targets+=(direct-x2)

once() {
  if [ "$1" = direct-x2 ]; then # both at once; the slower one's time
    python3 benches/bulk_peer.py client "${addr[$1]}" "$2" "$BYTES" >"$tmp/x2" &
    local other=$!
    python3 benches/bulk_peer.py client "${addr[$1]}" "$2" "$BYTES" >>"$tmp/x2"
    wait "$other"
    # the slower one's time, both clients' CPU
    awk '{ if ($1 > s) s = $1; c += $2 } END { printf "%.4f %.4f\n", s, c }' "$tmp/x2"
  else
    python3 benches/bulk_peer.py client "${addr[$1]}" "$2" "$BYTES"
  fi
}
ticks() { # CPU clock ticks (user + system) of target $1's process, 0 for direct
  [ -n "${rpid[$1]:-}" ] || { echo 0; return; }
  awk '{print $14 + $15}' "/proc/${rpid[$1]}/stat"
}
echo "warm-up" >&2
for t in "${targets[@]}"; do once "$t" down >/dev/null; done
n=${#targets[@]}
for r in $(seq 0 $((ROUNDS - 1))); do
  for i in $(seq 0 $((n - 1))); do
    t=${targets[$(((i + r) % n))]}
    for dir in down up; do
      t0=$(ticks "$t"); p0=$(awk '{print $14 + $15}' "/proc/$peer_pid/stat")
      out=$(once "$t" "$dir")
      t1=$(ticks "$t"); p1=$(awk '{print $14 + $15}' "/proc/$peer_pid/stat")
      echo "$t $dir $out $((t1 - t0)) $((p1 - p0))" >>"$tmp/times"
    done
  done
  echo "round $((r + 1)) of $ROUNDS done" >&2
done

echo
echo "Bulk transfer, $SIZE_MIB MiB per connection, $ROUNDS rounds alternated, medians ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end):"
echo
echo "| target | down MiB/s | up MiB/s | down / direct | up / direct | proxy CPU s per GiB, down | up | all CPU s per GiB, down | up | cores busy, down | up |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
python3 - "$tmp/times" "$SIZE_MIB" "$(getconf CLK_TCK)" "${targets[@]}" <<'PY'
import statistics, sys
path, mib, hz, targets = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
rate, cpu, allcpu, busy = {}, {}, {}, {}
gib = mib / 1024
for line in open(path):
    t, d, s, client, ticks, peer = line.split()
    rate.setdefault((t, d), []).append(mib / float(s))
    cpu.setdefault((t, d), []).append(int(ticks) / hz / gib)
    # direct-x2 moves twice the bytes: its CPU per GiB is per GiB moved in all
    moved = 2 * gib if t == "direct-x2" else gib
    used = float(client) + (int(ticks) + int(peer)) / hz
    allcpu.setdefault((t, d), []).append(used / moved)
    busy.setdefault((t, d), []).append(used / float(s))
med = {k: statistics.median(v) for k, v in rate.items()}
cpu = {k: statistics.median(v) for k, v in cpu.items()}
allcpu = {k: statistics.median(v) for k, v in allcpu.items()}
busy = {k: statistics.median(v) for k, v in busy.items()}
for t in targets:
    dn, up = med[(t, "down")], med[(t, "up")]
    c = "| - | - |" if t.startswith("direct") else f"| {cpu[(t, 'down')]:.2f} | {cpu[(t, 'up')]:.2f} |"
    a = f" {allcpu[(t, 'down')]:.2f} | {allcpu[(t, 'up')]:.2f} |"
    a += f" {busy[(t, 'down')]:.2f} | {busy[(t, 'up')]:.2f} |"
    print(f"| {t} | {dn:.0f} | {up:.0f} | {dn / med[('direct', 'down')]:.2f}× | {up / med[('direct', 'up')]:.2f}× {c}{a}")
PY

[ "${COUNTS:-0}" = 1 ] || exit 0
[ -d "$TRACE/events" ] || mount -t tracefs nodev "$TRACE" 2>/dev/null || true
echo
echo "Per MiB moved (one $SIZE_MIB MiB transfer each way; strace -f -c on the ringlb process, io_uring_submit_req tracepoint):"
echo
echo "| target | direction | syscalls / MiB | ring operations / MiB | top syscalls / MiB | top ring operations / MiB |"
echo "|---|---|---:|---:|---|---|"
for t in "${targets[@]}"; do
  [[ $t == ringlb-* ]] || continue
  pid=${rpid[$t]}
  for dir in down up; do
    strace -f -c -q -p "$pid" -o "$tmp/strace" 2>/dev/null &
    st=$!
    sleep 1 # strace attaches within milliseconds and gives no readiness signal
    inst=
    if [[ $t == *io_uring ]] && [ -d "$TRACE/events/io_uring" ]; then
      inst="$TRACE/instances/ringlb-bulk-$$"
      mkdir "$inst"
      ls "/proc/$pid/task" | tr '\n' ' ' >"$inst/set_event_pid"
      echo 1 >"$inst/events/io_uring/io_uring_submit_req/enable"
    fi
    once "$t" "$dir" >/dev/null
    kill -INT "$st"; wait "$st" || true
    sys=$(awk '/^-+/{sep++; next} sep==1 && NF>=5 {t += $4} END {print t+0}' "$tmp/strace")
    top=$(awk '/^-+/{sep++; next} sep==1 && NF>=5 {print $4, $NF}' "$tmp/strace" | sort -rn | head -4 |
      awk -v m="$SIZE_MIB" '{printf "%s%s %.1f", (NR>1 ? ", " : ""), $2, $1/m}')
    ops=-; topops=-
    if [ -n "$inst" ]; then
      echo 0 >"$inst/events/io_uring/io_uring_submit_req/enable"
      ops=$(grep -c "opcode " "$inst/trace" || true)
      topops=$(grep -o "opcode [A-Z_]*" "$inst/trace" | awk '{print $2}' | sort | uniq -c | sort -rn | head -4 |
        awk -v m="$SIZE_MIB" '{printf "%s%s %.1f", (NR>1 ? ", " : ""), $2, $1/m}')
      ops=$(awk -v o="$ops" -v m="$SIZE_MIB" 'BEGIN {printf "%.1f", o/m}')
      rmdir "$inst"
    fi
    printf "| %s | %s | %.1f | %s | %s | %s |\n" "$t" "$dir" "$(awk -v s="$sys" -v m="$SIZE_MIB" 'BEGIN {print s/m}')" "$ops" "$top" "$topops"
  done
done
