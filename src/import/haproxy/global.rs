//! `global`, `resolvers`, `log` lines, and a stats listener (a `listen` or `frontend`
//! that only serves HAProxy's stats page) → `global.admin_bind`.

use crate::import::toml_out::{Table, Value};

use super::model::{Cx, Fe};
use super::sections::{Line, Section};
use super::values;

const HARMLESS: &[(&str, &str)] = &[
    ("daemon", "ringlb runs in the foreground under systemd"),
    ("master-worker", "ringlb reloads in place (SIGHUP)"),
    (
        "chroot",
        "no chroot: ringlb's systemd unit confines it (ProtectSystem, private /tmp)",
    ),
    ("pidfile", "systemd tracks the process"),
    ("nbproc", "ringlb is one process"),
    (
        "user",
        "the systemd unit runs ringlb as user ringlb (set global.user to keep another)",
    ),
    (
        "group",
        "the systemd unit runs ringlb as group ringlb (set global.group to keep another)",
    ),
    ("uid", "the systemd unit runs ringlb as user ringlb"),
    ("gid", "the systemd unit runs ringlb as group ringlb"),
    ("ulimit-n", "ringlb raises its descriptor limit itself"),
    ("tune.ssl.default-dh-param", "rustls has no DHE suites"),
    ("ssl-dh-param-file", "rustls has no DHE suites"),
    ("spread-checks", "ringlb spreads checks by ±10% itself"),
    ("node", "naming only"),
    ("description", "naming only"),
    ("setenv", "applied to the lines after it at import"),
    ("presetenv", "applied to the lines after it at import"),
    ("ca-base", "applied to ca-file paths at import"),
    ("crt-base", "applied to crt paths at import"),
    ("server-state-base", "naming only"),
    ("cpu-map", "ringlb pins worker i to core i (pin_workers)"),
    (
        "stats timeout",
        "ringlb's admin socket closes a session idle for 10 s",
    ),
    (
        "zero-warning",
        "ringlb check reports warnings; nothing to refuse",
    ),
    ("unix-bind", "ringlb listens on no unix sockets"),
    (
        "max-spread-checks",
        "ringlb spreads first checks over one interval",
    ),
];

/// What differs on the socket `stats socket` becomes: the command subset.
const STATS_SOCKET: &str = "ringlb answers a subset of HAProxy's CLI (docs/admin.md): show stat|info|servers state|backend|table, get weight, enable/disable server, set server B/S state|weight, set weight, clear table T key K, help, prompt, quit; other commands get HAProxy's unknown-command answer";

pub fn global(s: &Section, cx: &mut Cx) {
    cx.led.note(&s.head.src, "section header");
    for line in &s.body {
        let src = &line.src;
        let d = src.directive.as_str();
        match d {
            "crt-base" => cx.g.crt_base = Some(line.word(1).to_string()),
            "ca-base" => cx.g.ca_base = Some(line.word(1).to_string()),
            _ => {}
        }
        if let Some((_, why)) = HARMLESS.iter().find(|(k, _)| *k == d) {
            cx.led.note(src, *why);
            continue;
        }
        let main = &mut cx.g.main;
        match (d, line.word(1).parse::<i64>()) {
            ("maxconn", Ok(n)) => main.set("max_connections", Value::Int(n), src.cite()),
            ("nbthread", Ok(n)) => main.set("workers", Value::Int(n), src.cite()),
            ("hard-stop-after", _) => match values::duration(line.word(1)) {
                Some(d) => main.set(
                    "grace_period",
                    Value::str(d),
                    src.differs("ringlb also closes idle keep-alive connections at once"),
                ),
                None => {
                    cx.led.lost(src, "not a time");
                    continue;
                }
            },
            ("log", _) => {
                log_target(line, cx);
                continue;
            }
            ("log-tag", _) => syslog_key(&mut cx.g.main, "tag", line.word(1), src),
            ("ssl-server-verify", _) if line.word(1) == "none" => {
                cx.g.verify_none = Some(src.clone());
                cx.led.note(src, "no server uses TLS");
                continue;
            }
            ("ssl-server-verify", _) if line.word(1) == "required" => {
                cx.led
                    .note(src, "ringlb verifies server certificates by default");
                continue;
            }
            ("stats socket", _) => {
                stats_socket(line, cx);
                continue;
            }
            // HAProxy's built-in value: the line changes nothing in HAProxy either.
            ("tune.bufsize", Ok(16384)) | ("tune.maxrewrite", Ok(1024)) => {
                cx.led.note(src, "no key needed: HAProxy's default value, the line changes nothing (ringlb's limits: max_header_bytes, max_body_bytes)");
                continue;
            }
            (
                "ssl-default-bind-options"
                | "ssl-default-server-options"
                | "ssl-default-bind-ciphers"
                | "ssl-default-server-ciphers"
                | "ssl-default-bind-ciphersuites"
                | "ssl-default-server-ciphersuites",
                _,
            ) => {
                super::tls_opts::global(line, cx);
                continue;
            }
            _ => {
                let why = if d.starts_with("ssl-default") || d.starts_with("tune.ssl") {
                    "ringlb's TLS uses rustls' default suites and settings"
                } else if d.starts_with("tune.") {
                    "tuning knobs are not carried (see ringlb's own limits in docs/configuration.md)"
                } else {
                    "no ringlb equivalent"
                };
                cx.led.lost(src, why);
                continue;
            }
        }
        cx.led.done(src);
    }
}

