//! RFC 9113 §6: DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY,
//! WINDOW_UPDATE and flow control.

use super::*;

#[test]
fn data_headers_priority_and_rst_stream_frames() {
    if !have_python_h2("h2_conformance_frame_types") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §6.1: "If a DATA frame is received whose Stream Identifier field is 0x00, the
    // recipient MUST respond with a connection error of type PROTOCOL_ERROR."
    c.check("data-stream-0", &[goaway(PROTOCOL_ERROR)]);
    // §6.1: "If the length of the padding is the length of the frame payload or
    // greater, the recipient MUST treat this as a connection error of type
    // PROTOCOL_ERROR."
    c.check("data-bad-padding", &[goaway(PROTOCOL_ERROR)]);
    // §6.1: padding is not body: 4 octets of body in a padded DATA frame.
    c.check("data-padded", &["response 200 ok POST /padded 4"]);
    // §6.2: "If a HEADERS frame is received whose Stream Identifier field is 0x00, the
    // recipient MUST respond with a connection error of type PROTOCOL_ERROR."
    c.check("headers-stream-0", &[goaway(PROTOCOL_ERROR)]);
    // §6.2: "Padding that exceeds the size remaining for the field block fragment MUST
    // be treated as a PROTOCOL_ERROR."
    c.check("headers-bad-padding", &[goaway(PROTOCOL_ERROR)]);
    // §6.2: a padded HEADERS, and one with the PRIORITY flag (its fields skipped), are
    // served.
    c.check("headers-padded", &["response 200 ok GET /padded-headers 0"]);
    c.check(
        "headers-priority",
        &["response 200 ok GET /priority-headers 0"],
    );
    // §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat this as a
    // stream error of type PROTOCOL_ERROR" (or a connection error, §5.4.1).
    c.check(
        "headers-self-dependency",
        &[goaway(PROTOCOL_ERROR), reset_then_served(PROTOCOL_ERROR)],
    );
    // §6.3: "If a PRIORITY frame is received with a stream identifier of 0x00, the
    // recipient MUST respond with a connection error of type PROTOCOL_ERROR."
    c.check("priority-stream-0", &[goaway(PROTOCOL_ERROR)]);
    // §6.3: "A PRIORITY frame with a length other than 5 octets MUST be treated as a
    // stream error of type FRAME_SIZE_ERROR" (or a connection error, §5.4.1).
    c.check(
        "priority-bad-length",
        &[
            goaway(FRAME_SIZE_ERROR),
            reset_then_served(FRAME_SIZE_ERROR),
        ],
    );
    // On an idle stream the stream error cannot be sent: "RST_STREAM frames MUST NOT
    // be sent for a stream in the 'idle' state" (§6.4; a client receiving one "MUST
    // treat this as a connection error of type PROTOCOL_ERROR"). What is left is the
    // connection error §5.4.1 allows for any stream error (or, since PRIORITY may be
    // sent on an idle stream, ignoring the frame would at least not break the
    // client).
    c.check(
        "priority-bad-length-idle",
        &[goaway(FRAME_SIZE_ERROR), "ping-ack".into()],
    );
    // §6.4: "If a RST_STREAM frame is received with a stream identifier of 0x00, the
    // recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
    c.check("rst-stream-0", &[goaway(PROTOCOL_ERROR)]);
    // §6.4: "A RST_STREAM frame with a length other than 4 octets MUST be treated as a
    // connection error of type FRAME_SIZE_ERROR."
    c.check("rst-bad-length", &[goaway(FRAME_SIZE_ERROR)]);
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn settings_frames() {
    if !have_python_h2("h2_conformance_settings") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §3.4: "the server connection preface consists of a potentially empty SETTINGS
    // frame that MUST be the first frame the server sends"; §6.5.3: "Upon receiving a
    // SETTINGS frame with the ACK flag not set, the recipient MUST ... immediately emit
    // a SETTINGS frame with the ACK flag set" (for the first and for a later one).
    c.check(
        "settings-ack",
        &["server-settings-first settings-ack; settings-ack"],
    );
    // §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a length field value
    // other than 0 MUST be treated as a connection error of type FRAME_SIZE_ERROR."
    c.check("settings-ack-payload", &[goaway(FRAME_SIZE_ERROR)]);
    // §6.5: "If an endpoint receives a SETTINGS frame whose Stream Identifier field is
    // anything other than 0x00, the endpoint MUST respond with a connection error of
    // type PROTOCOL_ERROR."
    c.check("settings-on-stream", &[goaway(PROTOCOL_ERROR)]);
    // §6.5: "A SETTINGS frame with a length other than a multiple of 6 octets MUST be
    // treated as a connection error of type FRAME_SIZE_ERROR."
    c.check("settings-bad-length", &[goaway(FRAME_SIZE_ERROR)]);
    // §6.5.2 SETTINGS_ENABLE_PUSH: "Any value other than 0 or 1 MUST be treated as a
    // connection error of type PROTOCOL_ERROR."
    c.check("settings-enable-push-2", &[goaway(PROTOCOL_ERROR)]);
    // §6.5.2 SETTINGS_INITIAL_WINDOW_SIZE: "Values above the maximum flow-control
    // window size of 2^31-1 MUST be treated as a connection error of type
    // FLOW_CONTROL_ERROR."
    c.check("settings-window-too-large", &[goaway(FLOW_CONTROL_ERROR)]);
    // §6.5.2 SETTINGS_MAX_FRAME_SIZE: "Values outside this range [2^14, 2^24-1] MUST be
    // treated as a connection error of type PROTOCOL_ERROR."
    c.check("settings-frame-size-small", &[goaway(PROTOCOL_ERROR)]);
    c.check("settings-frame-size-large", &[goaway(PROTOCOL_ERROR)]);
    // §6.5.3: "The values in the SETTINGS frame MUST be processed in the order they
    // appear": INITIAL_WINDOW_SIZE 100 then 1, so the window is 1; the body comes
    // within it (the client gives each DATA frame's octets back).
    c.check("settings-multiple-values", &["response 200 body 20"]);
    // §6.5.2 SETTINGS_HEADER_TABLE_SIZE 0: the server's blocks decode with no dynamic
    // table.
    c.check("settings-header-table-0", &["response 200; response 200"]);
    c.done();
}

#[test]
fn ping_and_goaway_frames() {
    if !have_python_h2("h2_conformance_ping") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §6.7: "Receivers of a PING frame that does not include an ACK flag MUST send a
    // PING frame with the ACK flag set in response, with an identical frame payload."
    c.check("ping", &["ping-ack same"]);
    // §6.7: "An endpoint MUST NOT respond to PING frames containing this [ACK] flag":
    // the first PING ACK back answers the client's second PING.
    c.check("ping-ack-not-answered", &["ping-ack"]);
    // §6.7: "If a PING frame is received with a Stream Identifier field value other
    // than 0x00, the recipient MUST respond with a connection error of type
    // PROTOCOL_ERROR."
    c.check("ping-on-stream", &[goaway(PROTOCOL_ERROR)]);
    // §6.7: "Receipt of a PING frame with a length field value other than 8 MUST be
    // treated as a connection error of type FRAME_SIZE_ERROR."
    c.check("ping-bad-length", &[goaway(FRAME_SIZE_ERROR)]);
    // §6.8: "An endpoint MUST treat a GOAWAY frame with a stream identifier other than
    // 0x00 as a connection error of type PROTOCOL_ERROR."
    c.check("goaway-on-stream", &[goaway(PROTOCOL_ERROR)]);
    // §5.4.1: "An endpoint that encounters a connection error SHOULD first send a
    // GOAWAY frame with the stream identifier of the last stream that it successfully
    // received from its peer ... After sending the GOAWAY frame for an error
    // condition, the endpoint MUST close the TCP connection."
    c.check(
        "goaway-then-close",
        &[format!(
            "response 200, response 200; goaway {PROTOCOL_ERROR} last 3, then closed"
        )],
    );
    c.done();
}

#[test]
fn window_update_and_flow_control() {
    if !have_python_h2("h2_conformance_flow_control") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "");
    let mut c = Cases::new(&r);
    // §6.9: "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a
    // flow-control window increment of 0 as a stream error of type PROTOCOL_ERROR;
    // errors on the connection flow-control window MUST be treated as a connection
    // error".
    c.check("window-update-0-conn", &[goaway(PROTOCOL_ERROR)]);
    c.check(
        "window-update-0-stream",
        &[goaway(PROTOCOL_ERROR), reset_then_served(PROTOCOL_ERROR)],
    );
    // On an idle stream, §5.1 idle rules first: "Receiving any frame other than
    // HEADERS or PRIORITY on a stream in this state MUST be treated as a connection
    // error of type PROTOCOL_ERROR"; and no RST_STREAM may be sent for an idle stream
    // (§6.4).
    c.check("window-update-0-idle", &[goaway(PROTOCOL_ERROR)]);
    // §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets MUST be treated
    // as a connection error of type FRAME_SIZE_ERROR."
    c.check("window-update-bad-length", &[goaway(FRAME_SIZE_ERROR)]);
    // §6.9.1: "If a sender receives a WINDOW_UPDATE that causes a flow-control window
    // to exceed this maximum, it MUST terminate either the stream or the connection, as
    // appropriate ... with an error code of FLOW_CONTROL_ERROR" (a stream's: a stream
    // error, or a connection error by §5.4.1).
    c.check("window-overflow-conn", &[goaway(FLOW_CONTROL_ERROR)]);
    c.check(
        "window-overflow-stream",
        &[
            goaway(FLOW_CONTROL_ERROR),
            reset_then_served(FLOW_CONTROL_ERROR),
        ],
    );
    // §6.9.2: "An endpoint MUST treat a change to SETTINGS_INITIAL_WINDOW_SIZE that
    // causes any flow-control window to exceed the maximum size as a connection error
    // of type FLOW_CONTROL_ERROR."
    c.check("window-settings-overflow", &[goaway(FLOW_CONTROL_ERROR)]);
    // §6.9.1: the sender "MUST NOT send a flow-controlled frame with a length that
    // exceeds the space available in either of the flow-control windows": with a
    // stream window of 1, the body still comes whole as the client gives octets back,
    // never past a window; the same with a stream window of 2^31-1 and the
    // connection's 65535, over several connection windows' worth.
    c.check_arg("window-initial-1", "/len/20", &["response 200 body 20"]);
    c.check_arg("window-conn", "/len/200000", &["response 200 body 200000"]);
    // §6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE changes open streams' windows
    // by the difference: 0 raised to 10 lets the 10-octet body out; 5 lowered to 2
    // after 5 octets came makes the window -3, "the sender MUST NOT send new
    // flow-controlled frames until it receives WINDOW_UPDATE frames that cause the
    // flow-control window to become positive".
    c.check_arg(
        "window-settings-change",
        "/len/10",
        &["response 200 body 10"],
    );
    c.check_arg("window-negative", "/len/20", &["response 200 body 20"]);
    nothing_refused_served(&mut c, &backend);
    c.done();
}

#[test]
fn a_stream_window_below_the_default_holds_once_acknowledged() {
    if !have_python_h2("h2_conformance_window_before_ack") {
        return;
    }
    let backend = Backend::start();
    let r = start(&backend, "h2_initial_window_size = 16384");
    let mut c = Cases::new(&r);
    // §6.9.2: until the client acknowledges the SETTINGS that lowered the stream
    // window to 16,384, it may fill the default 65,535; ringlb advertises 16,384 and
    // must take a whole default window sent before the acknowledgement.
    c.check("window-before-ack", &["response 200"]);
    c.done();
    let head = head_for(&backend, "/echo-len").unwrap_or_default();
    assert!(head.contains("content-length: 65535"), "{head}");
}
