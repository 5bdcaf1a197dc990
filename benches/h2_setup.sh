# Shared by benches/h2_haproxy.sh and benches/h2_kernel.sh: the same HTTP/2 set-up for
# ringlb and HAProxy. Source it after benches/lib.sh and after starting the backends
# `b1` and `b2`. Gives `free_port`, a self-signed certificate ($tmp/cert.pem,
# $tmp/key.pem, both in $tmp/both.pem), and:
#   h2_ringlb_cfg FILE TLS_PORT CLEAR_PORT [GLOBAL_LINES] [BACKEND_LINES]
#   h2_haproxy_cfg FILE TLS_PORT CLEAR_PORT [GLOBAL_LINES]
# each a proxy with one worker/thread listening twice: TLS with ALPN h2,http/1.1, and
# cleartext HTTP/2 with prior knowledge, in front of b1 and b2 (HTTP/1.1, keep-alive).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench.test -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" >"$tmp/both.pem"

h2_ringlb_cfg() {
  cat >"$1" <<CFG
[global]
workers = 1
pin_workers = false
${4:-}

[defaults]
timeout_http_keep_alive = "60s"

[[frontend]]
name = "tls"
bind = ["127.0.0.1:$2"]
mode = "http"
default_backend = "app"
[frontend.tls]
certificates = [{ cert = "$tmp/cert.pem", key = "$tmp/key.pem" }]
alpn = ["h2", "http/1.1"]

[[frontend]]
name = "clear"
bind = ["127.0.0.1:$3"]
mode = "http"
default_backend = "app"
h2c = "prior-knowledge"

[[backend]]
name = "app"
${5:-}
[[backend.server]]
name = "b1"
address = "$b1"
[[backend.server]]
name = "b2"
address = "$b2"
CFG
}

h2_haproxy_cfg() {
  cat >"$1" <<CFG
global
    nbthread 1
    ${4:-}
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend tls
    bind 127.0.0.1:$2 ssl crt $tmp/both.pem alpn h2,http/1.1
    default_backend app
frontend clear
    bind 127.0.0.1:$3 proto h2
    default_backend app
backend app
    balance roundrobin
    http-reuse always
    server b1 $b1
    server b2 $b2
CFG
}
