//! Steering by client address (`steering = "source"`): a classic BPF program attached
//! to a frontend address's `SO_REUSEPORT` group picks the listening socket from the
//! client's source address alone, so every connection of one client lands on one
//! worker (per-client state then lives in exactly one worker, without locks). The
//! program's return value is the index of the socket in the group, which is the order
//! in which the sockets joined it: [`bind_for_workers`](super::bind_for_workers) binds
//! worker 0's socket first, so index *i* is worker *i*.
//!
//! The program reads the network header through `SKF_NET_OFF` (for TCP it runs on the
//! SYN with the data pointer after the TCP header). It branches on the IP version
//! nibble, because an IPv6 listener on `[::]` also receives IPv4 clients, with an IPv4
//! header: IPv4 hashes the 4-byte source, IPv6 folds the four words of its 16-byte
//! source, and an IPv4-mapped IPv6 source (`::ffff:a.b.c.d`) hashes as the IPv4
//! address. One client therefore maps to the same worker on every frontend and
//! listener family. Anything else returns an index out of range, which makes the
//! kernel use its own hash. [`worker_for`] is the same function in Rust.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use libc::sock_filter;

/// `SO_ATTACH_REUSEPORT_CBPF` and `SO_DETACH_REUSEPORT_BPF` (asm-generic values, as on
/// x86_64 and aarch64; the libc crate has them only for Android).
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;
const SO_DETACH_REUSEPORT_BPF: libc::c_int = 68;

/// Loads relative to the network header.
const NET: u32 = libc::SKF_NET_OFF as u32;
/// Folds the words of an IPv6 source (odd: a bijection of u32).
const FOLD: u32 = 0x9e37_79b1;
/// MurmurHash3's finaliser constants: neighbouring addresses spread well.
const FMIX1: u32 = 0x85eb_ca6b;
const FMIX2: u32 = 0xc2b2_ae35;
/// Returned for a packet that is neither IPv4 nor IPv6: out of range, so the kernel
/// falls back to its own hash.
pub const FALLBACK: u32 = u32::MAX;

/// The 32-bit hash of a client address, as the program computes it.
pub fn hash(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(a) => fmix(u32::from(a)),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => fmix(u32::from(v4)),
            None => fmix(a.octets().chunks(4).fold(0u32, |h, w| {
                let w = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                h.wrapping_add(w).wrapping_mul(FOLD)
            })),
        },
    }
}

/// The worker (socket index in the group) the program sends `ip` to.
pub fn worker_for(ip: IpAddr, workers: usize) -> usize {
    (hash(ip) % group_size(workers)) as usize
}

fn group_size(workers: usize) -> u32 {
    u32::try_from(workers.max(1)).unwrap_or(u32::MAX)
}

fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(FMIX1);
    h ^= h >> 13;
    h = h.wrapping_mul(FMIX2);
    h ^ (h >> 16)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    V4,
    V6Full,
    Mix,
    Fallback,
}

/// One line of the program before jumps are resolved.
enum Op {
    I(u32, u32),
    /// `jeq #k`, to the label or (None) the next instruction.
    Jeq(u32, Option<Label>, Option<Label>),
    Ja(Label),
    At(Label),
}

