//! Options HAProxy takes in a backend and ringlb in a frontend (`option forwardfor`,
//! `option httpclose`): carried to each frontend whose every backend has them.

use std::collections::HashMap;

use crate::import::report::Src;
use crate::import::toml_out::Value;

use super::model::{Cx, Fe};
use super::options;

/// Backend options carried to the frontends whose every backend has them, by backend.
pub(super) struct Carried {
    pub forwardfor: HashMap<String, Src>,
    pub httpclose: HashMap<String, Src>,
}

/// The lines of a backend option, when every backend `fe` uses has it.
fn on_every_backend(fe: &Fe, by_backend: &HashMap<String, Src>) -> Option<Vec<Src>> {
    let mut targets: Vec<&str> = fe
        .http_rules
        .iter()
        .filter(|r| r.get("action") == Some(&Value::str("use_backend")))
        .filter_map(|r| r.get("backend").and_then(Value::as_str))
        .collect();
    targets.extend(fe.main.get("default_backend").and_then(Value::as_str));
    let srcs: Option<Vec<Src>> = targets
        .iter()
        .map(|t| by_backend.get(*t).cloned())
        .collect();
    srcs.filter(|s| !s.is_empty())
}

/// `option httpclose` in backends: on a frontend whose every backend has it (in
/// HAProxy either side's option closes).
pub(super) fn httpclose(fe: &mut Fe, hc: &HashMap<String, Src>, cx: &mut Cx) {
    if fe.mode() != "http" {
        return;
    }
    if let Some(srcs) = on_every_backend(fe, hc) {
        if fe.main.get("http_close").is_none() {
            let why = format!(
                "set on the frontend, whose every backend has it; {}",
                options::HTTP_CLOSE
            );
            fe.main
                .set("http_close", Value::Bool(true), srcs[0].differs(&why));
        }
        for s in &srcs {
            fe.main.cite("http_close", s.cite());
            cx.led.done(s);
        }
    }
}

/// `option forwardfor` in backends: on a frontend whose every backend has it.
pub(super) fn forwardfor(fe: &mut Fe, ff: &HashMap<String, Src>, cx: &mut Cx) {
    if fe.mode() != "http" || fe.main.get("forwarded_for").is_some() {
        return;
    }
    if let Some(srcs) = on_every_backend(fe, ff) {
        let note = srcs[0].differs("set on the frontend, whose every backend has it");
        fe.main.set("forwarded_for", Value::Bool(true), note);
        let only_for = Value::Arr(vec![Value::str("x-forwarded-for")]);
        fe.main.set("forwarded_headers", only_for, srcs[0].cite());
        for s in &srcs {
            fe.main.cite("forwarded_for", s.cite());
            cx.led.done(s);
        }
    }
}
