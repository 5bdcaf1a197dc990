#!/usr/bin/env bash
# HTTP/2 clients: the kernel's share of a request (issue 18), ringlb against HAProxy, in
# counts. The set-up of benches/h2_haproxy.sh (one worker / `nbthread 1`, two
# `ringlb-load serve` HTTP/1.1 backends with 128-byte bodies, keep-alive reuse, TLS 1.3
# ALPN h2 and cleartext prior knowledge). For each proxy, transport and h2load load, a
# fresh proxy, a warm-up of N/5 requests of the same load, then two measured runs of N:
#   1. untraced: voluntary and involuntary context switches (/proc/PID/status), user and
#      system CPU (/proc/PID/stat: times, noise on a busy machine);
#   2. traced through tracefs (no strace: it slows the proxy and so changes batching):
#      every system call of the proxy's threads by name (raw_syscalls:sys_enter; those
#      that returned EAGAIN, raw_syscalls:sys_exit, apart), the
#      operations submitted to io_uring by opcode (io_uring:io_uring_submit_req) and the
#      completions (io_uring:io_uring_complete).
# Prints a Markdown table per load, all per request.
# Usage: bash benches/h2_kernel.sh [N]   (root: tracefs; N defaults to 20000)
#   TARGETS: NAME=PATH ringlb binaries (default ringlb=target/release/ringlb), e.g.
#   TARGETS="before=/work/bench/s8/base/ringlb after=target/release/ringlb";
#   HAPROXY=0: leave HAProxy out; LOADS (default "-c 10 -m 10;-c 100 -m 1");
#   TRANSPORTS (default "clear tls"); DRIVER: ringlb's io_driver (default: its default);
#   (h2load options: LOADS="--h1 -c 10" TRANSPORTS=tls counts HTTP/1.1 keep-alive);
#   MACHINE: the note put next to the times; TRACED=0: the untraced run only (CPU and
#   context switches: use a larger N, the CPU columns count 10 ms clock ticks).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
inst=
trap 'kill "${pids[@]}" 2>/dev/null; [ -z "$inst" ] || rmdir "$inst" 2>/dev/null; rm -rf "$tmp"' EXIT
TARGETS=${TARGETS:-"ringlb=${RINGLB:-./target/release/ringlb}"}
LOADS=${LOADS:-"-c 10 -m 10;-c 100 -m 1"}
TRANSPORTS=${TRANSPORTS:-"clear tls"}
MACHINE=${MACHINE:-"2 shared cores, busy machine (other builds running)"}
TRACE=/sys/kernel/tracing
[ -d "$TRACE/events" ] || mount -t tracefs nodev "$TRACE" 2>/dev/null || true
[ -d "$TRACE/events/raw_syscalls" ] || { echo "no tracefs at $TRACE (root needed)"; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
serve b1 --body-size 128
serve b2 --body-size 128
source benches/h2_setup.sh
tls_port=$(free_port) clear_port=$(free_port)

h2_ringlb_cfg "$tmp/ringlb.toml" "$tls_port" "$clear_port" "${DRIVER:+io_driver = \"$DRIVER\"}"
h2_haproxy_cfg "$tmp/haproxy.cfg" "$tls_port" "$clear_port"

start() { # start NAME PATH: the proxy, listening; sets pid
  if [ "$1" = haproxy ]; then
    haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/proxy.log" 2>&1 &
    pid=$!
  else
    "$2" run -c "$tmp/ringlb.toml" >"$tmp/proxy.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do grep -q "ringlb ready" "$tmp/proxy.log" && break; sleep 0.05; done
  fi
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$clear_port") 2>/dev/null && break; sleep 0.05; done
}
stop() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
# voluntary, involuntary context switches, utime+stime ticks split, of all threads
proc_counts() {
  local v=0 i=0 t
  for t in /proc/"$1"/task/*; do
    v=$((v + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")))
    i=$((i + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t/status")))
  done
  echo "$v $i $(awk '{print $14, $15}' "/proc/$1/stat")"
}
h2() { # h2 TRANSPORT COUNT LOAD
  local url=http://127.0.0.1:$clear_port/
  [ "$1" = tls ] && url=https://127.0.0.1:$tls_port/
  # shellcheck disable=SC2086 # LOAD is a list of h2load options
  h2load -n "$2" $3 "$url" 2>&1
}
declare -A NR
while read -r _ name nr; do NR[$nr]=${name#__NR_}; done < <(grep '^#define __NR_' /usr/include/x86_64-linux-gnu/asm/unistd_64.h)

rows="$tmp/rows"
: >"$rows"
row() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$rows"; }
all=$TARGETS
[ "${HAPROXY:-1}" = 0 ] || all="$all haproxy=haproxy"
tick=$(getconf CLK_TCK)
IFS=';' read -ra loads <<<"$LOADS"
for target in $all; do
  name=${target%%=*} bin=${target#*=}
  for transport in $TRANSPORTS; do
    for load in "${loads[@]}"; do
      start "$name" "$bin"
      h2 "$transport" $((N / 5)) "$load" >/dev/null
      read -r v0 i0 u0 s0 <<<"$(proc_counts "$pid")"
      out=$(h2 "$transport" "$N" "$load")
      read -r v1 i1 u1 s1 <<<"$(proc_counts "$pid")"
      grep -q "$N succeeded, 0 failed" <<<"$out" || { echo "$name $transport $load: $out"; exit 1; }
      k="$transport|$load"
      row "$name" "$k" "voluntary context switches" $((v1 - v0))
      row "$name" "$k" "involuntary context switches" $((i1 - i0))
      row "$name" "$k" "user CPU µs ($MACHINE)" $(((u1 - u0) * 1000000 / tick))
      row "$name" "$k" "system CPU µs ($MACHINE)" $(((s1 - s0) * 1000000 / tick))
      if [ "${TRACED:-1}" = 0 ]; then stop; continue; fi
      inst="$TRACE/instances/h2kernel-$$"
      mkdir "$inst"
      echo 16384 >"$inst/buffer_size_kb"
      ls "/proc/$pid/task" | tr '\n' ' ' >"$inst/set_event_pid"
      for e in raw_syscalls/sys_enter raw_syscalls/sys_exit io_uring/io_uring_submit_req io_uring/io_uring_complete; do
        echo 1 >"$inst/events/$e/enable"
      done
      out=$(h2 "$transport" "$N" "$load")
      echo 0 >"$inst/tracing_on"
      grep -q "$N succeeded, 0 failed" <<<"$out" || { echo "$name $transport $load: $out"; exit 1; }
      grep -q "lost events" "$inst/trace" && echo "  ($name $transport $load: trace buffer overflowed; use a smaller N)" >&2
      { grep -o 'sys_enter: NR [0-9]*' "$inst/trace" || true; } | awk '{print $3}' | sort -n | uniq -c |
        while read -r c nr; do row "$name" "$k" "syscall ${NR[$nr]:-$nr}" "$c"; done
      # calls that found nothing to read or no room to write (EAGAIN)
      { grep -o 'sys_exit: NR [0-9]* = -11$' "$inst/trace" || true; } | awk '{print $3}' | sort -n | uniq -c |
        while read -r c nr; do row "$name" "$k" "syscall ${NR[$nr]:-$nr} (EAGAIN)" "$c"; done
      row "$name" "$k" "syscalls (all)" "$(grep -c 'sys_enter: NR' "$inst/trace" || true)"
      { grep -o "opcode [A-Z_]*" "$inst/trace" || true; } | awk '{print $2}' | sort | uniq -c |
        while read -r c op; do row "$name" "$k" "ring op $op" "$c"; done
      row "$name" "$k" "ring operations (all)" "$(grep -c 'io_uring_submit_req:' "$inst/trace" || true)"
      row "$name" "$k" "ring completions" "$(grep -c 'io_uring_complete:' "$inst/trace" || true)"
      for e in raw_syscalls/sys_enter raw_syscalls/sys_exit io_uring/io_uring_submit_req io_uring/io_uring_complete; do
        echo 0 >"$inst/events/$e/enable"
      done
      rmdir "$inst"
      inst=
      stop
    done
  done
done

python3 - "$rows" "$N" "$all" "$(haproxy -v | head -n1 | awk '{print $3}')" <<'PY'
import sys
rows, n, targets, hv = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
names = [t.split("=", 1)[0] for t in targets]
data, keys, whats = {}, [], {}
for line in open(rows):
    name, key, what, value = line.rstrip("\n").split("\t")
    if key not in keys:
        keys.append(key)
    whats.setdefault(key, [])
    if what not in whats[key]:
        whats[key].append(what)
    data[(name, key, what)] = float(value) / n
label = lambda x: f"HAProxy {hv}" if x == "haproxy" else x
for key in keys:
    transport, load = key.split("|")
    print(f"\n{transport}, h2load `-n {n} {load}`: per request (counts; the CPU rows are times)\n")
    print("| per request | " + " | ".join(label(x) for x in names) + " |")
    print("|---|" + "---:|" * len(names))
    order = sorted(whats[key], key=lambda w: (not w.endswith("(all)"), w.startswith("syscall "), w))
    for what in order:
        vals = [data.get((x, key, what), 0.0) for x in names]
        if max(vals) < 0.005 and "(all)" not in what:
            continue
        print(f"| {what} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
PY
