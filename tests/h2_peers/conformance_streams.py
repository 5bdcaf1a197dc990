"""conformance.py's cases: the preface, frames, stream states and identifiers,
SETTINGS, PING, GOAWAY, WINDOW_UPDATE and flow control (RFC 9113 §3 to §6.9)."""

from conformance_peer import *  # noqa: F401,F403


def c_preface_invalid(port, arg):
    # §3.4: an invalid preface is a connection error (PROTOCOL_ERROR).
    bad = b"INVALID CONNECTION PREFACE\r\n\r\n"
    p = Peer(port, settings=None, preface=bad, handshake=False)
    return until(p)


def c_preface_no_settings(port, arg):
    # §3.4: the preface MUST be followed by a SETTINGS frame.
    p = Peer(port, settings=None, handshake=False)
    return conn_error(p)


def c_get(port, arg):
    p = Peer(port)
    v = again(p, 1, arg or "/")
    return "%s %s" % (v, body(p, 1))


def c_reserved_bit(port, arg):
    # §4.1: the reserved bit of the stream identifier is ignored when receiving.
    p = Peer(port)
    f = bytearray(p.headers(1, req("/reserved")))
    f[5] |= 0x80
    p.send(bytes(f))
    return "%s %s" % (until(p, 1), body(p, 1))


def c_unknown_flags(port, arg):
    # §4.1: flags with no meaning for a type are ignored.
    p = Peer(port)
    p.send(frame(PING, 0x16, 0, SENTINEL))
    return until(p, ping=SENTINEL)


def c_data_max_size(port, arg):
    # §4.2: a frame of exactly SETTINGS_MAX_FRAME_SIZE is fine.
    p = Peer(port)
    p.send(post(p, 1, "/max", 16384), frame(DATA, END_STREAM, 1, b"x" * 16384))
    return "%s %s" % (until(p, 1), body(p, 1))


def c_data_too_large(port, arg):
    p = Peer(port)
    p.send(post(p, 1, "/open", 16385))
    return stream_error(p, 1, frame(DATA, END_STREAM, 1, b"x" * 16385))


def c_headers_too_large(port, arg):
    p = Peer(port)
    block = p.enc.encode(req("/refused") + [(b"x-big", b"a" * 17000)], huffman=False)
    return conn_error(p, frame(HEADERS, END_HEADERS | END_STREAM, 1, block[:16385]))


def c_header_block_invalid(port, arg):
    # §4.3: a field block that does not decode: a literal cut short.
    p = Peer(port)
    block = p.enc.encode(req("/refused")) + b"\x40\x0aabc"
    return conn_error(p, frame(HEADERS, END_HEADERS | END_STREAM, 1, block))


def c_header_block_interleaved(port, arg):
    # §4.3, §6.2: HEADERS without END_HEADERS, then a frame of another stream.
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    other = p.headers(3, req("/refused"))
    return conn_error(p, frame(HEADERS, END_STREAM, 1, block), other)


def c_header_block_priority(port, arg):
    # §4.3, §6.2: any other frame type inside a field block, a PRIORITY here.
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    prio = PriorityFrame(1, depends_on=0, stream_weight=16).serialize()
    return conn_error(p, frame(HEADERS, END_STREAM, 1, block), prio)


def c_header_block_unknown(port, arg):
    # §5.5: an extension frame inside a field block.
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    unknown = frame(0xFF, 0, 1, b"12345678")
    return conn_error(p, frame(HEADERS, END_STREAM, 1, block), unknown)


def c_idle_data(port, arg):
    p = Peer(port)
    return conn_error(p, frame(DATA, END_STREAM, 1, b"test"))


def c_idle_rst(port, arg):
    p = Peer(port)
    return conn_error(p, RstStreamFrame(1, error_code=8).serialize())


def c_idle_window_update(port, arg):
    p = Peer(port)
    return conn_error(p, WindowUpdateFrame(1, window_increment=100).serialize())


def c_idle_continuation(port, arg):
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    return conn_error(p, frame(CONTINUATION, END_HEADERS, 1, block))


