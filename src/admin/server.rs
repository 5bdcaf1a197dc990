//! The admin listener (`global.admin_bind`), served by the control thread, never by
//! the workers: `GET /` (stats page), `GET /metrics` (Prometheus), `GET /api/servers`
//! (JSON), `GET /api/history` (the last ten minutes, JSON), `POST /api/servers/{backend}/{server}/state` (`ready|drain|maint`),
//! `POST /api/servers/{backend}/{server}/weight` (0..=256), `POST /api/reload`,
//! `GET`/`POST /api/announce` (`on`|`off`, with `[announce]`). One
//! request per connection. With `global.admin_token`, every request needs
//! `Authorization: Bearer <token>`.
//!
//! Requests are parsed by the proxy's own strict codec ([`crate::http`]), so whatever
//! the data path refuses as malformed or ambiguous the admin API refuses too, with the
//! same status; bodies need Content-Length (a chunked one gets 411), and a request
//! must fit in 16 KiB and arrive within 10 s.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use super::render;
use crate::control::Control;
use crate::http::{parse_request, read_append, BodyFraming, Limits};
use crate::lb::Admin;
use crate::msg::Update;

/// Whole request (head and body) must arrive within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole request, head and body.
const MAX_REQUEST: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;
/// The codec's limits for the admin API: the head alone may take the whole 16 KiB.
const LIMITS: Limits = Limits {
    max_request_line: MAX_REQUEST,
    max_header_bytes: MAX_REQUEST,
    max_headers: MAX_HEADERS,
};

pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

pub async fn serve(control: Rc<Control>, listener: std::net::TcpListener) {
    let listener = match monoio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("admin API: cannot register listener: {e}");
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                monoio::spawn(handle(Rc::clone(&control), stream));
            }
            Err(e) => {
                tracing::warn!("admin API: accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One response: status, content type, body.
pub struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: String) -> Self {
        Reply {
            status,
            content_type,
            body,
        }
    }

    pub fn json_error(status: u16, message: &str) -> Self {
        Reply::new(
            status,
            "application/json",
            serde_json::json!({ "error": message }).to_string(),
        )
    }
}

/// What `respond` needs of a request; the head's other fields were checked by the
/// codec and are not used.
struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

async fn handle(control: Rc<Control>, mut stream: TcpStream) {
    let reply = match monoio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(req)) => respond(&control, req).await,
        Ok(Err(refused)) => refused,
        Err(_) => Reply::json_error(408, "request timeout"),
    };
    let basic = control.config.borrow().global.admin_users.is_some();
    let challenge = match (reply.status, basic) {
        (401, false) => "www-authenticate: Bearer realm=\"ringlb\"\r\n",
        (401, true) => "www-authenticate: Basic realm=\"ringlb\"\r\nwww-authenticate: Bearer realm=\"ringlb\"\r\n",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-store\r\n{challenge}connection: close\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(reply.body.as_bytes());
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
}

/// Read one request: the head through the data path's strict codec
/// ([`crate::http::parse_request`]), so the admin API refuses what the proxy refuses
/// (conflicting Content-Length, bare LF, an invalid or missing Host, Transfer-Encoding
/// with Content-Length, ... with the codec's status), then a Content-Length body.
/// `Err`: the reply that refuses it.
async fn read_request(stream: &mut TcpStream) -> Result<Request, Reply> {
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let (mut request, head_len, body_len) = loop {
        if let Some(head) = parse_head(&buf)? {
            break head;
        }
        buf = read_more(stream, buf).await?;
    };
    let end = head_len + body_len;
    while buf.len() < end {
        buf = read_more(stream, buf).await?;
    }
    request.body = buf[head_len..end].to_vec();
    Ok(request)
}

/// The request (body still empty), the head's length and the body's, once the head is
/// complete; `Ok(None)` until then.
fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize, usize)>, Reply> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let req = match parse_request(buf, &LIMITS, &mut storage) {
        Ok(Some(req)) => req,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Reply::json_error(e.status(), &e.to_string())),
    };
    let body_len = match req.framing {
        BodyFraming::Length(n) => n,
        // Refused, not decoded: every body this API takes is a word or a number
        // (`drain`, `5`), which the clients of HAProxy-style admin APIs send with
        // Content-Length (curl -d, scripts, Ansible's uri, browsers' forms; Prometheus
        // sends no body). 411 Length Required is the status RFC 9110 §15.5.12 defines
        // for exactly this ("send it again with Content-Length"), so a client can act
        // on it; 501 would say chunked is not understood, and it is: the codec has
        // already refused malformed framing with 400. Decoding would need a chunk
        // decoder the codec does not have (ChunkedValidator only finds where a body
        // ends): a second parser here, which this file must not have.
        BodyFraming::Chunked => {
            return Err(Reply::json_error(
                411,
                "chunked request bodies are not accepted: send Content-Length",
            ))
        }
        BodyFraming::UntilClose => return Err(Reply::json_error(400, "bad request")),
    };
    // Checked: a Content-Length near u64::MAX must not wrap around the limit.
    let body_len = usize::try_from(body_len)
        .ok()
        .filter(|n| req.head_len.saturating_add(*n) <= MAX_REQUEST)
        .ok_or_else(|| Reply::json_error(413, "request larger than 16 KiB"))?;
    let request = Request {
        method: req.method.to_string(),
        path: req.path().to_string(),
        authorization: header(req.headers, "authorization"),
        body: Vec::new(),
    };
    Ok(Some((request, req.head_len, body_len)))
}

