#!/usr/bin/env python3
"""Memory per idle keep-alive client connection: RSS of a proxy before and after N
client connections that each made one request and now sit idle; then the RSS once
they have all closed (does the memory go back?), over two floods in a row.

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
    baseline = rss_kib(pid)
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    for flood in (1, 2):
        before = rss_kib(pid)
        conns = []
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
        for s in conns:
            s.close()
        time.sleep(3.0)  # the proxy notices the closes and may give memory back
        closed = rss_kib(pid)
        print(f"flood {flood}: {n} idle keep-alive connections: RSS {before} KiB -> {after} KiB, "
              f"{per:.2f} KiB per connection; all closed: {closed} KiB (baseline {baseline} KiB)")


if __name__ == "__main__":
    main()
