#!/usr/bin/env bash
# Syscalls per keep-alive request through ringlb to a TLS server (`tls = true`), per
# ringlb build and I/O driver: what the pool's check of an idle TLS server connection
# costs (docs/benchmarks.md, "The peek replaced by an armed wait on idle connections").
# One nginx backend (TLS 1.3, keep-alive, a 128-byte file), one ringlb worker
# (`http_reuse = "always"`), curl sending N GETs in turn on one client connection: each
# request takes the pooled server connection and gives it back. Counted by
# `strace -f -c` on ringlb (every thread) over the N requests, after a warm-up that
# opened the server connection. Syscalls by name do not depend on how busy the machine
# is; `io_uring_enter` and `epoll_wait` move with batching.
# Usage: bash benches/tls_idle_counts.sh [N]   (default 2000)
#   TARGETS: NAME=PATH ringlb binaries (default "ringlb=./target/release/ringlb");
#   DRIVERS: "io_uring legacy" (default).
# Needs nginx, curl, strace, openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
N=${1:-2000}
TARGETS=${TARGETS:-"ringlb=./target/release/ringlb"}
DRIVERS=${DRIVERS:-"io_uring legacy"}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
  -days 2 -subj /CN=localhost 2>/dev/null
mkdir -p "$tmp/www" "$tmp/nginx"
head -c 128 /dev/zero | tr '\0' 'x' >"$tmp/www/index.html"
port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $tmp/nginx/nginx.pid;
error_log stderr error;
events { worker_connections 1000; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx;
    proxy_temp_path $tmp/nginx;
    fastcgi_temp_path $tmp/nginx;
    uwsgi_temp_path $tmp/nginx;
    scgi_temp_path $tmp/nginx;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.3;
        root $tmp/www;
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/nginx.log" &
pids+=($!)
wait_port "$port"

rows="$tmp/rows"
: >"$rows"
for t in $TARGETS; do
  name=${t%%=*} bin=${t#*=}
  for driver in $DRIVERS; do
    cat >"$tmp/ringlb.toml" <<EOF
[global]
workers = 1
pin_workers = false
io_driver = "$driver"

[[frontend]]
name = "f"
bind = ["127.0.0.1:0"]
mode = "http"
default_backend = "app"

[[backend]]
name = "app"
http_reuse = "always"
[[backend.server]]
name = "tls"
address = "127.0.0.1:$port"
tls = true
verify = false
EOF
    run_proxy "$bin" "$tmp/ringlb.toml"
    # warm-up: the server connection
    if ! curl -sf -o /dev/null "http://$px_addr/?[1-20]"; then
      curl -si "http://$px_addr/" | head -n1; cat "$tmp/proxy.log" "$tmp/nginx.log"; stop_proxy; exit 1
    fi
    strace -f -c -q -p "$px_pid" -o "$tmp/strace" 2>"$tmp/strace.err" &
    st=$!
    sleep 1 # strace attaches within milliseconds and gives no readiness signal
    curl -sf -o /dev/null "http://$px_addr/?[1-$N]"
    kill -INT "$st"; wait "$st" || true
    stop_proxy
    # calls and errors per syscall, per request
    awk -v col="$name, $driver" -v n="$N" '/^-+/{sep++; next} sep==1 && NF>=5 {
        err = (NF == 6) ? $5 : 0
        printf "%s\t%s\t%.3f\t%.3f\n", col, $NF, $4 / n, err / n
        t += $4 } END { printf "%s\tsyscalls (all)\t%.3f\t0\n", col, t / n }' "$tmp/strace" >>"$rows"
  done
done

python3 - "$rows" "$N" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
cols, names, vals = [], [], {}
for col, name, calls, errs in rows:
    if col not in cols:
        cols.append(col)
    if name not in names:
        names.append(name)
    vals[(col, name)] = (float(calls), float(errs))
print(f"\nPer keep-alive request through a `tls = true` server (nginx, TLS 1.3), "
      f"{sys.argv[2]} GETs on one client connection, http_reuse = \"always\", 1 worker; "
      f"strace -f -c on ringlb; calls (of which failed, e.g. EAGAIN).\n")
print("| per request | " + " | ".join(cols) + " |")
print("|---|" + "---:|" * len(cols))
names.sort(key=lambda n: (n == "syscalls (all)", -max(vals.get((c, n), (0, 0))[0] for c in cols)))
for n in names:
    cells = []
    for c in cols:
        calls, errs = vals.get((c, n), (0.0, 0.0))
        cells.append(f"{calls:.3f}" + (f" ({errs:.3f})" if errs >= 0.0005 else ""))
    if all(vals.get((c, n), (0, 0))[0] < 0.0005 for c in cols):
        continue
    print(f"| {n} | " + " | ".join(cells) + " |")
PY
