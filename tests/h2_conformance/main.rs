//! HTTP/2 conformance in the manner of h2spec's "http2" and "hpack" groups: raw frames
//! from a Python peer (tests/h2_peers/conformance.py, `hpack` and `hyperframe`) to the
//! real binary's cleartext prior-knowledge listener, in front of the recording
//! HTTP/1.1 backend. Each case's verdict is checked against what RFC 9113 (HTTP/2) and
//! RFC 7541 (HPACK) require; where they allow several outcomes (a stream error, or the
//! connection error §5.4.1 lets an endpoint use instead: "an endpoint MAY choose to
//! treat a stream error as a connection error"), each allowed one is accepted, and
//! after a stream error a plain request on the same connection must still be served.
//!
//! Every case of a test function runs even when one fails: the failure lists all the
//! cases that did not get an allowed verdict.
//!
//! Verdicts (see the script): `goaway N` (GOAWAY, error code N), `reset N`
//! (RST_STREAM on the stream under test), `response S`, `ping-ack` (the PING sent
//! after the frame under test was answered with nothing before it: the frame was
//! ignored), `settings-ack`, `closed`, `timeout`.
//!
//! - `main.rs`: the set-up; the preface, frame format and size, header blocks,
//!   stream states and identifiers, the concurrency limit.
//! - `frames.rs`: DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY,
//!   WINDOW_UPDATE and flow control.
//! - `messages.rs`: HTTP messages (trailers, content-length, malformed requests) and
//!   HPACK.

#[path = "../common/mod.rs"]
mod common;

use common::http::Backend;
use common::Ringlb;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2_peers/conformance.py");

// Error codes (RFC 9113 §7).
const PROTOCOL_ERROR: u32 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const STREAM_CLOSED: u32 = 0x5;
const FRAME_SIZE_ERROR: u32 = 0x6;
const REFUSED_STREAM: u32 = 0x7;
const COMPRESSION_ERROR: u32 = 0x9;

/// Python 3 with the `hpack` and `hyperframe` packages (CI: `pip install` in .ci/run).
fn have_python_h2(test: &str) -> bool {
    common::have_python(test, "hpack, hyperframe")
}

fn start(backend: &Backend, extra: &str) -> Ringlb {
    common::h2peer::start_h2c(backend, extra)
}

/// Run one case; its verdict line.
fn run(r: &Ringlb, case: &str, arg: &str) -> String {
    common::h2peer::run_case(SCRIPT, r, case, arg)
}

fn goaway(code: u32) -> String {
    format!("goaway {code}")
}

/// A stream error on stream 1 with `code`, the next stream on the connection served.
fn reset_then_served(code: u32) -> String {
    format!("reset {code}; then response 200")
}

/// The cases of one test function, run against one ringlb: every mismatch collected,
/// reported together at the end.
struct Cases<'a> {
    r: &'a Ringlb,
    failed: Vec<String>,
    ran: usize,
}

impl<'a> Cases<'a> {
    fn new(r: &'a Ringlb) -> Self {
        Cases {
            r,
            failed: Vec::new(),
            ran: 0,
        }
    }

    /// Run `case` (with `arg`); its verdict must be one of `allowed`.
    fn check_arg<S: AsRef<str>>(&mut self, case: &str, arg: &str, allowed: &[S]) -> String {
        self.ran += 1;
        let verdict = run(self.r, case, arg);
        // (Seen with `--nocapture`: every verdict, passing or not.)
        eprintln!("{case} {arg}: {verdict}");
        if !allowed.iter().any(|a| a.as_ref() == verdict) {
            let allowed: Vec<&str> = allowed.iter().map(AsRef::as_ref).collect();
            self.failed
                .push(format!("{case}: got {verdict:?}, allowed {allowed:?}"));
        }
        verdict
    }

    fn check<S: AsRef<str>>(&mut self, case: &str, allowed: &[S]) -> String {
        self.check_arg(case, "", allowed)
    }

