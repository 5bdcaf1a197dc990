"""Write the seed inputs of the two_connections fuzz target (see fuzz/README.md and
the input layout in fuzz_targets/two_connections.rs): python3 make_two_connections.py
two_connections. Each seed is one way a connection can leave something behind."""
import struct, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
ABRUPT, READ_FIRST, SRV_CLOSE, SRV_PAUSE, TWICE, PAUSE_WRITES = 1, 2, 4, 8, 16, 32
def writes(n): return (n - 1) << 6  # A's bytes in n writes (bits 6-7)


def seed(name, flags, client, reply, w1=0, w2=0, split_at=None):
    """split_at: byte offset in the reply where the backend's second write starts."""
    if isinstance(client, str): client = client.encode()
    if isinstance(reply, str): reply = reply.encode()
    rs = 255
    if split_at is not None:  # the target computes len * rs / 255
        rs = -(-split_at * 255 // len(reply))
        assert len(reply) * rs // 255 == split_at, (name, split_at)
    data = bytes([flags, w1, w2, rs]) + struct.pack('<H', len(reply)) + client + reply
    open(os.path.join(out, name), 'wb').write(data)


OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SMUG = "GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n"
bad_chunked = ("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n" + SMUG)  # the smuggled request sits where a chunk size should be
# Two writes with a pause: the valid chunk is forwarded first, so what ringlb refuses
# (and what it used to leave in the buffer) is exactly the smuggled request.
cut = len(bad_chunked) - len(SMUG)
w1 = -(-cut * 255 // len(bad_chunked))
assert len(bad_chunked) * w1 // 255 == cut
seed("smuggle-bad-chunked", writes(2) | PAUSE_WRITES, bad_chunked, OK, w1=w1, w2=w1)
seed("smuggle-bad-chunked-twice", TWICE | writes(2) | PAUSE_WRITES, bad_chunked, OK, w1=w1, w2=w1)
seed("smuggle-after-close", TWICE,
     "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + SMUG, OK)
seed("server-sends-request", 0, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
     "GET /FROMSERVER HTTP/1.1\r\nHost: x\r\n\r\n")
EXTRA = OK + "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsmuggle"
seed("server-extra-response", 0,
     "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", EXTRA)
seed("server-extra-response-late", SRV_PAUSE, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
     EXTRA, split_at=len(OK))
seed("server-half-body-close", SRV_CLOSE, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
     "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
seed("upgrade-tunnel", 0,
     "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nhello",
     "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nworld")
seed("post-body-split-reset", ABRUPT | READ_FIRST | writes(3) | PAUSE_WRITES,
     "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", OK, w1=60, w2=200)
seed("pipelined-keepalive", 0,
     "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", OK)
# The server never answers (504 after timeout_server): the pipelined request behind the
# first one is still in the client buffer when the session ends.
seed("server-silent-pipelined", 0, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + SMUG, "")
