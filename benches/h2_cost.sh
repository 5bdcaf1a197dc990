#!/usr/bin/env bash
# What an HTTP/2 request costs ringlb, in instructions (callgrind), not time: one
# worker with a cleartext prior-knowledge frontend in front of one `ringlb-load serve`
# backend (BODY-byte responses); h2load sends N requests on C connections with M
# streams each; instrumentation is on for those N only (after a warm-up of pooled
# server connections and lazily built state). Prints the instructions per request
# and the top functions by inclusive cost, per request.
# Usage: bash benches/h2_cost.sh [N] [C] [M] [BODY]   (defaults 20000 1 10 128)
# RINGLB / RINGLB_LOAD override the binaries (default target/release/...); KEEP=FILE
# keeps the callgrind profile (for `callgrind_annotate --tree=caller FILE`);
# FRONTEND_TOML: extra lines for the frontend (say response rules that add fields).
# COUNT=syscalls: system calls per request instead (ringlb run natively under
# `strace -c -f`, same set-up; one markdown row per syscall and the total). With
# io_uring, the default driver, I/O goes through the ring instead: these counts say
# how many reads and writes a request takes, not how many syscalls.
# SERVER=tls: the server is an HTTP/2 server over TLS (`proto = "h2"`, `tls = true`,
# ALPN h2): a second ringlb, not measured, with a TLS frontend offering h2, in front
# of the same backend; what is counted then includes encrypting the requests and
# decrypting the responses on ringlb's server connection. SERVER=h2c: the same over
# cleartext (`proto = "h2"`, prior knowledge). Default (plain): HTTP/1.1 to the backend.
# COUNT=memory: memory per idle server connection instead: N servers (all the same
# one, as SERVER says), one request to each (round robin, so one
# connection each), ringlb's RSS before and after, natively with the default driver;
# prints a markdown row.
# CACHE=1: callgrind simulates the caches too (`--cache-sim=yes`; first level 32 KiB,
# its last level set by LL, default 1 MiB 16-way: this host's L2 per core, since
# valgrind reads its L3 wrong in this VM): first-level and L2 data misses per request,
# in all and by function (what grows with the streams in flight when the instructions
# do not). Counts of a simulated cache, not of the CPU's.
# PROTO=h1: the same with HTTP/1.1 keep-alive requests (`h2load --h1`, M pipelined;
# use M=1), for what code shared with HTTP/1.1 costs it.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-20000} C=${2:-1} M=${3:-10} BODY=${4:-128}
RINGLB=${RINGLB:-./target/release/ringlb}
L=${RINGLB_LOAD:-$L}
serve backend --body-size "$BODY"
# up NAME [LAUNCHER...]: `ringlb run -c $tmp/NAME.toml` in the background (under
# LAUNCHER, if any), once ready: its PID in up_pid, its first address in up_addr.
up() {
  local name=$1; shift
  "$@" "$RINGLB" run -c "$tmp/$name.toml" 2>"$tmp/$name.log" &
  up_pid=$!
  pids+=("$up_pid")
  for _ in $(seq 1200); do grep -q "ringlb ready" "$tmp/$name.log" && break; sleep 0.05; done
  grep -q "ringlb ready" "$tmp/$name.log" || { cat "$tmp/$name.log"; exit 1; }
  up_addr=$(grep -o "listening on [0-9.:]*" "$tmp/$name.log" | head -n1 | awk '{print $3}')
}
server_keys=
if [ "${SERVER:-plain}" != plain ]; then
  "$RINGLB" gen-cert --name localhost --cert "$tmp/cert.pem" --key "$tmp/key.pem" >/dev/null
  case "$SERVER" in
    tls) listen=$'[frontend.tls]\ncertificates = [{ cert = "'"$tmp/cert.pem"'", key = "'"$tmp/key.pem"$'" }]\nalpn = ["h2", "http/1.1"]'
      server_keys=$'proto = "h2"\ntls = true\nsni = "localhost"\nca_file = "'"$tmp/cert.pem"'"' ;;
    h2c) listen='h2c = "prior-knowledge"' server_keys='proto = "h2"' ;;
    *) echo "SERVER: plain, tls or h2c" >&2; exit 2 ;;
  esac
  cat >"$tmp/server.toml" <<TOML
[global]
workers = 1
pin_workers = false
[defaults]
timeout_http_keep_alive = "120s"
[[frontend]]
name = "h2"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "b"
$listen
[[backend]]
name = "b"
[[backend.server]]
name = "s1"
address = "$backend"
TOML
  up server
  backend=$up_addr
fi
driver='io_driver = "legacy"' servers=1
[ "${COUNT:-}" != memory ] || { driver=$'[defaults]\ntimeout_http_keep_alive = "120s"' servers=$N; }
server_list=
for i in $(seq "$servers"); do
  server_list+=$'[[backend.server]]\nname = "s'"$i"$'"\naddress = "'"$backend"$'"\n'"$server_keys"$'\n'
done
cat >"$tmp/ringlb.toml" <<TOML
[global]
workers = 1
pin_workers = false
# valgrind does not run io_uring: the epoll driver (the code per request is the same
# but for the I/O calls).
$driver

[[frontend]]
name = "f"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "b"
$([ "${PROTO:-h2}" = h1 ] || echo 'h2c = "prior-knowledge"')
${FRONTEND_TOML:-}

