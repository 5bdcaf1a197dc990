"""conformance.py's cases: CONTINUATION, HTTP messages (trailers,
content-length, malformed requests: RFC 9113 §6.10, §8) and HPACK (RFC 7541)."""

from conformance_peer import *  # noqa: F401,F403


def c_continuation_after_end_headers(port, arg):
    p = Peer(port)
    h = p.headers(1, req("/refused"), end_stream=False)
    cont = frame(CONTINUATION, END_HEADERS, 1, p.enc.encode([(b"x-a", b"1")]))
    return conn_error(p, h, cont)


def c_continuation_split(port, arg):
    """A request in HEADERS and two CONTINUATION frames."""
    p = Peer(port)
    block = p.enc.encode(req("/split") + [(b"x-split", b"one-two-three")])
    a, b = len(block) // 3, 2 * len(block) // 3
    p.send(
        frame(HEADERS, END_STREAM, 1, block[:a]),
        frame(CONTINUATION, 0, 1, block[a:b]),
        frame(CONTINUATION, END_HEADERS, 1, block[b:]),
    )
    return "%s %s" % (until(p, 1), body(p, 1))


def c_continuation_then_data(port, arg):
    # §6.10: HEADERS and a CONTINUATION, neither with END_HEADERS, then DATA.
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    a = len(block) // 2
    return conn_error(
        p,
        frame(HEADERS, 0, 1, block[:a]),
        frame(CONTINUATION, 0, 1, block[a:]),
        frame(DATA, END_STREAM, 1, b"test"),
    )


def c_continuation_stream_0(port, arg):
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    a = len(block) // 2
    cont = frame(CONTINUATION, END_HEADERS, 0, block[a:])
    return conn_error(p, frame(HEADERS, END_STREAM, 1, block[:a]), cont)


def c_continuation_other_stream(port, arg):
    p = Peer(port)
    block = p.enc.encode(req("/refused"))
    a = len(block) // 2
    cont = frame(CONTINUATION, END_HEADERS, 3, block[a:])
    return conn_error(p, frame(HEADERS, END_STREAM, 1, block[:a]), cont)


def c_trailers(port, arg):
    """§8.1: HEADERS, DATA, then trailers (HEADERS with END_STREAM)."""
    p = Peer(port)
    p.send(
        p.headers(1, req("/trailers", "POST"), end_stream=False),
        frame(DATA, 0, 1, b"test"),
        p.headers(1, [(b"x-trailer", b"t-value")]),
    )
    return "%s %s" % (until(p, 1), body(p, 1))


def c_trailers_no_end_stream(port, arg):
    p = Peer(port)
    return stream_error(
        p,
        1,
        p.headers(1, req("/open-trailers", "POST"), end_stream=False),
        frame(DATA, 0, 1, b"test"),
        p.headers(1, [(b"x-trailer", b"1")], end_stream=False),
    )


def c_trailers_pseudo(port, arg):
    p = Peer(port)
    return stream_error(
        p,
        1,
        p.headers(1, req("/open-trailers", "POST"), end_stream=False),
        frame(DATA, 0, 1, b"test"),
        p.headers(1, [(b":path", b"/x")]),
    )


def c_content_length_less(port, arg):
    # §8.1.1: 5 octets of DATA for a content-length of 10 (in one write with the head).
    p = Peer(port)
    data = frame(DATA, END_STREAM, 1, b"12345")
    return stream_error(p, 1, post(p, 1, "/refused", 10), data, sentinel=False)


def c_content_length_more(port, arg):
    p = Peer(port)
    data = frame(DATA, END_STREAM, 1, b"12345")
    return stream_error(p, 1, post(p, 1, "/refused", 2), data, sentinel=False)


MALFORMED = {
    # §8.2.1: field names are lower case.
    "uppercase-name": lambda: req("/refused") + [(b"X-Upper", b"1")],
    # §8.2.2: connection-specific fields.
    "connection-header": lambda: req("/refused") + [(b"connection", b"keep-alive")],
    "te-not-trailers": lambda: req("/refused") + [(b"te", b"gzip")],
    # §8.3: pseudo-header fields before regular ones, each once, only those defined.
    "pseudo-after-regular": lambda: req("/refused")[:3]
    + [(b"x-a", b"1"), (b":path", b"/refused")],
    "duplicate-path": lambda: req("/refused") + [(b":path", b"/refused")],
    "unknown-pseudo": lambda: req("/refused") + [(b":foo", b"bar")],
    "response-pseudo": lambda: req("/refused") + [(b":status", b"200")],
    # §8.3.1: :method, :scheme and :path are required; :path not empty.
    "missing-method": lambda: req("/refused")[1:],
    "missing-scheme": lambda: [f for f in req("/refused") if f[0] != b":scheme"],
    "missing-path": lambda: [f for f in req("/refused") if f[0] != b":path"],
    "empty-path": lambda: req(""),
}


