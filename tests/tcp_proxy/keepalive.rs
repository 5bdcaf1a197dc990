//! TCP keep-alive probes on client and server sockets, only when asked.

use super::*;

/// The timer column (`tr`) of the /proc/net/tcp row of the socket `local` → `remote`
/// (IPv4): "02" is the keep-alive timer, "01" a retransmission, "00" none.
fn tcp_timer(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> Option<String> {
    let hex = |a: std::net::SocketAddr| match a.ip() {
        std::net::IpAddr::V4(ip) => {
            format!("{:08X}:{:04X}", u32::from_le_bytes(ip.octets()), a.port())
        }
        std::net::IpAddr::V6(_) => unreachable!("loopback IPv4 only"),
    };
    let (l, r) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|row| {
        let f: Vec<&str> = row.split_whitespace().collect();
        (f.get(1) == Some(&l.as_str()) && f.get(2) == Some(&r.as_str()))
            .then(|| f.get(5).map(|t| t[..2].to_string()))
            .flatten()
    })
}

/// Polls the timer of ringlb's two sockets of one proxied connection (the client's,
/// the server's) until neither waits on a retransmission (an ACK still delayed),
/// bounded by PATIENCE; returns both.
fn ringlb_timers(tcp_keepalive: bool) -> (String, String) {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = backend.local_addr().unwrap();
    let mut config = tcp_config(1, &[(server, 1)], "");
    if tcp_keepalive {
        config = config
            .replace("mode = \"tcp\"\n", "mode = \"tcp\"\ntcp_keepalive = true\n")
            .replace(
                "balance = \"roundrobin\"\n",
                "balance = \"roundrobin\"\ntcp_keepalive = true\n",
            );
    }
    let rl = Ringlb::start(&config);
    let mut client = connect(rl.addr());
    client.write_all(b"ping").unwrap();
    let (mut up, from) = backend.accept().unwrap();
    let mut got = [0u8; 4];
    up.read_exact(&mut got).unwrap();
    up.write_all(&got).unwrap();
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    let client_side = (rl.addr(), client.local_addr().unwrap());
    let server_side = (from, server);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let c = tcp_timer(client_side.0, client_side.1);
        let s = tcp_timer(server_side.0, server_side.1);
        let settled = |t: &Option<String>| t.as_deref().is_some_and(|t| t != "01");
        let want = |t: &Option<String>| !tcp_keepalive || t.as_deref() == Some("02");
        if (settled(&c) && settled(&s) && want(&c) && want(&s))
            || std::time::Instant::now() > deadline
        {
            return (c.unwrap_or_default(), s.unwrap_or_default());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn tcp_keepalive_sets_keepalive_probes_on_client_and_server_sockets_only_when_asked() {
    // Without the key: no timer on either of ringlb's sockets once the data is acked.
    assert_eq!(ringlb_timers(false), ("00".to_string(), "00".to_string()));
    // With `tcp_keepalive = true` on the frontend and the backend (HAProxy's
    // clitcpka/srvtcpka): the kernel's keep-alive timer runs on both.
    assert_eq!(ringlb_timers(true), ("02".to_string(), "02".to_string()));
}
