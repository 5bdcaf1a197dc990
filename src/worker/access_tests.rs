//! Tests of the access log: line shape, dates, the writer falling behind, err
//! batches and early (`log_asap`) lines.

use super::*;

#[test]
fn dates_are_utc_civil_dates() {
    assert_eq!(&date_time(0), b"1970-01-01T00:00:00");
    assert_eq!(&date_time(951_782_400), b"2000-02-29T00:00:00");
    assert_eq!(&date_time(1_795_390_204), b"2026-11-22T23:30:04");
}

#[test]
fn a_line_has_every_field_and_no_stray_quotes() {
    let (tx, rx) = crossbeam_channel::bounded(4);
    let log = AccessLog::new(tx);
    log.log(
        &Entry {
            peer: "127.0.0.1:5555".parse().unwrap(),
            frontend: "web",
            backend: Some("app"),
            server: Some("a1"),
            status: Some(200),
            bytes_in: 78,
            bytes_out: 1532,
            duration: Duration::from_micros(1204),
            request: b"GET /a\"b HTTP/1.1",
            tls: Some(("TLSv1.3", "TLS13_AES_128_GCM_SHA256")),
            rule: None,
            asap: false,
        },
        false,
    );
    log.log(
        &Entry {
            peer: "127.0.0.1:5556".parse().unwrap(),
            frontend: "db",
            backend: Some("pg"),
            server: None,
            status: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            request: b"",
            tls: None,
            rule: None,
            asap: false,
        },
        false,
    );
    log.flush();
    let text = String::from_utf8(rx.try_recv().unwrap().lines).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(
        "Z 127.0.0.1:5555 web app/a1 200 78 1532 1.204ms \"GET /a?b HTTP/1.1\" TLSv1.3/TLS13_AES_128_GCM_SHA256"
    ), "{}", lines[0]);
    assert!(
        lines[1].ends_with("Z 127.0.0.1:5556 db pg/- - 0 0 0.000ms \"TCP\" -"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[0].as_bytes()[23],
        b'Z',
        "millisecond timestamp: {}",
        lines[0]
    );
}

#[test]
fn a_writer_that_falls_behind_costs_lines_not_waiting() {
    let (tx, _rx) = crossbeam_channel::bounded(1);
    let log = AccessLog::new(tx);
    let entry = Entry {
        peer: "127.0.0.1:1".parse().unwrap(),
        frontend: "f",
        backend: None,
        server: None,
        status: Some(503),
        bytes_in: 0,
        bytes_out: 0,
        duration: Duration::ZERO,
        request: b"GET / HTTP/1.1",
        tls: None,
        rule: None,
        asap: false,
    };
    log.log(&entry, false);
    log.flush(); // fills the queue of one
    log.log(&entry, false);
    log.log(&entry, false);
    log.flush(); // nobody reads: dropped, counted
    assert_eq!(log.dropped.get(), 2);
}

fn record(status: Option<u16>, term: &[u8; 2]) -> Record {
    let mut r = Record::new("127.0.0.1:1".parse().unwrap(), 0, None, false);
    r.status = status;
    r.term = *term;
    r
}

#[test]
fn errors_as_haproxy_separates_them() {
    assert!(!is_error(&record(Some(200), b"--")));
    assert!(!is_error(&record(Some(404), b"--")));
    assert!(
        !is_error(&record(None, b"LR")),
        "a local answer (stats, redirect)"
    );
    assert!(is_error(&record(Some(503), b"--")));
    assert!(is_error(&record(None, b"SC")));
    assert!(
        is_error(&record(Some(200), b"CD")),
        "client aborted mid-body"
    );
    let mut retried = record(Some(200), b"--");
    retried.retries = 1;
    assert!(is_error(&retried));
}

#[test]
fn err_lines_go_out_as_a_batch_of_their_own_and_early_lines_say_plus() {
    let (tx, rx) = crossbeam_channel::bounded(4);
    let log = AccessLog::new(tx);
    let entry = |status, asap| Entry {
        peer: "127.0.0.1:1".parse().unwrap(),
        frontend: "f",
        backend: None,
        server: None,
        status: Some(status),
        bytes_in: 10,
        bytes_out: 20,
        duration: Duration::from_millis(3),
        request: b"GET / HTTP/1.1",
        tls: None,
        rule: None,
        asap,
    };
    log.log(&entry(200, true), false);
    log.log(&entry(502, false), true);
    log.log(&entry(201, false), false);
    log.flush();
    let errs = rx.try_recv().unwrap();
    assert_eq!(errs.severity, ERR);
    let text = String::from_utf8(errs.lines).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains(" 502 10 20 3.000ms "), "{text}");
    let infos = rx.try_recv().unwrap();
    assert_eq!(infos.severity, INFO);
    let text = String::from_utf8(infos.lines).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains(" 200 10 +20 +3.000ms "), "{}", lines[0]);
    assert!(lines[1].contains(" 201 10 20 3.000ms "), "{}", lines[1]);
    assert!(rx.try_recv().is_err());
}
