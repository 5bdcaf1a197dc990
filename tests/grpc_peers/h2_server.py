"""A hand-driven HTTP/2 server (PyPI `h2`) for tests/grpc_check.rs: answers the
health check the way real servers rarely do, to test the edges of the verdict.

    h2_server.py MODE

MODE: `close` (SERVING, then GOAWAY and close at once), `compressed` (SERVING with
the compressed flag set), `trailers-only` (grpc-status 0 in the head, no message).
Listens on 127.0.0.1, an ephemeral port, prints "ready PORT", then for every call
one line: "call AUTHORITY PATH TE CONTENT-TYPE BODY-HEX". Exits when stdin closes.
"""

import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events

SERVING = b"\x00\x00\x00\x00\x02\x08\x01"


def answer(conn, sid, mode):
    head = [(":status", "200"), ("content-type", "application/grpc")]
    if mode == "trailers-only":
        conn.send_headers(sid, head + [("grpc-status", "0")], end_stream=True)
        return
    conn.send_headers(sid, head)
    body = b"\x01" + SERVING[1:] if mode == "compressed" else SERVING
    conn.send_data(sid, body)
    conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)


def serve(sock, mode, lock):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    heads, bodies = {}, {}
    while True:
        data = sock.recv(65535)
        if not data:
            return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                heads[ev.stream_id] = dict(ev.headers)
                bodies[ev.stream_id] = b""
            elif isinstance(ev, h2.events.DataReceived):
                bodies[ev.stream_id] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                h = heads[ev.stream_id]
                fields = [h.get(k, b"-").decode() for k in
                          (b":authority", b":path", b"te", b"content-type")]
                with lock:
                    print("call", *fields, bodies[ev.stream_id].hex(), flush=True)
                answer(conn, ev.stream_id, mode)
                if mode == "close":
                    conn.close_connection()
                    sock.sendall(conn.data_to_send())
                    sock.close()
                    return
        sock.sendall(conn.data_to_send())


def main():
    mode = sys.argv[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print("ready", listener.getsockname()[1], flush=True)
    lock = threading.Lock()

    def accept():
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=serve, args=(sock, mode, lock), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
