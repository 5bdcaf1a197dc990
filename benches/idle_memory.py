#!/usr/bin/env python3
"""Memory per idle keep-alive client connection: RSS of a proxy before and after N
client connections that each made one request and now sit idle.

usage: idle_memory.py PROXY_PID HOST:PORT [N]
Prints the RSS growth per connection in KiB. Run against ringlb and HAProxy alike
(benches/idle_memory.sh starts both)."""
import resource
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    pid, target = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    host, port = target.rsplit(":", 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    before = rss_kib(pid)
    conns = []
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        conns.append(s)
    time.sleep(3.0)  # past the 1 s hot window: the proxy settles into its idle state
    after = rss_kib(pid)
    per = (after - before) / n
    print(f"{n} idle keep-alive connections: RSS {before} KiB -> {after} KiB, {per:.2f} KiB per connection")
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