/// The first header field named `name`, when it is text.
fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    let h = headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
    std::str::from_utf8(h.value).ok().map(str::to_string)
}

async fn read_more(stream: &mut TcpStream, buf: Vec<u8>) -> Result<Vec<u8>, Reply> {
    match read_append(stream, buf).await {
        (Ok(n), buf) if n > 0 => Ok(buf),
        _ => Err(Reply::json_error(400, "bad request: incomplete request")),
    }
}

async fn respond(control: &Rc<Control>, req: Request) -> Reply {
    if let Some(refused) = refused(control, &req) {
        return refused;
    }
    let path = req.path.split('?').next().unwrap_or("/");
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", [""]) => {
            let stats = control.collect().await;
            Reply::new(200, "text/html; charset=utf-8", render::html(control, &stats))
        }
        ("GET", ["metrics"]) => {
            let stats = control.collect().await;
            Reply::new(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                render::metrics(control, &stats),
            )
        }
        ("GET", ["api", "servers"]) => {
            let stats = control.collect().await;
            Reply::new(200, "application/json", render::json(control, &stats))
        }
        ("GET", ["api", "history"]) => Reply::new(
            200,
            "application/json",
            super::history::json(&super::history::view(control)),
        ),
        ("GET", ["api", "vrrp"]) => match &control.vrrp {
            Some(v) => Reply::new(
                200,
                "application/json",
                super::vrrp_view::json(v).to_string(),
            ),
            None => Reply::json_error(404, "no [vrrp] in the configuration"),
        },
        ("GET", ["api", "announce"]) => match &control.announce {
            Some(a) => Reply::new(
                200,
                "application/json",
                super::announce_view::json(&a.status()).to_string(),
            ),
            None => Reply::json_error(404, "no [announce] in the configuration"),
        },
        ("POST", ["api", "announce"]) => match &control.announce {
            Some(a) => super::announce_view::set(a, &req.body),
            None => Reply::json_error(404, "no [announce] in the configuration"),
        },
        ("POST", ["api", "servers", backend, server, what]) => {
            let reply = set_server(control, backend, server, what, &req.body);
            // Answer once every worker applies it, like HAProxy's runtime API.
            control.barrier().await;
            reply
        }
        ("GET", ["api", "tables"]) => {
            let stats = control.collect().await;
            Reply::new(200, "application/json", super::tables::json(&stats))
        }
        ("POST", ["api", "tables", table, "clear"]) => clear_entry(control, table, &req.body).await,
        ("POST", ["api", "reload"]) => match control.reload("POST /api/reload") {
            Ok(summary) => {
                control.barrier().await;
                Reply::new(
                    200,
                    "application/json",
                    serde_json::json!({ "reloaded": true, "summary": summary }).to_string(),
                )
            }
            Err(errors) => Reply::new(
                400,
                "application/json",
                serde_json::json!({ "reloaded": false, "errors": errors.lines().collect::<Vec<_>>() })
                    .to_string(),
            ),
        },
        (_, [""] | ["metrics"] | ["api", "servers"] | ["api", "reload"] | ["api", "vrrp"] | ["api", "history"] | ["api", "announce"] | ["api", "tables"] | ["api", "tables", _, "clear"] | ["api", "servers", _, _, _]) => {
            Reply::json_error(405, "method not allowed")
        }
        _ => Reply::json_error(404, "no such page"),
    }
}

/// `POST /api/tables/{table}/clear`, body: the key as the table spells it (an
/// address, a prefix's first address, or a header value): every worker drops it.
async fn clear_entry(control: &Rc<Control>, table: &str, body: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(body);
    let key = text.trim().trim_matches('"');
    match clear_key(control, table, key).await {
        Ok(()) => Reply::new(
            200,
            "application/json",
            serde_json::json!({ "table": table, "cleared": key }).to_string(),
        ),
        Err(ClearError::NoTable(e)) => Reply::json_error(404, &e),
        Err(ClearError::BadKey(e)) => Reply::json_error(400, &e),
    }
}

