//! Connection limits and queues whose HAProxy meaning depends on the whole
//! configuration: a frontend's `maxconn` (against the process limit and the number of
//! frontends) and a server's `maxqueue` (against the backend's balance and
//! persistence).

use crate::import::toml_out::Value;

use super::model::{Be, Cx, Fe};

/// A frontend's `maxconn` pauses accepting at the limit, as ringlb's process-wide
/// `max_connections` does: with one frontend they are the same limit. With several,
/// a limit at or above the process limit is never reached, in HAProxy either; one
/// below it is the frontend's own `max_connections`.
pub fn maxconn(fes: &mut [Fe], cx: &mut Cx) {
    let global = match cx.g.main.get("max_connections") {
        Some(Value::Int(g)) => Some(*g),
        _ => None,
    };
    let several = fes.len() > 1;
    for fe in fes.iter_mut() {
        let Some((n, src)) = fe.maxconn.as_ref() else {
            continue;
        };
        let g = global.unwrap_or(i64::MAX);
        if !several && *n < g {
            let note = src.differs("the only frontend's limit, applied to the process");
            cx.g.main.set("max_connections", Value::Int(*n), note);
        } else if !several || *n >= g {
            let why = format!("no key needed: global.max_connections = {g} is reached first");
            let note = if !several {
                src.cite()
            } else {
                format!("{} ({why})", src.cite())
            };
            cx.g.main.cite("max_connections", note);
        } else {
            let note = src.differs("split evenly across workers, as global.max_connections is");
            fe.main.set("max_connections", Value::Int(*n), note);
        }
        cx.led.done(src);
    }
}

/// A server's `maxqueue` bounds its own queue, which HAProxy uses only for requests
/// bound to that server: with roundrobin or leastconn and no persistence, a request
/// finding every server full waits in the backend's queue, as in ringlb.
pub fn maxqueue(be: &mut Be, cx: &mut Cx) {
    let balance = be.main.get("balance").and_then(|v| v.as_str());
    let unbound = !be.pinned && matches!(balance, None | Some("roundrobin" | "leastconn"));
    for src in std::mem::take(&mut be.maxqueue) {
        let src = &src;
        if unbound {
            let note = format!("{} (server maxqueue: no key needed: with this balance and no persistence HAProxy queues in the backend, never on one server)", src.cite());
            if !be.main.notes.contains(&note) {
                be.main.notes.push(note);
            }
        } else {
            cx.led.lost_part(src, "server maxqueue", "ringlb queues per backend (max_queue), not per server: a request bound to a full server does not wait in a queue of its own");
        }
    }
}
