//! The control plane's history (`control::history`) as the admin listener shows it:
//! by frontend (configuration order) and live backend, with names, as JSON
//! (`GET /api/history`) and as the stats page's charts (`charts.rs`). Reads only the
//! control thread's memory: answering asks no worker for anything.

use serde_json::{json, Value};

use super::render::live_servers;
use crate::config::Mode;
use crate::control::history::{Mark, Rates, SAMPLES, SAMPLE_EVERY};
use crate::control::Control;

/// How many milliseconds the charts span.
pub const WINDOW_MS: u64 = SAMPLES as u64 * SAMPLE_EVERY.as_millis() as u64;

/// One frontend or backend over the kept samples (aligned with [`View::times`]).
pub struct Entity {
    /// `frontend` or `backend`.
    pub kind: &'static str,
    pub name: String,
    /// A frontend's mode, a backend's balance algorithm.
    pub detail: String,
    pub rates: Vec<Option<Rates>>,
    /// A backend's live servers: name, and their state at each sample.
    pub servers: Vec<(String, Vec<Option<Mark>>)>,
}

impl Entity {
    /// What identifies its chart on the page (`frontend/web`).
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

pub struct View {
    /// Unix ms of each sample, oldest first.
    pub times: Vec<u64>,
    pub entities: Vec<Entity>,
}

/// The history by name: frontends in configuration order, then live backends.
pub fn view(control: &Control) -> View {
    let history = control.history.borrow();
    let samples = history.samples();
    let times = samples.iter().map(|s| s.at_ms).collect();
    let config = control.config.borrow();
    let slots = control.slots.borrow();
    let mut entities = Vec::new();
    for (i, fe) in config.frontends.iter().enumerate() {
        let slot = slots.frontends[i];
        entities.push(Entity {
            kind: "frontend",
            name: fe.name.clone(),
            detail: match fe.mode {
                Mode::Http => "http".into(),
                Mode::Tcp => "tcp".into(),
            },
            rates: samples
                .iter()
                .map(|s| s.frontends.get(slot).copied().flatten())
                .collect(),
            servers: Vec::new(),
        });
    }
    let table = control.table.borrow();
    for (b, servers) in live_servers(control) {
        let be = &table.backends[b];
        let servers = servers
            .iter()
            .map(|&s| {
                let marks = samples
                    .iter()
                    .map(|x| x.servers.get(b).and_then(|v| v.get(s)).copied().flatten())
                    .collect();
                (be.servers[s].config.name.clone(), marks)
            })
            .collect();
        entities.push(Entity {
            kind: "backend",
            name: be.config.name.clone(),
            detail: be.config.balance.name().to_string(),
            rates: samples
                .iter()
                .map(|s| s.backends.get(b).copied().flatten())
                .collect(),
            servers,
        });
    }
    View { times, entities }
}

/// `GET /api/history`.
pub fn json(view: &View) -> String {
    let entity = |e: &Entity| {
        // Rounded to 0.001: f32 digits past that are noise.
        let series = |get: fn(&Rates) -> Option<f32>| -> Vec<Option<f64>> {
            e.rates
                .iter()
                .map(|r| {
                    let v = f64::from(r.as_ref().and_then(get)?);
                    Some((v * 1000.0).round() / 1000.0)
                })
                .collect()
        };
        let mut v = json!({
            "name": e.name,
            "requests_per_s": series(|r| Some(r.requests)),
            "errors_per_s": series(|r| Some(r.errors())),
            "http_5xx_per_s": series(|r| Some(r.http_5xx)),
            "connect_errors_per_s": series(|r| Some(r.connect_errors)),
            "response_errors_per_s": series(|r| Some(r.response_errors)),
            "p50_ms": series(|r| r.p50_ms),
            "p99_ms": series(|r| r.p99_ms),
        });
        if e.kind == "frontend" {
            v["mode"] = json!(e.detail);
        } else {
            v["balance"] = json!(e.detail);
            v["servers"] = e
                .servers
                .iter()
                .map(|(name, marks)| {
                    json!({
                        "name": name,
                        "state": marks.iter().map(|m| m.map(|m| m.state.word())).collect::<Vec<_>>(),
                        "changed": marks.iter().map(|m| m.is_some_and(|m| m.changed)).collect::<Vec<_>>(),
                    })
                })
                .collect::<Value>();
        }
        v
    };
    let of_kind = |kind: &str| -> Value {
        view.entities
            .iter()
            .filter(|e| e.kind == kind)
            .map(entity)
            .collect()
    };
    json!({
        "interval_ms": SAMPLE_EVERY.as_millis() as u64,
        "window_ms": WINDOW_MS,
        "at_unix_ms": view.times,
        "frontends": of_kind("frontend"),
        "backends": of_kind("backend"),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::admin::tests::control;
    use crate::lb::Admin;
    use crate::msg::stats::{BackendStats, FrontendStats, ServerStats, WorkerStats};

    /// One worker's counters after `n` rounds, for the admin tests' configuration:
    /// each round one request on `web` answered by a in 2 ms, one 503 made by ringlb,
    /// one connection on `tcp-front`, and one failed connect to b.
    fn worker(n: u64) -> Box<WorkerStats> {
        let mut web = FrontendStats {
            connections: n,
            requests: 2 * n,
            responses: [0, n, 0, 0, n],
            ..FrontendStats::default()
        };
        let mut a = ServerStats {
            requests: n,
            responses: [0, n, 0, 0, 0],
            ..ServerStats::default()
        };
        for _ in 0..n {
            web.latency_buckets.record(Duration::from_millis(2));
            a.latency_buckets.record(Duration::from_millis(2));
        }
        let raw = FrontendStats {
            connections: n,
            ..FrontendStats::default()
        };
        let b = ServerStats {
            connect_errors: n,
            ..ServerStats::default()
        };
        Box::new(WorkerStats {
            frontends: vec![web, raw],
            backends: vec![BackendStats {
                servers: vec![a, b],
                active: vec![0, 0],
                ..BackendStats::default()
            }],
            ..WorkerStats::default()
        })
    }

    #[test]
    fn history_json_has_rates_latencies_and_states_by_name() {
        let control = control();
        let record = |at_ms, stats: &[Box<WorkerStats>], whole| {
            let reading = control.reading(stats, whole);
            control.history.borrow_mut().record(at_ms, reading);
        };
        record(1_000_000, &[worker(0), worker(0)], true);
        // Two workers, 10 rounds each, over 2 s; b (drained) put in maintenance.
        control.table.borrow_mut().backends[0].servers[1].admin = Admin::Maint;
        record(1_002_000, &[worker(10), worker(10)], true);
        // One worker did not answer: no rates rather than half of them.
        record(1_004_000, &[worker(20)], false);
        let v: Value = serde_json::from_str(&json(&view(&control))).unwrap();
        assert_eq!(v["interval_ms"], 2000);
        assert_eq!(v["window_ms"], 600_000);
        assert_eq!(
            v["at_unix_ms"],
            serde_json::json!([1_000_000, 1_002_000, 1_004_000])
        );
        let web = &v["frontends"][0];
        assert_eq!(
            (&web["name"], &web["mode"]),
            (&"web".into(), &"http".into())
        );
        // 40 requests in 2 s; half of them 503s.
        assert_eq!(web["requests_per_s"], serde_json::json!([null, 20.0, null]));
        assert_eq!(web["errors_per_s"], serde_json::json!([null, 10.0, null]));
        let p50 = web["p50_ms"][1].as_f64().unwrap();
        // Within the bucket that holds 2 ms (1.792..2.048 ms).
        assert!((1.79..=2.05).contains(&p50), "{p50}");
        // A tcp frontend's requests are its connections.
        assert_eq!(v["frontends"][1]["requests_per_s"][1], 10.0);
        let app = &v["backends"][0];
        assert_eq!(app["name"], "app");
        assert_eq!(app["requests_per_s"][1], 10.0);
        assert_eq!(app["connect_errors_per_s"][1], 10.0);
        assert_eq!(app["errors_per_s"][1], 10.0);
        assert_eq!(
            app["servers"][0]["state"],
            serde_json::json!(["up", "up", "up"])
        );
        let b = &app["servers"][1];
        assert_eq!(b["name"], "b");
        assert_eq!(b["state"], serde_json::json!(["drain", "maint", "maint"]));
        assert_eq!(b["changed"], serde_json::json!([false, true, false]));
    }

    #[test]
    fn the_page_draws_the_history_without_script() {
        let control = control();
        for (i, n) in [0, 5, 10].into_iter().enumerate() {
            let reading = control.reading(&[worker(n)], true);
            control
                .history
                .borrow_mut()
                .record(2_000 * i as u64, reading);
        }
        let page = crate::admin::page::html(&control, &[worker(10)]);
        for key in ["frontend/web", "frontend/tcp-front", "backend/app"] {
            assert!(page.contains(&format!("data-key=\"{key}\"")), "{key}");
        }
        // Two samples with rates: two points in each rate chart, joined by a line.
        assert_eq!(
            page.matches("data-chart=\"rate\" data-points=\"2\"")
                .count(),
            3
        );
        assert!(page.contains("<path class=\"req\" d=\"M598.0 "), "{page}");
        // A state strip for each server of the backend, and the tables after.
        assert!(page.contains("data-server=\"a\""));
        assert!(page.contains("<rect class=\"up\""));
        assert!(page.find("id=\"charts\"") < page.find("<h2>Frontends</h2>"));
        // Without script the page reloads itself; with script, the script refreshes.
        assert!(page.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
        assert!(page.contains("fetch('api/history'"));
        // A tcp frontend has no requests nor responses: dashes, not zeros.
        let raw = page.split("<td class=\"l\">tcp-front</td>").nth(1).unwrap();
        let raw = raw.split("</tr>").next().unwrap();
        assert_eq!(raw.matches("<td>-</td>").count(), 9, "{raw}");
        // An empty history draws empty charts, not a failure.
        let empty = crate::admin::page::html(&crate::admin::tests::control(), &[]);
        assert!(empty.contains("data-chart=\"rate\" data-points=\"0\""));
    }
}
