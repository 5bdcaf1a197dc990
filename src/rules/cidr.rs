//! Sets of IPv4 and IPv6 networks (`src` conditions, pattern files of 100k+ lines).
//!
//! A set is stored as sorted, merged, non-overlapping address ranges (start and end
//! in two dense arrays per family), and a lookup is one binary search: about 17
//! comparisons in contiguous memory for 100k ranges, no allocation, no pointer
//! chasing. Why not a crate: the candidates (`ip_network_table`, `prefix-trie`,
//! `iptrie`; `treebitmap` is not on crates.io any more) are longest-prefix-match
//! *maps*, built node by node; a condition only asks "is the address in any of these
//! networks", for which a union of ranges is exact, smaller (8 bytes per IPv4 range,
//! 32 per IPv6 range, overlapping and adjacent networks merged away), faster to build
//! (one sort) and needs no dependency.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as IPv4, and mapped
//! networks in a list (`::ffff:10.0.0.0/104`) are stored as IPv4, so a dual-stack
//! listener cannot be used to step around an IPv4 list.

use std::net::IpAddr;

use super::RuleError;

/// A set of networks; `contains` is O(log n).
#[derive(Debug, Clone, Default)]
pub struct IpSet {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
}

impl IpSet {
    /// The set of the networks or addresses in `items` (`10.0.0.0/8`, `192.0.2.1`,
    /// `2001:db8::/32`). Host bits below the prefix are ignored, as HAProxy does.
    pub fn from_strs<'s>(items: impl IntoIterator<Item = &'s str>) -> Result<Self, RuleError> {
        let mut b = IpSetBuilder::default();
        for item in items {
            b.add_str(item)?;
        }
        Ok(b.build())
    }

    /// The set of a pattern file's text: one network or address per line, `#` starts
    /// a comment, blank lines are skipped. Errors carry the line number.
    pub fn from_text(text: &str) -> Result<Self, RuleError> {
        let mut b = IpSetBuilder::default();
        b.add_text(text)?;
        Ok(b.build())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    /// Ranges left after merging (IPv4, IPv6): the memory is 8 and 32 bytes each.
    pub fn range_counts(&self) -> (usize, usize) {
        (self.v4.starts.len(), self.v6.starts.len())
    }

    pub fn is_empty(&self) -> bool {
        self.v4.starts.is_empty() && self.v6.starts.is_empty()
    }
}

/// Collects networks from several sources (inline values and files) into one set.
#[derive(Debug, Default)]
pub struct IpSetBuilder {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSetBuilder {
    /// Add one network or address.
    pub fn add_str(&mut self, item: &str) -> Result<(), RuleError> {
        match parse_cidr(item.trim())? {
            (IpAddr::V4(a), len) => self.v4.push(range(u32::from(a), len)),
            (IpAddr::V6(a), len) => self.v6.push(range(u128::from(a), len)),
        }
        Ok(())
    }

    /// Add every line of a pattern file's text (see [`IpSet::from_text`]).
    pub fn add_text(&mut self, text: &str) -> Result<(), RuleError> {
        for (i, line) in text.lines().enumerate() {
            let item = line.split('#').next().unwrap_or("").trim();
            if item.is_empty() {
                continue;
            }
            self.add_str(item).map_err(|e| RuleError::AtLine {
                line: i + 1,
                source: Box::new(e),
            })?;
        }
        Ok(())
    }

    pub fn build(self) -> IpSet {
        IpSet {
            v4: Ranges::build(self.v4),
            v6: Ranges::build(self.v6),
        }
    }
}

/// `addr` or `addr/len`, with an IPv4-mapped IPv6 network turned into IPv4.
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), RuleError> {
    let bad = |reason| RuleError::BadCidr {
        value: s.to_string(),
        reason,
    };
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => l
            .parse::<u8>()
            .map_err(|_| bad("prefix length out of range"))?,
        Some(_) => return Err(bad("prefix length is not a number")),
    };
    if len > max {
        return Err(bad("prefix length out of range"));
    }
    match addr {
        IpAddr::V6(a) if len >= 96 && a.to_ipv4_mapped().is_some() => {
            Ok((IpAddr::V6(a).to_canonical(), len - 96))
        }
        _ => Ok((addr, len)),
    }
}

/// Unsigned integers the range code works on.
trait Addr: Copy + Ord + std::fmt::Debug + Default {
    const MAX: Self;
    fn shr(self, n: u32) -> Self;
    fn not(self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn succ(self) -> Option<Self>;
}

macro_rules! addr_impl {
    ($t:ty) => {
        impl Addr for $t {
            const MAX: Self = <$t>::MAX;
            fn shr(self, n: u32) -> Self {
                self.checked_shr(n).unwrap_or(0)
            }
            fn not(self) -> Self {
                !self
            }
            fn and(self, o: Self) -> Self {
                self & o
            }
            fn or(self, o: Self) -> Self {
                self | o
            }
            fn succ(self) -> Option<Self> {
                self.checked_add(1)
            }
        }
    };
}
addr_impl!(u32);
addr_impl!(u128);

/// First and last address of `addr/len` (`len <=` the address width).
fn range<T: Addr>(addr: T, len: u8) -> (T, T) {
    let host = T::MAX.shr(u32::from(len)); // the host bits
    let start = addr.and(host.not());
    (start, start.or(host))
}

#[derive(Debug, Clone, Default)]
struct Ranges<T> {
    /// Sorted; `starts[i] <= ends[i] < starts[i + 1]`.
    starts: Box<[T]>,
    ends: Box<[T]>,
}

impl<T: Addr> Ranges<T> {
    fn build(mut v: Vec<(T, T)>) -> Self {
        v.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            if let Some(last) = merged.last_mut() {
                // Overlapping or adjacent: extend the previous range.
                if last.1.succ().is_none_or(|next| s <= next) {
                    last.1 = last.1.max(e);
                    continue;
                }
            }
            merged.push((s, e));
        }
        Ranges {
            starts: merged.iter().map(|r| r.0).collect(),
            ends: merged.iter().map(|r| r.1).collect(),
        }
    }