def c_idle_priority(port, arg):
    # §5.1: PRIORITY is allowed on an idle stream (and does not open it).
    p = Peer(port)
    p.send(PriorityFrame(3, depends_on=0, stream_weight=16).serialize())
    first = until(p, 3, ping=p.ping())
    return "%s; then %s" % (first, again(p, 3))


def c_half_closed_data(port, arg):
    # §5.1 half-closed (remote): DATA after END_STREAM (both in one write, so the
    # stream is still being served when the DATA is read).
    p = Peer(port)
    h = p.headers(1, req("/half-closed"))
    return stream_error(p, 1, h, frame(DATA, END_STREAM, 1, b"test"))


def c_half_closed_headers(port, arg):
    p = Peer(port)
    h = p.headers(1, req("/half-closed"))
    return stream_error(p, 1, h, p.headers(1, [(b"x-trailer", b"1")]))


def c_half_closed_continuation(port, arg):
    p = Peer(port)
    h = p.headers(1, req("/half-closed"))
    cont = frame(CONTINUATION, END_HEADERS, 1, p.enc.encode([(b"x-a", b"1")]))
    return stream_error(p, 1, h, cont)


def c_closed_rst_headers(port, arg):
    # §5.1 closed: HEADERS on a stream the client itself reset.
    p = Peer(port)
    h = post(p, 1, "/reset-by-client", 4)
    rst = RstStreamFrame(1, error_code=8).serialize()
    return stream_error(p, 1, h, rst, p.headers(1, req("/refused")))


def c_closed_rst_data(port, arg):
    p = Peer(port)
    h = post(p, 1, "/reset-by-client", 4)
    rst = RstStreamFrame(1, error_code=8).serialize()
    return stream_error(p, 1, h, rst, frame(DATA, END_STREAM, 1, b"test"))


def c_closed_data(port, arg):
    # §5.1 closed: both sides sent END_STREAM (the response is in), then DATA.
    p = Peer(port)
    first = again(p, 1, "/closed")
    return "%s; %s" % (first, stream_error(p, 1, frame(DATA, END_STREAM, 1, b"test")))


def c_closed_headers(port, arg):
    p = Peer(port)
    first = again(p, 1, "/closed")
    return "%s; %s" % (first, stream_error(p, 1, p.headers(1, req("/refused"))))


def c_even_stream(port, arg):
    p = Peer(port)
    return conn_error(p, p.headers(2, req("/refused")), sid=2)


def c_lower_stream(port, arg):
    p = Peer(port)
    first = again(p, 5, "/five")
    return "%s; %s" % (first, conn_error(p, p.headers(3, req("/refused")), sid=3))


def c_concurrency(port, arg):
    """Streams 1 and 3 open (bodies to come), stream 5 past the limit; then 1 and 3
    finished, then stream 7."""
    p = Peer(port)
    limit = p.server.get(MAX_CONCURRENT_STREAMS)
    p.send(post(p, 1, "/c1", 4), post(p, 3, "/c3", 4), p.headers(5, req("/refused")))
    five = until(p, 5, ping=p.ping())
    p.send(frame(DATA, END_STREAM, 1, b"test"), frame(DATA, END_STREAM, 3, b"test"))
    both = until_all(p, [1, 3])
    seven = again(p, 7, "/c7")
    return "max %s; 5 %s; 1 %s; 3 %s; 7 %s" % (limit, five, both[1], both[3], seven)


def c_unknown_frame(port, arg):
    # §4.1, §5.5: frames of unknown types are ignored and discarded.
    p = Peer(port)
    p.send(frame(0xFF, 0, 0, b"12345678"), frame(0xFE, 0xFF, 0, b"x"))
    first = until(p, ping=p.ping())
    return "%s; then %s" % (first, again(p, 1))


def c_unknown_setting(port, arg):
    p = Peer(port)
    p.send(p.settings_frame([(0xFF, 1), (0x99, 12345)]))
    first = until_settings_ack(p)
    return "%s; then %s" % (first, again(p, 1))


def until_settings_ack(p):
    while True:
        e = p.event()
        if e[0] == "settings-ack":
            return "settings-ack"
        if e[0] == "goaway":
            return "goaway %d" % e[1]
        if e[0] in ("closed", "timeout", "client-error"):
            return e[0]


