#!/usr/bin/env bash
# HTTPS through ringlb vs HAProxy (OpenSSL) at the same thread count, with wrk (it
# speaks TLS): keep-alive requests/s, and new connections/s (Connection: close, so
# every request is a full TLS 1.3 handshake with an ECDSA P-256 certificate).
# Rounds alternate between the two proxies. HAProxy runs with its default
# `http-reuse safe`, the reuse rule ringlb follows (a client's first request gets its
# own server connection).
# Usage: bash benches/tls.sh [workers] [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${1:-1}"; rounds="${2:-2}"; secs="${3:-10}"
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release --workspace
source benches/lib.sh
serve backend --body-size 128
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
./target/release/ringlb gen-cert --name localhost --cert "$tmp/site.pem" --key "$tmp/site.key" >/dev/null
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
./target/release/ringlb run -c "$tmp/ringlb.toml" 2>/dev/null &
pids+=($!)
haproxy -f "$tmp/haproxy.cfg" &
pids+=($!)
wait_port "$rport"; wait_port "$hport"
run() { # proxy port kind
  local url="https://localhost:$2/"
  if [ "$3" = keepalive ]; then
    wrk -t1 -c50 -d"${secs}s" "$url" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
  else
    wrk -t1 -c20 -d"${secs}s" -H "Connection: close" "$url" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
  fi
}
echo "| round | test | ringlb req/s | HAProxy req/s | ratio |"
echo "|---|---|---:|---:|---:|"
for round in $(seq "$rounds"); do
  for kind in keepalive handshake; do
    if (( round % 2 )); then r=$(run ringlb "$rport" $kind); h=$(run haproxy "$hport" $kind)
    else h=$(run haproxy "$hport" $kind); r=$(run ringlb "$rport" $kind); fi
    ratio=$(python3 -c "print(f'{float(\"$r\")/float(\"$h\"):.2f}')")
    echo "| $round | $kind | $r | $h | ${ratio}x |"
  done
done
