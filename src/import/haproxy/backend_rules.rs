//! A backend's own rules (`acl`, `http-request`, `http-response`, `redirect`,
//! `use-server`) → `[[backend.acl]]`, `[[backend.http_rule]]`,
//! `[[backend.response_rule]]`, `[[backend.use_server]]`. ringlb runs them as HAProxy
//! does: request rules once the backend is chosen (after the frontend's), response
//! rules before the frontend's. They are translated as a frontend's would be, then
//! moved under the backend; what a backend's rules cannot do in ringlb (track, read a
//! counter, `tcp-request`) is reported.

use crate::import::toml_out::{Table, Value};

use super::model::{Be, Cx, Fe};
use super::proxy::front;
use super::rules::with_condition;
use super::sections::Line;

/// The tables of `be`'s rules, in order: ACLs, request rules (redirect lines after
/// the others, as HAProxy runs them), response rules, `use_server` rules.
pub fn translate(be: &Be, cx: &mut Cx) -> Vec<Table> {
    if be.rule_lines.is_empty() {
        return Vec::new();
    }
    let mut fe = Fe::new(&be.name, &be.head);
    fe.final_mode = "http".into();
    let mut pins = Vec::new();
    for l in &be.rule_lines {
        match l.word(0) {
            "use-server" => match use_server(l, be, &mut fe) {
                Ok(t) => {
                    pins.push(t);
                    cx.led.done(&l.src);
                }
                Err(why) => cx.led.lost(&l.src, why),
            },
            "tcp-request" => cx.led.lost(
                &l.src,
                "tcp-request in a backend: ringlb's tcp rules belong to frontends",
            ),
            _ => one_rule(l, &mut fe, cx),
        }
    }
    let mut out = Vec::new();
    for (tables, header) in [
        (fe.acls, "[[backend.acl]]"),
        (fe.http_rules, "[[backend.http_rule]]"),
        (fe.redirects, "[[backend.http_rule]]"),
        (fe.response_rules, "[[backend.response_rule]]"),
    ] {
        out.extend(tables.into_iter().map(|mut t| {
            t.header = header.to_string();
            t
        }));
    }
    out.extend(pins);
    out
}

/// A backend with `tcp-request` rules (which ringlb's backends cannot have): when
/// each frontend using it sends every request to it (only a `default_backend`, no
/// `use_backend`, no `redirect` lines), its rules but `use-server` move to them,
/// where they run after the frontend's own, as in HAProxy.
pub fn move_tcp_rules(be: &mut Be, fes: &mut [Fe], cx: &mut Cx) {
    if !be.rule_lines.iter().any(|l| l.word(0) == "tcp-request") {
        return;
    }
    let uses = |fe: &Fe| {
        fe.main.get("default_backend").and_then(|v| v.as_str()) == Some(be.name.as_str())
            || fe.use_backend.iter().any(|l| l.word(1) == be.name)
    };
    let users: Vec<usize> = (0..fes.len()).filter(|&i| uses(&fes[i])).collect();
    let only = users.iter().all(|&i| {
        let fe = &fes[i];
        fe.use_backend.is_empty()
            && fe.redirects.is_empty()
            && !be
                .rule_lines
                .iter()
                .any(|l| l.word(0) == "acl" && fe.has_acl(l.word(1)))
    });
    if users.is_empty() || !only {
        return;
    }
    let (moved, kept) = std::mem::take(&mut be.rule_lines)
        .into_iter()
        .partition(|l| l.word(0) != "use-server");
    be.rule_lines = kept;
    for i in users {
        for l in &moved {
            front(l, &mut fes[i], cx);
        }
    }
}

/// The rule lines of a backend that is not translated itself.
pub fn lost_with(be: &Be, cx: &mut Cx) {
    for l in &be.rule_lines {
        cx.led
            .lost(&l.src, "the backend it belongs to was not translated");
    }
}

/// One `acl`/`http-request`/`http-response`/`redirect` line, translated as a
/// frontend's; reported instead when it needs what a backend's rules cannot do.
fn one_rule(l: &Line, fe: &mut Fe, cx: &mut Cx) {
    let before = (
        fe.acls.len(),
        fe.http_rules.len(),
        fe.redirects.len(),
        fe.response_rules.len(),
        fe.tcp_rules.len(),
    );
    front(l, fe, cx);
    let tracks = fe.http_rules[before.1..]
        .iter()
        .any(|t| t.get("action") == Some(&Value::str("track")));
    let counts = fe.acls[before.0..]
        .iter()
        .any(|t| t.get("counter").is_some());
    let why = if tracks {
        "tracking in a backend's rules is not supported by ringlb: track in the frontend"
    } else if counts {
        "stick counters in a backend's rules are not supported by ringlb: test them in the frontend"
    } else if fe.tcp_rules.len() > before.4 {
        "ringlb's tcp rules belong to frontends"
    } else {
        return;
    };
    fe.acls.truncate(before.0);
    fe.http_rules.truncate(before.1);
    fe.redirects.truncate(before.2);
    fe.response_rules.truncate(before.3);
    fe.tcp_rules.truncate(before.4);
    cx.led.lost(&l.src, why);
}