def c_data_stream_0(port, arg):
    p = Peer(port)
    p.send(post(p, 1, "/open", 4))
    return conn_error(p, frame(DATA, END_STREAM, 0, b"test"))


def c_data_bad_padding(port, arg):
    # §6.1: pad length 6 in a payload of 5 octets.
    p = Peer(port)
    p.send(post(p, 1, "/open", 4))
    return conn_error(p, frame(DATA, END_STREAM | PADDED, 1, b"\x06Test"))


def c_data_padded(port, arg):
    p = Peer(port)
    padded = frame(DATA, END_STREAM | PADDED, 1, b"\x05test" + b"\0" * 5)
    p.send(post(p, 1, "/padded", 4), padded)
    return "%s %s" % (until(p, 1), body(p, 1))


def c_headers_stream_0(port, arg):
    p = Peer(port)
    return conn_error(p, p.headers(0, req("/refused")), sid=0)


def c_headers_bad_padding(port, arg):
    # §6.2: pad length past what is left of the payload.
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    payload = bytes([len(block) + 1]) + block
    return conn_error(p, frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, payload))


def c_headers_padded(port, arg):
    p = Peer(port)
    p.send(p.headers(1, req("/padded-headers"), pad=12))
    return "%s %s" % (until(p, 1), body(p, 1))


def c_headers_priority(port, arg):
    p = Peer(port)
    p.send(p.headers(1, req("/priority-headers"), priority=0, pad=3))
    return "%s %s" % (until(p, 1), body(p, 1))


def c_headers_self_dependency(port, arg):
    # §5.3.1: a stream cannot depend on itself (a stream error).
    p = Peer(port)
    return stream_error(p, 1, p.headers(1, req("/refused"), priority=1))


def c_priority_stream_0(port, arg):
    p = Peer(port)
    return conn_error(p, frame(PRIORITY, 0, 0, b"\x00\x00\x00\x01\x0f"))


def c_priority_bad_length(port, arg):
    # On an open stream (its body still to come), as h2spec does.
    p = Peer(port)
    short = frame(PRIORITY, 0, 1, b"\x80\x00\x00\x03")
    return stream_error(p, 1, post(p, 1, "/open", 4), short)


def c_priority_bad_length_idle(port, arg):
    # The same on an idle stream (3), the connection otherwise unused.
    p = Peer(port)
    return conn_error(p, frame(PRIORITY, 0, 3, b"\x80\x00\x00\x01"), sid=3)


def c_rst_stream_0(port, arg):
    p = Peer(port)
    return conn_error(p, frame(RST_STREAM, 0, 0, b"\x00\x00\x00\x08"))


def c_rst_bad_length(port, arg):
    p = Peer(port)
    p.send(post(p, 1, "/open", 4))
    return conn_error(p, frame(RST_STREAM, 0, 1, b"\x00\x00\x08"))


def c_settings_ack(port, arg):
    """The server's SETTINGS first (§3.4); ours acknowledged, and a later one too."""
    p = Peer(port, handshake=False)
    first = until_settings_ack(p)
    server_first = "server-settings-first"
    if p.first != SETTINGS:
        server_first = "first frame of type %s" % p.first
    p.send(p.settings_frame([(MAX_CONCURRENT_STREAMS, 100)]))
    return "%s %s; %s" % (server_first, first, until_settings_ack(p))


def c_settings_ack_payload(port, arg):
    p = Peer(port)
    return conn_error(p, frame(SETTINGS, ACK, 0, settings_payload([(ENABLE_PUSH, 0)])))


def c_settings_on_stream(port, arg):
    p = Peer(port)
    return conn_error(p, frame(SETTINGS, 0, 1, settings_payload([(ENABLE_PUSH, 0)])))


def c_settings_bad_length(port, arg):
    p = Peer(port)
    return conn_error(p, frame(SETTINGS, 0, 0, b"\x00\x02\x00\x00\x00"))


def setting_error(port, key, value):
    p = Peer(port)
    return conn_error(p, frame(SETTINGS, 0, 0, settings_payload([(key, value)])))


