#!/usr/bin/env python3
"""h2spec-style conformance cases for tests/h2_conformance.rs (PyPI `hpack` and
`hyperframe`, pinned in .ci/run).

Usage: conformance.py CASE PORT [ARG]. Speaks cleartext HTTP/2 with prior knowledge to
127.0.0.1:PORT with raw frames (so that it can send what a library would refuse to),
does what CASE says, and prints one line: the verdict, normalised. The words used:

- `goaway N`: a GOAWAY frame came with error code N (the connection error);
- `reset N`: the stream the case is about was reset with error code N;
- `response S`: the stream ended with status S (some cases add the body);
- `ping-ack`: the PING the case sent after the frame under test was answered and
  nothing else happened before (ringlb writes its frames in the order it handles the
  client's, so the frame under test was ignored);
- `settings-ack`: the client's SETTINGS was acknowledged;
- `closed`: the socket was closed (or reset) without a GOAWAY;
- `timeout`: nothing of the above within LIMIT seconds.

Stream-error cases add `; then V`: the verdict of a plain GET on the next stream of the
same connection (the connection survived the stream error). Every loop is bounded in
count and time.
"""


import sys

from conformance_messages import *  # noqa: F401,F403
from conformance_streams import *  # noqa: F401,F403

CASES = {
    "preface-invalid": c_preface_invalid,
    "preface-no-settings": c_preface_no_settings,
    "get": c_get,
    "reserved-bit": c_reserved_bit,
    "unknown-flags": c_unknown_flags,
    "data-max-size": c_data_max_size,
    "data-too-large": c_data_too_large,
    "headers-too-large": c_headers_too_large,
    "header-block-invalid": c_header_block_invalid,
    "header-block-interleaved": c_header_block_interleaved,
    "header-block-priority": c_header_block_priority,
    "header-block-unknown": c_header_block_unknown,
    "idle-data": c_idle_data,
    "idle-rst": c_idle_rst,
    "idle-window-update": c_idle_window_update,
    "idle-continuation": c_idle_continuation,
    "idle-priority": c_idle_priority,
    "half-closed-data": c_half_closed_data,
    "half-closed-headers": c_half_closed_headers,
    "half-closed-continuation": c_half_closed_continuation,
    "closed-rst-headers": c_closed_rst_headers,
    "closed-rst-data": c_closed_rst_data,
    "closed-data": c_closed_data,
    "closed-headers": c_closed_headers,
    "even-stream": c_even_stream,
    "lower-stream": c_lower_stream,
    "concurrency": c_concurrency,
    "unknown-frame": c_unknown_frame,
    "unknown-setting": c_unknown_setting,
    "data-stream-0": c_data_stream_0,
    "data-bad-padding": c_data_bad_padding,
    "data-padded": c_data_padded,
    "headers-stream-0": c_headers_stream_0,
    "headers-bad-padding": c_headers_bad_padding,
    "headers-padded": c_headers_padded,
    "headers-priority": c_headers_priority,
    "headers-self-dependency": c_headers_self_dependency,
    "priority-stream-0": c_priority_stream_0,
    "priority-bad-length": c_priority_bad_length,
    "priority-bad-length-idle": c_priority_bad_length_idle,
    "rst-stream-0": c_rst_stream_0,
    "rst-bad-length": c_rst_bad_length,
    "settings-ack": c_settings_ack,
    "settings-ack-payload": c_settings_ack_payload,
    "settings-on-stream": c_settings_on_stream,
    "settings-bad-length": c_settings_bad_length,
    "settings-enable-push-2": c_settings_enable_push_2,
    "settings-window-too-large": c_settings_window_too_large,
    "settings-frame-size-small": c_settings_frame_size_small,
    "settings-frame-size-large": c_settings_frame_size_large,
    "settings-multiple-values": c_settings_multiple_values,
    "settings-header-table-0": c_settings_header_table_0,
    "ping": c_ping,
    "ping-ack-not-answered": c_ping_ack_not_answered,
    "ping-on-stream": c_ping_on_stream,
    "ping-bad-length": c_ping_bad_length,
    "goaway-on-stream": c_goaway_on_stream,
    "goaway-then-close": c_goaway_then_close,
    "window-update-0-conn": c_window_update_0_conn,
    "window-update-0-stream": c_window_update_0_stream,
    "window-update-0-idle": c_window_update_0_idle,
    "window-update-bad-length": c_window_update_bad_length,
    "window-overflow-conn": c_window_overflow_conn,
    "window-overflow-stream": c_window_overflow_stream,
    "window-settings-overflow": c_window_settings_overflow,
    "window-initial-1": c_window_initial_1,
    "window-conn": c_window_conn,
    "window-settings-change": c_window_settings_change,
    "window-negative": c_window_negative,
    "window-before-ack": c_window_before_ack,
    "continuation-after-end-headers": c_continuation_after_end_headers,
    "continuation-split": c_continuation_split,
    "continuation-then-data": c_continuation_then_data,
    "continuation-stream-0": c_continuation_stream_0,
    "continuation-other-stream": c_continuation_other_stream,
    "trailers": c_trailers,
    "trailers-no-end-stream": c_trailers_no_end_stream,
    "trailers-pseudo": c_trailers_pseudo,
    "content-length-less": c_content_length_less,
    "content-length-more": c_content_length_more,
    "te-trailers": c_te_trailers,
    "hpack-size-update-too-large": c_hpack_size_update_too_large,
    "hpack-index-past-tables": c_hpack_index_past_tables,
    "hpack-index-zero": c_hpack_index_zero,
    "hpack-huffman-eos": c_hpack_huffman_eos,
    "hpack-huffman-long-padding": c_hpack_huffman_long_padding,
    "hpack-huffman-zero-padding": c_hpack_huffman_zero_padding,
    "hpack-size-update-after-field": c_hpack_size_update_after_field,
    "hpack-size-update-first": c_hpack_size_update_first,
    "hpack-dynamic-table": c_hpack_dynamic_table,
}


def main():
    case, port = sys.argv[1], int(sys.argv[2])
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    if case.startswith("malformed:"):
        name = case.split(":", 1)[1]
        if name not in MALFORMED:
            raise SystemExit("unknown case " + case)
        print(malformed(port, name))
    elif case in CASES:
        print(CASES[case](port, arg))
    else:
        raise SystemExit("unknown case " + case)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