/// `use-server NAME [if|unless COND]` → `[[backend.use_server]]`. A `srv_is_up(NAME)`
/// ANDed into an `if` is left out: `use_server` passes over a server that is down
/// or in maintenance, which is what it tests.
fn use_server(l: &Line, be: &Be, fe: &mut Fe) -> Result<Table, String> {
    let name = l.word(1);
    if name.is_empty() {
        return Err("use-server without a server name".into());
    }
    let known = be
        .servers
        .iter()
        .any(|s| s.get("name").and_then(|v| v.as_str()) == Some(name));
    if !known {
        return Err(format!("server {name:?} was not translated"));
    }
    let (words, dropped) = without_srv_is_up(&l.words, name);
    let line = Line {
        src: l.src.clone(),
        words,
    };
    let mut t = Table::new("[[backend.use_server]]");
    t.notes.push(l.src.cite());
    let note = if dropped {
        l.src.differs(&format!("srv_is_up({name}) left out: use_server passes over a server that is down or in maintenance"))
    } else {
        l.src.cite()
    };
    t.set("server", Value::str(name), note);
    with_condition(&mut t, &line, 2, fe)?;
    Ok(t)
}

/// The words of `use-server NAME if ...` without `{ srv_is_up(NAME) }` terms (also
/// spelled `srv_is_up(BACKEND/NAME)`), when the condition is a plain `if` with no
/// `||`; and whether one was left out.
fn without_srv_is_up(words: &[String], name: &str) -> (Vec<String>, bool) {
    let simple = words.get(2).map(String::as_str) == Some("if")
        && !words[3..].iter().any(|w| w == "||" || w == "or");
    if !simple {
        return (words.to_vec(), false);
    }
    let is_up = |w: &str| {
        w.strip_prefix("srv_is_up(")
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|s| s == name || s.rsplit('/').next() == Some(name))
    };
    let mut out: Vec<String> = words[..3].to_vec();
    let mut dropped = false;
    let mut i = 3;
    while i < words.len() {
        if words[i] == "{"
            && words.get(i + 2).map(String::as_str) == Some("}")
            && is_up(&words[i + 1])
        {
            dropped = true;
            i += 3;
            continue;
        }
        out.push(words[i].clone());
        i += 1;
    }
    if out.len() == 3 {
        out.truncate(2);
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::without_srv_is_up;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn srv_is_up_of_the_same_server_is_left_out_of_plain_ifs() {
        let w = words("use-server R0 if { srv_is_up(R0) } { nbsrv(chk) ge 2 }");
        let (out, dropped) = without_srv_is_up(&w, "R0");
        assert!(dropped);
        assert_eq!(out.join(" "), "use-server R0 if { nbsrv(chk) ge 2 }");
        let w = words("use-server R0 if { srv_is_up(be/R0) }");
        assert_eq!(without_srv_is_up(&w, "R0").0.join(" "), "use-server R0");
        for kept in [
            "use-server R0 if { srv_is_up(R1) }",
            "use-server R0 unless { srv_is_up(R0) }",
            "use-server R0 if { srv_is_up(R0) } || a",
            "use-server R0 if !{ srv_is_up(R0) }",
        ] {
            let (out, dropped) = without_srv_is_up(&words(kept), "R0");
            assert!(!dropped, "{kept}");
            assert_eq!(out.join(" "), kept);
        }
    }
}

#[cfg(test)]
mod import_tests {
    use super::super::tests::{parsed, run};

    /// argocd-redis-ha's `use-server`: `srv_is_up` of the same server left out (with a
    /// note), the `nbsrv` condition kept; an unknown server is reported.
    #[test]
    fn use_server_lines_become_backend_use_server_rules() {
        let text = "frontend f\n  mode tcp\n  bind :6379\n  default_backend b\nbackend chk\n  mode tcp\n  server R0 10.0.0.1:26379 check\nbackend b\n  mode tcp\n  use-server R0 if { srv_is_up(R0) } { nbsrv(chk) ge 2 }\n  server R0 10.0.0.1:6379 check\n  use-server R1 if { src 10.0.0.0/8 }\n  server R1 10.0.0.2:6379 check\n  use-server R9\n";
        let (toml, lost) = run(text);
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert!(
            lost[0].contains(":14: use-server: not translated: server \"R9\" was not translated"),
            "{lost:?}"
        );
        let t = parsed(&toml);
        let be = &t["backend"][1];
        let pins = be["use_server"].as_array().unwrap();
        assert_eq!(pins.len(), 2, "{toml}");
        assert_eq!(pins[0]["server"].as_str(), Some("R0"), "{toml}");
        let cond = pins[0]["if"].as_str().unwrap();
        assert!(!cond.contains(' '), "one ACL left: {toml}");
        let acl = be["acl"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"].as_str() == Some(cond))
            .unwrap();
        assert_eq!(acl["nbsrv"]["backend"].as_str(), Some("chk"), "{toml}");
        assert!(toml.contains("srv_is_up(R0) left out"), "{toml}");
        assert_eq!(pins[1]["server"].as_str(), Some("R1"), "{toml}");
    }
}