fn insn(code: u32, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The steering program for a group of `workers` sockets (a pure function: the
/// instructions only; [`attach`] gives them to the kernel).
pub fn program(workers: usize) -> Vec<sock_filter> {
    use libc::{
        BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_K, BPF_LD, BPF_MISC, BPF_MOD, BPF_MUL,
        BPF_RET, BPF_RSH, BPF_TAX, BPF_W, BPF_X, BPF_XOR,
    };
    use Op::{At, Ja, Jeq, I};
    let ld_w = |off: u32| I(BPF_LD | BPF_W | BPF_ABS, NET.wrapping_add(off));
    let alu_k = |op: u32, k: u32| I(BPF_ALU | op | BPF_K, k);
    let alu_x = |op: u32| I(BPF_ALU | op | BPF_X, 0);
    let tax = || I(BPF_MISC | BPF_TAX, 0);
    let mut ops = vec![
        I(BPF_LD | BPF_B | BPF_ABS, NET),
        alu_k(BPF_AND, 0xf0),
        Jeq(0x40, Some(Label::V4), None),
        Jeq(0x60, None, Some(Label::Fallback)),
        // IPv6: ::ffff:a.b.c.d hashes as a.b.c.d.
        ld_w(8),
        Jeq(0, None, Some(Label::V6Full)),
        ld_w(12),
        Jeq(0, None, Some(Label::V6Full)),
        ld_w(16),
        Jeq(0xffff, None, Some(Label::V6Full)),
        ld_w(20),
        Ja(Label::Mix),
        At(Label::V6Full),
    ];
    // h = (h + word) * FOLD over the four words, h kept in X between them.
    for i in 0..4 {
        ops.push(ld_w(8 + 4 * i));
        if i > 0 {
            ops.push(alu_x(BPF_ADD));
        }
        ops.push(alu_k(BPF_MUL, FOLD));
        if i < 3 {
            ops.push(tax());
        }
    }
    ops.extend([Ja(Label::Mix), At(Label::V4), ld_w(12), At(Label::Mix)]);
    for (shift, mul) in [(16, Some(FMIX1)), (13, Some(FMIX2)), (16, None)] {
        ops.extend([tax(), alu_k(BPF_RSH, shift), alu_x(BPF_XOR)]);
        if let Some(m) = mul {
            ops.push(alu_k(BPF_MUL, m));
        }
    }
    ops.extend([
        alu_k(BPF_MOD, group_size(workers)),
        I(BPF_RET | libc::BPF_A, 0),
        At(Label::Fallback),
        I(BPF_RET | BPF_K, FALLBACK),
    ]);
    assemble(&ops)
}

/// Resolve labels into relative jump offsets.
fn assemble(ops: &[Op]) -> Vec<sock_filter> {
    let mut at = Vec::new();
    let mut pc = 0usize;
    for op in ops {
        match op {
            Op::At(l) => at.push((*l, pc)),
            _ => pc += 1,
        }
    }
    let target = |l: Label| at.iter().find(|(x, _)| *x == l).expect("label").1;
    let mut out = Vec::with_capacity(pc);
    for op in ops {
        let pc = out.len();
        let rel = |l: Option<Label>| {
            l.map_or(0, |l| {
                u8::try_from(target(l) - pc - 1).expect("jump fits in u8")
            })
        };
        match op {
            Op::I(code, k) => out.push(insn(*code, 0, 0, *k)),
            Op::Jeq(k, t, f) => out.push(insn(
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
                rel(*t),
                rel(*f),
                *k,
            )),
            Op::Ja(l) => out.push(insn(
                libc::BPF_JMP | libc::BPF_JA,
                0,
                0,
                (target(*l) - pc - 1) as u32,
            )),
            Op::At(_) => {}
        }
    }
    out
}

/// Attach the steering program for `workers` sockets to the reuseport group of
/// `socket` (any socket of the group: the program belongs to the group). Replaces a
/// program attached before.
pub fn attach(socket: &impl AsRawFd, workers: usize) -> io::Result<()> {
    let mut filter = program(workers);
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `filter`, alive for the call; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            (&prog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Remove the group's program: the kernel's hash picks again.
pub fn detach(socket: &impl AsRawFd) -> io::Result<()> {
    let zero: libc::c_int = 0;
    // SAFETY: a plain int option value, alive for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_DETACH_REUSEPORT_BPF,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The program as text, one instruction a line (for documentation and tests).
pub fn listing(prog: &[sock_filter]) -> String {
    let mut s = String::new();
    for (pc, i) in prog.iter().enumerate() {
        s.push_str(&format!(
            "{pc:3}: code={:#06x} jt={} jf={} k={:#010x}\n",
            i.code, i.jt, i.jf, i.k
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A tiny classic-BPF interpreter: the instructions [`program`] uses, loads
    /// relative to the network header only (`pkt` is the network header onwards).
    /// Like the kernel, a load outside the packet returns 0 from the program.
    fn run(prog: &[sock_filter], pkt: &[u8]) -> u32 {
        use libc::*;
        let (mut a, mut x) = (0u32, 0u32);
        let mut pc = 0usize;
        loop {
            let i = prog
                .get(pc)
                .copied()
                .expect("ran off the end of the program");
            pc += 1;
            let code = u32::from(i.code);
            let load = |size: usize| -> Option<u32> {
                let off = (i.k as i32).checked_sub(SKF_NET_OFF)?;
                let off = usize::try_from(off).ok()?;
                let bytes = pkt.get(off..off + size)?;
                Some(bytes.iter().fold(0u32, |v, b| (v << 8) | u32::from(*b)))
            };
            match code {
                c if c == BPF_LD | BPF_W | BPF_ABS => match load(4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == BPF_LD | BPF_B | BPF_ABS => match load(1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c & 0x07 == BPF_ALU => {
                    let v = if c & BPF_X != 0 { x } else { i.k };
                    a = match c & 0xf0 {
                        BPF_ADD => a.wrapping_add(v),
                        BPF_SUB => a.wrapping_sub(v),
                        BPF_MUL => a.wrapping_mul(v),
                        BPF_AND => a & v,
                        BPF_OR => a | v,
                        BPF_XOR => a ^ v,
                        BPF_LSH => a.checked_shl(v).unwrap_or(0),
                        BPF_RSH => a.checked_shr(v).unwrap_or(0),
                        BPF_DIV | BPF_MOD if v == 0 => return 0,
                        BPF_DIV => a / v,
                        BPF_MOD => a % v,
                        op => panic!("ALU op {op:#x} not in the interpreter"),
                    };
                }
                c if c == BPF_MISC | BPF_TAX => x = a,
                c if c == BPF_JMP | BPF_JA => pc += i.k as usize,
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf })
                }
                c if c == BPF_RET | BPF_K => return i.k,
                c if c == BPF_RET | BPF_A => return a,
                c => panic!("instruction {c:#06x} not in the interpreter"),
            }
        }
    }

    /// An IPv4 header (20 bytes) from `src`, plus a few bytes of TCP.
    fn v4_packet(src: Ipv4Addr) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = 6;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&[127, 0, 0, 1]);
        p
    }

    /// An IPv6 header (40 bytes) from `src`, plus a few bytes of TCP.
    fn v6_packet(src: Ipv6Addr) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[6] = 6;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p
    }

    /// Deterministic pseudo-random addresses.
    fn lcg(seed: &mut u64) -> u32 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 32) as u32
    }

    fn v4_samples() -> Vec<Ipv4Addr> {
        let mut seed = 7;
        let mut v: Vec<Ipv4Addr> = (1..=40).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
        v.extend((0..300).map(|_| Ipv4Addr::from(lcg(&mut seed))));
        v.extend([Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST]);
        v
    }

    fn v6_samples() -> Vec<Ipv6Addr> {
        let mut seed = 11;
        let mut v = vec![Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED];
        v.extend((0..300).map(|_| {
            let w = [
                lcg(&mut seed),
                lcg(&mut seed),
                lcg(&mut seed),
                lcg(&mut seed),
            ];
            Ipv6Addr::from(
                (u128::from(w[0]) << 96)
                    | (u128::from(w[1]) << 64)
                    | (u128::from(w[2]) << 32)
                    | u128::from(w[3]),
            )
        }));
        // Differ in one word only, each word in turn; and near-mapped forms.
        for word in 0..4 {
            v.push(Ipv6Addr::from(1u128 << (32 * word)));
        }
        v.push("::fffe:1.2.3.4".parse().unwrap());
        v.push("0:0:0:1:0:ffff:102:304".parse().unwrap());
        v.push("2001:db8::ffff:1.2.3.4".parse().unwrap());
        v
    }

    #[test]
    fn ipv4_sources_map_like_worker_for() {
        for workers in 1..=8 {
            let prog = program(workers);
            for src in v4_samples() {
                let got = run(&prog, &v4_packet(src));
                assert_eq!(
                    got as usize,
                    worker_for(src.into(), workers),
                    "{src} over {workers}"
                );
            }
        }
    }

    #[test]
    fn ipv6_sources_map_like_worker_for_and_use_all_sixteen_bytes() {
        for workers in 1..=8 {
            let prog = program(workers);
            for src in v6_samples() {
                let got = run(&prog, &v6_packet(src));
                assert_eq!(
                    got as usize,
                    worker_for(src.into(), workers),
                    "{src} over {workers}"
                );
            }
        }
        // A change in any one word changes the hash.
        let hashes: Vec<u32> = (0..4)
            .map(|word| hash(Ipv6Addr::from(1u128 << (32 * word)).into()))
            .chain([hash(Ipv6Addr::UNSPECIFIED.into())])
            .collect();
        for (i, h) in hashes.iter().enumerate() {
            assert!(!hashes[..i].contains(h), "{hashes:x?}");
        }
    }

    #[test]
    fn ipv4_client_maps_alike_on_ipv4_dual_stack_and_mapped_forms() {
        let prog = program(5);
        for src in v4_samples() {
            let mapped = src.to_ipv6_mapped();
            let as_v4 = run(&prog, &v4_packet(src));
            // A [::] listener sees an IPv4 client with an IPv4 header: same packet.
            // An IPv6 header carrying ::ffff:a.b.c.d hashes as a.b.c.d.
            assert_eq!(run(&prog, &v6_packet(mapped)), as_v4, "{mapped}");
            assert_eq!(worker_for(mapped.into(), 5), as_v4 as usize);
        }
    }

    #[test]
    fn other_versions_and_short_packets_fall_back_to_the_kernel_hash() {
        let prog = program(4);
        let mut p = v4_packet(Ipv4Addr::LOCALHOST);
        for first in [0x00, 0x50, 0xf0] {
            p[0] = first;
            assert_eq!(run(&prog, &p), FALLBACK);
        }
        // The kernel (and the interpreter) end a program whose load is out of bounds
        // with 0: a valid index, but no IPv4/IPv6 packet is that short.
        assert_eq!(run(&prog, &[0x60, 0, 0]), 0);
    }

    #[test]
    fn sources_spread_over_workers() {
        for workers in [2usize, 3, 4, 8] {
            let mut counts = vec![0usize; workers];
            for src in v4_samples() {
                counts[worker_for(src.into(), workers)] += 1;
            }
            let fair = v4_samples().len() / workers;
            assert!(
                counts.iter().all(|&c| c > fair / 2),
                "{workers}: {counts:?}"
            );
        }
        // Neighbouring loopback addresses reach both of two workers.
        let two: Vec<usize> = (2..=5)
            .map(|i| worker_for(Ipv4Addr::new(127, 0, 0, i).into(), 2))
            .collect();
        assert!(two.contains(&0) && two.contains(&1), "{two:?}");
    }

    #[test]
    fn jumps_stay_inside_and_the_program_is_small() {
        let prog = program(4);
        assert!(prog.len() < 64, "{}", listing(&prog));
        for (pc, i) in prog.iter().enumerate() {
            let code = u32::from(i.code);
            if code & 0x07 == libc::BPF_JMP {
                let far = if code == libc::BPF_JMP | libc::BPF_JA {
                    i.k as usize
                } else {
                    usize::from(i.jt.max(i.jf))
                };
                assert!(pc + 1 + far < prog.len(), "pc {pc}\n{}", listing(&prog));
            }
        }
        let last = prog.last().unwrap();
        assert_eq!(u32::from(last.code), libc::BPF_RET | libc::BPF_K);
    }
}
