"""Both ends of a bulk transfer, for benches/bulk.sh.

serve: a TCP server on 127.0.0.1 (port printed on stdout), a thread per connection.
  The client's first line says what to do: "down N" (the server sends N bytes, then
  closes) or "up N" (the server reads to EOF, checks it got N bytes, answers "ok N").
client ADDR down|up N: one transfer through ADDR; prints the seconds it took, from
  connect to the last byte (down) or to the server's answer (up), and the CPU seconds
  (user + system) the client process used.
Bytes are a fixed pattern sent from one 1 MiB buffer, so Python costs little per byte.
"""
import resource
import socket
import sys
import threading
import time

CHUNK = 1 << 20
DATA = memoryview((bytes(range(251)) * (CHUNK // 251 + 1))[:CHUNK])  # byte i is i % 251


def send_n(s, n):
    while n > 0:
        k = min(n, CHUNK)
        s.sendall(DATA[:k])
        n -= k


def recv_all(s):
    buf = bytearray(CHUNK)
    got = 0
    while True:
        k = s.recv_into(buf)
        if k == 0:
            return got
        got += k


def read_line(s):
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            return b""
        line += b
    return line


def handle(c):
    with c:
        words = read_line(c).split()
        if len(words) != 2:
            return  # a readiness probe
        what, n = words[0], int(words[1])
        if what == b"down":
            send_n(c, n)
            c.shutdown(socket.SHUT_WR)
            recv_all(c)
        else:
            got = recv_all(c)
            c.sendall(b"ok %d\n" % got)


def serve():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    print(ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def client(addr, what, n):
    host, port = addr.rsplit(":", 1)
    t0 = time.monotonic()
    s = socket.create_connection((host, int(port)))
    s.sendall(b"%s %d\n" % (what.encode(), n))
    if what == "down":
        got = recv_all(s)
        if got != n:
            sys.exit(f"down: got {got} of {n} bytes")
    else:
        send_n(s, n)
        s.shutdown(socket.SHUT_WR)
        answer = read_line(s)
        if answer != b"ok %d\n" % n:
            sys.exit(f"up: server answered {answer!r}")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{time.monotonic() - t0:.4f} {ru.ru_utime + ru.ru_stime:.4f}")
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
