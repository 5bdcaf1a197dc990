//! HAProxy's map files, for the `map_*` converters of a value (`%[req.hdr(host),lower,
//! map(hosts.map,web)]`): a key and a value per line, looked up by one kind of match.
//! Read and indexed once at load (the configuration layer reads the file); a lookup
//! allocates nothing.
//!
//! HAProxy's rules, checked against its `pattern.c`: a line is a key (up to the first
//! blank), blanks, then the value (the rest of the line); blank lines and lines whose
//! first non-blank is `#` are skipped. Exact strings and addresses are indexed, so the
//! finest match wins (the longest network; the first line among equal keys); the other
//! kinds are tried in file order and the first matching line wins. Matches are
//! case-sensitive, as HAProxy's map converters are (they take no `-i`).

use std::net::IpAddr;

use memchr::memmem::Finder;
use regex::bytes::Regex;
use std::collections::HashMap;

use super::cidr::parse_cidr;
use super::pattern::regex;
use super::RuleError;

/// How a map's keys match the sample: the converter's name without `map_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapMatch {
    /// `map`, `map_str`: the whole sample.
    Str,
    /// `map_beg`: the sample starts with the key.
    Beg,
    /// `map_end`: the sample ends with the key.
    End,
    /// `map_sub`: the key is somewhere in the sample.
    Sub,
    /// `map_dir`: the key is a run of whole `/`-delimited parts of the sample.
    Dir,
    /// `map_dom`: the key is a run of whole `.`, `/`, `:` or `?`-delimited parts.
    Dom,
    /// `map_reg`: the key is a regex found in the sample.
    Reg,
    /// `map_ip`: the sample is an address in the key's network (the longest wins).
    Ip,
    /// `map_int`: the sample is an integer equal to the key or in its `low:high`.
    Int,
}

/// The converter names this module answers to (for error messages and docs).
pub const MAP_CONVERTERS: &str =
    "map, map_str, map_beg, map_end, map_sub, map_dir, map_dom, map_reg, map_ip, map_int (and the same with a _str suffix)";

impl MapMatch {
    /// The converter's name (`map_dom`).
    pub fn converter(self) -> &'static str {
        match self {
            MapMatch::Str => "map_str",
            MapMatch::Beg => "map_beg",
            MapMatch::End => "map_end",
            MapMatch::Sub => "map_sub",
            MapMatch::Dir => "map_dir",
            MapMatch::Dom => "map_dom",
            MapMatch::Reg => "map_reg",
            MapMatch::Ip => "map_ip",
            MapMatch::Int => "map_int",
        }
    }

    /// The match of a converter's name (`map_beg`, `map_beg_str`), if it is a map's.
    pub fn of_converter(name: &str) -> Option<MapMatch> {
        let rest = name.strip_prefix("map")?;
        let rest = rest.strip_suffix("_str").unwrap_or(rest);
        Some(match rest {
            "" | "_str" => MapMatch::Str,
            "_beg" => MapMatch::Beg,
            "_end" => MapMatch::End,
            "_sub" => MapMatch::Sub,
            "_dir" => MapMatch::Dir,
            "_dom" => MapMatch::Dom,
            "_reg" => MapMatch::Reg,
            "_ip" => MapMatch::Ip,
            "_int" => MapMatch::Int,
            _ => return None,
        })
    }
}

/// One map file, indexed for its match.
#[derive(Debug)]
pub struct Map {
    /// The file as the configuration names it (equality, messages).
    name: Box<str>,
    how: MapMatch,
    values: Vec<Box<[u8]>>,
    index: Index,
}

#[derive(Debug)]
enum Index {
    /// Key to the line's value (the first line of a key).
    Exact(HashMap<Box<[u8]>, u32>),
    /// Keys in file order (`Beg`, `End`, `Dir`, `Dom`).
    Words(Vec<Box<[u8]>>),
    Sub(Vec<Finder<'static>>),
    Reg(Vec<Regex>),
    /// IPv4 and IPv6 networks apart.
    Ip(Box<[Networks; 2]>),
    /// Ranges in file order.
    Int(Vec<(i64, i64)>),
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.how == other.how
    }
}

impl Eq for Map {}