fn syslog_key(main: &mut Table, key: &str, value: &str, src: &crate::import::report::Src) {
    let mut kv = match main.get("syslog") {
        Some(Value::Inline(kv)) => kv.clone(),
        _ => Vec::new(),
    };
    kv.retain(|(k, _)| k != key);
    kv.push((key.to_string(), Value::str(value)));
    main.set("syslog", Value::Inline(kv), src.cite());
}

/// `log ADDR [len N] [format F] FACILITY [LEVEL [MINLEVEL]]` in `global`.
fn log_target(line: &Line, cx: &mut Cx) {
    let src = &line.src;
    if cx.g.logs && super::log_copy::second_target(line, cx) {
        return;
    }
    if cx.g.logs {
        const ONE: &str = "ringlb sends its logs to one target (the first `log` line's, as global.log_target/syslog), and a copy of its own lines to at most one more (global.syslog_copy)";
        // `log ADDR FACILITY LEVEL`: above info, HAProxy sends it its own events only.
        let events = ["emerg", "alert", "crit", "err", "warning", "notice"];
        let why = match line.words.iter().skip(3).find(|w| events.contains(&w.as_str())) {
            Some(level) => format!("{ONE}: this target only takes HAProxy's events at {level} and above (servers down, start, stop), no access lines; have the syslog daemon copy ringlb's own lines there"),
            None => format!("{ONE}: send a copy elsewhere with a syslog relay"),
        };
        return cx.led.lost(src, why);
    }
    let addr = line.word(1);
    let mut rest: Vec<&str> = line.words[2..].iter().map(String::as_str).collect();
    let mut format = None;
    while let Some(i) = rest
        .iter()
        .position(|w| *w == "format" || *w == "len" || *w == "sample")
    {
        if rest[i] == "format" {
            format = rest.get(i + 1).map(|s| s.to_string());
        } else {
            cx.led
                .lost_part(src, format!("log {}", rest[i]), "not supported");
        }
        rest.drain(i..(i + 2).min(rest.len()));
    }
    cx.g.logs = true;
    if addr == "stdout" || addr == "stderr" {
        if format.as_deref() != Some("raw") {
            cx.led.lost_part(
                src,
                "log format",
                "ringlb writes access lines raw on stdout",
            );
        }
        let note = if addr == "stderr" {
            src.differs("access lines go to stdout")
        } else {
            src.cite()
        };
        cx.g.main.set("log_target", Value::str("stderr"), note);
        cx.led.done(src);
        return;
    }
    let address = syslog_address(addr);
    cx.g.main
        .set("log_target", Value::str("syslog"), src.cite());
    syslog_key(&mut cx.g.main, "address", &address, src);
    if let Some(f) = rest.first() {
        syslog_key(&mut cx.g.main, "facility", f, src);
    }
    if let Some(f) = format.filter(|f| f == "rfc5424" || f == "rfc3164") {
        syslog_key(&mut cx.g.main, "format", &f, src);
    }
    if let Some(level) = rest.get(1) {
        if !matches!(*level, "info" | "debug") {
            cx.led.lost_part(
                src,
                format!("log level {level}"),
                "ringlb sends access lines at info; HAProxy drops them below this level",
            );
        }
    }
    cx.led.done(src);
}