    fn contains(&self, x: T) -> bool {
        let i = self.starts.partition_point(|&s| s <= x);
        i > 0 && self.ends[i - 1] >= x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn networks_and_addresses_of_both_families() {
        let set = IpSet::from_strs([
            "10.0.0.0/8",
            "192.0.2.1",
            "172.16.5.7/12",
            "2001:db8::/32",
            "::1",
        ])
        .expect("valid");
        for yes in [
            "10.0.0.0",
            "10.255.255.255",
            "192.0.2.1",
            "172.31.0.1",
            "2001:db8::1",
            "2001:db8:ffff::",
            "::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(set.contains(ip(yes)), "{yes}");
        }
        for no in [
            "11.0.0.0",
            "9.255.255.255",
            "192.0.2.2",
            "172.32.0.0",
            "2001:db9::",
            "::2",
            "::ffff:11.0.0.1",
        ] {
            assert!(!set.contains(ip(no)), "{no}");
        }
    }

    #[test]
    fn whole_space_and_empty_set() {
        let all = IpSet::from_strs(["0.0.0.0/0", "::/0"]).expect("valid");
        assert!(all.contains(ip("255.255.255.255")) && all.contains(ip("ffff::1")));
        assert_eq!(all.range_counts(), (1, 1));
        let none = IpSet::default();
        assert!(none.is_empty() && !none.contains(ip("1.2.3.4")));
    }

    #[test]
    fn overlapping_and_adjacent_networks_merge() {
        let set = IpSet::from_strs(["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "10.0.3.0/24"])
            .expect("valid");
        assert_eq!(set.range_counts(), (2, 0));
        assert!(set.contains(ip("10.0.1.255")) && !set.contains(ip("10.0.2.0")));
    }

    #[test]
    fn mapped_networks_are_ipv4() {
        let set = IpSet::from_strs(["::ffff:10.0.0.0/104"]).expect("valid");
        assert_eq!(set.range_counts(), (1, 0));
        assert!(set.contains(ip("10.9.9.9")) && set.contains(ip("::ffff:10.9.9.9")));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.256",
            "10.0.0.0/",
            "10.0.0.0/x",
            "x",
        ] {
            let err = IpSet::from_strs([bad]).expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn file_text_with_comments_blank_lines_and_line_numbers() {
        let text = "# office\n10.0.0.0/8\n\n   192.0.2.0/24   # lab\n2001:db8::/48\n";
        let set = IpSet::from_text(text).expect("valid");
        assert!(set.contains(ip("192.0.2.9")) && set.contains(ip("2001:db8::5")));
        let err = IpSet::from_text("10.0.0.0/8\n# ok\n300.0.0.1\n").expect_err("bad line");
        assert!(
            err.to_string().starts_with("line 3: \"300.0.0.1\""),
            "{err}"
        );
    }

    /// A deterministic generator (SplitMix64) for the large tests.
    fn rng(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn agrees_with_a_linear_scan() {
        let mut s = 7;
        let nets: Vec<(u32, u8)> = (0..300)
            .map(|_| (rng(&mut s) as u32, 8 + (rng(&mut s) % 25) as u8))
            .collect();
        let text: Vec<String> = nets
            .iter()
            .map(|(a, l)| format!("{}/{l}", std::net::Ipv4Addr::from(*a)))
            .collect();
        let set = IpSet::from_strs(text.iter().map(String::as_str)).expect("valid");
        for _ in 0..20_000 {
            let x = rng(&mut s) as u32;
            let linear = nets.iter().any(|&(a, l)| {
                let (lo, hi) = range(a, l);
                lo <= x && x <= hi
            });
            assert_eq!(set.contains(IpAddr::from(x.to_be_bytes())), linear, "{x}");
        }
    }

    #[test]
    fn hundred_thousand_entries_and_a_million_lookups() {
        let mut s = 1;
        let mut text = String::with_capacity(100_000 * 20);
        for i in 0..100_000u32 {
            let r = rng(&mut s);
            if i % 10 == 0 {
                let a = std::net::Ipv6Addr::from(u128::from(r) << 64);
                text.push_str(&format!("{a}/64\n"));
            } else {
                let a = std::net::Ipv4Addr::from(r as u32);
                text.push_str(&format!("{a}/{}\n", 20 + r % 13));
            }
        }
        let set = IpSet::from_text(&text).expect("valid");
        let (v4, v6) = set.range_counts();
        assert!(v4 > 80_000 && v6 > 9_000, "{v4} {v6}");
        let mut hits = 0u32;
        for i in 0..1_000_000u32 {
            let r = rng(&mut s);
            let addr = if i % 10 == 0 {
                IpAddr::from((u128::from(r) << 64).to_be_bytes())
            } else {
                IpAddr::from((r as u32).to_be_bytes())
            };
            hits += u32::from(set.contains(addr));
        }
        // Random addresses rarely fall in the networks; the lookups must run, though.
        assert!(hits < 1_000_000);
    }
}
