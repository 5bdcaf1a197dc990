//! A DNS stub resolver for runtime resolution: one A or AAAA question over UDP to
//! the configured nameservers, in turn, each attempt bounded by `timeout`. The wire
//! format is `hickory-proto`'s; the I/O is a monoio UDP socket on the control thread,
//! because hickory's own resolver wants a tokio runtime. Answers are checked (id,
//! question, response code) before their addresses are used.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use monoio::net::udp::UdpSocket;

use crate::config::{Family, Resolvers};

/// Room for a UDP answer: 512 bytes without EDNS, more when a server sends more.
const MAX_ANSWER: usize = 4096;

/// The addresses a name has, and how long they may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub addrs: Vec<IpAddr>,
    /// The smallest TTL of the records used.
    pub ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("{0:?} is not a valid DNS name")]
    Name(String),
    #[error("no answer from {0} nameserver(s) (timeouts or errors)")]
    NoAnswer(usize),
    #[error("the nameserver says {0}")]
    Refused(ResponseCode),
    #[error("no address records")]
    Empty,
}

/// The addresses of `host` in the preferred family, or in the other one when it has
/// none (HAProxy's `resolve-prefer`).
pub async fn resolve(r: &Resolvers, host: &str, prefer: Family) -> Result<Answer, DnsError> {
    let (first, second) = match prefer {
        Family::Ipv6 => (RecordType::AAAA, RecordType::A),
        Family::Ipv4 => (RecordType::A, RecordType::AAAA),
    };
    match lookup(r, host, first).await {
        Ok(a) if !a.addrs.is_empty() => Ok(a),
        Ok(_) | Err(DnsError::Empty) => match lookup(r, host, second).await? {
            a if a.addrs.is_empty() => Err(DnsError::Empty),
            a => Ok(a),
        },
        Err(e) => Err(e),
    }
}

/// One question, asked of each nameserver in turn, `attempts` rounds at most.
async fn lookup(r: &Resolvers, host: &str, rtype: RecordType) -> Result<Answer, DnsError> {
    let answer = ask(r, host, rtype).await?;
    addresses(&answer, rtype)
}

/// Ask each nameserver in turn, `attempts` rounds at most, until one answers this
/// question (checked: id, question, response code).
async fn ask(r: &Resolvers, host: &str, rtype: RecordType) -> Result<Message, DnsError> {
    let name = Name::from_ascii(format!("{}.", host.trim_end_matches('.')))
        .map_err(|_| DnsError::Name(host.to_string()))?;
    for _ in 0..r.attempts {
        for ns in &r.nameservers {
            let mut query = Message::query();
            query.metadata.recursion_desired = true;
            query.add_query(Query::query(name.clone(), rtype));
            let Ok(bytes) = query.to_vec() else {
                return Err(DnsError::Name(host.to_string()));
            };
            let got = monoio::time::timeout(r.timeout, exchange(*ns, bytes)).await;
            let Ok(Ok(answer)) = got else { continue };
            match check(&query, &answer) {
                Some(result) => return result,
                None => continue, // not an answer to this question
            }
        }
    }
    Err(DnsError::NoAnswer(r.nameservers.len()))
}