    /// A failure found outside a verdict (what the backend saw).
    fn fail(&mut self, what: String) {
        self.failed.push(what);
    }

    fn done(self) {
        assert!(
            self.failed.is_empty(),
            "{} failures ({} cases run):\n  {}",
            self.failed.len(),
            self.ran,
            self.failed.join("\n  ")
        );
    }
}

/// Nothing sent to a path with `/refused` in it (a refused request, or one after a
/// connection error) reached the backend.
fn nothing_refused_served(c: &mut Cases<'_>, backend: &Backend) {
    let heads = backend.seen.heads.lock().unwrap().clone();
    for head in heads.iter().filter(|h| h.contains("/refused")) {
        let line = head.lines().next().unwrap_or("");
        c.fail(format!("a refused request reached the backend: {line:?}"));
    }
}

/// The head the backend received for `path` (its request line's target).
fn head_for(backend: &Backend, path: &str) -> Option<String> {
    let line = format!(" {path} HTTP/1.1\r\n");
    backend
        .seen
        .heads
        .lock()
        .unwrap()
        .iter()
        .find(|h| {
            h.lines()
                .next()
                .is_some_and(|l| format!("{l}\r\n").ends_with(&line))
        })
        .cloned()
}

#[test]
fn preface_frame_format_size_and_extensions() {
    if !have_python_h2("h2_conformance_frames") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §3.4: "Clients and servers MUST treat an invalid connection preface as a
    // connection error of type PROTOCOL_ERROR. A GOAWAY frame MAY be omitted in this
    // case": GOAWAY, or just the close.
    c.check(
        "preface-invalid",
        &[goaway(PROTOCOL_ERROR), "closed".into()],
    );
    // §3.4: the client preface is the string followed by a SETTINGS frame; a PING
    // first is an invalid preface (same outcomes).
    c.check(
        "preface-no-settings",
        &[goaway(PROTOCOL_ERROR), "closed".into()],
    );
    // §4.1: the reserved bit of the stream identifier "MUST be ignored when receiving".
    c.check("reserved-bit", &["response 200 ok GET /reserved 0"]);
    // §4.1: "Flags that have no defined semantics for a particular frame type MUST be
    // ignored": the PING is answered.
    c.check("unknown-flags", &["ping-ack"]);
    // §4.2: a frame of exactly SETTINGS_MAX_FRAME_SIZE (16384) is fine.
    c.check("data-max-size", &["response 200 ok POST /max 16384"]);
    // §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a frame exceeds
    // the size defined in SETTINGS_MAX_FRAME_SIZE". DATA does not alter the state of
    // the connection: a stream error is enough, a connection error allowed (§5.4.1).
    c.check(
        "data-too-large",
        &[
            goaway(FRAME_SIZE_ERROR),
            reset_then_served(FRAME_SIZE_ERROR),
        ],
    );
    // §4.2: "A frame size error in a frame that could alter the state of the entire
    // connection MUST be treated as a connection error; this includes any frame
    // carrying a field block (HEADERS, PUSH_PROMISE, CONTINUATION)".
    c.check("headers-too-large", &[goaway(FRAME_SIZE_ERROR)]);
    // §4.1 and §5.5: "Implementations MUST ignore and discard frames of unknown
    // types"; the connection goes on.
    c.check("unknown-frame", &["ping-ack; then response 200"]);
    // §6.5.2: "An endpoint that receives a SETTINGS frame with any unknown or
    // unsupported identifier MUST ignore that setting": acknowledged as any other.
    c.check("unknown-setting", &["settings-ack; then response 200"]);
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn header_blocks_and_continuation() {
    if !have_python_h2("h2_conformance_header_blocks") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §4.3: "A decoding error in a field block MUST be treated as a connection error
    // of type COMPRESSION_ERROR" (the dynamic table is out of step).
    c.check("header-block-invalid", &[goaway(COMPRESSION_ERROR)]);
    // §4.3 / §6.2: a HEADERS frame without END_HEADERS "MUST be followed by a
    // CONTINUATION frame for the same stream. A receiver MUST treat the receipt of any
    // other type of frame or a frame on a different stream as a connection error of
    // type PROTOCOL_ERROR": a HEADERS of stream 3, a PRIORITY of stream 1, and (§5.5:
    // "Extension frames that appear in the middle of a field block ... MUST be treated
    // as a connection error of type PROTOCOL_ERROR") an unknown type.
    c.check("header-block-interleaved", &[goaway(PROTOCOL_ERROR)]);
    c.check("header-block-priority", &[goaway(PROTOCOL_ERROR)]);
    c.check("header-block-unknown", &[goaway(PROTOCOL_ERROR)]);
    // §6.10: "A CONTINUATION frame MUST be preceded by a HEADERS, PUSH_PROMISE or
    // CONTINUATION frame without the END_HEADERS flag set. A recipient that observes
    // violation of this rule MUST respond with a connection error of type
    // PROTOCOL_ERROR."
    c.check("continuation-after-end-headers", &[goaway(PROTOCOL_ERROR)]);
    // §6.10: a field block in HEADERS and two CONTINUATION frames is one request.
    c.check("continuation-split", &["response 200 ok GET /split 0"]);
    match head_for(&backend, "/split") {
        Some(h) if h.contains("x-split: one-two-three\r\n") => {}
        other => c.fail(format!("continuation-split: the backend got {other:?}")),
    }
    // §6.10: "If a CONTINUATION frame is received with a Stream Identifier field of
    // 0x00, the recipient MUST respond with a connection error of type
    // PROTOCOL_ERROR"; on another stream than the HEADERS, §6.2 (above).
    c.check("continuation-stream-0", &[goaway(PROTOCOL_ERROR)]);
    c.check("continuation-other-stream", &[goaway(PROTOCOL_ERROR)]);
    // §6.10: a CONTINUATION without END_HEADERS "MUST be followed by another
    // CONTINUATION frame" (§6.2's connection error of type PROTOCOL_ERROR otherwise):
    // DATA after it.
    c.check("continuation-then-data", &[goaway(PROTOCOL_ERROR)]);
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn stream_states_and_identifiers() {
    if !have_python_h2("h2_conformance_stream_states") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §5.1 idle: "Receiving any frame other than HEADERS or PRIORITY on a stream in
    // this state MUST be treated as a connection error of type PROTOCOL_ERROR." For
    // DATA, §6.1 also says "If a DATA frame is received whose stream is not in the
    // 'open' or 'half-closed (local)' state, the recipient MUST respond with a stream
    // error of type STREAM_CLOSED": either is allowed (h2spec accepts both).
    c.check(
        "idle-data",
        &[
            goaway(PROTOCOL_ERROR),
            goaway(STREAM_CLOSED),
            "reset 5; then response 200".into(),
        ],
    );
    c.check("idle-rst", &[goaway(PROTOCOL_ERROR)]);
    c.check("idle-window-update", &[goaway(PROTOCOL_ERROR)]);
    c.check("idle-continuation", &[goaway(PROTOCOL_ERROR)]);
    // §5.1 idle: PRIORITY is allowed (it does not open the stream, which is then
    // opened by HEADERS as usual).
    c.check("idle-priority", &["ping-ack; then response 200"]);
    // §5.1 half-closed (remote): "If an endpoint receives additional frames, other
    // than WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is in this state,
    // it MUST respond with a stream error of type STREAM_CLOSED" (or the connection
    // error §5.4.1 allows).
    let half_closed = [goaway(STREAM_CLOSED), reset_then_served(STREAM_CLOSED)];
    c.check("half-closed-data", &half_closed);
    c.check("half-closed-headers", &half_closed);
    // A CONTINUATION there also breaks §6.10 (no HEADERS without END_HEADERS before
    // it): PROTOCOL_ERROR for the connection is allowed too.
    c.check(
        "half-closed-continuation",
        &[
            goaway(STREAM_CLOSED),
            reset_then_served(STREAM_CLOSED),
            goaway(PROTOCOL_ERROR),
        ],
    );
    // §5.1 closed, after the client's own RST_STREAM: a HEADERS on that stream. It
    // cannot be a frame the client had in flight before it saw a reset of ringlb's
    // (the only case §5.1 says to ignore): it is the reuse of a stream identifier,
    // "a connection error of type PROTOCOL_ERROR" (§5.1.1), or a frame on a closed
    // stream, STREAM_CLOSED (§5.1; a stream error in RFC 7540 and h2spec).
    c.check(
        "closed-rst-headers",
        &[
            goaway(PROTOCOL_ERROR),
            goaway(STREAM_CLOSED),
            reset_then_served(STREAM_CLOSED),
        ],
    );
    // §5.1 closed (RFC 9113 wording): "An endpoint MAY treat receipt of any other type
    // of frame on a closed stream as a connection error of type STREAM_CLOSED": DATA
    // on a stream the client reset, or on one both sides ended, may be ignored
    // (RFC 7540 required STREAM_CLOSED; still accepted).
    let closed_data = [
        "ping-ack; then response 200".to_string(),
        goaway(STREAM_CLOSED),
        reset_then_served(STREAM_CLOSED),
    ];
    c.check("closed-rst-data", &closed_data);
    let after_response: Vec<String> = closed_data
        .iter()
        .map(|v| format!("response 200; {v}"))
        .collect();
    c.check("closed-data", &after_response);
    // §5.1.1: a HEADERS on a stream both sides ended reuses its identifier: "An
    // endpoint that receives an unexpected stream identifier MUST respond with a
    // connection error of type PROTOCOL_ERROR"; or it is a frame on a closed stream
    // (§5.1: a connection error of type STREAM_CLOSED MAY be used; RFC 7540 and h2spec
    // take a stream error of that type too, which ringlb gives while the stream's
    // task is still tidying up after the response). Ignoring it (the client would wait
    // for an answer forever) or serving it is not allowed.
    c.check(
        "closed-headers",
        &[
            format!("response 200; {}", goaway(PROTOCOL_ERROR)),
            format!("response 200; {}", goaway(STREAM_CLOSED)),
            format!("response 200; {}", reset_then_served(STREAM_CLOSED)),
        ],
    );
    // §5.1.1: "Streams initiated by a client MUST use odd-numbered stream
    // identifiers"; "The identifier of a newly established stream MUST be numerically
    // greater than all streams that the initiating endpoint has opened": both an
    // unexpected identifier, a connection error of type PROTOCOL_ERROR.
    c.check("even-stream", &[goaway(PROTOCOL_ERROR)]);
    c.check(
        "lower-stream",
        &[format!("response 200; {}", goaway(PROTOCOL_ERROR))],
    );
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn stream_concurrency_limit() {
    if !have_python_h2("h2_conformance_concurrency") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "h2_max_concurrent_streams = 2");
    let mut c = Cases::new(&r);
    // §5.1.2: "An endpoint that receives a HEADERS frame that causes its advertised
    // concurrent stream limit to be exceeded MUST treat this as a stream error of
    // type PROTOCOL_ERROR or REFUSED_STREAM". Streams 1 and 3 are open (their bodies
    // still to come) when stream 5 arrives; they are then finished and answered, and
    // stream 7 (within the limit again) is served.
    let ok = "1 response 200; 3 response 200; 7 response 200";
    c.check(
        "concurrency",
        &[
            format!("max 2; 5 reset {REFUSED_STREAM}; {ok}"),
            format!("max 2; 5 reset {PROTOCOL_ERROR}; {ok}"),
        ],
    );
    for path in ["/c1", "/c3", "/c7"] {
        if head_for(&backend, path).is_none() {
            c.fail(format!("concurrency: {path} never reached the backend"));
        }
    }
    nothing_refused_served(&mut c, &backend);
    c.done();
}

mod frames;
mod messages;