impl Map {
    /// Parse a map file's text. A key that cannot be one for this match (a regex that
    /// does not compile, a network that does not parse) is an error at its line.
    pub fn parse(name: &str, how: MapMatch, text: &str) -> Result<Map, RuleError> {
        let mut map = Map {
            name: name.into(),
            how,
            values: Vec::new(),
            index: match how {
                MapMatch::Str => Index::Exact(HashMap::new()),
                MapMatch::Beg | MapMatch::End | MapMatch::Dir | MapMatch::Dom => {
                    Index::Words(Vec::new())
                }
                MapMatch::Sub => Index::Sub(Vec::new()),
                MapMatch::Reg => Index::Reg(Vec::new()),
                MapMatch::Ip => Index::Ip(Box::default()),
                MapMatch::Int => Index::Int(Vec::new()),
            },
        };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(|c: char| c.is_ascii_whitespace())
                .map_or((line, ""), |(k, v)| (k, v.trim()));
            map.add(key, value).map_err(|e| RuleError::AtLine {
                line: n + 1,
                source: Box::new(e),
            })?;
        }
        Ok(map)
    }

    fn add(&mut self, key: &str, value: &str) -> Result<(), RuleError> {
        let v = self.values.len() as u32;
        match &mut self.index {
            Index::Exact(m) => {
                m.entry(key.as_bytes().into()).or_insert(v);
            }
            Index::Words(keys) => keys.push(key.as_bytes().into()),
            Index::Sub(f) => f.push(Finder::new(key.as_bytes()).into_owned()),
            Index::Reg(r) => r.push(regex(key, false)?),
            Index::Ip(nets) => {
                let (addr, len) = parse_cidr(key)?;
                let (family, bits) = wide(addr);
                nets[family].add(bits, len, v);
            }
            Index::Int(ranges) => ranges.push(int_range(key)?),
        }
        self.values.push(value.as_bytes().into());
        Ok(())
    }

    /// The value of the line `sample` matches, if any.
    pub fn lookup<'m>(&'m self, sample: &[u8]) -> Option<&'m [u8]> {
        let at = match &self.index {
            Index::Exact(m) => m.get(sample).map(|&v| v as usize),
            Index::Words(keys) => keys.iter().position(|k| self.word(sample, k)),
            Index::Sub(f) => f.iter().position(|f| f.find(sample).is_some()),
            Index::Reg(r) => r.iter().position(|r| r.is_match(sample)),
            Index::Ip(nets) => {
                let addr: IpAddr = std::str::from_utf8(sample).ok()?.parse().ok()?;
                let (family, bits) = wide(addr.to_canonical());
                nets[family].longest(bits)
            }
            Index::Int(ranges) => {
                let n: i64 = std::str::from_utf8(sample).ok()?.trim().parse().ok()?;
                ranges.iter().position(|(lo, hi)| (*lo..=*hi).contains(&n))
            }
        };
        at.map(|i| &*self.values[i])
    }

    fn word(&self, sample: &[u8], key: &[u8]) -> bool {
        match self.how {
            MapMatch::Beg => sample.starts_with(key),
            MapMatch::End => sample.ends_with(key),
            MapMatch::Dir => match_word(sample, key, b"/?"),
            _ => match_word(sample, key, b"/?.:"),
        }
    }

    /// How its keys match.
    pub fn how(&self) -> MapMatch {
        self.how
    }

    /// The file as the configuration names it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lines read (keys that were skipped as duplicates of an exact key included).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// HAProxy's `match_word`: `key`, without the delimiters at its ends, appears in
/// `sample` starting right after a delimiter (or at the start) and ending right
/// before one (or at the end).
fn match_word(sample: &[u8], key: &[u8], delims: &[u8]) -> bool {
    let is_delim = |b: &u8| delims.contains(b);
    let start = key.iter().position(|b| !is_delim(b));
    let end = key.iter().rposition(|b| !is_delim(b));
    let (Some(start), Some(end)) = (start, end) else {
        return false;
    };
    let key = &key[start..=end];
    if key.len() > sample.len() {
        return false;
    }
    let mut may_match = true;
    for i in 0..=sample.len() - key.len() {
        if is_delim(&sample[i]) {
            may_match = true;
            continue;
        }
        if !may_match {
            continue;
        }
        let after = sample.get(i + key.len());
        if sample[i..].starts_with(key) && after.is_none_or(is_delim) {
            return true;
        }
        may_match = false;
    }
    false
}

/// The networks of one family: per prefix length, longest first, the networks
/// (masked) to their values. A lookup tries each length present once.
#[derive(Debug, Default)]
struct Networks(Vec<(u8, HashMap<u128, u32>)>);

impl Networks {
    fn add(&mut self, bits: u128, len: u8, value: u32) {
        let at = match self.0.iter().position(|(l, _)| *l <= len) {
            Some(i) if self.0[i].0 == len => i,
            Some(i) => {
                self.0.insert(i, (len, HashMap::new()));
                i
            }
            None => {
                self.0.push((len, HashMap::new()));
                self.0.len() - 1
            }
        };
        self.0[at].1.entry(masked(bits, len)).or_insert(value);
    }

    fn longest(&self, bits: u128) -> Option<usize> {
        self.0
            .iter()
            .find_map(|(len, m)| m.get(&masked(bits, *len)).map(|&v| v as usize))
    }
}

/// An address's family (0: IPv4) and its bits from the top of 128 (IPv4 in the top
/// 32), so that a prefix length masks both alike.
fn wide(addr: IpAddr) -> (usize, u128) {
    match addr {
        IpAddr::V4(a) => (0, (u32::from(a) as u128) << 96),
        IpAddr::V6(a) => (1, u128::from(a)),
    }
}

fn masked(bits: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        128.. => bits,
        _ => bits & !(u128::MAX >> len),
    }
}

/// `N` or `LOW:HIGH` (either side of `:` may be empty: unbounded), as HAProxy's
/// integer patterns.
fn int_range(key: &str) -> Result<(i64, i64), RuleError> {
    let bad = || RuleError::Invalid(format!("{key:?} is not an integer or LOW:HIGH"));
    let num = |s: &str, unbounded: i64| -> Result<i64, RuleError> {
        if s.is_empty() {
            Ok(unbounded)
        } else {
            s.parse().map_err(|_| bad())
        }
    };
    match key.split_once(':') {
        None => key.parse().map(|n| (n, n)).map_err(|_| bad()),
        Some((lo, hi)) => Ok((num(lo, i64::MIN)?, num(hi, i64::MAX)?)),
    }
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
