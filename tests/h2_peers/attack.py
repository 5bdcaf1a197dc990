#!/usr/bin/env python3
"""Hostile HTTP/2 clients for tests/h2_attacks.rs (PyPI `h2`, pinned in .ci/run).

Usage: attack.py CASE PORT [PATH]. Speaks cleartext HTTP/2 with prior knowledge to
127.0.0.1:PORT, does what CASE says, and prints one line: the verdict, e.g.
`reset 1` (the stream was reset with PROTOCOL_ERROR), `goaway 11` (the connection was
closed with ENHANCE_YOUR_CALM), `closed` (the socket was closed), `response 200`.
Every loop is bounded in count and time.
"""

import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from hyperframe.frame import (
    ContinuationFrame,
    HeadersFrame,
    PingFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

LIMIT = 10.0  # seconds any case may take


def connect(port, settings=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=LIMIT)
    cfg = h2.config.H2Configuration(
        client_side=True,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
        header_encoding=None,
    )
    c = h2.connection.H2Connection(config=cfg)
    c.initiate_connection()
    if settings:
        c.update_settings(settings)
    s.sendall(c.data_to_send())
    return s, c


def base(path="/", authority="127.0.0.1"):
    return [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", authority.encode()),
        (b":path", path.encode()),
    ]


def outcome(s, c, stream=None, deadline=None):
    """Read until the stream (or the connection) ends; the verdict."""
    deadline = deadline or time.time() + LIMIT
    status = None
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        except socket.timeout:
            return "timeout"
        if not data:
            return "closed" if status is None else "response %s" % status
        try:
            events = c.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            # The library refuses frames after a GOAWAY (such as the PING of a
            # graceful shutdown) and loses the GOAWAY event with them.
            code = goaway_in(data)
            if code is not None:
                return "goaway %d" % code
            return "client-error %s %s" % (type(e).__name__, e)
        out = c.data_to_send()
        if out:
            try:
                s.sendall(out)
            except OSError:
                pass
        for e in events:
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream:
                status = dict(e.headers).get(b":status", b"?").decode()
            if isinstance(e, h2.events.DataReceived):
                c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                out = c.data_to_send()
                if out:
                    s.sendall(out)
            if isinstance(e, h2.events.StreamEnded) and e.stream_id == stream:
                return "response %s" % status
            if isinstance(e, h2.events.StreamReset) and e.stream_id == stream:
                return "reset %d" % e.error_code
            if isinstance(e, h2.events.ConnectionTerminated):
                return "goaway %d" % e.error_code
    return "timeout"


def one(port, headers, end=True, body=None):
    s, c = connect(port)
    c.send_headers(1, headers, end_stream=end and body is None)
    if body is not None:
        c.send_data(1, body, end_stream=end)
    s.sendall(c.data_to_send())
    return outcome(s, c, 1)


SMUGGLE = {
    "transfer-encoding": [(b"transfer-encoding", b"chunked")],
    "connection": [(b"connection", b"keep-alive")],
    "keep-alive": [(b"keep-alive", b"timeout=5")],
    "upgrade": [(b"upgrade", b"websocket")],
    "te-gzip": [(b"te", b"gzip")],
    "crlf": [(b"x-a", b"1\r\nx-b: 2")],
    "lf": [(b"x-a", b"1\nx-b: 2")],
    "nul": [(b"x-a", b"1\x002")],
    "uppercase": [(b"X-Upper", b"1")],
    "space-edge": [(b"x-a", b" 1")],
    "host-mismatch": [(b"host", b"evil.example")],
}


def smuggle(port, case):
    if case in SMUGGLE:
        return one(port, base() + SMUGGLE[case])
    if case == "unknown-pseudo":
        return one(port, base() + [(b":foo", b"bar")])
    if case == "pseudo-after-regular":
        return one(port, base()[:3] + [(b"x-a", b"1"), (b":path", b"/")])
    if case == "no-scheme":
        return one(port, [h for h in base() if h[0] != b":scheme"])
    if case == "no-path":
        return one(port, [h for h in base() if h[0] != b":path"])
    if case == "response-pseudo":
        return one(port, base() + [(b":status", b"200")])
    if case == "cl-more-than-data":
        h = [(b":method", b"POST")] + base()[1:] + [(b"content-length", b"10")]
        return one(port, h, end=True, body=b"12345")
    if case == "cl-less-than-data":
        h = [(b":method", b"POST")] + base()[1:] + [(b"content-length", b"2")]
        return one(port, h, end=True, body=b"12345")
    raise SystemExit("unknown case " + case)


def rapid_reset(port, n=2000):
    """Open streams and reset them at once, in batches; count what got through."""
    s, c = connect(port)
    sid = 1
    sent = 0
    deadline = time.time() + LIMIT
    s.setblocking(False)
    verdict = None
    while sent < n and time.time() < deadline and verdict is None:
        for _ in range(50):
            c.send_headers(sid, base("/rr"), end_stream=True)
            c.reset_stream(sid, error_code=8)  # CANCEL
            sid += 2
            sent += 1
        try:
            s.sendall(c.data_to_send())
        except (BlockingIOError, InterruptedError):
            time.sleep(0.01)
        except OSError:
            verdict = "closed"
            break
        try:
            data = s.recv(65536)
            if not data:
                verdict = "closed"
                break
            for e in c.receive_data(data):
                if isinstance(e, h2.events.ConnectionTerminated):
                    verdict = "goaway %d" % e.error_code
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            verdict = "closed"
        except h2.exceptions.ProtocolError:
            pass
    s.setblocking(True)
    if verdict is None:
        verdict = outcome(s, c, None, time.time() + 3)
    return "%s sent %d" % (verdict, sent)


def slow_reset(port, rounds=100):
    """Open streams, let them be accepted, then reset them: round after round."""
    s, c = connect(port)
    sid = 1
    for r in range(rounds):
        ids = []
        for _ in range(5):
            c.send_headers(sid, base("/slow"), end_stream=True)
            ids.append(sid)
            sid += 2
        try:
            s.sendall(c.data_to_send())
            time.sleep(0.02)
            for i in ids:
                c.reset_stream(i, error_code=8)
            s.sendall(c.data_to_send())
        except OSError:
            return "closed after %d" % r
        s.settimeout(0.01)
        try:
            data = s.recv(65536)
            if not data:
                return "closed after %d" % r
            for e in c.receive_data(data):
                if isinstance(e, h2.events.ConnectionTerminated):
                    return "goaway %d after %d" % (e.error_code, r)
        except socket.timeout:
            pass
        except OSError:
            return "closed after %d" % r
        except h2.exceptions.ProtocolError:
            pass
        s.settimeout(LIMIT)
    return "survived %d" % rounds


def continuation_flood(port, frames=20000):
    """HEADERS without END_HEADERS, then endless CONTINUATION frames."""
    s, _ = connect(port)
    enc = hpack.Encoder()
    block = enc.encode(base())
    f = HeadersFrame(1)
    f.data = block
    f.flags.add("END_STREAM")
    s.sendall(f.serialize())
    junk = enc.encode([(b"x-flood", b"a" * 1000)])
    sent = 0
    try:
        for _ in range(frames):
            cf = ContinuationFrame(1)
            cf.data = junk
            s.sendall(cf.serialize())
            sent += 1
    except OSError:
        pass
    return "%s after %d" % (drain(s), sent)


def drain(s, deadline=None):
    """Read to the end: `goaway N` if a GOAWAY frame came, else `closed`/`timeout`."""
    deadline = deadline or time.time() + LIMIT
    buf = b""
    while time.time() < deadline:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        except socket.timeout:
            return "timeout"
        if not d:
            break
        buf += d
    code = goaway_in(buf)
    return "closed" if code is None else "goaway %d" % code


def goaway_in(buf):
    """The error code of the first GOAWAY frame (type 7) in `buf`, which starts at a
    frame boundary; None if there is none."""
    i = 0
    while i + 9 <= len(buf):
        length = int.from_bytes(buf[i : i + 3], "big")
        if buf[i + 3] == 7 and i + 9 + 8 <= len(buf):
            return int.from_bytes(buf[i + 13 : i + 17], "big")
        i += 9 + length
    return None


def oversize(port):
    """A header list over the frontend's limit (32 KiB by default) but under four times
    it, then a plain request on the same connection: `FIRST; then SECOND`."""
    s, c = connect(port)
    c.send_headers(1, base("/big") + [(b"x-big", b"a" * 40000)], end_stream=True)
    s.sendall(c.data_to_send())
    first = outcome(s, c, 1)
    c.send_headers(3, base("/after"), end_stream=True)
    s.sendall(c.data_to_send())
    return first + "; then " + outcome(s, c, 3)


def hpack_bomb(port):
    """One large field, then many references to it: small on the wire, huge decoded."""
    headers = base() + [(b"x-bomb", b"b" * 4000)] * 64
    return one(port, headers)


def flood(port, kind, n=1000000):
    """Many SETTINGS, PING or WINDOW_UPDATE frames, never reading the answers."""
    s, _ = connect(port)
    if kind == "ping":
        frame = PingFrame(0)
        frame.opaque_data = b"12345678"
    elif kind == "settings":
        frame = SettingsFrame(0)
        frame.settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100}
    else:
        frame = WindowUpdateFrame(0)
        frame.window_increment = 1
    raw = frame.serialize() * 100
    sent = 0
    s.settimeout(2.0)
    try:
        while sent < n:
            s.sendall(raw)
            sent += 100
    except OSError:
        pass
    return "sent %d" % sent