/// Why a table entry was not cleared.
#[derive(Debug, thiserror::Error)]
pub enum ClearError {
    #[error("{0}")]
    NoTable(String),
    #[error("{0}")]
    BadKey(String),
}

/// Drop `key` from `table` on every worker (the JSON API and the admin socket).
pub(super) async fn clear_key(
    control: &Rc<Control>,
    table: &str,
    key: &str,
) -> Result<(), ClearError> {
    let kind = {
        let config = control.config.borrow();
        match config.tables.iter().find(|t| t.name == table) {
            Some(t) => t.config.key.clone(),
            None => return Err(ClearError::NoTable(format!("no table {table:?}"))),
        }
    };
    if let Err(e) = kind.parse_key(key) {
        return Err(ClearError::BadKey(format!(
            "not a key of table {table:?}: {e}"
        )));
    }
    let (table, key) = (table.to_string(), key.to_string());
    control.broadcaster.send_all(|| Update::ClearTableEntry {
        table: table.clone(),
        key: key.clone(),
    });
    control.barrier().await;
    tracing::info!("table {table:?}: entry {key:?} cleared");
    Ok(())
}

/// `POST /api/servers/{backend}/{server}/state|weight`, body: the value, as plain text
/// or as a JSON string or number.
fn set_server(
    control: &Rc<Control>,
    backend: &str,
    server: &str,
    what: &str,
    body: &[u8],
) -> Reply {
    let Some((b, s)) = control.table.borrow().find(backend, server) else {
        return Reply::json_error(404, &format!("no server {backend}/{server}"));
    };
    let text = String::from_utf8_lossy(body);
    let value = text.trim().trim_matches('"');
    match what {
        "state" => {
            let admin = match value {
                "ready" => Admin::Ready,
                "drain" => Admin::Drain,
                "maint" => Admin::Maint,
                _ => return Reply::json_error(400, "state must be ready, drain or maint"),
            };
            control.set_admin(b, s, Some(admin), None);
            tracing::info!("{backend}/{server}: admin state set to {value} (admin API)");
        }
        "weight" => {
            let weight = match value.parse::<u32>() {
                Ok(w) if w <= 256 => w,
                _ => return Reply::json_error(400, "weight must be a number from 0 to 256"),
            };
            control.set_admin(b, s, None, Some(weight));
            tracing::info!("{backend}/{server}: weight set to {weight} (admin API)");
        }
        _ => return Reply::json_error(404, "use .../state or .../weight"),
    }
    Reply::new(200, "application/json", render::server_json(control, b, s))
}

/// With `admin_token` and/or `admin_userlist`: the request must carry the bearer
/// token or the basic credentials of a listed user (with `admin_write_groups`, of
/// those groups to change anything: any method but GET and HEAD).
fn refused(control: &Control, req: &Request) -> Option<Reply> {
    let (token, users, writers) = {
        let c = control.config.borrow();
        let g = &c.global;
        (
            g.admin_token.clone(),
            g.admin_users.clone(),
            g.admin_write_groups.clone(),
        )
    };
    if token.is_none() && users.is_none() {
        return None;
    }
    let auth = req.authorization.as_deref().unwrap_or("");
    let by_token = token.as_ref().is_some_and(|t| {
        let given = auth.strip_prefix("Bearer ").unwrap_or("");
        same_secret(given.trim().as_bytes(), t.as_bytes())
    });
    let by_user = users
        .as_ref()
        .is_some_and(|u| u.authenticates(auth.as_bytes(), None));
    let reads = matches!(req.method.as_str(), "GET" | "HEAD");
    let may_write =
        |u: &crate::rules::Userlist, gs: &[Box<str>]| u.authenticates(auth.as_bytes(), Some(gs));
    match (by_token || by_user, users.is_some()) {
        (true, _) if by_token || reads => None,
        // `admin_write_groups`: a user outside them reads only.
        (true, _) => match (users.as_deref(), writers.as_deref()) {
            (Some(u), Some(gs)) if !may_write(u, gs) => Some(Reply::json_error(
                403,
                "this user may read, not change: admin_write_groups",
            )),
            _ => None,
        },
        (false, false) => Some(Reply::json_error(401, "missing or wrong bearer token")),
        (false, true) => Some(Reply::json_error(401, "missing or wrong credentials")),
    }
}

/// Compare without stopping at the first difference (no timing hint about the token).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abcdefghijklmnop", b"abcdefghijklmnop"));
        assert!(!same_secret(b"abcdefghijklmnoq", b"abcdefghijklmnop"));
        assert!(!same_secret(b"abc", b"abcdefghijklmnop"));
        assert!(!same_secret(b"", b"abcdefghijklmnop"));
    }
}