[[backend]]
name = "b"
$server_list
TOML
H1=()
[ "${PROTO:-h2}" != h1 ] || H1=(--h1)
start_ringlb() {
  up ringlb "$@"
  rl_pid=$up_pid addr=$up_addr
  h2load "${H1[@]}" -n 500 -c "$C" -m "$M" "http://$addr/" >/dev/null # warm-up
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
if [ "${COUNT:-}" = memory ]; then
  up ringlb
  rl_pid=$up_pid addr=$up_addr
  h2load -n 1 -c 1 -m 1 "http://$addr/" >/dev/null # s1's connection, lazily built state
  sleep 1
  before=$(rss_kib "$rl_pid")
  res=$(h2load -n "$N" -c 1 -m 1 "http://$addr/")
  grep -q "$N succeeded, 0 failed" <<<"$res" || { echo "$res"; exit 1; }
  sleep 1
  after=$(rss_kib "$rl_pid")
  echo "| ${SERVER:-plain} server, $((N - 1)) idle connections to it | RSS before $before KiB, after $after KiB | $(((after - before) * 1024 / (N - 1))) bytes per connection |"
  exit 0
fi
if [ "${COUNT:-instructions}" = syscalls ]; then
  start_ringlb
  strace -c -f -p "$rl_pid" -o "$tmp/strace" 2>/dev/null &
  st_pid=$!
  for _ in $(seq 100); do grep -q 'TracerPid:.*[1-9]' "/proc/$rl_pid/status" && break; sleep 0.05; done
  res=$(h2load "${H1[@]}" -n "$N" -c "$C" -m "$M" "http://$addr/")
  kill -INT "$st_pid"
  wait "$st_pid" 2>/dev/null || true
  grep -q "$N succeeded, 0 failed" <<<"$res" || { echo "$res"; exit 1; }
  echo "| syscall | per request ($N requests, -c $C -m $M, $BODY-byte bodies) |"
  echo "|---|---:|"
  awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {if ($4 / n >= 0.001) printf "| %s | %.3f |\n", $NF, $4 / n}
    $NF == "total" {printf "| **total** | **%.3f** |\n", $4 / n}' "$tmp/strace"
  exit 0
fi
out="$tmp/callgrind.out"
sim=()
[ "${CACHE:-0}" = 0 ] || sim=(--cache-sim=yes "--LL=${LL:-1048576,16,64}")
start_ringlb valgrind --tool=callgrind "${sim[@]}" --callgrind-out-file="$out" --instr-atstart=no
callgrind_control -i on "$rl_pid" >/dev/null 2>&1
res=$(h2load "${H1[@]}" -n "$N" -c "$C" -m "$M" "http://$addr/")
callgrind_control -i off "$rl_pid" >/dev/null 2>&1
grep -q "$N succeeded, 0 failed" <<<"$res" || { echo "$res"; exit 1; }
# A dump now: ringlb under valgrind may take long to stop on SIGTERM.
callgrind_control -d "$rl_pid" >/dev/null 2>&1
for _ in $(seq 600); do [ -s "$out.1" ] && break; sleep 0.1; done
kill -KILL "$rl_pid" 2>/dev/null || true
wait "$rl_pid" 2>/dev/null || true
[ -z "${KEEP:-}" ] || cp "$out.1" "$KEEP"
echo "instructions per ${PROTO:-h2} request ($N requests, -c $C -m $M, $BODY-byte bodies, ${SERVER:-plain} server; callgrind, every thread; top 25 by inclusive cost):"
callgrind_annotate --inclusive=yes "$out.1" 2>/dev/null | awk -v n="$N" '
  /PROGRAM TOTALS/ {c=$1; gsub(",", "", c); printf "  %-24s %10.0f\n", "TOTAL", c / n}
  /^ *[0-9,]+ \(/ && /\[/ && shown < 25 {c=$1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); printf "  %10.0f %s\n", c / n, substr($0, 1, 120); shown++}'
if [ "${CACHE:-0}" != 0 ]; then
  echo "data cache misses per request (first level read, write; last level read, write), in all and the top 15 functions by first-level misses (self):"
  callgrind_annotate --show=D1mr,D1mw,DLmr,DLmw --sort=D1mr,D1mw "$out.1" 2>/dev/null | awk -v n="$N" '
    function num(x) { gsub(",", "", x); return x == "." ? 0 : x }
    /PROGRAM TOTALS/ { printf "  %-8.1f %-8.1f %-8.2f %-8.2f TOTAL\n", num($1) / n, num($3) / n, num($5) / n, num($7) / n }
    /^ *[0-9,.]+ +\(/ && /:/ && !/PROGRAM/ && shown < 15 { line = $0; gsub(/\( *[0-9.]+%\)/, "", line); split(line, f, " ");
      i = 1; while (f[i] == "") i++
      name = line; sub(/^ *([0-9,.]+ +){4}/, "", name)
      printf "  %-8.1f %-8.1f %-8.2f %-8.2f %s\n", num(f[i]) / n, num(f[i + 1]) / n, num(f[i + 2]) / n, num(f[i + 3]) / n, substr(name, 1, 110); shown++ }'
fi
echo "allocation and copying, per request (inclusive):"
callgrind_annotate --inclusive=yes "$out.1" 2>/dev/null | awk -v n="$N" '
  /^ *[0-9,]+ \(/ && /(malloc|realloc|free|memcpy|memmove|VecDeque)/ && shown < 12 {c=$1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); printf "  %10.0f %s\n", c / n, substr($0, 1, 120); shown++}'
