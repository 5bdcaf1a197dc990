//! Differential test of the keepalived importer (issue 19) with real VRRP: the same
//! two-node scenario runs twice in fresh network namespaces, once with keepalived
//! and the original keepalived.conf on both nodes, once with ringlb and what
//! `ringlb import keepalived` made of each file, and both must agree at every step
//! on who holds the virtual IP (exactly one node):
//!
//! 1. both start as BACKUP: the higher priority (A, 150) becomes master;
//! 2. A's tracked file says 1 (`vrrp_track_file`, weight −60: 90 < B's 100): B;
//! 3. the file says 0 again: A preempts;
//! 4. A stops cleanly: B.
//!
//! Each step's expectation is checked against keepalived too (it guards the script).
//! Both sides also mail (`smtp_alert` → `[mail]`) to an SMTP peer in a third
//! namespace: each node's mails, subject and body, must be the same, in order.
//! Root, iproute2 and keepalived only: skipped visibly elsewhere, a failure with
//! `RINGLB_REQUIRE_PRIVILEGED=1` / `RINGLB_REQUIRE_TOOLS=1`.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::import::run_import;
use common::mail::{body, header, Sink, SINK};
use common::netns::Lan;
use common::vrrp::{have_keepalived, keepalived, start_ringlb};
use common::{Ringlb, TempConfig, PATIENCE};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A: usize = 0;
const B: usize = 1;
const NAMES: [&str; 2] = ["A", "B"];
const MAILHOST: usize = 2;

/// One node's keepalived.conf: VRRPv3, 1 s adverts, a tracked file, mail alerts.
fn conf(priority: u8, track: &Path, node: &str) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n  router_id {node}\n  notification_email {{\n    ops@example.org\n  }}\n\
         \x20 notification_email_from {node}@example.org\n  smtp_server {} 2525\n  smtp_connect_timeout 5\n  smtp_alert\n}}\n\
         vrrp_track_file trouble {{\n  file {}\n  weight -60\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  advert_int 1\n\
         \x20 virtual_ipaddress {{\n    {VIP}/24\n  }}\n  track_file {{\n    trouble\n  }}\n}}\n",
        Lan::ip(MAILHOST),
        track.display()
    )
}

enum Side {
    Keepalived,
    Ringlb,
}

/// A node running: its process (and the files it needs kept).
struct Node {
    process: Ringlb,
    _files: Vec<TempConfig>,
}

fn start(lan: &Lan, side: &Side, host: usize, text: &str) -> Node {
    match side {
        Side::Keepalived => {
            let (process, conf) = keepalived(lan, host, text, "Entering BACKUP STATE");
            Node {
                process,
                _files: vec![conf],
            }
        }
        Side::Ringlb => {
            let input = TempConfig::new(text);
            let run = run_import("keepalived", &input.0, &[]);
            assert_eq!(run.code, 0, "the import is not complete:\n{}", run.stderr);
            Node {
                process: start_ringlb(lan, host, &run.stdout, 51),
                _files: vec![input],
            }
        }
    }
}