def c_settings_enable_push_2(port, arg):
    return setting_error(port, ENABLE_PUSH, 2)


def c_settings_window_too_large(port, arg):
    return setting_error(port, INITIAL_WINDOW_SIZE, 1 << 31)


def c_settings_frame_size_small(port, arg):
    return setting_error(port, MAX_FRAME_SIZE, 16383)


def c_settings_frame_size_large(port, arg):
    return setting_error(port, MAX_FRAME_SIZE, 1 << 24)


def c_settings_multiple_values(port, arg):
    # §6.5.3: values are processed in order: the last INITIAL_WINDOW_SIZE (1) wins.
    settings = [(INITIAL_WINDOW_SIZE, 100), (INITIAL_WINDOW_SIZE, 1)]
    return flow(port, settings, arg or "/len/20")


def c_settings_header_table_0(port, arg):
    # §6.5.2: with HEADER_TABLE_SIZE 0, the server's blocks use no dynamic table.
    p = Peer(port, settings=[(HEADER_TABLE_SIZE, 0)])
    p.dec.max_allowed_table_size = 0
    p.dec.header_table_size = 0
    return "%s; %s" % (again(p, 1), again(p, 3))


def c_ping(port, arg):
    p = Peer(port)
    payload = bytes(range(1, 9))
    p.send(PingFrame(0, opaque_data=payload).serialize())
    while True:
        e = p.event()
        if e[0] == "ping-ack":
            if e[1] == payload:
                return "ping-ack same"
            return "ping-ack other %s" % e[1].hex()
        if e[0] == "goaway":
            return "goaway %d" % e[1]
        if e[0] in ("closed", "timeout", "client-error"):
            return e[0]


def c_ping_ack_not_answered(port, arg):
    """A PING ACK from the client, then a PING: only the second is answered."""
    p = Peer(port)
    p.send(frame(PING, ACK, 0, b"clientak"), frame(PING, 0, 0, SENTINEL))
    while True:
        e = p.event()
        if e[0] == "ping-ack":
            return "ping-ack" if e[1] == SENTINEL else "answered the ACK"
        if e[0] == "goaway":
            return "goaway %d" % e[1]
        if e[0] in ("closed", "timeout", "client-error"):
            return e[0]


def c_ping_on_stream(port, arg):
    p = Peer(port)
    return conn_error(p, frame(PING, 0, 1, b"12345678"))


def c_ping_bad_length(port, arg):
    p = Peer(port)
    return conn_error(p, frame(PING, 0, 0, b"1234567"))


def c_goaway_then_close(port, arg):
    """§5.4.1: after two requests, a connection error: the GOAWAY names the last
    stream ringlb received (3), then the TCP connection is closed."""
    p = Peer(port)
    first = "%s, %s" % (again(p, 1), again(p, 3))
    p.send(frame(PING, 0, 1, b"12345678"))
    while True:
        e = p.event()
        if e[0] == "goaway":
            break
        if e[0] in ("closed", "timeout", "client-error"):
            return "%s; %s" % (first, e[0])
    rest = p.event()
    while rest[0] not in ("closed", "timeout", "goaway", "client-error"):
        rest = p.event()
    return "%s; goaway %d last %d, then %s" % (first, e[1], e[2], rest[0])


def c_goaway_on_stream(port, arg):
    p = Peer(port)
    return conn_error(p, frame(GOAWAY, 0, 1, b"\x00\x00\x00\x00\x00\x00\x00\x00"))


