#!/usr/bin/env python3
"""Memory per idle HTTP/2 client connection: RSS of a proxy before and after N
HTTP/2 connections (cleartext with prior knowledge, or TLS with ALPN h2) that each
made one request and now sit idle, then after they all closed.

usage: h2_idle.py PROXY_PID HOST:PORT N clear|tls
Prints one line: `KIB_PER_CONN before=KIB after=KIB closed=KIB` (Python `h2`, pinned
in .ci/run). Run against ringlb and HAProxy alike (benches/h2_haproxy.sh).
"""
import resource
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events

from idle_memory import rss_kib  # benches/idle_memory.py, next to this script


def open_one(host, port, tls_ctx):
    """One HTTP/2 connection that made one GET and read its whole response."""
    s = socket.create_connection((host, port), timeout=10)
    if tls_ctx is not None:
        s = tls_ctx.wrap_socket(s)
        if s.selected_alpn_protocol() != "h2":
            raise SystemExit(f"ALPN gave {s.selected_alpn_protocol()!r}, not h2")
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.send_headers(
        1,
        [(":method", "GET"), (":scheme", "https" if tls_ctx else "http"),
         (":authority", host), (":path", "/")],
        end_stream=True,
    )
    s.sendall(c.data_to_send())
    deadline = time.time() + 10
    while time.time() < deadline:
        data = s.recv(65536)
        if not data:
            raise SystemExit("the proxy closed a connection")
        for e in c.receive_data(data):
            if isinstance(e, h2.events.DataReceived):
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            if isinstance(e, h2.events.StreamEnded):
                s.sendall(c.data_to_send())
                return s
        s.sendall(c.data_to_send())
    raise SystemExit("no response within 10 s")


def main():
    pid, target, n, kind = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    host, port = target.rsplit(":", 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    tls_ctx = None
    if kind == "tls":
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls_ctx.check_hostname = False
        tls_ctx.verify_mode = ssl.CERT_NONE
        tls_ctx.set_alpn_protocols(["h2"])
    open_one(host, int(port), tls_ctx).close()  # warm-up: server connections, lazy state
    time.sleep(1.0)
    before = rss_kib(pid)
    conns = [open_one(host, int(port), tls_ctx) for _ in range(n)]
    time.sleep(3.0)  # past any short hot window: the proxy settles into its idle state
    after = rss_kib(pid)
    for s in conns:
        s.close()
    time.sleep(2.0)
    closed = rss_kib(pid)
    print(f"{(after - before) / n:.2f} before={before} after={after} closed={closed}")


if __name__ == "__main__":
    main()
