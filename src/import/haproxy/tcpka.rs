//! `option tcpka` / `clitcpka` / `srvtcpka` → `tcp_keepalive` on the frontend (client
//! connections) and/or the backend (server connections). HAProxy's `tcpka` sets both
//! sides of the proxy it is in: a frontend's client side, a backend's server side, a
//! `listen` section's both; `clitcpka` has no effect in a backend, `srvtcpka` none in
//! a frontend (HAProxy ignores them there too).

use crate::import::toml_out::Value;

use super::model::{Be, Cx, Fe};
use super::sections::Line;

/// One of the three options, `no` in front or not. `dflt`: the line comes from a
/// defaults section, applied to this proxy; a side it does not concern is left to
/// the proxies of the other kind.
pub fn option(line: &Line, dflt: bool, fe: Option<&mut Fe>, be: Option<&mut Be>, cx: &mut Cx) {
    let src = &line.src;
    let negated = line.word(0) == "no";
    let name = if negated { line.word(2) } else { line.word(1) };
    let on = Value::Bool(!negated);
    let (client, server) = (name != "srvtcpka", name != "clitcpka");
    let mut set = false;
    if let Some(fe) = fe.filter(|_| client) {
        fe.main.set("tcp_keepalive", on.clone(), src.cite());
        set = true;
    }
    if let Some(be) = be.filter(|_| server) {
        be.main.set("tcp_keepalive", on, src.cite());
        set = true;
    }
    if set {
        cx.led.done(src);
    } else if !dflt {
        let side = if client { "backend" } else { "frontend" };
        cx.led.note(
            src,
            format!("option {name} has no effect in a {side}, in HAProxy either"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parsed, run};

    /// The `tcp_keepalive` of each frontend and each backend (`None`: absent).
    fn keys(text: &str) -> (Vec<Option<bool>>, Vec<Option<bool>>) {
        let (toml, lost) = run(text);
        assert!(lost.is_empty(), "{lost:?}");
        let t = parsed(&toml);
        let of = |kind: &str| -> Vec<Option<bool>> {
            let all = t
                .get(kind)
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default();
            all.iter()
                .map(|x| x.get("tcp_keepalive").and_then(|v| v.as_bool()))
                .collect()
        };
        (of("frontend"), of("backend"))
    }

    const BACKEND: &str = "backend b\n  server s 10.0.0.1:80\n";

    #[test]
    fn tcpka_in_a_listen_section_sets_both_sides() {
        let text = "listen l\n  bind :80\n  option tcpka\n  server s 10.0.0.1:80\n";
        assert_eq!(keys(text), (vec![Some(true)], vec![Some(true)]));
    }

    #[test]
    fn tcpka_in_a_frontend_or_backend_sets_its_own_side() {
        let text = format!("frontend f\n  bind :80\n  option tcpka\n  default_backend b\n{BACKEND}  option tcpka\n");
        assert_eq!(keys(&text), (vec![Some(true)], vec![Some(true)]));
        let text =
            format!("frontend f\n  bind :80\n  option tcpka\n  default_backend b\n{BACKEND}");
        assert_eq!(keys(&text), (vec![Some(true)], vec![None]));
    }

    #[test]
    fn clitcpka_and_srvtcpka_from_defaults_reach_their_side_only() {
        let text = format!("defaults\n  option clitcpka\n  option srvtcpka\nfrontend f\n  bind :80\n  default_backend b\n{BACKEND}");
        assert_eq!(keys(&text), (vec![Some(true)], vec![Some(true)]));
        let text = format!(
            "defaults\n  option srvtcpka\nfrontend f\n  bind :80\n  default_backend b\n{BACKEND}"
        );
        assert_eq!(keys(&text), (vec![None], vec![Some(true)]));
    }

    #[test]
    fn no_option_tcpka_cancels_the_defaults() {
        let text = format!("defaults\n  option tcpka\nfrontend f\n  bind :80\n  no option tcpka\n  default_backend b\n{BACKEND}");
        assert_eq!(keys(&text), (vec![Some(false)], vec![Some(true)]));
    }

    #[test]
    fn clitcpka_in_a_backend_is_noted_as_without_effect() {
        let text =
            format!("frontend f\n  bind :80\n  default_backend b\n{BACKEND}  option clitcpka\n");
        let mut led = crate::import::report::Ledger::default();
        super::super::translate("h.cfg", &text, &|_| None, &mut led).unwrap();
        let notes = led.notes();
        let noted = "h.cfg:6: option clitcpka: option clitcpka has no effect in a backend";
        assert!(notes.iter().any(|n| n.starts_with(noted)), "{notes:?}");
        assert_eq!(keys(&text), (vec![None], vec![None]));
    }
}