def c_window_update_0_conn(port, arg):
    p = Peer(port)
    return conn_error(p, frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"))


def c_window_update_0_stream(port, arg):
    p = Peer(port)
    zero = frame(WINDOW_UPDATE, 0, 1, b"\x00\x00\x00\x00")
    return stream_error(p, 1, post(p, 1, "/open", 4), zero)


def c_window_update_0_idle(port, arg):
    # A WINDOW_UPDATE of 0 on an idle stream.
    p = Peer(port)
    return conn_error(p, frame(WINDOW_UPDATE, 0, 1, b"\x00\x00\x00\x00"))


def c_window_update_bad_length(port, arg):
    p = Peer(port)
    return conn_error(p, frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"))


def c_window_overflow_conn(port, arg):
    p = Peer(port)
    return conn_error(p, WindowUpdateFrame(0, window_increment=MAX_WINDOW).serialize())


def c_window_overflow_stream(port, arg):
    p = Peer(port)
    wu = WindowUpdateFrame(1, window_increment=MAX_WINDOW).serialize()
    return stream_error(p, 1, post(p, 1, "/open", 4), wu)


def c_window_settings_overflow(port, arg):
    # §6.9.2: stream 1's window brought to the maximum, then INITIAL_WINDOW_SIZE up 1.
    p = Peer(port)
    wu = WindowUpdateFrame(1, window_increment=MAX_WINDOW - 65535).serialize()
    p.send(post(p, 1, "/open", 4), wu)
    return conn_error(p, p.settings_frame([(INITIAL_WINDOW_SIZE, 65536)]))


def flow(port, settings, path):
    """A response read within the windows the client grants one DATA frame at a time:
    the verdict, the body's length, and an overrun if the server sent past a window."""
    p = Peer(port, settings=settings)
    p.send(p.headers(1, req(path)))
    v = until(p, 1)
    return flow_verdict(p, v)


def flow_verdict(p, v):
    overrun = "; " + p.overrun if p.overrun else ""
    return "%s body %d%s" % (v, len(p.bodies.get(1, b"")), overrun)


def c_window_initial_1(port, arg):
    return flow(port, [(INITIAL_WINDOW_SIZE, 1)], arg or "/len/20")


def c_window_conn(port, arg):
    # The connection's window (65535) is the limit when streams' windows are large.
    return flow(port, [(INITIAL_WINDOW_SIZE, MAX_WINDOW)], arg or "/len/200000")


def c_window_settings_change(port, arg):
    """§6.9.2: a window of 0, the request, then INITIAL_WINDOW_SIZE raised: the
    stream's window grows by the difference."""
    path = arg or "/len/10"
    p = Peer(port, settings=[(INITIAL_WINDOW_SIZE, 0)])
    p.send(p.headers(1, req(path)))
    p.send(p.settings_frame([(INITIAL_WINDOW_SIZE, 10)]))
    p.auto_window = False
    v = until(p, 1)
    return flow_verdict(p, v)


def c_window_before_ack(port, arg):
    """§6.9.2: the server advertised a stream window below 65,535 (ARG), but until
    the client acknowledges that SETTINGS it may send the default. The body (65,535
    octets) goes out before the client reads anything; then the response."""
    p = Peer(port, handshake=False)
    size = 65535
    p.send(post(p, 1, "/echo-len", size))
    for at in range(0, size, 16384):
        n = min(16384, size - at)
        end = END_STREAM if at + n == size else 0
        p.send(frame(DATA, end, 1, b"x" * n))
    return until(p, 1)


def c_window_negative(port, arg):
    """§6.9.2: INITIAL_WINDOW_SIZE lowered under what was sent makes the window
    negative; WINDOW_UPDATEs must bring it above 0 before more DATA."""
    p = Peer(port, settings=[(INITIAL_WINDOW_SIZE, 5)])
    p.auto_window = False
    p.send(p.headers(1, req(arg or "/len/20")))
    got = 0
    while got < 5:
        e = p.event()
        if e[0] == "data" and e[1] == 1:
            got += len(e[2])
            p.bodies[1] = p.bodies.get(1, b"") + e[2]
        elif e[0] in ("goaway", "reset", "closed", "timeout", "client-error"):
            return "early %s" % (e,)
    p.grant(0, 5)
    p.send(p.settings_frame([(INITIAL_WINDOW_SIZE, 2)]))  # window: 0 - 3 = -3
    if until_settings_ack(p) != "settings-ack":
        return "no settings-ack"
    p.grant(1, 3)  # window 0: nothing may come
    p.grant(1, 4)  # window 4
    p.auto_window = True  # and from now on, each DATA given back
    v = until(p, 1)
    return flow_verdict(p, v)
