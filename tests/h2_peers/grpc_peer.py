#!/usr/bin/env python3
"""gRPC peers for tests/grpc/ (grpcio, no generated stubs: messages are raw bytes).

  grpc_peer.py server PORT [CERT KEY]   serve test.Echo on 127.0.0.1:PORT (TLS with CERT/KEY)
  grpc_peer.py client TARGET [CA NAME]  run every case against TARGET, one line each:
                                        "<case> <result>"

The service test.Echo:
  Unary(b)          -> b"u:" + b
  Big(n)            -> n bytes (n ASCII); the request itself may be large too
  ServerStream(n)   -> n messages b"s0", b"s1", ...
  ClientStream(*)   -> b"<count>:<total bytes>"
  Bidi(*)           -> each message echoed with b"b:" in front
  Fail(_)           -> status INVALID_ARGUMENT, details "bad argument: <request>"
  Sleep(_)          -> waits until the call is cancelled (at most 20 s)
  Cancelled(_)      -> b"<number of Sleep calls that saw their cancellation>"

The client's last line says whether its expired deadline reached the server as a
cancellation ("cancelled_on_server yes").
"""
import queue
import sys
import threading
import time
from concurrent import futures

import grpc

BIG = 16 * 1024 * 1024
OPTIONS = [
    ("grpc.max_receive_message_length", BIG),
    ("grpc.max_send_message_length", BIG),
]

cancelled = 0
lock = threading.Lock()


def sleep(request, context):
    global cancelled
    gone = threading.Event()
    context.add_callback(gone.set)
    gone.wait(20)
    if not context.is_active():
        with lock:
            cancelled += 1
    return b"slept"


def handlers():
    def rpc(kind, fn):
        return getattr(grpc, kind + "_rpc_method_handler")(fn)

    return grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": rpc("unary_unary", lambda r, c: b"u:" + r),
            "Big": rpc("unary_unary", lambda r, c: b"x" * int(r[:12])),
            "ServerStream": rpc(
                "unary_stream", lambda r, c: (b"s%d" % i for i in range(int(r)))
            ),
            "ClientStream": rpc("stream_unary", client_stream),
            "Bidi": rpc("stream_stream", lambda it, c: (b"b:" + m for m in it)),
            "Fail": rpc("unary_unary", fail),
            "Sleep": rpc("unary_unary", sleep),
            "Cancelled": rpc("unary_unary", lambda r, c: b"%d" % cancelled),
        },
    )


def client_stream(it, context):
    n = total = 0
    for m in it:
        n += 1
        total += len(m)
    return b"%d:%d" % (n, total)


def fail(request, context):
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad argument: " + request.decode())


def server(port, cert=None, key=None):
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=OPTIONS)
    s.add_generic_rpc_handlers((handlers(),))
    addr = "127.0.0.1:%s" % port
    if cert:
        creds = grpc.ssl_server_credentials(
            [(open(key, "rb").read(), open(cert, "rb").read())]
        )
        s.add_secure_port(addr, creds)
    else:
        s.add_insecure_port(addr)
    s.start()
    print("grpc server ready", flush=True)
    s.wait_for_termination()


def pingpong(bidi):
    """A bidirectional call whose client sends each message only after the reply
    to the previous one came."""
    replies = queue.Queue()

    def requests():
        for i in range(3):
            yield b"p%d" % i
            replies.get(timeout=10)

    got = []
    for reply in bidi(requests(), timeout=15):
        got.append(reply)
        replies.put(reply)
    return b",".join(got)


def client(target, ca=None, name=None):
    if ca:
        creds = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
        opts = OPTIONS + [("grpc.ssl_target_name_override", name)]
        channel = grpc.secure_channel(target, creds, options=opts)
    else:
        channel = grpc.insecure_channel(target, options=OPTIONS)
    m = lambda kind, name: getattr(channel, kind)("/test.Echo/" + name)
    cases = [
        ("unary", lambda: m("unary_unary", "Unary")(b"hello", timeout=10)),
        ("server_stream", lambda: b",".join(m("unary_stream", "ServerStream")(b"5", timeout=10))),
        (
            "client_stream",
            lambda: m("stream_unary", "ClientStream")(iter([b"a" * 1000] * 50), timeout=10),
        ),
        (
            "bidi",
            lambda: b",".join(m("stream_stream", "Bidi")(iter([b"1", b"2", b"3"]), timeout=10)),
        ),
        ("pingpong", lambda: pingpong(m("stream_stream", "Bidi"))),
        ("big_response", lambda: len(m("unary_unary", "Big")(b"4194304", timeout=30))),
        ("big_request", lambda: m("unary_unary", "Unary")(b"y" * (4 << 20), timeout=30)[:4]),
        ("fail", lambda: m("unary_unary", "Fail")(b"x1", timeout=10)),
        ("deadline", lambda: m("unary_unary", "Sleep")(b"", timeout=1)),
    ]
    try:
        before = int(m("unary_unary", "Cancelled")(b"", timeout=10))
    except grpc.RpcError:
        before = 0
    for case, call in cases:
        try:
            got = call()
            print(case, "ok", got if isinstance(got, int) else got.decode(), flush=True)
        except grpc.RpcError as e:
            print(case, "status", e.code().name, e.details(), flush=True)
    # The deadline's cancellation reaches the server (the stream does not linger).
    deadline = time.time() + 10
    seen = False
    while time.time() < deadline and not seen:
        try:
            seen = int(m("unary_unary", "Cancelled")(b"", timeout=10)) > before
        except grpc.RpcError:
            break
        time.sleep(0.1)
    print("cancelled_on_server", "yes" if seen else "no", flush=True)

if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(*sys.argv[2:])
    else:
        client(*sys.argv[2:])
