//! Tests of `pipe.rs` (kept apart so the module stays readable at a glance).

use super::*;

#[test]
fn bytes_flow_both_ways_and_eof_follows_close() {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .unwrap();
    rt.block_on(flow());
}

async fn flow() {
    let (mut end, peer) = pipe(4, false);
    let writer = async {
        peer.write_all(b"hello world").await.unwrap();
        peer.close_write();
    };
    let reader = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = end.read_into(&mut buf).await;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    let ((), got) = futures_util::future::join(writer, reader).await;
    assert_eq!(got, b"hello world");
    assert_eq!(
        end.write_from(b"abcdef").await.unwrap(),
        4,
        "bounded by cap"
    );
    let mut out = Vec::new();
    assert_eq!(peer.read_append(&mut out, 16).await, 4);
    drop(end);
    assert_eq!(peer.read_append(&mut out, 16).await, 0);
    assert!(peer.write_all(b"x").await.is_err(), "the session is gone");
}

#[test]
fn bytes_keep_their_order_where_the_ring_wraps() {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .unwrap();
    rt.block_on(wrap());
}

async fn wrap() {
    // cap 6: a lane's storage is allocated at its first write (6 bytes, the
    // cap), and reads and writes wrap around it.
    let (mut end, peer) = pipe(6, false);
    let mut sent = Vec::new();
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    for i in 0..50u8 {
        let chunk = [i, i.wrapping_mul(3), i.wrapping_add(7)];
        peer.write_all(&chunk).await.unwrap();
        sent.extend_from_slice(&chunk);
        // Read less than was written: the ring holds some, and wraps.
        let n = end.read_into(&mut buf[..2 + usize::from(i % 3)]).await;
        got.extend_from_slice(&buf[..n]);
    }
    peer.close_write();
    loop {
        let n = end.read_into(&mut buf).await;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, sent);
    // The other way, appending: the same bytes in the same order.
    let mut out = Vec::new();
    for chunk in sent.chunks(5) {
        let mut left = chunk;
        while !left.is_empty() {
            let n = end.write_from(left).await.unwrap();
            left = &left[n..];
            peer.read_append(&mut out, 3).await;
        }
    }
    end.close_write();
    while peer.read_append(&mut out, 64).await > 0 {}
    assert_eq!(out, sent);
}

#[test]
fn lane_storage_is_kept_for_the_next_pipes() {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .unwrap();
    rt.block_on(reuse());
}

async fn reuse() {
    let spares = || SPARE.with(|s| s.borrow().len());
    let before = spares();
    let (mut end, peer) = pipe(64 * 1024, false);
    let state = Rc::as_ptr(&peer.shared);
    end.write_from(b"response").await.unwrap();
    peer.write_all(b"request").await.unwrap();
    end.note_own_head(3);
    drop((end, peer));
    assert_eq!(spares(), before + 2, "both lanes' storage kept");
    let (mut end, peer) = pipe(64 * 1024, false);
    assert_eq!(
        Rc::as_ptr(&peer.shared),
        state,
        "the shared state is kept too"
    );
    assert!(peer.shared.borrow().own_head.is_none(), "and starts anew");
    // An end held by a reader handle is not kept while that handle lives.
    let (other, other_peer) = pipe(16, false);
    let reader = other.reader();
    drop((other, other_peer));
    assert_eq!(PIPES.with(|p| p.borrow().len()), 0);
    drop(reader);
    end.write_from(b"next").await.unwrap();
    assert_eq!(spares(), before + 1, "taken by the first write");
    let mut out = Vec::new();
    assert_eq!(peer.read_append(&mut out, 64).await, 4);
    assert_eq!(out, b"next", "kept storage starts empty");
    // A lane grown past the largest kept is freed, not kept.
    end.write_from(&[7; 20 * 1024]).await.unwrap();
    drop((end, peer));
    assert_eq!(spares(), before + 1);
}

#[test]
fn a_noted_head_is_found_where_it_starts() {
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()
        .unwrap();
    rt.block_on(noted());
}

async fn noted() {
    let (mut end, peer) = pipe(64, false);
    // An unnoted head first (an error answer, say), then a noted one.
    end.write_from(b"abc").await.unwrap();
    end.note_own_head(4);
    end.write_from(b"HEADbody").await.unwrap();
    let mut buf = Vec::new();
    peer.read_append(&mut buf, 2).await;
    assert_eq!(peer.own_head(buf.len()), None, "at the unnoted bytes");
    peer.read_append(&mut buf, 64).await;
    assert_eq!(peer.own_head(buf.len()), None, "still at the unnoted bytes");
    buf.drain(..3);
    assert_eq!(peer.own_head(buf.len()), Some(4), "at the noted head");
    buf.drain(..4);
    assert_eq!(peer.own_head(buf.len()), None, "past it");
    // Two noted before the reader came: the first is parsed in full.
    end.note_own_head(2);
    end.write_from(b"h1").await.unwrap();
    end.note_own_head(3);
    end.write_from(b"h22").await.unwrap();
    buf.clear();
    peer.read_append(&mut buf, 64).await;
    assert_eq!(peer.own_head(buf.len()), None);
    buf.drain(..2);
    assert_eq!(peer.own_head(buf.len()), Some(3));
}
