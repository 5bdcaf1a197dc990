//! Bodies, windows, resets and GOAWAY, driven as in `tests.rs`.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use super::super::frame;
use super::super::{Closed, Reason};
use super::{limits, waker, Client, Out};

#[test]
fn the_body_is_taken_and_the_window_given_back() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    c.out();
    c.frame(frame::DATA, 0, 1, &[b'a'; 60]).unwrap();
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    let Poll::Ready(Some(Ok(b))) = c.conn.poll_data(1, &mut cx) else {
        panic!()
    };
    assert_eq!(b.len(), 60);
    assert!(c.conn.poll_data(1, &mut cx).is_pending());
    c.conn.release(1, 60);
    // Half the stream's window (100) given back: an update for it; the connection's
    // waits for half of its own.
    assert_eq!(c.out(), [Out::Window(1, 60)]);
    // 101 more than its window would be a stream error; 100 fit.
    c.frame(frame::DATA, frame::END_STREAM, 1, &[b'b'; 100])
        .unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    let Poll::Ready(Some(Ok(b))) = c.conn.poll_data(1, &mut cx) else {
        panic!()
    };
    assert_eq!(b.len(), 100);
    assert_eq!(c.conn.poll_data(1, &mut cx), Poll::Ready(None));
    assert!(c.conn.body_ended(1));
}

#[test]
fn more_than_the_stream_window_is_a_stream_error() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    c.out();
    c.frame(frame::DATA, 0, 1, &[0; 101]).unwrap();
    assert_eq!(c.out(), [Out::Reset(1, Reason::FLOW_CONTROL_ERROR)]);
    let (_, w) = waker();
    let r = c.conn.poll_data(1, &mut Context::from_waker(&w));
    assert_eq!(
        r,
        Poll::Ready(Some(Err(Closed(Reason::FLOW_CONTROL_ERROR))))
    );
}

#[test]
fn data_after_end_stream_is_stream_closed() {
    let mut c = Client::new(limits());
    c.get(1, "/", true).unwrap();
    c.out();
    c.frame(frame::DATA, 0, 1, b"late").unwrap();
    assert_eq!(c.out(), [Out::Reset(1, Reason::STREAM_CLOSED)]);
}

#[test]
fn the_client_resetting_a_stream_wakes_its_task() {
    let mut c = Client::new(limits());
    c.get(1, "/", true).unwrap();
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    assert!(c.conn.poll_reset(1, &mut cx).is_pending());
    c.frame(frame::RST_STREAM, 0, 1, &8u32.to_be_bytes())
        .unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    assert_eq!(c.conn.poll_reset(1, &mut cx), Poll::Ready(Reason::CANCEL));
    assert_eq!(
        c.conn.send_headers(1, &[0x88], true),
        Err(Closed(Reason::CANCEL))
    );
    c.conn.finish(1);
    assert_eq!(c.out(), [], "no reset back for a reset stream");
}

#[test]
fn sending_waits_for_the_windows_and_goes_on_when_they_open() {
    let mut c = Client::new(limits());
    // The client's stream windows: 10 bytes.
    let mut s = Vec::new();
    frame::write_settings(&mut s, &[(frame::INITIAL_WINDOW_SIZE, 10)]);
    c.send(&s).unwrap();
    c.get(1, "/", true).unwrap();
    c.out();
    let (count, w) = waker();
    let mut cx = Context::from_waker(&w);
    assert_eq!(
        c.conn.poll_send_data(1, &[1; 25], true, &mut cx),
        Poll::Ready(Ok(10))
    );
    assert!(c
        .conn
        .poll_send_data(1, &[1; 15], true, &mut cx)
        .is_pending());
    c.frame(frame::WINDOW_UPDATE, 0, 1, &5u32.to_be_bytes())
        .unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    assert_eq!(
        c.conn.poll_send_data(1, &[1; 15], true, &mut cx),
        Poll::Ready(Ok(5))
    );
    // A larger initial window raises the stream's by the difference.
    let mut s = Vec::new();
    frame::write_settings(&mut s, &[(frame::INITIAL_WINDOW_SIZE, 1000)]);
    c.send(&s).unwrap();
    assert_eq!(
        c.conn.poll_send_data(1, &[1; 10], true, &mut cx),
        Poll::Ready(Ok(10))
    );
    let out = c.out();
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!(out[2], Out::SettingsAck);
    assert_eq!(out[3], Out::Data(1, vec![1; 10], true));
}