def no_read_flood(port, target, n=4000000):
    """Requests (`target`: `METHOD PATH`, e.g. `HEAD /` or `GET /204`, answers without
    a body: no flow-control window holds them back) written as fast as the socket
    takes them, never reading a byte. Prints `blocked after N` (N requests written)
    once a write has not gone through for 1 s, or `sent N`; then holds the
    connection open, still unread, until standard input closes (or LIMIT)."""
    method, path = target.encode().split(b" ", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(LIMIT)
    s.connect(("127.0.0.1", port))
    # The preface and an empty SETTINGS; the header block below adds nothing to the
    # dynamic table (literals without indexing), so every copy of it decodes alike.
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00" + b"\x00" * 4)
    block = (
        b"\x02" + bytes([len(method)]) + method  # :method, a literal
        + b"\x86"  # :scheme http
        + b"\x04" + bytes([len(path)]) + path  # :path, a literal
        + b"\x01\x09127.0.0.1"  # :authority, a literal
    )
    head = len(block).to_bytes(3, "big") + b"\x01\x05"  # HEADERS, END_STREAM|END_HEADERS
    sid, sent, verdict = 1, 0, None
    s.settimeout(1.0)
    deadline = time.time() + LIMIT
    while sent < n and time.time() < deadline:
        batch = b"".join(head + (sid + 2 * i).to_bytes(4, "big") + block for i in range(500))
        try:
            s.sendall(batch)
        except socket.timeout:
            verdict = "blocked after %d" % sent
            break
        except OSError:
            verdict = "closed after %d" % sent
            break
        sid += 1000
        sent += 500
    print(verdict or "sent %d" % sent)
    sys.stdout.flush()
    select.select([sys.stdin], [], [], LIMIT)
    s.close()
    return None


def stream_ids(port, case):
    s, c = connect(port)
    if case == "even":
        f = HeadersFrame(2)
        f.data = hpack.Encoder().encode(base())
        f.flags.add("END_STREAM")
        f.flags.add("END_HEADERS")
        s.sendall(f.serialize())
        return drain(s)
    enc = hpack.Encoder()
    for sid in (5, 3):
        f = HeadersFrame(sid)
        f.data = enc.encode(base())
        f.flags.add("END_STREAM")
        f.flags.add("END_HEADERS")
        s.sendall(f.serialize())
    return drain(s)


def zero_window(port, path):
    """Ask for a large body with a zero window, and never open it."""
    s, c = connect(port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    c.send_headers(1, base(path), end_stream=True)
    s.sendall(c.data_to_send())
    return outcome(s, c, 1, time.time() + LIMIT)


def zero_window_end(port, path):
    """A zero window never opened, raw to the end of the TCP connection (past a
    GOAWAY): "ended without data" when it ends (close or reset) before LIMIT and no DATA
    came on stream 1; "data" if some came; "timeout" if nothing ended it."""
    s, c = connect(port, {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    c.send_headers(1, base(path), end_stream=True)
    s.sendall(c.data_to_send())
    deadline = time.time() + LIMIT
    parsing = True
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return "ended without data"
        except socket.timeout:
            return "timeout"
        if not data:
            return "ended without data"
        if not parsing:
            continue
        try:
            events = c.receive_data(data)
        except h2.exceptions.ProtocolError:
            # Frames after a GOAWAY: the library refuses them; read on, raw.
            parsing = False
            continue
        for e in events:
            if isinstance(e, h2.events.DataReceived):
                return "data"
            if isinstance(e, h2.events.ConnectionTerminated):
                parsing = False
    return "timeout"


def idle(port):
    """One request, then silence: the verdict once the response is in is what ends
    the connection."""
    s, c = connect(port)
    c.send_headers(1, base("/idle"), end_stream=True)
    s.sendall(c.data_to_send())
    first = outcome(s, c, 1)
    return "%s then %s" % (first, outcome(s, c, None))


def stall_body(port):
    """Half of a declared body, then nothing more."""
    s, c = connect(port)
    h = [(b":method", b"POST")] + base("/stall")[1:] + [(b"content-length", b"10")]
    c.send_headers(1, h, end_stream=False)
    c.send_data(1, b"12345", end_stream=False)
    s.sendall(c.data_to_send())
    return outcome(s, c, 1)


def until_end(port, path):
    """One request; then read raw frames to the end of the connection (the library
    refuses frames after a GOAWAY, which a graceful stop sends first), answering
    PINGs. On the first GOAWAY, one more request (stream 3, as a client that had it
    in flight) before the PING that came with it is answered. The verdict: every
    GOAWAY as `last/code`, and which of streams 1 and 3 ended (a DATA or HEADERS
    frame with END_STREAM)."""
    s, c = connect(port)
    c.send_headers(1, base(path), end_stream=True)
    s.sendall(c.data_to_send())
    buf, at = b"", 0
    goaways, ended = [], set()
    deadline = time.time() + LIMIT
    while time.time() < deadline:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        buf += d
        while at + 9 <= len(buf):
            length, kind, flags = int.from_bytes(buf[at : at + 3], "big"), buf[at + 3], buf[at + 4]
            if at + 9 + length > len(buf):
                break
            sid = int.from_bytes(buf[at + 5 : at + 9], "big") & 0x7FFFFFFF
            payload = buf[at + 9 : at + 9 + length]
            at += 9 + length
            if kind in (0, 1) and flags & 1:
                ended.add(sid)
            elif kind == 7:
                last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                goaways.append("%d/%d" % (last, int.from_bytes(payload[4:8], "big")))
                if len(goaways) == 1:
                    c.send_headers(3, base(path + "-late"), end_stream=True)
                    s.sendall(c.data_to_send())
            elif kind == 6 and not flags & 1:
                s.sendall(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + payload)
    streams = ", ".join(
        "%d %s" % (i, "ended" if i in ended else "cut") for i in (1, 3)
    )
    return "goaway %s; %s" % (" then ".join(goaways) or "none", streams)


def main():
    case, port = sys.argv[1], int(sys.argv[2])
    if case.startswith("smuggle:"):
        print(smuggle(port, case.split(":", 1)[1]))
    elif case == "rapid-reset":
        print(rapid_reset(port))
    elif case == "slow-reset":
        print(slow_reset(port))
    elif case == "continuation":
        print(continuation_flood(port))
    elif case == "hpack-bomb":
        print(hpack_bomb(port))
    elif case == "oversize":
        print(oversize(port))
    elif case in ("settings", "ping", "window-update"):
        print(flood(port, case))
    elif case == "no-read-flood":
        no_read_flood(port, sys.argv[3])
        return
    elif case.startswith("ids:"):
        print(stream_ids(port, case.split(":", 1)[1]))
    elif case == "zero-window":
        print(zero_window(port, sys.argv[3]))
    elif case == "zero-window-end":
        print(zero_window_end(port, sys.argv[3]))
    elif case == "idle":
        print(idle(port))
    elif case == "stall-body":
        print(stall_body(port))
    elif case == "until-end":
        print(until_end(port, sys.argv[3]))
    elif case == "get":
        print(one(port, base(sys.argv[3] if len(sys.argv) > 3 else "/")))
    else:
        raise SystemExit("unknown case " + case)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
