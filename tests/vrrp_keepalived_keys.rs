//! keepalived's per-router keys with the real binary in network namespaces:
//! gratuitous ARP on becoming master as configured (`garp_master_repeat`,
//! `garp_master_delay`), counted on the wire by a packet socket in the peer's
//! namespace; `notify_master`/`_backup`/`_stop` run as written, before `notify`.
//! Root only: skipped with a reason elsewhere, and a failure in CI
//! (`RINGLB_REQUIRE_PRIVILEGED=1`).

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::FromRawFd;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use common::netns::{local_service, Lan};
use common::vrrp::start_ringlb;
use common::{TempConfig, PATIENCE};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A: usize = 0;
const B: usize = 1;

/// A packet socket for ARP on every interface of the calling thread's namespace,
/// reads bounded by 100 ms.
fn arp_socket() -> std::fs::File {
    let proto = (libc::ETH_P_ARP as u16).to_be() as i32;
    // SAFETY: plain socket(2) call; the descriptor is checked and then owned by File.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
    assert!(
        fd >= 0,
        "packet socket: {}",
        std::io::Error::last_os_error()
    );
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: setsockopt on our descriptor with a valid timeval of the stated size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVTIMEO");
    // SAFETY: socket(2) just returned this descriptor, owned by nobody else.
    unsafe { std::fs::File::from_raw_fd(fd) }
}

/// Whether an Ethernet frame is a gratuitous ARP for `ip` (sender and target `ip`).
fn is_garp_for(frame: &[u8], ip: Ipv4Addr) -> bool {
    let ip = ip.octets();
    frame.len() >= 42 && frame[12..14] == [0x08, 0x06] && frame[28..32] == ip && frame[38..42] == ip
}

#[test]
fn garp_master_repeat_and_delay_shape_the_announcements() {
    let test = "garp_master_repeat_and_delay_shape_the_announcements";
    let Some(lan) = Lan::new(test, 2) else {
        return;
    };
    // B listens before A starts: when every expected announcement came, it waits
    // 1.5 s more for any extra one (bounded by PATIENCE in all).
    let (ready_tx, ready) = channel();
    let capture = lan.spawn_in(B, move || {
        let mut socket = arp_socket();
        ready_tx.send(()).unwrap();
        let (mut seen, mut buf) = (Vec::new(), [0u8; 2048]);
        let deadline = Instant::now() + PATIENCE;
        let mut quiet_until = None;
        while Instant::now() < deadline && quiet_until.is_none_or(|t| Instant::now() < t) {
            if let Ok(n) = socket.read(&mut buf) {
                if is_garp_for(&buf[..n], VIP) {
                    seen.push(Instant::now());
                    if seen.len() == 4 {
                        quiet_until = Some(Instant::now() + Duration::from_millis(1500));
                    }
                }
            }
        }
        seen
    });
    ready.recv().unwrap();
    let config = vrrp("garp_master_repeat = 2\ngarp_master_delay = \"1s\"\n");
    let mut a = start_ringlb(&lan, A, &config, 51);
    a.wait_for("vrrp: entering MASTER state");
    let seen = capture.join().unwrap();
    assert_eq!(
        seen.len(),
        4,
        "2 at once and 2 after the delay, no more: {seen:?}"
    );
    // The second burst waits for garp_master_delay (1 s); a lower bound only, with
    // room for a late read of the first burst.
    assert!(
        seen[2] - seen[1] >= Duration::from_millis(500),
        "the second burst came without the delay: {seen:?}"
    );
}

/// The `[vrrp]` section every test here uses, with `extra` lines.
fn vrrp(extra: &str) -> String {
    let vrrp = format!(
        "[vrrp]\ninterface = \"eth0\"\nvirtual_router_id = 51\npriority = 150\n\
         advert_interval = \"100ms\"\nvirtual_ips = [\"{VIP}/24\"]\n{extra}"
    );
    local_service(&[SocketAddr::from((VIP, 8080))], false, &vrrp)
}

#[test]
fn notify_state_commands_run_as_written_before_notify() {
    let test = "notify_state_commands_run_as_written_before_notify";
    let Some(lan) = Lan::new(test, 1) else {
        return;
    };
    let out = TempConfig::new("");
    let script = TempConfig::new(&format!(
        "#!/bin/sh\necho \"$* $RINGLB_VRRP_STATE\" >> {}\n",
        out.0.display()
    ));
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&script.0, mode).expect("chmod");
    let s = script.0.display();
    let extra = format!(
        "notify = \"{s}\"\nnotify_master = [\"{s}\", \"MASTER\", \"VI_1\"]\n\
         notify_backup = [\"{s}\", \"B\"]\nnotify_stop = [\"{s}\", \"S\"]\n"
    );
    let mut a = start_ringlb(&lan, A, &vrrp(&extra), 51);
    a.wait_for("vrrp: entering MASTER state");
    a.signal(libc::SIGTERM);
    assert!(a.wait_exit().success());
    // Each state's own command (its arguments only), then notify (STATE PRIORITY);
    // STOP's ran before ringlb exited. No notify_fault: nothing ran for it.
    let lines = std::fs::read_to_string(&out.0).expect("notify output");
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [
            "B BACKUP",
            "BACKUP 150 BACKUP",
            "MASTER VI_1 MASTER",
            "MASTER 150 MASTER",
            "S STOP",
            "STOP 150 STOP"
        ],
        "{}",
        a.log.join("\n")
    );
}
