#!/usr/bin/env bash
# Layer 4 costs (issue 17), each against its own baseline in the same ringlb process,
# rounds alternating:
#  1. PROXY protocol v2 receive + send, tcp mode, persistent connections (ringlb-load
#     tcp:// echo): client -> ringlb "front" -> ringlb "back" -> echo, where front
#     sends PROXY v2 and back requires it, vs the same two hops without PROXY.
#     Target: <= 3% fewer requests/s.
#  2. TLS passthrough routed by SNI, connection rate: `openssl s_time -new` (a full
#     TLS 1.3 handshake per connection) -> ringlb tcp frontend -> a TLS-terminating
#     ringlb frontend, with and without `sni` routes on the first. (s_time sends no
#     SNI, so the passthrough frontend reads the ClientHello and takes its default;
#     matching a route is a string compare on top.) Target: within 10%.
# Usage: bash benches/l4.sh [workers] [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
workers="${1:-1}"; rounds="${2:-3}"; secs="${3:-10}"
cargo build --release --workspace
source benches/lib.sh
serve echo --echo
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; }
./target/release/ringlb gen-cert --name localhost --cert "$tmp/site.pem" --key "$tmp/site.key" >/dev/null
p_plain=$(free_port); p_pp=$(free_port); b_plain=$(free_port); b_pp=$(free_port)
s_plain=$(free_port); s_sni=$(free_port); t_term=$(free_port)
cat >"$tmp/ringlb.toml" <<EOT
[global]
workers = $workers
pin_workers = false
max_connections = 100000
[defaults]
timeout_client = "30s"
timeout_server = "30s"

# 1. two hops without PROXY ...
[[frontend]]
name = "front_plain"
bind = ["127.0.0.1:$p_plain"]
mode = "tcp"
default_backend = "to_back_plain"
[[frontend]]
name = "back_plain"
bind = ["127.0.0.1:$b_plain"]
mode = "tcp"
default_backend = "echo"
# ... and with PROXY v2 sent by the first and received by the second.
[[frontend]]
name = "front_pp"
bind = ["127.0.0.1:$p_pp"]
mode = "tcp"
default_backend = "to_back_pp"
[[frontend]]
name = "back_pp"
bind = ["127.0.0.1:$b_pp"]
mode = "tcp"
default_backend = "echo"
proxy_protocol = "v2"
proxy_protocol_from = ["127.0.0.1"]

# 2. passthrough without and with SNI routes, to one TLS terminator.
[[frontend]]
name = "pass_plain"
bind = ["127.0.0.1:$s_plain"]
mode = "tcp"
default_backend = "term"
[[frontend]]
name = "pass_sni"
bind = ["127.0.0.1:$s_sni"]
mode = "tcp"
default_backend = "term"
[[frontend.route]]
sni = "other.example.com"
backend = "echo"
[[frontend]]
name = "terminator"
bind = ["127.0.0.1:$t_term"]
mode = "tcp"
default_backend = "echo"
[frontend.tls]
certificates = [{ cert = "$tmp/site.pem", key = "$tmp/site.key" }]

[[backend]]
name = "to_back_plain"
[[backend.server]]
name = "b"
address = "127.0.0.1:$b_plain"
[[backend]]
name = "to_back_pp"
[[backend.server]]
name = "b"
address = "127.0.0.1:$b_pp"
send_proxy = "v2"
[[backend]]
name = "term"
[[backend.server]]
name = "t"
address = "127.0.0.1:$t_term"
[[backend]]
name = "echo"
[[backend.server]]
name = "e"
address = "$echo"
EOT
./target/release/ringlb run -c "$tmp/ringlb.toml" 2>"$tmp/ringlb.log" &
pids+=($!)
wait_port "$p_plain"; wait_port "$s_sni"; wait_port "$t_term"

rps() { $L run "tcp://127.0.0.1:$1" -c 50 -t 1 -d "${secs}s" --json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(round(r["achieved_rate"]))'; }
cps() { openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 -time "$secs" 2>/dev/null | awk '/connections in .* real seconds/ {printf "%d\n", $1/$4}'; }

echo "| round | tcp 2 hops req/s | + PROXY v2 req/s | passthrough conn/s | + SNI routes conn/s |"
echo "|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  a=$(rps "$p_plain"); b=$(rps "$p_pp"); c=$(cps "$s_plain"); d=$(cps "$s_sni")
  echo "| $r | $a | $b | $c | $d |"
done
