//! The named workloads of `ringlb-load compare` (issue 21's table), and ringlb's
//! server-connection reuse as its `/metrics` tells it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};

/// One row of the comparison: how clients connect and what reuse each proxy may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Keep-alive clients; HAProxy with `http-reuse always` (http mode), ringlb with
    /// its default `http_reuse` (`safe`): the set-up of earlier measurements.
    KeepAlive,
    /// One request per client connection, both proxies allowed to put any request on
    /// any idle server connection (`always`).
    CloseAlways,
    /// One request per client connection, both proxies with `safe`: every client's
    /// request on a new server connection.
    CloseSafe,
    /// One request per client connection through a TCP-mode proxy: a short TCP
    /// exchange per connection (connect, request, response, close on both sides).
    TcpClose,
}

pub const ALL: [Scenario; 4] = [
    Scenario::KeepAlive,
    Scenario::CloseAlways,
    Scenario::CloseSafe,
    Scenario::TcpClose,
];

impl Scenario {
    /// A name as `--scenario` takes it.
    pub fn parse(s: &str) -> Result<Vec<Scenario>, String> {
        match s {
            "all" => Ok(ALL.to_vec()),
            _ => ALL
                .into_iter()
                .find(|x| x.name() == s)
                .map(|x| vec![x])
                .ok_or_else(|| {
                    let names: Vec<&str> = ALL.iter().map(|x| x.name()).collect();
                    format!("{s:?}: expected all or one of {}", names.join(", "))
                }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::KeepAlive => "keep-alive",
            Scenario::CloseAlways => "close-always",
            Scenario::CloseSafe => "close-safe",
            Scenario::TcpClose => "tcp-close",
        }
    }

    /// Clients send `Connection: close` with every request.
    pub fn close(self) -> bool {
        self != Scenario::KeepAlive
    }

    /// The proxy mode: the close scenarios are about HTTP server connections, but
    /// `tcp-close`'s about TCP mode.
    pub fn mode(self, asked: &str) -> &str {
        match self {
            Scenario::KeepAlive => asked,
            Scenario::TcpClose => "tcp",
            Scenario::CloseAlways | Scenario::CloseSafe => "http",
        }
    }

    /// ringlb's `http_reuse` (`None`: its default) and HAProxy's `http-reuse`.
    pub fn reuse(self) -> (Option<&'static str>, &'static str) {
        match self {
            Scenario::KeepAlive => (None, "always"),
            Scenario::CloseAlways => (Some("always"), "always"),
            Scenario::CloseSafe => (Some("safe"), "safe"),
            // (TCP mode: neither proxy pools server connections.)
            Scenario::TcpClose => (None, "always"),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scenario::KeepAlive => {
                "keep-alive clients; HAProxy `http-reuse always`, ringlb's default `http_reuse` (`safe`)"
            }
            Scenario::CloseAlways => {
                "one request per client connection (`Connection: close`); ringlb `http_reuse = \"always\"`, HAProxy `http-reuse always`"
            }
            Scenario::CloseSafe => {
                "one request per client connection (`Connection: close`); ringlb `http_reuse = \"safe\"`, HAProxy `http-reuse safe`"
            }
            Scenario::TcpClose => {
                "one request per client connection (`Connection: close`) through both proxies in TCP mode: a server connection per client connection"
            }
        }
    }
}

/// ringlb's reuse figures for one backend, from `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReuseFigures {
    pub opened: u64,
    pub reused: u64,
    /// Requests answered by the backend's servers.
    pub requests: u64,
}

impl ReuseFigures {
    /// Read them out of a `/metrics` text.
    pub fn parse(metrics: &str, backend: &str) -> ReuseFigures {
        let label = format!("backend=\"{backend}\"");
        let mut f = ReuseFigures::default();
        for line in metrics.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Some((name, labels)) = series.split_once('{') else {
                continue;
            };
            if !labels.split([',', '}']).any(|l| l == label) {
                continue;
            }
            let value: u64 = value.parse().unwrap_or(0);
            match name {
                "ringlb_backend_connections_opened_total" => f.opened = value,
                "ringlb_backend_requests_reused_total" => f.reused = value,
                "ringlb_server_requests_total" => f.requests += value,
                _ => {}
            }
        }
        f
    }

    /// New server connections per 1,000 requests.
    pub fn per_1000(&self) -> f64 {
        1000.0 * self.opened as f64 / (self.requests.max(1)) as f64
    }
}

/// `GET /metrics` from ringlb's admin listener (which closes after each answer).
pub fn scrape(admin: SocketAddr) -> anyhow::Result<String> {
    let mut s = TcpStream::connect(admin).context("cannot reach ringlb's admin listener")?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let Some((head, body)) = out.split_once("\r\n\r\n") else {
        bail!("a malformed /metrics answer");
    };
    if !head.starts_with("HTTP/1.1 200") {
        bail!("/metrics answered {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_all_is_every_one() {
        for s in ALL {
            assert_eq!(Scenario::parse(s.name()), Ok(vec![s]));
        }
        assert_eq!(Scenario::parse("all"), Ok(ALL.to_vec()));
        assert!(Scenario::parse("close")
            .unwrap_err()
            .contains("close-always"));
    }

    #[test]
    fn close_scenarios_are_http_and_set_both_policies() {
        assert_eq!(Scenario::KeepAlive.mode("tcp"), "tcp");
        assert_eq!(Scenario::CloseSafe.mode("tcp"), "http");
        assert_eq!(Scenario::CloseAlways.reuse(), (Some("always"), "always"));
        assert_eq!(Scenario::CloseSafe.reuse(), (Some("safe"), "safe"));
        assert!(!Scenario::KeepAlive.close() && Scenario::CloseAlways.close());
        assert!(Scenario::TcpClose.close());
        assert_eq!(Scenario::TcpClose.mode("http"), "tcp");
    }

    #[test]
    fn reuse_figures_from_metrics_text() {
        let text = "# HELP x\n\
            ringlb_backend_connections_opened_total{backend=\"servers\"} 12\n\
            ringlb_backend_connections_opened_total{backend=\"other\"} 99\n\
            ringlb_backend_requests_reused_total{backend=\"servers\"} 3988\n\
            ringlb_server_requests_total{backend=\"servers\",server=\"s0\"} 2000\n\
            ringlb_server_requests_total{backend=\"servers\",server=\"s1\"} 2000\n\
            ringlb_server_requests_total{backend=\"serversx\",server=\"s1\"} 7\n";
        let f = ReuseFigures::parse(text, "servers");
        assert_eq!(
            f,
            ReuseFigures {
                opened: 12,
                reused: 3988,
                requests: 4000
            }
        );
        assert_eq!(f.per_1000(), 3.0);
        assert_eq!(ReuseFigures::default().per_1000(), 0.0);
    }
}