def malformed(port, name):
    p = Peer(port)
    return stream_error(p, 1, p.headers(1, MALFORMED[name]()))


def c_te_trailers(port, arg):
    # §8.2.2: `te: trailers` is the one TE allowed.
    p = Peer(port)
    p.send(p.headers(1, req("/te-trailers") + [(b"te", b"trailers")]))
    return "%s %s" % (until(p, 1), body(p, 1))


# HPACK (RFC 7541).


def hpack_error(port, block):
    """A request whose block should not decode: the verdict on it (no sentinel: a
    block decoded after all is a request served, `response 200`)."""
    p = Peer(port)
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block(p)))
    return until(p, 1)


def refused(p):
    """A request's fields, encoded: what a bad field is appended to."""
    return p.enc.encode(req("/refused"))


def c_hpack_size_update_too_large(port, arg):
    """§6.3: a size update past SETTINGS_HEADER_TABLE_SIZE (ARG: the size; by default
    one past what the server advertised), once the server's SETTINGS is acknowledged."""

    def block(p):
        size = int(arg) if arg else p.server.get(HEADER_TABLE_SIZE, 4096) + 1
        return integer(size, 5, 0x20) + p.enc.encode(req("/refused"))

    return hpack_error(port, block)


def c_hpack_index_past_tables(port, arg):
    return hpack_error(port, lambda p: refused(p) + integer(200, 7, 0x80))


def c_hpack_index_zero(port, arg):
    # §6.1: index 0 is a decoding error.
    return hpack_error(port, lambda p: refused(p) + b"\x80")


def bad_huffman(port, coded):
    """A request with an `x-test` field whose value is Huffman-coded as `coded`."""
    field = literal_huffman_value(b"x-test", coded)
    return hpack_error(port, lambda p: refused(p) + field)


def c_hpack_huffman_eos(port, arg):
    # §5.2: EOS inside a Huffman-coded string.
    coded = huffman([ord("a"), 256, ord("a")])
    return bad_huffman(port, coded)


def c_hpack_huffman_long_padding(port, arg):
    # §5.2: padding longer than 7 bits ('a' is 5 bits; 11 bits of ones follow).
    coded = huffman([ord("a")], pad_bits=11)
    return bad_huffman(port, coded)


def c_hpack_huffman_zero_padding(port, arg):
    # §5.2: padding that is not the EOS code's most significant bits (zeros).
    coded = huffman([ord("a")], pad_bits=3, pad_with=0)
    return bad_huffman(port, coded)


def c_hpack_size_update_after_field(port, arg):
    # §4.2: a size update only at the start of a block.
    return hpack_error(port, lambda p: refused(p) + b"\x20")


def c_hpack_size_update_first(port, arg):
    # §4.2: size updates at the start of a block (two, the smaller first: 0, then ARG,
    # by default 4096) are fine.
    p = Peer(port)
    size = int(arg) if arg else 4096
    updates = integer(0, 5, 0x20) + integer(size, 5, 0x20)
    block = updates + p.enc.encode(req("/size-update"))
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    return "%s %s" % (until(p, 1), body(p, 1))


def dyn_fields(i):
    return req("/dyn/%d" % i) + [
        (b"x-keep", b"keep-value"),
        (b"x-seq", str(i).encode()),
        (b"x-twice", b"v%d" % ((i + 1) // 2)),
    ]


DYN_REQUESTS = 9


def c_hpack_dynamic_table(port, arg):
    """Requests on one connection through one encoder (Huffman, incremental indexing),
    the table resized between them (128 octets from the 4th: evictions; 0 for the 7th;
    4096 again from the 8th): each served, its path echoed in the body."""
    p = Peer(port)
    for i in range(1, DYN_REQUESTS + 1):
        if i == 4:
            p.enc.header_table_size = 128
        elif i == 7:
            p.enc.header_table_size = 0
        elif i == 8:
            p.enc.header_table_size = 4096
        sid = 2 * i - 1
        block = p.enc.encode(dyn_fields(i), huffman=True)
        p.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, block))
        v = until(p, sid)
        want = "ok GET /dyn/%d 0" % i
        if v != "response 200" or body(p, sid) != want:
            return "request %d: %s %s" % (i, v, body(p, sid))
    return "served %d" % DYN_REQUESTS
