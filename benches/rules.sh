#!/usr/bin/env bash
# The cost of rules: ringlb with no rules, ringlb with 20 typical rules and a
# 100,000-line CIDR list, and HAProxy with the equivalent ACLs (acl -f, stick table,
# http-request/http-response rules), on the same backends and load, alternated round by
# round; medians and ratios. None of the rules refuses the benchmark's requests: what
# is measured is their evaluation on every request (and the header edits). Usage:
#   bash benches/rules.sh [rounds] [seconds] [workers]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5} secs=${2:-4} workers=${3:-1}
command -v haproxy >/dev/null || { apt-get update -qq && apt-get install -y -qq haproxy; }
cargo build --release --workspace
source benches/lib.sh
serve b1 --body-size 128
serve b2 --body-size 128
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 - "$tmp/blocked.lst" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("# 100,000 networks nobody in this benchmark comes from\n")
    for i in range(100_000):
        f.write(f"10.{(i >> 8) & 255}.{i & 255}.0/24\n")
EOF

ringlb_config() { # ringlb_config PORT WITH_RULES
  cat <<EOT
[global]
workers = $workers
pin_workers = false
$( [ "$2" = 1 ] && printf '[[table]]\nname = "per_ip"\nkey = "src"\nperiod = "10s"\n' )
[[frontend]]
name = "f"
bind = ["127.0.0.1:$1"]
mode = "http"
default_backend = "app"
EOT
  [ "$2" = 1 ] && cat <<EOT
[[frontend.acl]]
name = "blocked"
src_file = "$tmp/blocked.lst"
[[frontend.acl]]
name = "admin_path"
path_prefix = ["/admin"]
[[frontend.acl]]
name = "office"
src = ["192.0.2.0/24"]
[[frontend.acl]]
name = "bad_method"
method = ["TRACE", "CONNECT"]
[[frontend.acl]]
name = "too_fast"
counter = { table = "per_ip", name = "http_req_rate", above = 100000000 }
[[frontend.acl]]
name = "old"
path_prefix = ["/old/"]
[[frontend.acl]]
name = "health"
path = ["/health"]
[[frontend.acl]]
name = "bot"
header = { name = "User-Agent", regex = ["(?i)(bot|crawler|spider)"] }
[[frontend.acl]]
name = "static"
path_suffix = [".css", ".js", ".png"]
[[frontend.tcp_rule]]
action = "track"
table = "per_ip"
[[frontend.http_rule]]
action = "deny"
if = "blocked"
[[frontend.http_rule]]
action = "deny"
if = "admin_path !office"
[[frontend.http_rule]]
action = "deny"
status = 405
if = "bad_method"
[[frontend.http_rule]]
action = "deny"
status = 429
if = "too_fast"
[[frontend.http_rule]]
action = "redirect"
prefix = "/new"
if = "old"
[[frontend.http_rule]]
action = "return"
status = 200
body = "ok"
if = "health"
[[frontend.http_rule]]
action = "deny"
if = "bot"
[[frontend.http_rule]]
action = "set_header"
name = "X-Proxy"
value = "ringlb"
[[frontend.http_rule]]
action = "del_header"
name = "X-Debug"
[[frontend.http_rule]]
action = "add_header"
name = "X-Static"
value = "1"
if = "static"
[[frontend.response_rule]]
action = "set_header"
name = "Strict-Transport-Security"
value = "max-age=31536000"
[[frontend.response_rule]]
action = "del_header"
name = "Server"
EOT
  printf '[[backend]]\nname = "app"\n[[backend.server]]\nname = "b1"\naddress = "%s"\n[[backend.server]]\nname = "b2"\naddress = "%s"\n' "$b1" "$b2"
}

haproxy_config() { # haproxy_config PORT
  cat <<EOT
global
    nbthread $workers
    maxconn 5000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend f
    bind 127.0.0.1:$1
    stick-table type ip size 100k expire 60s store http_req_rate(10s)
    acl blocked src -f $tmp/blocked.lst
    acl admin_path path_beg /admin
    acl office src 192.0.2.0/24
    acl bad_method method TRACE CONNECT
    acl old path_beg /old/
    acl health path /health
    acl bot hdr_reg(user-agent) -i (bot|crawler|spider)
    acl static path_end .css .js .png
    http-request track-sc0 src
    http-request deny if blocked
    http-request deny if admin_path !office
    http-request deny deny_status 405 if bad_method
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 100000000 }
    http-request redirect prefix /new if old
    http-request return status 200 if health
    http-request deny if bot
    http-request set-header X-Proxy ringlb
    http-request del-header X-Debug
    http-request add-header X-Static 1 if static
    http-response set-header Strict-Transport-Security max-age=31536000
    http-response del-header Server
    default_backend app
backend app
    http-reuse always
    server b1 $b1
    server b2 $b2
EOT
}

start() { # start NAME CMD...: records its address and pid
  local name=$1; shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  echo $! >"$tmp/$name.pid"
}
p0=$(free_port) p1=$(free_port) p2=$(free_port)
ringlb_config "$p0" 0 >"$tmp/r0.toml"
ringlb_config "$p1" 1 >"$tmp/r1.toml"
haproxy_config "$p2" >"$tmp/h.cfg"
./target/release/ringlb check -c "$tmp/r1.toml" >/dev/null
start none ./target/release/ringlb run -c "$tmp/r0.toml"
start rules ./target/release/ringlb run -c "$tmp/r1.toml"
start haproxy haproxy -db -f "$tmp/h.cfg"
echo "127.0.0.1:$p0" >"$tmp/none.addr"; echo "127.0.0.1:$p1" >"$tmp/rules.addr"; echo "127.0.0.1:$p2" >"$tmp/haproxy.addr"
for t in none rules; do for _ in $(seq 200); do grep -q "ringlb ready" "$tmp/$t.log" && break; sleep 0.05; done; done
sleep 0.5
for r in $(seq "$rounds"); do
  for t in none rules haproxy; do
    json=$($L run "http://$(cat "$tmp/$t.addr")/" -c 50 -t 1 -d "${secs}s" --warmup 1s --json)
    python3 -c 'import json,sys; j=json.loads(sys.argv[2]); print(sys.argv[1], round(j["achieved_rate"]), j["corrected"]["p99"] if "p99" in j["corrected"] else 0)' "$t" "$json" >>"$tmp/rows"
  done
done
python3 - "$tmp/rows" "$rounds" "$secs" "$workers" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda t: statistics.median(float(r[1]) for r in rows if r[0] == t)
none, rules, hap = med("none"), med("rules"), med("haproxy")
print(f"{sys.argv[4]} worker(s)/thread(s), {sys.argv[2]} alternated rounds of {sys.argv[3]} s, 50 keep-alive "
      f"connections, 2 backends (128 B), 2 shared cores; medians of requests/s")
print("| target | requests/s | ratio |")
print("|---|---:|---:|")
print(f"| ringlb, no rules | {none:.0f} | 1.00 |")
print(f"| ringlb, 20 rules + 100k CIDR list | {rules:.0f} | {rules / none:.2f} of no rules |")
print(f"| HAProxy, the same ACLs and rules | {hap:.0f} | ringlb/HAProxy {rules / hap:.2f} |")
EOF
