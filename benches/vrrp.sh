#!/usr/bin/env bash
# VRRP failover times, ringlb pair vs keepalived pair, in one harness: two hosts (network
# namespaces on a bridge, 192.0.2.1 priority 150 and 192.0.2.2 priority 100, VIP
# 192.0.2.100/24). Each round starts B, waits until B holds the VIP, starts A, waits
# until A has preempted B (so A has heard B's priority, as after any earlier
# failover), lets B hear A for 2 s, then
#   kill    - kill -9 every process of A (a crash);
#   stop    - SIGTERM to A (a clean stop: priority 0);
#   backend - A's only backend stops. ringlb: its health check (every 100 ms) fails
#             and track_frontends lowers A's priority by 60, below B's; keepalived:
#             the harness writes 1 to A's track_file (weight -60) at that instant,
#             an instant detection that favours keepalived.
# and measures the time until B holds the VIP (`ip addr`, polled every 5 ms).
#
# Root only. Usage: benches/vrrp.sh [rounds] [advert interval in ms]
#   (defaults 5 and 1000; results on stdout). RINGLB_BIN=path skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
interval_ms=${2:-1000}
if [ -n "${RINGLB_BIN:-}" ]; then
  BIN=$RINGLB_BIN
else
  cargo build --release -q --bin ringlb
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/ringlb
fi
tmp=$(mktemp -d)
P=rlb$$
VIP=192.0.2.100

cleanup() {
  for n in a b; do
    ip netns pids ${P}$n 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del ${P}$n 2>/dev/null || true
  done
  ip netns del ${P}sw 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add ${P}sw
ip -n ${P}sw link add br0 type bridge
ip -n ${P}sw link set br0 up
i=1
for n in a b; do
  ip netns add ${P}$n
  ip link add ${P}${n}i type veth peer name ${P}${n}o
  ip link set ${P}${n}i netns ${P}$n
  ip link set ${P}${n}o netns ${P}sw
  ip -n ${P}$n link set ${P}${n}i name eth0
  ip -n ${P}$n addr add 192.0.2.$i/24 dev eth0
  ip -n ${P}$n link set eth0 up
  ip -n ${P}$n link set lo up
  ip -n ${P}sw link set ${P}${n}o master br0
  ip -n ${P}sw link set ${P}${n}o up
  i=$((i + 1))
done

ringlb_conf() { # priority
  cat <<EOF
[global]
workers = 1
pin_workers = false
[[frontend]]
name = "web"
bind = ["$VIP:8080"]
mode = "tcp"
default_backend = "app"
[[backend]]
name = "app"
[backend.check]
kind = "tcp"
interval = "100ms"
fast_interval = "100ms"
timeout = "100ms"
rise = 1
fall = 1
[[backend.server]]
name = "local"
address = "127.0.0.1:9001"
check = true
[vrrp]
interface = "eth0"
virtual_router_id = 51
priority = $1
advert_interval = "${interval_ms}ms"
virtual_ips = ["$VIP/24"]
track_frontends = true
track_weight = 60
EOF
}

keepalived_conf() { # priority track-file
  cat <<EOF
global_defs {
  vrrp_version 3
}
track_file backend {
  file "$2"
  weight -60
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $1
  advert_int $(awk "BEGIN { print $interval_ms / 1000 }")
  virtual_ipaddress {
    $VIP/24
  }
  track_file {
    backend
  }
}
EOF
}

has_vip() { ip -n ${P}$1 -4 -o addr show dev eth0 | grep -q "inet $VIP/"; }

# Start `impl` (ringlb|keepalived) on host $2 with priority $3.
start() {
  local impl=$1 host=$2 prio=$3
  if [ "$impl" = ringlb ]; then
    ringlb_conf "$prio" >"$tmp/$host.toml"
    ip netns exec ${P}$host "$BIN" run -c "$tmp/$host.toml" >"$tmp/$host.log" 2>&1 &
  else
    echo 0 >"$tmp/$host.track"
    keepalived_conf "$prio" "$tmp/$host.track" >"$tmp/$host.conf"
    rm -f "$tmp/$host.pid" "$tmp/$host.vpid" # a killed keepalived leaves them behind
    ip netns exec ${P}$host keepalived --dont-fork --vrrp --no-syslog --log-console \
      -f "$tmp/$host.conf" -p "$tmp/$host.pid" -r "$tmp/$host.vpid" >"$tmp/$host.log" 2>&1 &
  fi
}

# A backend for each host's ringlb (port 9001 inside the namespace).
backend() { ip netns exec ${P}$1 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9001)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()' >/dev/null 2>&1 & echo $!; }

# Wait until host $1's backend accepts: a first failed check would make the peer
# hear a lowered priority.
backend_up() {
  for _ in $(seq 200); do
    ip netns exec ${P}$1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9001' 2>/dev/null && return
    sleep 0.02
  done
  echo "backend of $1 never came up" >&2
  exit 1
}

now_ms() { date +%s%3N; }

round() { # impl scenario -> prints milliseconds
  local impl=$1 scenario=$2
  local ba bb
  ba=$(backend a)
  bb=$(backend b)
  backend_up a
  backend_up b
  start "$impl" b 100
  for _ in $(seq 1000); do has_vip b && break; sleep 0.02; done
  has_vip b || { echo "B never became master" >&2; cat "$tmp/b.log" >&2; exit 1; }
  start "$impl" a 150
  for _ in $(seq 1000); do has_vip a && ! has_vip b && break; sleep 0.02; done
  has_vip a || { echo "A never preempted B" >&2; cat "$tmp/a.log" >&2; exit 1; }
  sleep 2 # B hears a few adverts
  local t0
  t0=$(now_ms)
  case $scenario in
    kill) ip netns pids ${P}a | xargs -r kill -9 ;;
    stop) ip netns pids ${P}a | xargs -r kill -TERM ;;
    backend)
      kill "$ba"
      [ "$impl" = keepalived ] && echo 1 >"$tmp/a.track"
      ;;
  esac
  for _ in $(seq 2000); do has_vip b && break; sleep 0.005; done
  local t1
  t1=$(now_ms)
  has_vip b || { echo "B never took over" >&2; cat "$tmp/b.log" >&2; exit 1; }
  echo $((t1 - t0))
  for n in a b; do ip netns pids ${P}$n | xargs -r kill -9 2>/dev/null || true; done
  kill "$ba" "$bb" 2>/dev/null || true
  wait 2>/dev/null || true
  ip -n ${P}a addr del $VIP/24 dev eth0 2>/dev/null || true
  ip -n ${P}b addr del $VIP/24 dev eth0 2>/dev/null || true
}

echo "| pair | advert interval | scenario | takeover times (ms), $rounds rounds | median |"
echo "|---|---|---|---|---|"
for scenario in kill stop backend; do
  for impl in ringlb keepalived; do
    times=()
    for _ in $(seq "$rounds"); do times+=("$(round "$impl" "$scenario")"); done
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((rounds + 1) / 2))p")
    echo "| $impl + $impl | ${interval_ms} ms | $scenario | ${times[*]} | $median |"
  done
done