#[test]
fn window_overflows_are_flow_control_errors() {
    let mut c = Client::new(limits());
    c.get(1, "/", true).unwrap();
    c.out();
    let big = frame::MAX_WINDOW.to_be_bytes();
    c.frame(frame::WINDOW_UPDATE, 0, 1, &big).unwrap();
    assert_eq!(c.out(), [Out::Reset(1, Reason::FLOW_CONTROL_ERROR)]);
    assert_eq!(
        c.frame(frame::WINDOW_UPDATE, 0, 0, &big),
        Err(Reason::FLOW_CONTROL_ERROR)
    );
}

#[test]
fn trailers_end_the_body() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    let block = c.enc.encode([(&b"grpc-status"[..], &b"0"[..])]);
    c.frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &block,
    )
    .unwrap();
    let (_, w) = waker();
    assert_eq!(
        c.conn.poll_data(1, &mut Context::from_waker(&w)),
        Poll::Ready(None)
    );
    let t = c.conn.take_trailers(1).unwrap();
    assert_eq!(t, [(b"grpc-status".to_vec(), b"0".to_vec())]);
    // Trailers that do not end the stream are a stream error.
    c.get(3, "/", false).unwrap();
    c.out();
    let block = c.enc.encode([(&b"x"[..], &b"1"[..])]);
    c.frame(frame::HEADERS, frame::END_HEADERS, 3, &block)
        .unwrap();
    assert_eq!(c.out(), [Out::Reset(3, Reason::PROTOCOL_ERROR)]);
}

#[test]
fn after_goaway_later_streams_are_ignored_and_earlier_ones_served() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    c.conn.go_away(Reason::NO_ERROR);
    c.get(3, "/", true).unwrap();
    assert_eq!(c.requests.len(), 1);
    c.frame(frame::DATA, frame::END_STREAM, 1, b"x").unwrap();
    c.conn.send_headers(1, &[0x88], true).unwrap();
    assert_eq!(
        c.out(),
        [
            Out::GoAway(1, Reason::NO_ERROR),
            Out::Headers(1, vec![0x88], true)
        ]
    );
}

#[test]
fn giving_up_a_stream_resets_it_and_returns_its_window() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    c.frame(frame::DATA, 0, 1, &[0; 50]).unwrap();
    c.out();
    c.conn.finish(1);
    assert_eq!(c.out(), [Out::Reset(1, Reason::CANCEL)]);
    // Answered whole while the client was still sending: NO_ERROR.
    c.get(3, "/", false).unwrap();
    c.conn.send_headers(3, &[0x88], true).unwrap();
    c.out();
    c.conn.finish(3);
    assert_eq!(c.out(), [Out::Reset(3, Reason::NO_ERROR)]);
    // What it sent after is dropped, counted in the connection's window.
    c.frame(frame::DATA, 0, 3, &[0; 10]).unwrap();
    assert_eq!(c.out(), []);
}

#[test]
fn a_connection_error_resets_every_stream() {
    let mut c = Client::new(limits());
    c.get(1, "/", true).unwrap();
    let (count, w) = waker();
    assert!(c
        .conn
        .poll_reset(1, &mut Context::from_waker(&w))
        .is_pending());
    c.conn.abort(Reason::ENHANCE_YOUR_CALM);
    assert_eq!(count.0.load(Ordering::Relaxed), 1);
    assert_eq!(c.out(), [Out::GoAway(1, Reason::ENHANCE_YOUR_CALM)]);
    assert_eq!(c.conn.failed(), Some(Reason::ENHANCE_YOUR_CALM));
}

#[test]
fn headers_after_the_clients_own_reset_are_stream_closed() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    c.frame(frame::RST_STREAM, 0, 1, &8u32.to_be_bytes())
        .unwrap();
    c.out();
    let block = c.enc.encode([(&b"x"[..], &b"1"[..])]);
    c.frame(
        frame::HEADERS,
        frame::END_HEADERS | frame::END_STREAM,
        1,
        &block,
    )
    .unwrap();
    assert_eq!(c.out(), [Out::Reset(1, Reason::STREAM_CLOSED)]);
}

