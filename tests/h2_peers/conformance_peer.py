"""The peer of conformance.py: raw frames, HPACK pieces, a connection that reads
and answers as a client would, and the verdicts (see conformance.py)."""

import socket
import sys
import time

import hpack
from hpack import huffman_constants
from hyperframe.frame import PingFrame, PriorityFrame, RstStreamFrame, WindowUpdateFrame

LIMIT = 5.0  # seconds any case may take

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6) and flags.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20

# SETTINGS parameters (§6.5.2).
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE = 0x4, 0x5

MAX_WINDOW = (1 << 31) - 1
SENTINEL = b"sentinel"


def frame(kind, flags, sid, payload=b""):
    """A frame, raw: any length, type, flags and stream (the reserved bit too)."""
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + sid.to_bytes(4, "big")
        + payload
    )


def settings_payload(settings):
    return b"".join(
        k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in settings
    )


def req(path="/", method="GET", extra=()):
    return [
        (b":method", method.encode()),
        (b":scheme", b"http"),
        (b":authority", b"127.0.0.1"),
        (b":path", path.encode()),
    ] + list(extra)


def integer(value, prefix, mask):
    """An HPACK integer (RFC 7541 §5.1) with an `prefix`-bit prefix, `mask` on top."""
    top = (1 << prefix) - 1
    if value < top:
        return bytes([mask | value])
    out = [mask | top]
    value -= top
    while value >= 128:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def huffman(symbols, pad_bits=None, pad_with=1):
    """Symbols (256 is EOS) Huffman-coded (RFC 7541 Appendix B), then padding: to the
    byte boundary by default, or `pad_bits` bits of `pad_with`."""
    acc, n = 0, 0
    for sym in symbols:
        length = huffman_constants.REQUEST_CODES_LENGTH[sym]
        acc = (acc << length) | huffman_constants.REQUEST_CODES[sym]
        n += length
    pad = (8 - n % 8) % 8 if pad_bits is None else pad_bits
    acc = (acc << pad) | (((1 << pad) - 1) if pad_with else 0)
    n += pad
    assert n % 8 == 0, "padding must end on a byte"
    return acc.to_bytes(n // 8, "big")


def literal_huffman_value(name, coded):
    """A literal field without indexing, a new name (raw), a Huffman-coded value."""
    name = integer(len(name), 7, 0) + name
    return b"\x00" + name + integer(len(coded), 7, 0x80) + coded


class Peer:
    """One connection: frames out, the server's frames in (SETTINGS and PINGs it sends
    answered, its header blocks decoded, the windows it must respect tracked)."""

    def __init__(self, port, settings=(), preface=PREFACE, handshake=True):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
        self.deadline = time.time() + LIMIT
        self.buf = b""
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.server = {}  # the server's SETTINGS
        self.first = None  # the type of the server's first frame
        self.block = None  # (stream, end_stream, fragments) of a header block coming in
        # Flow control of what the server sends (§6.9): the client's initial window
        # as the server has applied it (a change counts once acknowledged), what was
        # granted with WINDOW_UPDATE and what came, per stream and for the connection.
        self.initial = 65535
        self.pending = []  # INITIAL_WINDOW_SIZE of each SETTINGS not acknowledged yet
        self.granted = {0: 0}
        self.got = {0: 0}
        self.auto_window = True
        self.overrun = None
        self.bodies = {}
        self.status = {}
        out = preface
        if settings is not None:
            out += self.settings_frame(settings)
        self.send(out)
        if handshake:
            self.handshake()

    def settings_frame(self, settings, sid=0):
        settings = list(settings)
        initial = [v for k, v in settings if k == INITIAL_WINDOW_SIZE]
        self.pending.append(initial[-1] if initial else None)
        return frame(SETTINGS, 0, sid, settings_payload(settings))

    def handshake(self):
        """Until the server's SETTINGS and the acknowledgement of ours came."""
        seen = {"settings": False, "ack": False}
        while not (seen["settings"] and seen["ack"]):
            e = self.event(on_settings=lambda: seen.__setitem__("settings", True))
            if e[0] == "settings-ack":
                seen["ack"] = True
            elif e[0] in ("closed", "timeout", "goaway"):
                raise SystemExit("handshake failed: %s" % (e,))

    def send(self, *frames):
        data = b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames)
        try:
            self.s.sendall(data)
        except OSError:
            pass  # closed by the server: what it wrote before is still read

    def ping(self, payload=SENTINEL):
        self.send(frame(PING, 0, 0, payload))
        return payload

    def read_frame(self):
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    kind, flags = self.buf[3], self.buf[4]
                    sid = int.from_bytes(self.buf[5:9], "big") & MAX_WINDOW
                    payload = self.buf[9 : 9 + n]
                    self.buf = self.buf[9 + n :]
                    return kind, flags, sid, payload
            left = self.deadline - time.time()
            if left <= 0:
                return "timeout"
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return "timeout"
            except OSError:
                return "closed"
            if not d:
                return "closed"
            self.buf += d

    def event(self, on_settings=None):
        """The next thing that matters, as a tuple: ("goaway", code), ("reset", stream,
        code), ("headers", stream, fields, end_stream), ("data", stream, bytes, end),
        ("ping-ack", payload), ("settings-ack",), ("closed",), ("timeout",),
        ("client-error", why)."""
        while True:
            f = self.read_frame()
            if isinstance(f, str):
                return (f,)
            kind, flags, sid, p = f
            if self.first is None:
                self.first = kind
            if self.block is not None and kind != CONTINUATION:
                return ("client-error", "frame %d inside a header block" % kind)
            if kind == SETTINGS:
                if flags & ACK:
                    if self.pending:
                        initial = self.pending.pop(0)
                        if initial is not None:
                            self.initial = initial
                    return ("settings-ack",)
                for i in range(0, len(p) - 5, 6):
                    key = int.from_bytes(p[i : i + 2], "big")
                    self.server[key] = int.from_bytes(p[i + 2 : i + 6], "big")
                self.send(frame(SETTINGS, ACK, 0))
                if on_settings:
                    on_settings()
                continue
            if kind == PING:
                if flags & ACK:
                    return ("ping-ack", p)
                self.send(frame(PING, ACK, 0, p))
                continue
            if kind == GOAWAY:
                last = int.from_bytes(p[:4], "big") & MAX_WINDOW
                return ("goaway", int.from_bytes(p[4:8], "big"), last)
            if kind == RST_STREAM:
                return ("reset", sid, int.from_bytes(p[:4], "big"))
            if kind == HEADERS:
                if flags & PADDED:
                    p = p[1 : len(p) - p[0]]
                if flags & PRIORITY_FLAG:
                    p = p[5:]
                self.block = (sid, bool(flags & END_STREAM), [p])
            if kind == CONTINUATION:
                if self.block is None or self.block[0] != sid:
                    return ("client-error", "CONTINUATION out of place")
                self.block[2].append(p)
            if kind in (HEADERS, CONTINUATION):
                if not flags & END_HEADERS:
                    continue
                sid, end, parts = self.block
                self.block = None
                try:
                    fields = dict(self.dec.decode(b"".join(parts), raw=True))
                except Exception as e:  # any HPACK failure of the server's block
                    return ("client-error", "HPACK: %s" % e)
                status = fields.get(b":status", b"?").decode()
                if not status.startswith("1"):
                    self.status[sid] = status
                return ("headers", sid, fields, end)
            if kind == DATA:
                n = len(p)
                if flags & PADDED:
                    p = p[1 : len(p) - p[0]]
                self.account(sid, n, bool(flags & END_STREAM))
                return ("data", sid, p, bool(flags & END_STREAM))
            # WINDOW_UPDATE, PRIORITY, unknown types: nothing to do.

    def account(self, sid, n, end):
        self.got[0] += n
        self.got[sid] = self.got.get(sid, 0) + n
        if self.got[0] > 65535 + self.granted[0]:
            self.overrun = "connection window overrun"
        if self.got[sid] > self.initial + self.granted.get(sid, 0):
            self.overrun = "stream %d window overrun" % sid
        if self.auto_window and n > 0:
            self.grant(0, n)
            if not end:
                self.grant(sid, n)

    def grant(self, sid, n):
        self.granted[sid] = self.granted.get(sid, 0) + n
        self.send(frame(WINDOW_UPDATE, 0, sid, n.to_bytes(4, "big")))

    def headers(self, sid, fields, end_stream=True, pad=None, priority=None):
        """A request's HEADERS, END_HEADERS set; optionally padded or with the
        PRIORITY flag (`priority`: the dependency)."""
        block = self.enc.encode(fields)
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        payload = block
        if priority is not None:
            flags |= PRIORITY_FLAG
            payload = priority.to_bytes(4, "big") + b"\x0f" + payload
        if pad is not None:
            flags |= PADDED
            payload = bytes([pad]) + payload + b"\0" * pad
        return frame(HEADERS, flags, sid, payload)


