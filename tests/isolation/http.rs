//! HTTP victims and poisons on plain and TLS frontends, the server's view checked.

use super::*;

// ---------------------------------------------------------------------------------
// HTTP victims and poisons.

/// `requests` GETs of fresh `/victim-<id>` paths on one connection, one after the
/// other, the last with `Connection: close`; each must be answered 200 with exactly its
/// own `victim-<id>`, and the connection must then end with nothing more.
fn victim<S: Read + Write>(wire: &mut Wire<S>, run: &mut Run, requests: usize, after: &str) {
    run.victim_conns += 1;
    for i in 0..requests {
        run.next_id += 1;
        let path = format!("/victim-{}", run.next_id);
        run.sent.insert(format!("GET {path}"));
        run.victim_requests += 1;
        let close = if i + 1 == requests {
            "Connection: close\r\n"
        } else {
            ""
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: victim\r\n{close}\r\n");
        let at = format!("{path} (request {} of {requests}) after {after}", i + 1);
        if let Err(e) = wire.send(request.as_bytes()) {
            run.v
                .add("victim: could not send its request", format!("{at}: {e}"));
            return;
        }
        let (status, head, body) = match wire.response() {
            Ok(r) => r,
            Err(e) => return run.v.add("victim: no whole response", format!("{at}: {e}")),
        };
        if status != 200 {
            let first = head.lines().next().unwrap_or("");
            run.v
                .add("victim: status other than 200", format!("{at}: {first:?}"));
            return;
        }
        if body != path.as_bytes()[1..] {
            let got = show(&body);
            run.v.add(
                "victim: body of another request",
                format!("{at}: got {got}"),
            );
            return;
        }
    }
    match wire.rest_until_eof() {
        Ok(rest) if rest.is_empty() => {}
        Ok(rest) => run.v.add(
            "victim: bytes after its own response",
            format!("last request after {after}: {}", show(&rest)),
        ),
        Err(e) => run.v.add(
            "victim: connection not closed after Connection: close",
            format!("after {after}: {e}"),
        ),
    }
}

#[derive(Debug, Clone, Copy)]
enum Poison {
    /// `Transfer-Encoding: chunked` whose "chunk" is a request (an invalid size line).
    BadChunked,
    /// The same over TLS.
    TlsBadChunked,
    /// `Content-Length: 100`, 10 bytes that start a request, then FIN or reset.
    ClientCutBody,
    /// A good request, then after its response something that looks like a request.
    GarbageAfterResponse,
    /// The server answers with bytes that are no status line.
    ServerGarbage,
    /// The server answers with a request.
    ServerRequest,
    /// The server announces 1000 body bytes, sends 10 and closes.
    ServerCutBody,
    /// The server sends an unsolicited response right after the real one.
    ServerExtraNow,
    /// ... or 20 ms after it, on the idle keep-alive connection.
    ServerExtraLate,
}

const POISONS: [Poison; 9] = [
    Poison::BadChunked,
    Poison::TlsBadChunked,
    Poison::ClientCutBody,
    Poison::GarbageAfterResponse,
    Poison::ServerGarbage,
    Poison::ServerRequest,
    Poison::ServerCutBody,
    Poison::ServerExtraNow,
    Poison::ServerExtraLate,
];

/// One poison connection (its own outcome is not checked, only that it ends).
fn poison(kind: Poison, round: usize, (web, tls_web): (SocketAddr, SocketAddr), run: &mut Run) {
    run.poisons += 1;
    let chunked = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n{SMUGGLED}")
    };
    let result = match kind {
        Poison::BadChunked => {
            run.sent.insert("POST /poison-chunked".into());
            plain(web).and_then(|w| send_until_eof(w, &chunked("/poison-chunked")))
        }
        Poison::TlsBadChunked => {
            run.sent.insert("POST /poison-tls-chunked".into());
            tls(tls_web).and_then(|w| send_until_eof(w, &chunked("/poison-tls-chunked")))
        }
        Poison::ClientCutBody => client_cut_body(web, round, run),
        Poison::GarbageAfterResponse => garbage_after_response(web, round, run),
        Poison::ServerGarbage => server_poison(web, "/poison-garbage", round, run),
        Poison::ServerRequest => server_poison(web, "/poison-request", round, run),
        Poison::ServerCutBody => server_poison(web, "/poison-midclose", round, run),
        Poison::ServerExtraNow => server_poison(web, "/poison-extra-now", round, run),
        Poison::ServerExtraLate => server_poison(web, "/poison-extra-late", round, run),
    };
    if let Err(e) = result {
        // Not a violation by itself (ringlb may reset a poison), but worth seeing.
        eprintln!("poison {kind:?} in round {round}: {e}");
    }
    thread::sleep(SETTLE);
}

/// Send `request` and read until ringlb closes.
fn send_until_eof<S: Read + Write>(mut w: Wire<S>, request: &str) -> io::Result<()> {
    w.send(request.as_bytes())?;
    w.rest_until_eof().map(drop).map_err(io::Error::other)
}

fn client_cut_body(web: SocketAddr, round: usize, run: &mut Run) -> io::Result<()> {
    run.sent.insert("POST /poison-cut".into());
    let mut w = plain(web)?;
    w.send(b"POST /poison-cut HTTP/1.1\r\nHost: p\r\nContent-Length: 100\r\n\r\nGET /SMUGG")?;
    if round % 2 == 0 {
        w.s.shutdown(Shutdown::Write)?;
        let _ = w.rest_until_eof();
    } else {
        thread::sleep(Duration::from_millis(2));
        reset(w.s);
    }
    Ok(())
}