/// Wait until `holder` alone has the VIP; the observed holder otherwise.
fn wait_holder(lan: &Lan, holder: usize, what: &str, side: &str) {
    let other = 1 - holder;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (h, o) = (lan.has_addr(holder, VIP), lan.has_addr(other, VIP));
        if h && !o {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{side}, {what}: {} should hold {VIP} alone; A has it: {}, B has it: {}",
            NAMES[holder],
            lan.has_addr(A, VIP),
            lan.has_addr(B, VIP)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// keepalived's subject for `node` entering `state`.
fn subject(node: usize, state: &str) -> String {
    format!(
        "[{}] VRRP Instance VI_1 - Entering {state} state",
        NAMES[node]
    )
}

/// Receive mails until every one of `want` (subjects) came; all received, as
/// "subject / body", in arrival order.
fn mails_until(sink: &Sink, want: &[String], side: &str, what: &str) -> Vec<String> {
    let mut left: Vec<&String> = want.iter().collect();
    let mut got = Vec::new();
    while !left.is_empty() {
        let m = sink
            .mails
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{side}, {what}: no mail {left:?}; got {got:?}"));
        let s = header(&m, "Subject").to_string();
        left.retain(|w| **w != s);
        got.push(format!("{s} / {}", body(&m)));
    }
    got
}

/// The scenario on one side: who held the VIP after each step, and the mails sent.
fn scenario(test: &str, side: Side, dir: &Path) -> (Vec<String>, Vec<String>) {
    let name = match side {
        Side::Keepalived => "keepalived",
        Side::Ringlb => "ringlb (imported)",
    };
    let Some(lan) = Lan::new(test, 3) else {
        return Default::default();
    };
    let mut cmd = lan.command(MAILHOST, "python3");
    cmd.args([SINK, "--listen", &format!("{}:2525", Lan::ip(MAILHOST))]);
    let sink = Sink::spawn(cmd);
    let track: PathBuf = dir.join(format!("trouble-{}", name.len()));
    std::fs::write(&track, "0\n").unwrap();
    std::fs::write(track.with_extension("b"), "0\n").unwrap();
    let (mut seen, mut mails) = (Vec::new(), Vec::new());
    let mut a = start(&lan, &side, A, &conf(150, &track, "A"));
    let _b = start(&lan, &side, B, &conf(100, &track.with_extension("b"), "B"));
    let steps: [(&str, usize, Vec<String>); 4] = [
        (
            "start",
            A,
            vec![
                subject(A, "BACKUP"),
                subject(B, "BACKUP"),
                subject(A, "MASTER"),
            ],
        ),
        (
            "A's tracked file says 1",
            B,
            vec![subject(A, "BACKUP"), subject(B, "MASTER")],
        ),
        (
            "A's tracked file says 0",
            A,
            vec![subject(B, "BACKUP"), subject(A, "MASTER")],
        ),
        ("A stops", B, vec![subject(B, "MASTER")]),
    ];
    for (what, holder, want) in steps {
        match what {
            "A's tracked file says 1" => std::fs::write(&track, "1\n").unwrap(),
            "A's tracked file says 0" => std::fs::write(&track, "0\n").unwrap(),
            "A stops" => {
                a.process.signal(libc::SIGTERM);
                a.process.wait_exit();
            }
            _ => {}
        }
        wait_holder(&lan, holder, what, name);
        seen.push(format!("{what}: {}", NAMES[holder]));
        mails.extend(mails_until(&sink, &want, name, what));
    }
    // Whatever else came by now (ringlb's STOP mail was sent before it exited).
    mails.extend(
        sink.mails
            .try_iter()
            .map(|m| format!("{} / {}", header(&m, "Subject"), body(&m))),
    );
    (seen, mails)
}

/// One node's mails, in order.
fn of(mails: &[String], node: usize) -> Vec<&String> {
    let prefix = format!("[{}] ", NAMES[node]);
    mails.iter().filter(|m| m.starts_with(&prefix)).collect()
}

#[test]
fn keepalived_and_ringlb_with_the_imported_file_move_the_vip_alike() {
    let test = "keepalived_and_ringlb_with_the_imported_file_move_the_vip_alike";
    // Without root Lan::new says why (and fails under RINGLB_REQUIRE_PRIVILEGED=1).
    if Lan::new(test, 2).is_none() || !have_keepalived() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ringlb-diff-vrrp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (reference, k_mails) = scenario(test, Side::Keepalived, &dir);
    let (ours, r_mails) = scenario(test, Side::Ringlb, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    for (k, r) in reference.iter().zip(&ours) {
        eprintln!("keepalived {k:<32} | ringlb {r}");
    }
    assert_eq!(reference, ours);
    assert_eq!(reference.len(), 4, "{reference:?}");
    // The same mails from each node, in the same order. Known difference: ringlb
    // mails `Stopping` when A stops; keepalived has that mail in its code but exits
    // before sending it.
    let stopping = "[A] VRRP Instance VI_1 - Stopping / => VRRP Instance stopping <=";
    assert!(r_mails.iter().any(|m| m == stopping), "{r_mails:#?}");
    let r_mails: Vec<String> = r_mails.into_iter().filter(|m| m != stopping).collect();
    for node in [A, B] {
        assert_eq!(
            of(&k_mails, node),
            of(&r_mails, node),
            "mails of {}",
            NAMES[node]
        );
    }
}
