//! Latency histograms, error classes and the report.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Lowest and highest recordable latency, in microseconds (1 µs .. 60 s).
const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 60_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The connection could not be made.
    Connect,
    /// No (complete) response within the request timeout.
    Timeout,
    /// A response with status 500 or above.
    Status5xx,
    /// Anything else: reset, early close, malformed response, wrong echo length.
    Other,
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, 3).expect("valid histogram bounds")
}

/// What one thread (or the whole run, once merged) measured.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency from the intended send time (coordinated-omission corrected).
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time.
    pub uncorrected: Histogram<u64>,
    pub ok: u64,
    pub connect_errors: u64,
    pub timeouts: u64,
    pub status_5xx: u64,
    pub other_errors: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            corrected: new_histogram(),
            uncorrected: new_histogram(),
            ok: 0,
            connect_errors: 0,
            timeouts: 0,
            status_5xx: 0,
            other_errors: 0,
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(LOWEST_US, HIGHEST_US)
}

impl Stats {
    pub fn record(&mut self, corrected: Duration, uncorrected: Duration) {
        self.ok += 1;
        let _ = self.corrected.record(micros(corrected));
        let _ = self.uncorrected.record(micros(uncorrected));
    }

    pub fn error(&mut self, class: ErrorClass) {
        match class {
            ErrorClass::Connect => self.connect_errors += 1,
            ErrorClass::Timeout => self.timeouts += 1,
            ErrorClass::Status5xx => self.status_5xx += 1,
            ErrorClass::Other => self.other_errors += 1,
        }
    }

    pub fn errors(&self) -> u64 {
        self.connect_errors + self.timeouts + self.status_5xx + self.other_errors
    }

    pub fn merge(&mut self, other: &Stats) {
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        self.ok += other.ok;
        self.connect_errors += other.connect_errors;
        self.timeouts += other.timeouts;
        self.status_5xx += other.status_5xx;
        self.other_errors += other.other_errors;
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub p9999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            p9999_us: h.value_at_quantile(0.9999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorCounts {
    pub connect: u64,
    pub timeout: u64,
    pub status_5xx: u64,
    pub other: u64,
}

/// The result of one run, printed as text or JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub target: String,
    /// "open" (fixed rate) or "closed" (as fast as responses come).
    pub mode: &'static str,
    pub threads: usize,
    pub connections: usize,
    pub duration_s: f64,
    pub target_rate: Option<f64>,
    pub achieved_rate: f64,
    pub requests: u64,
    /// False when an open-loop run fell more than 1% short of its target rate.
    pub kept_up: bool,
    pub errors: ErrorCounts,
    pub corrected: Percentiles,
    pub uncorrected: Percentiles,
}

impl Report {
    pub fn new(
        target: String,
        threads: usize,
        connections: usize,
        duration: Duration,
        rate: Option<f64>,
        stats: &Stats,
    ) -> Report {
        let secs = duration.as_secs_f64().max(1e-9);
        let achieved = stats.ok as f64 / secs;
        Report {
            target,
            mode: if rate.is_some() { "open" } else { "closed" },
            threads,
            connections,
            duration_s: secs,
            target_rate: rate,
            achieved_rate: achieved,
            requests: stats.ok,
            kept_up: rate.is_none_or(|r| achieved >= 0.99 * r),
            errors: ErrorCounts {
                connect: stats.connect_errors,
                timeout: stats.timeouts,
                status_5xx: stats.status_5xx,
                other: stats.other_errors,
            },
            corrected: Percentiles::of(&stats.corrected),
            uncorrected: Percentiles::of(&stats.uncorrected),
        }
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} loop against {}: {} thread(s), {} connection(s), {:.1} s",
            self.mode, self.target, self.threads, self.connections, self.duration_s
        );
        match self.target_rate {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "  rate:     {:.1} req/s achieved of {:.1} target",
                    self.achieved_rate, r
                );
            }
            None => {
                let _ = writeln!(s, "  rate:     {:.1} req/s", self.achieved_rate);
            }
        }
        let e = &self.errors;
        let _ = writeln!(
            s,
            "  requests: {} ok; errors: connect {}, timeout {}, status>=500 {}, other {}",
            self.requests, e.connect, e.timeout, e.status_5xx, e.other
        );
        let _ = writeln!(
            s,
            "  latency (ms)    p50      p90      p99    p99.9   p99.99      max"
        );
        for (name, p) in [
            ("corrected", &self.corrected),
            ("uncorrected", &self.uncorrected),
        ] {
            let _ = writeln!(
                s,
                "  {name:<12} {:>7.3}  {:>7.3}  {:>7.3}  {:>7.3}  {:>7.3}  {:>7.3}",
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p99_us),
                ms(p.p999_us),
                ms(p.p9999_us),
                ms(p.max_us)
            );
        }
        if !self.kept_up {
            let _ = writeln!(
                s,
                "  WARNING: the target rate was NOT reached ({:.1} of {:.1} req/s): more connections, \
                 or the target is saturated; latencies above describe an overloaded system",
                self.achieved_rate,
                self.target_rate.unwrap_or(0.0)
            );
        }
        s
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The percentile distribution in HdrHistogram's text format (`.hgrm`, values in ms),
/// as wrk2 and the HdrHistogram plotter read it.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            format!("{:>14}", "inf")
        };
        let _ = writeln!(
            s,
            "{:>12.3} {:>14.12} {:>10} {}",
            ms(v.value_iterated_to()),
            q,
            v.count_since_last_iteration(),
            inverse
        );
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        s,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        ms(h.max()),
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_classifies() {
        let mut s = Stats::default();
        for i in 1..=100 {
            s.record(Duration::from_millis(i), Duration::from_micros(i * 10));
        }
        s.error(ErrorClass::Timeout);
        s.error(ErrorClass::Status5xx);
        let r = Report::new("t".into(), 1, 1, Duration::from_secs(1), Some(100.0), &s);
        assert_eq!(r.requests, 100);
        assert_eq!(r.errors.timeout, 1);
        assert_eq!(r.errors.status_5xx, 1);
        assert!(r.kept_up);
        assert!(
            (r.corrected.p50_us as i64 - 50_000).abs() < 100,
            "{:?}",
            r.corrected
        );
        assert!(
            (r.uncorrected.p99_us as i64 - 990).abs() < 5,
            "{:?}",
            r.uncorrected
        );
        assert!(!Report::new("t".into(), 1, 1, Duration::from_secs(1), Some(200.0), &s).kept_up);
    }

    #[test]
    fn hgrm_has_header_rows_and_footer() {
        let mut h = new_histogram();
        for v in [100u64, 200, 300, 10_000] {
            h.record(v).unwrap();
        }
        let text = hgrm(&h);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(
            text.contains("#[Max     =       10.007, Total count    =            4]"),
            "{text}"
        );
        assert!(
            text.lines()
                .filter(|l| l.trim_start().starts_with("0.1"))
                .count()
                >= 1
        );
    }
}