fn garbage_after_response(web: SocketAddr, round: usize, run: &mut Run) -> io::Result<()> {
    run.sent.insert("GET /poison-pipeline".into());
    let mut w = plain(web)?;
    w.send(b"GET /poison-pipeline HTTP/1.1\r\nHost: p\r\n\r\n")?;
    w.response().map_err(io::Error::other)?;
    let garbage: &[u8] = match round % 3 {
        0 => b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
        1 => b"\x01\x02garbage GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
        _ => b"GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n", // a head that never ends
    };
    w.send(garbage)?;
    if round % 3 == 2 {
        w.s.shutdown(Shutdown::Write)?;
    }
    let _ = w.rest_until_eof();
    Ok(())
}

/// A request to a misbehaving server path; every other round with `Connection: close`
/// (read to EOF), else keep-alive (read one response, then close).
fn server_poison(web: SocketAddr, path: &str, round: usize, run: &mut Run) -> io::Result<()> {
    run.sent.insert(format!("GET {path}"));
    let mut w = plain(web)?;
    let close = round % 2 == 0;
    let header = if close { "Connection: close\r\n" } else { "" };
    w.send(format!("GET {path} HTTP/1.1\r\nHost: p\r\n{header}\r\n").as_bytes())?;
    if close {
        let _ = w.rest_until_eof();
    } else {
        let _ = w.response();
    }
    Ok(())
}

/// `ISOLATION_HTTP_REUSE=always` (or `aggressive`) runs the mixed test below under that
/// policy, to count what it lets through (see docs/configuration.md, `http_reuse`: a
/// late response that arrives after the next request went out on the connection is
/// read as that request's, with any policy that shares connections); the default
/// policy is what the test asserts in CI.
fn http_config(backend: SocketAddr, certs: &CertDir) -> String {
    let reuse = std::env::var("ISOLATION_HTTP_REUSE")
        .map(|r| format!("http_reuse = \"{r}\"\n"))
        .unwrap_or_default();
    format!(
        "[global]\nworkers = 2\npin_workers = false\ngrace_period = \"1s\"\n\n\
         [[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[frontend]]\nname = \"webtls\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\
         [frontend.tls]\ncertificates = [{}]\n\n\
         [[backend]]\nname = \"app\"\n{reuse}\n[[backend.server]]\nname = \"a1\"\naddress = \"{backend}\"\n",
        certs.entry("site")
    )
}

/// The four victims after a poison burst: a fresh plain connection, plain keep-alive
/// ones with 2 and 3 requests, and a TLS one (fresh or with 2 requests).
fn victims(run: &mut Run, (web, tls_web): (SocketAddr, SocketAddr), round: usize, after: &str) {
    for i in 0..VICTIMS {
        let result = match i % 4 {
            0 => plain(web).map(|mut w| victim(&mut w, run, 1, after)),
            1 => plain(web).map(|mut w| victim(&mut w, run, 2, after)),
            2 => tls(tls_web).map(|mut w| victim(&mut w, run, 1 + round % 2, after)),
            _ => plain(web).map(|mut w| victim(&mut w, run, 3, after)),
        };
        if let Err(e) = result {
            run.v
                .add("victim: could not connect", format!("after {after}: {e}"));
        }
    }
}

/// Every request line the server saw must be one a client sent.
fn check_backend_lines(lines: &[String], run: &mut Run) {
    for line in lines {
        let key = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        if run.sent.contains(&key) {
            continue;
        }
        let kind = if line.contains("/SMUGGLED") {
            "server: received the smuggled request GET /SMUGGLED"
        } else if line.contains("/FROMSERVER") {
            "server: received its own bytes as a request GET /FROMSERVER"
        } else {
            "server: received a request line no client sent"
        };
        run.v.add(kind, format!("{line:?}"));
    }
}

#[test]
fn http_poisoned_connections_never_leak_into_other_connections() {
    let backend = Backend::start();
    let certs = CertDir::new();
    certs.write("site", &["localhost"]);
    let rl = Ringlb::start(&http_config(backend.addr, &certs));
    let addrs = (rl.addrs[0], rl.addrs[1]);
    let mut run = Run::default();
    let start = Instant::now();
    'rounds: for round in 0..ROUNDS {
        for kind in POISONS {
            if start.elapsed() > BUDGET {
                eprintln!("time budget used up in round {round}: stopping early");
                break 'rounds;
            }
            for _ in 0..BURST {
                poison(kind, round, addrs, &mut run);
            }
            let before = run.v.total();
            victims(&mut run, addrs, round, &format!("{kind:?} (round {round})"));
            let found = run.v.total() - before;
            *run.by_poison.entry(format!("{kind:?}")).or_default() += found;
            run.groups += 1;
        }
    }
    // Let requests still on their way reach the server's log.
    thread::sleep(Duration::from_millis(300));
    let lines = lock(&backend.lines).clone();
    check_backend_lines(&lines, &mut run);
    eprintln!(
        "{} (server saw {} requests, in {:?})",
        run.summary(),
        lines.len(),
        start.elapsed()
    );
    assert!(run.v.total() == 0, "{}", run.summary());
}