#[test]
fn many_tiny_data_frames_are_held_joined() {
    let mut c = Client::new(limits());
    c.get(1, "/", false).unwrap();
    for _ in 0..90 {
        c.frame(frame::DATA, 0, 1, b"x").unwrap();
    }
    let (_, w) = waker();
    let mut cx = Context::from_waker(&w);
    let mut got = Vec::new();
    let mut pieces = 0;
    while let Poll::Ready(Some(Ok(b))) = c.conn.poll_data(1, &mut cx) {
        got.extend_from_slice(&b);
        pieces += 1;
    }
    assert_eq!(got, vec![b'x'; 90]);
    assert!(pieces < 40, "{pieces} pieces held");
}

#[test]
fn refusals_count_with_this_sides_resets_but_refused_streams_do_not() {
    let mut c = Client::new(limits());
    for _ in 0..256 {
        c.conn.refused().unwrap();
    }
    assert_eq!(c.conn.refused(), Err(Reason::ENHANCE_YOUR_CALM));
    // Streams past the concurrency limit: refused, not counted.
    let mut c = Client::new(limits());
    for id in [1, 3, 5] {
        c.get(id, "/", true).unwrap();
    }
    for k in 0..300 {
        c.get(7 + 2 * k, "/", true).unwrap();
        c.out();
    }
    assert_eq!(c.conn.failed(), None);
}

#[test]
fn a_window_below_the_default_holds_once_acknowledged() {
    // Before its ACK the client may fill the default 65,535 on a stream (§6.9.2).
    let mut c = Client::unacked(limits());
    c.get(1, "/", false).unwrap();
    c.out();
    c.frame(frame::DATA, 0, 1, &[0; 16_384]).unwrap();
    c.frame(frame::DATA, 0, 1, &[0; 16_384]).unwrap();
    assert_eq!(c.out(), [], "within the default window");
    // The ACK: the stream's window drops by 65,535 - 100, below zero (32,768 held).
    c.frame(frame::SETTINGS, frame::ACK, 0, &[]).unwrap();
    c.frame(frame::DATA, 0, 1, &[0; 1]).unwrap();
    assert_eq!(c.out(), [Out::Reset(1, Reason::FLOW_CONTROL_ERROR)]);
    // A stream opened after the ACK has the configured 100.
    c.get(3, "/", false).unwrap();
    c.frame(frame::DATA, 0, 3, &[0; 100]).unwrap();
    c.frame(frame::DATA, 0, 3, &[0; 1]).unwrap();
    assert_eq!(c.out(), [Out::Reset(3, Reason::FLOW_CONTROL_ERROR)]);
}

#[test]
fn a_window_above_the_default_counts_before_the_ack() {
    let mut l = limits();
    l.initial_window_size = 200_000;
    let mut c = Client::unacked(l);
    c.get(1, "/", false).unwrap();
    c.out();
    for _ in 0..5 {
        c.frame(frame::DATA, 0, 1, &[0; 16_384]).unwrap();
    }
    c.frame(frame::SETTINGS, frame::ACK, 0, &[]).unwrap();
    for _ in 0..5 {
        c.frame(frame::DATA, 0, 1, &[0; 16_384]).unwrap();
    }
    assert_eq!(c.out(), [], "163,840 bytes within 200,000");
}

#[test]
fn a_graceful_shutdown_takes_the_streams_in_flight_then_says_the_last() {
    let mut c = Client::new(limits());
    c.get(1, "/", true).unwrap();
    c.out();
    c.conn.go_away_soon();
    assert_eq!(
        c.out(),
        [
            Out::GoAway((1 << 31) - 1, Reason::NO_ERROR),
            Out::Ping(*b"ringlbGA")
        ]
    );
    c.conn.go_away_soon();
    assert_eq!(c.out(), [], "once only");
    // A stream the client opened before it saw the GOAWAY is served; a PING ack
    // with another payload changes nothing.
    c.get(3, "/in-flight", true).unwrap();
    c.frame(frame::PING, frame::ACK, 0, b"whatever").unwrap();
    assert_eq!(c.out(), []);
    // The acknowledgement: every stream sent before it has come; the final GOAWAY.
    c.frame(frame::PING, frame::ACK, 0, b"ringlbGA").unwrap();
    assert_eq!(c.out(), [Out::GoAway(3, Reason::NO_ERROR)]);
    c.get(5, "/late", true).unwrap();
    let paths: Vec<&str> = c.requests.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(paths, ["/", "/in-flight"]);
    // Nothing more: the final GOAWAY is sent once.
    c.conn.go_away(Reason::NO_ERROR);
    c.frame(frame::PING, frame::ACK, 0, b"ringlbGA").unwrap();
    assert_eq!(c.out(), []);
}