def until(p, sid=None, ping=None):
    """Read until stream `sid` ends or is reset, the connection ends, or (with `ping`)
    that PING is answered: the verdict. The body is kept in p.bodies[sid]."""
    while True:
        e = p.event()
        k = e[0]
        if k in ("closed", "timeout"):
            return k
        if k == "client-error":
            return "client-error " + e[1]
        if k == "goaway":
            return "goaway %d" % e[1]
        if k == "reset" and e[1] == sid:
            return "reset %d" % e[2]
        if k == "ping-ack" and ping is not None and e[1] == ping:
            return "ping-ack"
        if k == "headers" and e[1] == sid and e[3]:
            return "response %s" % p.status.get(sid)
        if k == "data" and e[1] == sid:
            p.bodies[sid] = p.bodies.get(sid, b"") + e[2]
            if e[3]:
                return "response %s" % p.status.get(sid)


def until_all(p, sids):
    """The verdicts of several streams, each as `until` gives it."""
    left = set(sids)
    out = {}
    while left:
        e = p.event()
        k = e[0]
        if k in ("closed", "timeout", "client-error", "goaway"):
            v = k if k != "goaway" else "goaway %d" % e[1]
            for s in left:
                out[s] = v
            return out
        sid = e[1] if k in ("reset", "headers", "data") else None
        if sid not in left:
            continue
        if k == "reset":
            out[sid] = "reset %d" % e[2]
            left.discard(sid)
        elif k == "headers":
            if e[3]:
                out[sid] = "response %s" % p.status.get(sid)
                left.discard(sid)
        elif k == "data":
            p.bodies[sid] = p.bodies.get(sid, b"") + e[2]
            if e[3]:
                out[sid] = "response %s" % p.status.get(sid)
                left.discard(sid)
    return out


def body(p, sid):
    return p.bodies.get(sid, b"").decode("latin-1")


def again(p, sid, path="/again"):
    """A plain GET on stream `sid` of the same connection: its verdict."""
    p.send(p.headers(sid, req(path)))
    return until(p, sid)


def conn_error(p, *frames, sid=1):
    """Send `frames`, then the sentinel PING: the verdict (a connection error is a
    GOAWAY; an ignored frame, the sentinel answered)."""
    p.send(*frames)
    return until(p, sid, ping=p.ping())


def stream_error(p, sid, *frames, sentinel=True):
    """Send `frames`, then (with `sentinel`) the sentinel PING; the verdict on stream
    `sid`, then a plain GET on the next stream. Without the sentinel for an error found
    as the stream is served (not as its frames are read), which may come after it."""
    p.send(*frames)
    first = until(p, sid, ping=p.ping() if sentinel else None)
    if first.startswith("goaway") or first in ("closed", "timeout"):
        return first
    return "%s; then %s" % (first, again(p, sid + 2))


def post(p, sid, path, length, end_stream=False):
    """A POST's HEADERS with a content-length, its body still to come."""
    fields = req(path, "POST", [(b"content-length", str(length).encode())])
    return p.headers(sid, fields, end_stream=end_stream)
