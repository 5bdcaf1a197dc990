use super::*;

/// The first flight of a real rustls client asking for `name` (as TLS records).
fn rustls_hello(name: &str) -> Vec<u8> {
    let config = crate::tls::client_config(None, false).expect("client config");
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut c = rustls::ClientConnection::new(config, server_name).unwrap();
    let mut out = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut out).unwrap();
    }
    out
}

fn sni(buf: &[u8]) -> Result<Option<String>, Hello> {
    let mut scratch = Vec::new();
    match client_hello(buf, &mut scratch) {
        Hello::Done { sni } => Ok(sni.map(|r| String::from_utf8(scratch[r].to_vec()).unwrap())),
        other => Err(other),
    }
}

/// The handshake message of `records` cut into records of at most `size` bytes.
fn refragment(records: &[u8], size: usize) -> Vec<u8> {
    let mut scratch = Vec::new();
    let n = reassemble(records, &mut scratch).unwrap().unwrap();
    let mut out = Vec::new();
    for chunk in scratch[..n].chunks(size) {
        out.extend_from_slice(&[0x16, 3, 1]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

#[test]
fn reads_the_name_of_a_real_client_hello_at_every_truncation() {
    let h = rustls_hello("Api.Example.com");
    assert_eq!(sni(&h), Ok(Some("api.example.com".into())));
    for i in 0..h.len() {
        assert_eq!(sni(&h[..i]), Err(Hello::NeedMore), "prefix {i}");
    }
    // Whatever follows the hello (early data, the next record) does not matter.
    let mut more = h.clone();
    more.extend_from_slice(&[0x17, 3, 3, 0, 1, 0]);
    assert_eq!(sni(&more), Ok(Some("api.example.com".into())));
}

#[test]
fn a_hello_spanning_many_records_is_put_together() {
    let h = rustls_hello("a.example.com");
    for size in [1, 7, 100] {
        let split = refragment(&h, size);
        assert_eq!(sni(&split), Ok(Some("a.example.com".into())), "size {size}");
        for i in (0..split.len()).step_by(13) {
            assert_eq!(
                sni(&split[..i]),
                Err(Hello::NeedMore),
                "size {size} prefix {i}"
            );
        }
    }
}

#[test]
fn a_hello_without_sni_is_done_without_a_name() {
    // An IP address as server name: rustls sends no SNI.
    let h = rustls_hello("127.0.0.1");
    assert_eq!(sni(&h), Ok(None));
}

#[test]
fn refuses_what_is_not_a_client_hello() {
    assert_eq!(
        sni(b"GET / HTTP/1.1\r\n"),
        Err(Hello::Error(HelloError::NotTls))
    );
    assert_eq!(
        sni(b"\x80\x2e\x01\x03\x01"),
        Err(Hello::Error(HelloError::NotTls))
    );
    assert_eq!(sni(b"\x16\x02"), Err(Hello::Error(HelloError::NotTls)));
    // Empty record, a ServerHello, an application-data record in the middle.
    assert_eq!(
        sni(b"\x16\x03\x01\x00\x00"),
        Err(Hello::Error(HelloError::Malformed))
    );
    assert_eq!(
        sni(b"\x16\x03\x01\x00\x04\x02\x00\x00\x00"),
        Err(Hello::Error(HelloError::Malformed))
    );
    let h = rustls_hello("a.example.com");
    let mut split = refragment(&h, 50);
    split[55] = 0x17;
    assert_eq!(sni(&split), Err(Hello::Error(HelloError::Malformed)));
    // A message announced longer than the limit.
    assert_eq!(
        sni(b"\x16\x03\x01\x00\x04\x01\x01\x00\x00"),
        Err(Hello::Error(HelloError::TooLong))
    );
    // Records of one byte each never get past the limit without the message.
    let tiny = refragment(&rustls_hello("a.example.com"), 1);
    assert!(tiny.len() > 1000);
    // A corrupted name length inside the hello.
    let mut bad = h.clone();
    let at = bad.windows(13).position(|w| w == b"a.example.com").unwrap();
    bad[at - 1] = 200;
    assert_eq!(sni(&bad), Err(Hello::Error(HelloError::Malformed)));
    // A name with a byte no host name has.
    let mut bad = h;
    bad[at + 1] = b'/';
    assert_eq!(sni(&bad), Err(Hello::Error(HelloError::Malformed)));
}

#[test]
fn a_hello_in_small_records_that_outgrows_the_limit_is_refused() {
    // A 16000-byte message in 100-byte records: with the records' headers it is
    // longer than MAX_HELLO, so it is refused once MAX_HELLO bytes are in.
    let mut msg = vec![1, 0, 0x3e, 0x7c];
    msg.resize(16004, 0);
    let mut b = Vec::new();
    for chunk in msg.chunks(100) {
        b.extend_from_slice(&[0x16, 3, 1, 0, chunk.len() as u8]);
        b.extend_from_slice(chunk);
    }
    assert_eq!(sni(&b[..MAX_HELLO - 1]), Err(Hello::NeedMore));
    assert_eq!(sni(&b[..MAX_HELLO]), Err(Hello::Error(HelloError::TooLong)));
}
