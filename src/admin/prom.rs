//! The Prometheus text format (0.0.4) as the admin API writes it: metric families
//! described by a table row each ([`Family`]) and the functions that write a family's
//! HELP and TYPE lines and its samples. What ringlb exports is in `metrics.rs` and
//! `vrrp_view.rs`.
//!
//! A family's samples come from rows (one per frontend, per server, ...), each row
//! bringing its own labels. A family may split each row into several samples by one
//! more label with fixed values ([`Family::split`]: `code="1xx"`..`"5xx"`); its
//! getter is then asked once per value, with the value's index.

use std::fmt::{self, Write};

use crate::msg::stats::Latency;

/// One metric family: its name, HELP text, TYPE, extra label and how to read it.
pub(super) struct Family<G> {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// One sample per value of this label (name, values) for each row, instead of one.
    pub split: Option<(&'static str, &'static [&'static str])>,
    /// Which rows, and how to read one (given the index of the split label's value,
    /// 0 without one): each view has its own enum of row kinds.
    pub get: G,
}

impl<G> Family<G> {
    const fn new(name: &'static str, help: &'static str, kind: Kind, get: G) -> Self {
        Family {
            name,
            help,
            kind,
            split: None,
            get,
        }
    }

    pub const fn counter(name: &'static str, help: &'static str, get: G) -> Self {
        Family::new(name, help, Kind::Counter, get)
    }

    pub const fn gauge(name: &'static str, help: &'static str, get: G) -> Self {
        Family::new(name, help, Kind::Gauge, get)
    }

    pub const fn histogram(name: &'static str, help: &'static str, get: G) -> Self {
        Family::new(name, help, Kind::Histogram, get)
    }

    /// Split each row by `label`, one sample per value.
    pub const fn by(mut self, label: &'static str, values: &'static [&'static str]) -> Self {
        self.split = Some((label, values));
        self
    }
}

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value: a count, or a fraction (weights, seconds).
#[derive(Clone, Copy)]
pub(super) enum Num {
    Int(u64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(n: u64) -> Self {
        Num::Int(n)
    }
}

impl From<bool> for Num {
    fn from(b: bool) -> Self {
        Num::Int(u64::from(b))
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(n) => n.fmt(f),
            Num::Float(x) => x.fmt(f),
        }
    }
}

/// Latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The family's HELP and TYPE lines.
pub(super) fn head<G>(o: &mut String, f: &Family<G>) {
    let (name, help, kind) = (f.name, f.help, f.kind.name());
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The family's samples: one per row, or one per row and value of the split label.
pub(super) fn samples<G, R>(
    o: &mut String,
    f: &Family<G>,
    rows: &[(String, R)],
    get: impl Fn(&R, usize) -> Num,
) {
    for (labels, row) in rows {
        match f.split {
            None => sample(o, f.name, labels, None, get(row, 0)),
            Some((name, values)) => {
                for (i, v) in values.iter().enumerate() {
                    sample(o, f.name, labels, Some((name, v)), get(row, i));
                }
            }
        }
    }
}

/// One sample line: `name{labels,extra="value"} v`, without braces when there are no
/// labels.
fn sample(o: &mut String, name: &str, labels: &str, extra: Option<(&str, &str)>, v: Num) {
    let _ = match (labels, extra) {
        ("", None) => writeln!(o, "{name} {v}"),
        (l, None) => writeln!(o, "{name}{{{l}}} {v}"),
        ("", Some((k, x))) => writeln!(o, "{name}{{{k}=\"{x}\"}} {v}"),
        (l, Some((k, x))) => writeln!(o, "{name}{{{l},{k}=\"{x}\"}} {v}"),
    };
}

/// A latency histogram's samples: cumulative buckets in seconds, `+Inf`, sum and
/// count.
pub(super) fn histogram(o: &mut String, name: &str, labels: &str, h: &Latency) {
    let bucket = format!("{name}_bucket");
    for bound in BUCKETS {
        let n = h.count_between(0, (bound * 1e6) as u64);
        sample(
            o,
            &bucket,
            labels,
            Some(("le", &bound.to_string())),
            n.into(),
        );
    }
    sample(o, &bucket, labels, Some(("le", "+Inf")), h.len().into());
    let sum = h.mean() * h.len() as f64 / 1e6;
    sample(o, &format!("{name}_sum"), labels, None, Num::Float(sum));
    sample(o, &format!("{name}_count"), labels, None, h.len().into());
}

/// Prometheus label value escaping.
pub(super) fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
