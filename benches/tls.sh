#!/usr/bin/env bash
# HTTPS through ringlb vs HAProxy (OpenSSL) at the same thread count, with wrk (it
# speaks TLS): keep-alive requests/s, and new connections/s (Connection: close, so
# every request is a full TLS 1.3 handshake with an ECDSA P-256 certificate).
# Rounds alternate between the two proxies. HAProxy runs with its default
# `http-reuse safe`, the reuse rule ringlb follows (a client's first request gets its
# own server connection).
# Usage: bash benches/tls.sh [workers] [rounds] [seconds]
# COUNTS=1 bash benches/tls.sh [N]: counts instead (syscalls, ring operations,
# instructions, memory per handshake and per request: benches/tls_counts.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${COUNTS:-0}" = 1 ]; then exec bash benches/tls_counts.sh "$@"; fi
workers="${1:-1}"; rounds="${2:-2}"; secs="${3:-10}"
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
# RINGLB=path (and RINGLB_LOAD): measure that binary, no build; else a release build of this tree.
if [ -z "${RINGLB:-}" ]; then cargo build --release --workspace; RINGLB=./target/release/ringlb; fi
source benches/lib.sh
L=${RINGLB_LOAD:-$L}
serve backend --body-size 128
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
"$RINGLB" gen-cert --name localhost --cert "$tmp/site.pem" --key "$tmp/site.key" >/dev/null
cat "$tmp/site.pem" "$tmp/site.key" >"$tmp/haproxy.pem"
rport=$(free_port); hport=$(free_port)
cat >"$tmp/ringlb.toml" <<EOT
[global]
workers = $workers
pin_workers = false
[[frontend]]
name = "https"
bind = ["127.0.0.1:$rport"]
mode = "http"
default_backend = "app"
[frontend.tls]
certificates = [{ cert = "$tmp/site.pem", key = "$tmp/site.key" }]
[[backend]]
name = "app"
[[backend.server]]
name = "b"
address = "$backend"
EOT
cat >"$tmp/haproxy.cfg" <<EOT
global
  nbthread $workers
  maxconn 5000
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  http-reuse safe
frontend https
  bind 127.0.0.1:$hport ssl crt $tmp/haproxy.pem alpn http/1.1
  default_backend app
backend app
  server b $backend
EOT
"$RINGLB" run -c "$tmp/ringlb.toml" 2>/dev/null &
rpid=$!; pids+=($rpid)
haproxy -f "$tmp/haproxy.cfg" &
hpid=$!; pids+=($hpid)
wait_port "$rport"; wait_port "$hport"
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One measurement: "requests/s CPU-microseconds-per-request" for the proxy `pid`.
run() { # pid port kind
  local url="https://localhost:$2/" extra=() conns=50
  if [ "$3" = handshake ]; then extra=(-H "Connection: close"); conns=20; fi
  local before after out
  before=$(cpu "$1")
  out=$(wrk -t1 -c"$conns" -d"${secs}s" "${extra[@]}" "$url" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
  after=$(cpu "$1")
  python3 -c "r=float('$out'); print(f'{r:.0f} {($after-$before)/$tick/(r*$secs)*1e6:.1f}')"
}
echo "| round | test | ringlb req/s | HAProxy req/s | ratio | ringlb CPU µs/req | HAProxy CPU µs/req |"
echo "|---|---|---:|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
  for kind in keepalive handshake; do
    if (( round % 2 )); then r=$(run "$rpid" "$rport" $kind); h=$(run "$hpid" "$hport" $kind)
    else h=$(run "$hpid" "$hport" $kind); r=$(run "$rpid" "$rport" $kind); fi
    read -r rr rc <<<"$r"; read -r hr hc <<<"$h"
    ratio=$(python3 -c "print(f'{$rr/$hr:.2f}')")
    echo "| $round | $kind | $rr | $hr | ${ratio}x | $rc | $hc |"
  done
done
