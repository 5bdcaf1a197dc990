//! Routes, redirects and power-of-two choices away from a slow server.

use super::*;

#[test]
fn routes_and_redirects() {
    let web = Backend::start();
    let api = Backend::start();
    let cfg = format!(
        "[global]\nworkers = 1\npin_workers = false\n\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"web\"\n\n\
         [[frontend.redirect]]\npath_prefix = \"/old/\"\nlocation = \"https://example.com/new/\"\nstatus = 308\n\n\
         [[frontend.route]]\nhost = \"*.api.test\"\npath_prefix = \"/v1/\"\nbackend = \"api\"\n\n\
         [[backend]]\nname = \"web\"\n[[backend.server]]\nname = \"w\"\naddress = \"{}\"\n\n\
         [[backend]]\nname = \"api\"\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
        web.addr, api.addr
    );
    let rl = Ringlb::start(&cfg);
    let mut c = Client::connect(rl.addr());
    c.send(b"GET /v1/users HTTP/1.1\r\nHost: eu.api.test\r\n\r\n");
    assert_eq!(c.response(false).2, b"ok GET /v1/users 0");
    c.send(b"GET /v1/users HTTP/1.1\r\nHost: www.test\r\n\r\n");
    assert_eq!(c.response(false).2, b"ok GET /v1/users 0");
    assert_eq!((api.requests(), web.requests()), (1, 1));
    c.send(b"GET /old/page HTTP/1.1\r\nHost: www.test\r\n\r\n");
    let (status, head, _) = c.response(false);
    assert_eq!(status, 308);
    assert!(
        head.contains("location: https://example.com/new/\r\n"),
        "{head}"
    );
    assert_eq!(web.requests(), 1, "a redirected request reached a backend");
}

#[test]
fn p2c_moves_traffic_away_from_a_slow_server() {
    let fast = Backend::start();
    let slow = Backend::start_with_delay(Duration::from_millis(30));
    let cfg = format!(
        "[global]\nworkers = 1\npin_workers = false\n\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\ndefault_backend = \"app\"\n\n\
         [[backend]]\nname = \"app\"\nbalance = \"p2c\"\n\n[[backend.server]]\nname = \"fast\"\naddress = \"{}\"\n\n[[backend.server]]\nname = \"slow\"\naddress = \"{}\"\n",
        fast.addr, slow.addr
    );
    let rl = Ringlb::start(&cfg);
    let mut c = Client::connect(rl.addr());
    for i in 0..40 {
        assert_eq!(c.get(&format!("/r{i}")).0, 200);
    }
    // Both are tried (an unmeasured server scores 0); once the slow one has answered
    // slowly, the fast one wins every comparison.
    assert!(
        slow.requests() <= 3,
        "slow server got {} of 40",
        slow.requests()
    );
    assert!(fast.requests() >= 37);
}
