#!/usr/bin/env python3
"""A cleartext HTTP/2 server (prior knowledge) for tests/grpc/, on the h2 package.

  h2_server.py PORT [MAX_STREAMS]

Prints "h2 server ready" once listening. MAX_STREAMS: its
SETTINGS_MAX_CONCURRENT_STREAMS (default 100). Each connection is served by one thread.
What a request gets depends on its path:
  /echo...      200, body "<method> <path> <authority> <body length>", then one line per
                request field "name: value" and per request trailer "trailer name: value";
                trailers "x-sum: <body length>"
  /drain        GOAWAY naming this stream as the last one processed (graceful), then
                200 "drained", then the connection closed gracefully (FIN, then what
                the client still sends is read until its EOF)
  /slow         prints "slow received", waits 1 s, then 200 "slow"
  /conns        200, body: how many connections were accepted
  /rst          RST_STREAM (INTERNAL_ERROR) at once
  /cut          response head and 5 bytes, then RST_STREAM (INTERNAL_ERROR)
  /goaway       the first such request: GOAWAY (last stream 0: nothing processed), the
                connection closed; later ones: 200 "again"
  /count        200, body: how many /goaway requests arrived
  /hints        103 Early Hints (link: </style.css>; rel=preload), then 200 "hinted"
  /early        200 and "early\n" as soon as the request head arrives (before its body
                ends), then "body <length>\n" once the body has ended
"""
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hyperframe.frame
import h2.errors

goaways = 0
conns = 0
max_streams = 100
lock = threading.Lock()


def respond(conn, sock, stream, headers, body, trailers, early=False):
    global goaways
    path = headers.get(":path", "")
    if path == "/slow":
        print("slow received", flush=True)
        time.sleep(1)
        send(conn, stream, b"slow")
    elif path == "/conns":
        send(conn, stream, b"%d" % conns)
    elif path == "/drain":
        goaway = hyperframe.frame.GoAwayFrame(0, last_stream_id=stream, error_code=0)
        sock.sendall(goaway.serialize())
        send(conn, stream, b"drained")
        sock.sendall(conn.data_to_send())
        close_gracefully(sock)
        return False
    elif path == "/rst":
        conn.reset_stream(stream, h2.errors.ErrorCodes.INTERNAL_ERROR)
    elif path == "/cut":
        conn.send_headers(stream, [(":status", "200")])
        conn.send_data(stream, b"12345")
        sock.sendall(conn.data_to_send())
        conn.reset_stream(stream, h2.errors.ErrorCodes.INTERNAL_ERROR)
    elif path == "/goaway":
        with lock:
            goaways += 1
            first = goaways == 1
        if first:
            conn.close_connection(last_stream_id=0)
            sock.sendall(conn.data_to_send())
            return False
        send(conn, stream, b"again")
    elif path == "/count":
        send(conn, stream, b"%d" % goaways)
    elif path == "/early":
        if not early:
            # (The request ended with its head: nothing was sent before.)
            conn.send_headers(stream, [(":status", "200")])
            conn.send_data(stream, b"early\n")
        conn.send_data(stream, b"body %d\n" % len(body), end_stream=True)
    elif path == "/hints":
        conn.send_headers(stream, [(":status", "103"), ("link", "</style.css>; rel=preload")])
        send(conn, stream, b"hinted")
    else:
        lines = ["%s %s %s %d" % (headers[":method"], path, headers.get(":authority"), len(body))]
        lines += ["%s: %s" % (k, v) for k, v in headers.items() if not k.startswith(":")]
        lines += ["trailer %s: %s" % (k, v) for k, v in trailers]
        out = ("\n".join(lines) + "\n").encode()
        conn.send_headers(stream, [(":status", "200"), ("content-type", "text/plain")])
        conn.send_data(stream, out)
        conn.send_headers(stream, [("x-sum", str(len(body)))], end_stream=True)
    sock.sendall(conn.data_to_send())
    return True


def close_gracefully(sock):
    """FIN, then read what the client still sends until its EOF (at most 2 s): closing
    with unread bytes (its SETTINGS ACK, a WINDOW_UPDATE) would send an RST, and an RST
    makes the client's kernel drop the response it has not read yet."""
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(2)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def send(conn, stream, body):
    conn.send_headers(stream, [(":status", "200"), ("content-length", str(len(body)))])
    conn.send_data(stream, body, end_stream=True)


def serve(sock):
    config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_streams}
    )
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    heads, bodies, trailers, earlies = {}, {}, {}, set()
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    heads[event.stream_id] = dict(event.headers)
                    bodies[event.stream_id] = b""
                    if heads[event.stream_id].get(":path") == "/early" and event.stream_ended is None:
                        conn.send_headers(event.stream_id, [(":status", "200")])
                        conn.send_data(event.stream_id, b"early\n")
                        earlies.add(event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers[event.stream_id] = event.headers
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if getattr(event, "stream_ended", None) is not None and isinstance(
                    event, (h2.events.RequestReceived, h2.events.DataReceived, h2.events.TrailersReceived)
                ):
                    s = event.stream_id
                    got = (heads.pop(s), bodies.pop(s), trailers.pop(s, []))
                    early = s in earlies
                    earlies.discard(s)
                    if not respond(conn, sock, s, *got, early=early):
                        return
            sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def main(port, streams="100"):
    global conns, max_streams
    max_streams = int(streams)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(64)
    print("h2 server ready", flush=True)
    while True:
        sock, _ = listener.accept()
        conns += 1
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main(*sys.argv[1:])
