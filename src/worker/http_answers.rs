//! What an HTTP-mode connection answers itself (a child of `http.rs`): redirects, a
//! rule's answer, refusals with the frontend's error pages; and the response rules
//! run on a server's response head before it goes to the client.

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};

use super::Conn;
use crate::config::{Frontend, Redirect};
use crate::http::{parse_request, BodyFraming};
use crate::msg::stats::count_status;
use crate::rules::{Facts, Headers, HttpFacts, Slots};
use crate::worker::access::refusal;
use crate::worker::http_heads::{reject, rule_version, Parsed, MAX_HEADERS};
use crate::worker::route::Answer;
use crate::worker::{rules, rules_backend};

impl Conn {
    /// Answer with redirect `r`; whether the connection stays open.
    pub(super) async fn redirect(&mut self, r: &Redirect, req: &Parsed) -> bool {
        let has_body = req.framing != BodyFraming::Length(0);
        let keep = req.keep_alive && !has_body;
        self.head.clear();
        let reason = match r.status {
            301 => "Moved Permanently",
            302 => "Found",
            303 => "See Other",
            307 => "Temporary Redirect",
            _ => "Permanent Redirect",
        };
        let close = if keep { "" } else { "connection: close\r\n" };
        self.head.extend_from_slice(
            format!(
                "HTTP/1.1 {} {reason}\r\nlocation: {}\r\ncontent-length: 0\r\n{close}\r\n",
                r.status, r.location
            )
            .as_bytes(),
        );
        self.worker
            .with_frontend_stats(self.fe, |s| count_status(&mut s.responses, r.status));
        self.rec.status = Some(r.status);
        self.rec.term = *b"LR";
        self.rec.bytes_out = self.head.len() as u64;
        let (res, h) = self.client.write_all(std::mem::take(&mut self.head)).await;
        self.head = h;
        res.is_ok() && keep
    }

    /// Send the response a rule wrote into `head` (after the tarpit's delay, which
    /// holds only this connection's task); whether the connection stays open.
    pub(super) async fn answer(&mut self, a: Answer) -> bool {
        if a.delay_ms > 0 {
            crate::worker::timer::sleep(std::time::Duration::from_millis(a.delay_ms)).await;
        }
        self.worker
            .with_frontend_stats(self.fe, |s| count_status(&mut s.responses, a.status));
        self.rec.status = Some(a.status);
        self.rec.term = match (a.delay_ms > 0, a.status >= 400) {
            (true, _) => *b"PT",
            (false, true) => *b"PR",
            (false, false) => *b"LR",
        };
        self.rec.bytes_out = self.head.len() as u64;
        let (res, h) = self.client.write_all(std::mem::take(&mut self.head)).await;
        self.head = h;
        if res.is_err() {
            return false;
        }
        if !a.keep {
            let _ = self.client.shutdown().await;
        }
        a.keep
    }

    /// Answer with an error status, counted for the frontend (`invalid`: the client's
    /// request was at fault), then close.
    pub(in crate::worker) async fn refuse(&mut self, status: u16, invalid: bool) {
        self.rec.status = Some(status);
        self.rec.term = refusal(status, invalid);
        self.worker.with_frontend_stats(self.fe, |s| {
            count_status(&mut s.responses, status);
            s.invalid_requests += u64::from(invalid);
        });
        // The frontend's error_page for this status, if any (copied into the head
        // buffer: the connection ends after it).
        // (Boxed: the lingering close is large and rare; every phase of an exchange
        // may refuse, and its future would be as large as this one's.)
        let frontend = self.worker.frontend(self.fe);
        match frontend.error_pages.iter().find(|p| p.status == status) {
            Some(page) => {
                let mut out = std::mem::take(&mut self.head);
                out.clear();
                out.extend_from_slice(&page.response);
                Box::pin(reject(&mut self.client, out)).await;
            }
            None => {
                Box::pin(reject(
                    &mut self.client,
                    crate::http::error_response(status),
                ))
                .await
            }
        }
    }

    /// Response rules on the final response head from a server, written for the
    /// client in `head`: their conditions see the request as received, the
    /// connection, and `status`.
    pub(in crate::worker) fn response_rules(
        &mut self,
        frontend: &Frontend,
        backend: usize,
        status: u16,
        tracked: &Slots,
    ) {
        let of_backend = rules_backend::has_response_rules(&self.worker, backend);
        if !has_response_rules(frontend) && !of_backend {
            return;
        }
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let limits = self.worker.http_limits();
        // Parsed and validated once already: cannot fail.
        let Ok(Some(req)) = parse_request(&self.req_copy, &limits, &mut storage) else {
            return;
        };
        let facts = Facts {
            tls_version: self.tls.map(|t| t.0),
            sni: self.rc.sni.as_deref(),
            alpn: self.rc.alpn.as_deref(),
            http: Some(HttpFacts {
                method: req.method,
                target: req.target.as_bytes(),
                host: req.host,
                version: rule_version(&self.client, req.version),
                headers: Headers::Parsed(req.headers),
            }),
            status: Some(status),
            ..Facts::connection(self.peer.ip(), self.rc.dst_port)
        };
        if of_backend {
            rules_backend::on_response(&self.worker, backend, &facts, tracked, &mut self.head);
        }
        rules::on_response(
            &self.worker,
            self.fe,
            frontend,
            &facts,
            tracked,
            &mut self.head,
        );
    }
}

pub(super) fn has_response_rules(frontend: &Frontend) -> bool {
    frontend
        .rules
        .as_deref()
        .is_some_and(|r| !r.response_rules().is_empty())
}