/// A `log` line's address in ringlb's spelling: a socket path, `udp://`, `tcp://`.
pub(super) fn syslog_address(addr: &str) -> String {
    if addr.starts_with('/') {
        addr.to_string()
    } else if let Some(a) = addr.strip_prefix("tcp@") {
        format!("tcp://{}", with_port(a))
    } else {
        format!(
            "udp://{}",
            with_port(addr.strip_prefix("udp@").unwrap_or(addr))
        )
    }
}

fn with_port(a: &str) -> String {
    if a.contains(':') {
        a.to_string()
    } else {
        format!("{a}:514")
    }
}

/// `log global` / `log ADDR ...` in a proxy.
pub fn proxy_log(line: &Line, fe: Option<&mut Fe>, cx: &mut Cx) {
    let src = &line.src;
    if line.word(1) == "global" {
        return cx
            .led
            .note(src, "ringlb's access lines go to the global log target");
    }
    if line.word(0) == "no" && !cx.g.logs {
        return cx
            .led
            .note(src, "there is no log target: nothing is logged either way");
    }
    if line.word(0) == "no" {
        return cx.led.lost(src, "ringlb cannot turn logging off per proxy");
    }
    if fe.is_some() {
        cx.led
            .lost(src, "a log target per proxy: ringlb has one global target");
    }
}

/// `stats socket PATH [mode M] [level L] [user U] [group G] ...` → `admin_socket`,
/// `admin_socket_mode`, `admin_socket_level`. ringlb opens one Unix socket: a TCP
/// one (`ipv4@`, `host:port`) or a second line is not translated.
fn stats_socket(line: &Line, cx: &mut Cx) {
    let src = &line.src;
    let path = line.word(2).strip_prefix("unix@").unwrap_or(line.word(2));
    if !path.starts_with('/') {
        return cx.led.lost(src, "ringlb's admin socket is a Unix socket; for TCP use the JSON API on global.admin_bind (docs/admin.md)");
    }
    if cx.g.main.get("admin_socket").is_some() {
        return cx.led.lost(
            src,
            "ringlb opens one admin socket (the first stats socket line)",
        );
    }
    let mut how = STATS_SOCKET.to_string();
    let mut options = line.words.iter().skip(3).map(String::as_str);
    while let Some(option) = options.next() {
        let value = options.clone().next().unwrap_or("");
        match option {
            "mode" if u32::from_str_radix(value, 8).is_ok_and(|m| m <= 0o777) => {
                cx.g.main
                    .set("admin_socket_mode", Value::str(value), src.cite());
            }
            "level" if matches!(value, "user" | "operator" | "admin") => {
                cx.g.main
                    .set("admin_socket_level", Value::str(value), src.cite());
            }
            "user" | "group" | "uid" | "gid" => {
                how.push_str("; the socket belongs to the user ringlb starts as (user/group/uid/gid not applied)");
            }
            "expose-fd" => {
                how.push_str("; no fd passing: `ringlb upgrade` hands sockets over itself")
            }
            "mode" | "level" => {
                return cx.led.lost(src, format!("{option} {value:?} is not valid"))
            }
            _ => {
                how.push_str(&format!("; bind option {option} not applied"));
                continue;
            }
        }
        options.next();
    }
    cx.g.main
        .set("admin_socket", Value::str(path), src.differs(&how));
    cx.led.done(src);
}

/// A proxy that serves only HAProxy's stats page.
pub fn is_stats_listener(s: &Section) -> bool {
    let has = |w: &str| s.body.iter().any(|l| l.word(0) == w);
    let stats = s
        .body
        .iter()
        .any(|l| l.word(0) == "stats" && matches!(l.word(1), "enable" | "uri"));
    stats
        && !has("server")
        && !has("default_backend")
        && !has("use_backend")
        && !has("server-template")
}