/// The targets of SRV name `name` (`_service._proto.name`) as addresses with the
/// records' ports, lowest priority first, then highest weight; a target's addresses
/// come from the answer's additional section, else from a lookup of its own.
pub async fn resolve_srv(
    r: &Resolvers,
    name: &str,
    prefer: Family,
) -> Result<(Vec<SocketAddr>, Duration), DnsError> {
    let answer = ask(r, name, RecordType::SRV).await?;
    let (mut targets, mut ttl) = srv_targets(&answer);
    if targets.is_empty() {
        return Err(DnsError::Empty);
    }
    targets.sort_by_key(|t| (t.0, std::cmp::Reverse(t.1)));
    let mut out = Vec::new();
    for (_, _, port, target) in targets {
        let extra = glue(&answer, &target, prefer);
        let addrs = if extra.is_empty() {
            match resolve(r, &target, prefer).await {
                Ok(a) => {
                    ttl = ttl.min(a.ttl);
                    a.addrs
                }
                Err(_) => continue, // one target without an address: the others stay
            }
        } else {
            extra
        };
        for ip in addrs {
            let a = SocketAddr::new(ip, port);
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    if out.is_empty() {
        return Err(DnsError::Empty);
    }
    Ok((out, ttl))
}

/// (priority, weight, port, target) of each SRV record of an answer, and the
/// smallest TTL.
fn srv_targets(answer: &Message) -> (Vec<(u16, u16, u16, String)>, Duration) {
    let mut ttl = u32::MAX;
    let mut out = Vec::new();
    for rec in &answer.answers {
        if let RData::SRV(srv) = &rec.data {
            let target = srv.target.to_ascii();
            // "." means "no service here" (RFC 2782).
            if srv.port == 0 || target == "." {
                continue;
            }
            out.push((srv.priority, srv.weight, srv.port, target));
            ttl = ttl.min(rec.ttl);
        }
    }
    (out, Duration::from_secs(u64::from(ttl)))
}

/// The addresses of `target` in an answer's additional section, preferred family
/// first (the other one only when the preferred has none).
fn glue(answer: &Message, target: &str, prefer: Family) -> Vec<IpAddr> {
    let named = |r: &&hickory_proto::rr::Record| r.name.to_ascii().eq_ignore_ascii_case(target);
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = answer
        .additionals
        .iter()
        .filter(named)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .partition(|ip| ip.is_ipv4());
    match prefer {
        Family::Ipv4 if !v4.is_empty() => v4,
        Family::Ipv6 if !v6.is_empty() => v6,
        Family::Ipv4 => v6,
        Family::Ipv6 => v4,
    }
}

/// Send one datagram to `ns` and read one back.
async fn exchange(ns: SocketAddr, query: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match ns {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().map_err(std::io::Error::other)?,
        SocketAddr::V6(_) => "[::]:0".parse().map_err(std::io::Error::other)?,
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(ns).await?;
    let (res, _) = socket.send(query).await;
    res?;
    let (res, mut buf) = socket.recv(Vec::with_capacity(MAX_ANSWER)).await;
    let n = res?;
    buf.truncate(n);
    Ok(buf)
}

/// `None` when `bytes` does not answer `query` (wrong id, question, or not a
/// response); else the answer, or the error its response code says.
fn check(query: &Message, bytes: &[u8]) -> Option<Result<Message, DnsError>> {
    let answer = Message::from_vec(bytes).ok()?;
    let m = &answer.metadata;
    if m.id != query.metadata.id
        || m.message_type != MessageType::Response
        || m.op_code != OpCode::Query
    {
        return None;
    }
    if answer.queries != query.queries {
        return None;
    }
    match m.response_code {
        ResponseCode::NoError => Some(Ok(answer)),
        ResponseCode::NXDomain => Some(Err(DnsError::Empty)),
        other => Some(Err(DnsError::Refused(other))),
    }
}

/// The A or AAAA addresses of an answer (CNAMEs on the way are skipped: their
/// targets' records follow) and their smallest TTL.
fn addresses(answer: &Message, rtype: RecordType) -> Result<Answer, DnsError> {
    let mut addrs = Vec::new();
    let mut ttl = u32::MAX;
    for rec in &answer.answers {
        let ip = match (&rec.data, rtype) {
            (RData::A(a), RecordType::A) => IpAddr::V4(a.0),
            (RData::AAAA(a), RecordType::AAAA) => IpAddr::V6(a.0),
            _ => continue,
        };
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
        ttl = ttl.min(rec.ttl);
    }
    if addrs.is_empty() {
        return Err(DnsError::Empty);
    }
    Ok(Answer {
        addrs,
        ttl: Duration::from_secs(u64::from(ttl)),
    })
}

/// [`check`] then [`addresses`] (for the tests).
#[cfg(test)]
fn judge(query: &Message, bytes: &[u8], rtype: RecordType) -> Option<Result<Answer, DnsError>> {
    Some(check(query, bytes)?.and_then(|m| addresses(&m, rtype)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::Record;

    fn question(rtype: RecordType) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii("web.test.").unwrap(), rtype));
        q
    }

    fn reply(q: &Message, code: ResponseCode, records: Vec<Record>) -> Vec<u8> {
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.metadata.response_code = code;
        m.add_queries(q.queries.clone());
        m.add_answers(records);
        m.to_vec().unwrap()
    }

    fn a(ip: [u8; 4], ttl: u32) -> Record {
        Record::from_rdata(
            Name::from_ascii("web.test.").unwrap(),
            ttl,
            RData::A(A(ip.into())),
        )
    }

    #[test]
    fn addresses_and_the_smallest_ttl_are_taken() {
        let q = question(RecordType::A);
        let cname = Record::from_rdata(
            Name::from_ascii("alias.test.").unwrap(),
            300,
            RData::CNAME(CNAME(Name::from_ascii("web.test.").unwrap())),
        );
        let bytes = reply(
            &q,
            ResponseCode::NoError,
            vec![
                cname,
                a([10, 0, 0, 1], 30),
                a([10, 0, 0, 2], 5),
                a([10, 0, 0, 1], 30),
            ],
        );
        let got = judge(&q, &bytes, RecordType::A).unwrap().unwrap();
        assert_eq!(
            got.addrs,
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        assert_eq!(got.ttl, Duration::from_secs(5));
    }

    #[test]
    fn answers_to_another_question_are_ignored_and_errors_said() {
        let q = question(RecordType::A);
        let other = question(RecordType::A);
        assert!(judge(
            &q,
            &reply(&other, ResponseCode::NoError, vec![a([1, 2, 3, 4], 1)]),
            RecordType::A
        )
        .is_none());
        assert!(judge(&q, b"garbage", RecordType::A).is_none());
        assert!(matches!(
            judge(
                &q,
                &reply(&q, ResponseCode::NXDomain, vec![]),
                RecordType::A
            ),
            Some(Err(DnsError::Empty))
        ));
        assert!(matches!(
            judge(
                &q,
                &reply(&q, ResponseCode::ServFail, vec![]),
                RecordType::A
            ),
            Some(Err(DnsError::Refused(_)))
        ));
        assert!(matches!(
            judge(&q, &reply(&q, ResponseCode::NoError, vec![]), RecordType::A),
            Some(Err(DnsError::Empty))
        ));
        // An A record in an AAAA answer is not used.
        let q6 = question(RecordType::AAAA);
        assert!(matches!(
            judge(
                &q6,
                &reply(&q6, ResponseCode::NoError, vec![a([1, 2, 3, 4], 1)]),
                RecordType::AAAA
            ),
            Some(Err(DnsError::Empty))
        ));
    }

    #[test]
    fn srv_targets_skip_the_no_service_record_and_glue_prefers_a_family() {
        use hickory_proto::rr::rdata::{AAAA, SRV};
        let name = |n: &str| Name::from_ascii(n).unwrap();
        let mut m = Message::response(1, OpCode::Query);
        let srv = |port, target: &str| {
            Record::from_rdata(
                name("_x._tcp.s."),
                7,
                RData::SRV(SRV::new(1, 5, port, name(target))),
            )
        };
        m.add_answers([srv(8080, "a.test."), srv(0, "."), srv(9090, "b.test.")]);
        m.add_additional(Record::from_rdata(
            name("a.test."),
            3,
            RData::A(A([10, 0, 0, 1].into())),
        ));
        let v6: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
        m.add_additional(Record::from_rdata(
            name("a.test."),
            3,
            RData::AAAA(AAAA(v6)),
        ));
        let (targets, ttl) = srv_targets(&m);
        let ports: Vec<u16> = targets.iter().map(|t| t.2).collect();
        assert_eq!(ports, [8080, 9090]);
        assert_eq!(ttl, Duration::from_secs(7));
        assert_eq!(
            glue(&m, "a.test.", Family::Ipv4),
            [IpAddr::from([10, 0, 0, 1])]
        );
        assert_eq!(glue(&m, "a.test.", Family::Ipv6), [IpAddr::V6(v6)]);
        assert!(glue(&m, "b.test.", Family::Ipv4).is_empty());
    }
}
