//! A latency-by-percentile plot as a standalone SVG (the HdrHistogram plotter's axes:
//! x is the percentile on a log scale of 1/(1-p), so the tail gets the room).

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const W: f64 = 800.0;
const H: f64 = 450.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// The x axis runs to 99.999%.
const MAX_NINES: f64 = 5.0;
const COLORS: [&str; 5] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];

fn x_of(quantile: f64) -> f64 {
    let nines = (-(1.0 - quantile).max(1e-9).log10()).clamp(0.0, MAX_NINES);
    LEFT + nines / MAX_NINES * (W - LEFT - RIGHT)
}

pub fn percentile_plot(title: &str, series: &[(String, &Histogram<u64>)]) -> String {
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, h)| {
            h.iter_quantiles(10)
                .map(|v| {
                    (
                        v.quantile_iterated_to(),
                        v.value_iterated_to() as f64 / 1000.0,
                    )
                })
                .filter(|(q, _)| *q <= 0.99999)
                .collect()
        })
        .collect();
    let y_max = points
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(0.001)
        * 1.1;
    let y_of = |ms: f64| H - BOTTOM - ms / y_max * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Axes and grid.
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = LEFT + i as f64 / MAX_NINES * (W - LEFT - RIGHT);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#ddd"/>"##,
            H - BOTTOM
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"#,
            H - BOTTOM + 18.0
        );
    }
    for i in 0..=5 {
        let v = y_max * i as f64 / 5.0;
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/>"##,
            W - RIGHT
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{v:.2}</text>"#,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">latency (ms)</text>"#,
        H / 2.0,
        H / 2.0
    );
    // One line per series, with its legend entry.
    for (i, ((name, _), pts)) in series.iter().zip(&points).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(q, ms)| format!("{:.1},{:.1}", x_of(*q), y_of(*ms)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        let ly = TOP + 20.0 + i as f64 * 20.0;
        let lx = W - RIGHT + 15.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/>"#,
            lx + 25.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            lx + 32.0,
            ly + 4.0,
            escape(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::new_histogram;

    #[test]
    fn plot_has_a_line_and_legend_per_series() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for v in 1..1000u64 {
            a.record(v * 10).unwrap();
            b.record(v * 20).unwrap();
        }
        let svg = percentile_plot("t <1>", &[("ringlb".into(), &a), ("haproxy".into(), &b)]);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">ringlb</text>") && svg.contains(">haproxy</text>"));
        assert!(svg.contains("t &lt;1&gt;"));
    }

    #[test]
    fn x_axis_is_log_of_the_tail() {
        assert_eq!(x_of(0.0), LEFT);
        let span = W - LEFT - RIGHT;
        assert!((x_of(0.99) - (LEFT + span * 2.0 / 5.0)).abs() < 1e-6);
    }
}
