#!/usr/bin/env bash
# Memory per idle keep-alive client connection, ringlb vs HAProxy (mode http), with
# N connections each (default 9000: HAProxy reserves two fds per maxconn and the
# hard fd limit here is 20000). Usage: bash benches/idle_memory.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-9000}"
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy; }
cargo build --release --workspace
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
source benches/lib.sh
serve backend
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); hport=$(free_port)
cat >"$tmp/ringlb.toml" <<EOT
[global]
workers = 1
max_connections = $((n + 1000))
[defaults]
timeout_http_keep_alive = "60s"
[[frontend]]
name = "web"
bind = ["127.0.0.1:$rport"]
mode = "http"
default_backend = "app"
[[backend]]
name = "app"
[[backend.server]]
name = "s"
address = "$backend"
EOT
cat >"$tmp/haproxy.cfg" <<EOT
global
    nbthread 1
    maxconn $((n + 500))
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend web
    bind 127.0.0.1:$hport
    default_backend app
backend app
    http-reuse always
    server s $backend
EOT
./target/release/ringlb run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
pids+=($!); rpid=$!
haproxy -db -f "$tmp/haproxy.cfg" 2>"$tmp/haproxy.log" &
pids+=($!); hpid=$!
sleep 1
echo "ringlb:  $(python3 benches/idle_memory.py "$rpid" "127.0.0.1:$rport" "$n")"
echo "haproxy: $(python3 benches/idle_memory.py "$hpid" "127.0.0.1:$hport" "$n")"