/// The stats listener → `global.admin_bind`.
pub fn stats_listener(s: &Section, cx: &mut Cx) {
    cx.led.note(
        &s.head.src,
        "a stats listener: ringlb's admin listener (global.admin_bind) replaces it",
    );
    for line in &s.body {
        let src = &line.src;
        match (line.word(0), line.word(1)) {
            ("bind", a) if !cx.g.admin_bound => match values::bind_addr(a) {
                Ok(addr) => {
                    cx.g.admin_bound = true;
                    cx.g.main.set("admin_bind", Value::str(addr), src.differs("ringlb's stats page is at / and also serves /metrics and the runtime API; set admin_token to protect it"));
                    cx.led.done(src);
                    for opt in &line.words[2..] {
                        cx.led.lost_part(src, format!("bind {opt}"), "the admin listener is plain HTTP on one address");
                    }
                }
                Err(why) => cx.led.lost(src, why),
            },
            ("bind", a) => {
                let first = cx.g.main.get("admin_bind").and_then(|v| v.as_str()).unwrap_or("?");
                let why = format!("ringlb's admin listener has one address (global.admin_bind = {first}, from the first bind): the page is not served on {a}; bind a wildcard address with the port to cover both (and set admin_token)");
                cx.led.lost(src, why)
            }
            ("stats", "auth") => super::users::stats_auth(line, cx),
            ("stats", "admin") if super::stats_auth::stats_admin(s, line, cx) => {}
            ("stats", "admin") => cx.led.lost(src, "ringlb's admin API lets every user of admin_userlist (or the admin_token) change things; admin_write_groups narrows it to groups of that userlist"),
            ("stats", "http-request") if super::stats_auth::http_request_auth(s, line, cx) => {}
            ("stats", "scope") => cx.led.lost(src, "the stats page shows every proxy"),
            ("stats", _) => cx.led.note(src, "the stats page's address and look are ringlb's own"),
            ("http-request", "use-service") => cx.led.note(src, "ringlb serves /metrics on the admin listener"),
            _ => cx.led.note(src, "part of the stats listener"),
        }
    }
}

/// The first `resolvers` section → `[resolvers]`; others are reported.
pub fn resolvers(s: &Section, cx: &mut Cx) {
    if cx.g.resolvers_name.is_some() {
        cx.led.lost(&s.head.src, "ringlb has one [resolvers]");
        for l in &s.body {
            cx.led.lost(&l.src, "ringlb has one [resolvers]");
        }
        return;
    }
    cx.g.resolvers_name = Some(s.name.clone());
    let mut t = Table::new("[resolvers]");
    t.notes.push(s.head.src.cite());
    cx.led.done(&s.head.src);
    let mut servers = Vec::new();
    let mut cites = Vec::new();
    for line in &s.body {
        let src = &line.src;
        match (line.word(0), line.word(1)) {
            ("nameserver", _) => {
                let a = line.word(2);
                let a = a.strip_prefix("udp@").unwrap_or(a);
                if a.contains('@') {
                    cx.led.lost(src, "nameservers over TCP are not supported");
                    continue;
                }
                servers.push(Value::str(a));
                cites.push(src.cite());
                cx.led.done(src);
            }
            ("parse-resolv-conf", _) => cx.led.note(
                src,
                "ringlb reads /etc/resolv.conf when no nameserver is given",
            ),
            ("resolve_retries", n) => match n.parse::<i64>() {
                Ok(n) => {
                    t.set("attempts", Value::Int(n), src.cite());
                    cx.led.done(src);
                }
                Err(_) => cx.led.lost(src, "not a number"),
            },
            ("timeout", "retry") => match values::duration(line.word(2)) {
                Some(d) => {
                    t.set("timeout", Value::str(d), src.cite());
                    cx.led.done(src);
                }
                None => cx.led.lost(src, "not a time"),
            },
            ("timeout", "resolve") => match values::duration(line.word(2)) {
                Some(d) => {
                    cx.g.resolve_every = Some((d, src.clone()));
                    cx.led.note(
                        src,
                        "the re-resolution interval of servers using these resolvers",
                    );
                }
                None => cx.led.lost(src, "not a time"),
            },
            ("hold", _) => cx
                .led
                .note(src, "ringlb keeps the last address when a resolution fails"),
            ("accepted_payload_size", _) => cx.led.note(src, "ringlb reads answers up to 4 KiB"),
            _ => cx.led.lost(src, "no ringlb equivalent"),
        }
    }
    if !servers.is_empty() {
        t.set("nameservers", Value::Arr(servers), s.head.src.cite());
        for c in cites {
            t.cite("nameservers", c);
        }
    }
    cx.g.resolvers = Some(t);
}
