//! One HAProxy ACL (`acl NAME FETCH [flags] VALUES...`, or an anonymous `{ ... }`) as
//! a `[[frontend.acl]]` of one kind. Pure: returns the table, or why it cannot be.

use crate::import::toml_out::{Table, Value};

/// What an ACL became.
#[derive(Debug, PartialEq)]
pub enum Acl {
    Table(Table),
    /// `req.ssl_sni` on a passthrough frontend: names for `route.sni` (`*.x` suffixes).
    Sni(Vec<String>),
}

/// Translate `FETCH [flags] VALUES...` for ACL `name`, citing `note`.
pub fn translate(name: &str, words: &[String], note: &str) -> Result<Acl, String> {
    let fetch = words.first().map(String::as_str).unwrap_or("");
    let mut icase = false;
    let mut method: Option<String> = None;
    let mut file: Option<String> = None;
    let mut i = 1;
    while i < words.len() && words[i].starts_with('-') && !words[i].starts_with("-1") {
        match words[i].as_str() {
            "-i" => icase = true,
            "-m" => {
                method = words.get(i + 1).cloned();
                i += 1;
            }
            "-f" => {
                file = words.get(i + 1).cloned();
                i += 1;
            }
            "-n" | "-u" => {}
            "--" => {
                i += 1;
                break;
            }
            f => return Err(format!("ACL flag {f} is not supported")),
        }
        i += 1;
    }
    let values: Vec<String> = words[i..].to_vec();
    if let Some(backend) = fetch
        .strip_prefix("nbsrv(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return nbsrv(name, backend, &values, note);
    }
    if let Some((table, counter)) = super::tables::counter_fetch(fetch) {
        let mut t = Table::new("[[frontend.acl]]");
        t.set("name", Value::str(name), note.to_string());
        let kv = vec![
            ("table".to_string(), Value::str(table)),
            ("name".to_string(), Value::str(counter)),
            (
                "above".to_string(),
                Value::Int(super::tables::above(&values)?),
            ),
        ];
        t.set("counter", Value::Inline(kv), note.to_string());
        return Ok(Acl::Table(t));
    }
    let (base, arg, derived) = split_fetch(fetch);
    let m = method.as_deref().or(derived).unwrap_or("");
    let (key, value, values_file) = match file {
        Some(f) if !(base == "src" && matches!(m, "" | "ip")) => {
            let (key, value) = with_pattern_file(&base, arg.as_deref(), m, &values)?;
            (key, value, Some(f))
        }
        file => {
            let (key, value) = kind(&base, arg.as_deref(), m, &values, file)?;
            (key, value, None)
        }
    };
    if key == "sni-route" {
        let names = match value {
            Value::Arr(v) => v
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        return Ok(Acl::Sni(names));
    }
    let note = if key.starts_with("path") {
        format!("{note} (differs: ringlb matches the normalized path: /%61dmin, //admin and /x/../admin are /admin)")
    } else if key.starts_with("host") {
        format!("{note} (differs: ringlb matches the host without its port)")
    } else {
        note.to_string()
    };
    let mut t = Table::new("[[frontend.acl]]");
    t.set("name", Value::str(name), note.clone());
    t.set(&key, value, note.clone());
    if let Some(f) = values_file {
        t.set("values_file", Value::str(f), note.clone());
    }
    if icase {
        t.set("ignore_case", Value::Bool(true), note.to_string());
    }
    Ok(Acl::Table(t))
}

/// A stand-in value: where the translation keeps it as written, the file's lines
/// can be added to the same list (`values_file`); where it rewrites values (`path_sub`
/// as an escaped regex...), they cannot. Its `.` changes when escaped.
const FROM_FILE: &str = "\u{0}values.file";

/// The kind of `-f FILE` with a string match: the values' list without the file's
/// lines, which ringlb reads into that list at load (`values_file`).
fn with_pattern_file(
    base: &str,
    arg: Option<&str>,
    m: &str,
    values: &[String],
) -> Result<(String, Value), String> {
    let mut marked = values.to_vec();
    marked.push(FROM_FILE.to_string());
    let (key, mut value) = kind(base, arg, m, &marked, None)?;
    if key == "sni-route" {
        return Err(
            "-f pattern files are not supported for routing by the ClientHello's name".into(),
        );
    }
    if take_marker(&mut value) {
        Ok((key, value))
    } else {
        let fetch = arg.map_or(base.to_string(), |a| format!("{base}({a})"));
        let how = if m.is_empty() {
            String::new()
        } else {
            format!(" -m {m}")
        };
        Err(format!("-f pattern files are not supported with {fetch}{how}: its values are rewritten when translated"))
    }
}

/// Remove the stand-in from the list that ends with it (in an inline table too).
fn take_marker(v: &mut Value) -> bool {
    match v {
        Value::Arr(items) if items.last().and_then(Value::as_str) == Some(FROM_FILE) => {
            items.pop();
            true
        }
        Value::Inline(kv) => kv.iter_mut().any(|(_, v)| take_marker(v)),
        _ => false,
    }
}

/// `path_beg` → (`path`, None, `beg`); `hdr_dom(host)` → (`hdr`, `host`, `dom`).
fn split_fetch(fetch: &str) -> (String, Option<String>, Option<&'static str>) {
    let (name, arg) = match fetch.split_once('(') {
        Some((n, rest)) => (n, Some(rest.trim_end_matches(')').to_string())),
        None => (fetch, None),
    };
    let name = name
        .strip_prefix("req.")
        .or_else(|| name.strip_prefix("req_"))
        .unwrap_or(name);
    for (suffix, m) in [
        ("_beg", "beg"),
        ("_end", "end"),
        ("_reg", "reg"),
        ("_sub", "sub"),
        ("_dom", "dom"),
        ("_dir", "dir"),
        ("_len", "len"),
        ("_cnt", "cnt"),
        ("_val", "val"),
    ] {
        if let Some(base) = name.strip_suffix(suffix) {
            return (base.to_string(), arg, Some(m));
        }
    }
    (name.to_string(), arg, None)
}

fn strs(values: &[String]) -> Value {
    Value::Arr(values.iter().map(Value::str).collect())
}

fn regexes(values: &[String], wrap: impl Fn(&str) -> String) -> Value {
    Value::Arr(values.iter().map(|v| Value::str(wrap(v))).collect())
}

fn escape(v: &str) -> String {
    regex_escape(v)
}

/// Escape regex metacharacters (the `regex` crate's syntax).
pub fn regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The ringlb ACL kind (its key) and value for fetch `base` (its argument `arg`),
/// matched with `-m m` against `values`, or the `-f` pattern `file`.
fn kind(
    base: &str,
    arg: Option<&str>,
    m: &str,
    values: &[String],
    file: Option<String>,
) -> Result<(String, Value), String> {
    let found = match (base, m) {
        ("src", "" | "ip") => match file {
            Some(f) => Some(("src_file", Value::str(f))),
            None if values.is_empty() => return Err("no values".to_string()),
            None => Some(("src", strs(values))),
        },
        ("dst_port", "" | "int") => {
            let ports: Result<Vec<Value>, _> = values
                .iter()
                .map(|v| v.parse::<i64>().map(Value::Int))
                .collect();
            let ports = ports.map_err(|_| "port ranges are not supported".to_string())?;
            Some(("dst_port", Value::Arr(ports)))
        }
        ("hdr" | "fhdr", _) => {
            return match arg.map(|a| a.split(',').next().unwrap_or(a).trim()) {
                Some(name) if is_host(name) => host(m, values),
                Some(name) => header(name, m, values),
                None => Err(no_kind(base, arg, m)),
            };
        }
        ("always_true", _) => Some((
            "src",
            Value::Arr(vec![Value::str("0.0.0.0/0"), Value::str("::/0")]),
        )),
        _ => path_kind(base, m, values)
            .or_else(|| tls_kind(base, m, values))
            .or_else(|| request_kind(base, arg, m, values)),
    };
    match found {
        Some((key, value)) => Ok((key.to_string(), value)),
        None => Err(no_kind(base, arg, m)),
    }
}

/// The kind for a fetch of the request's path (`path`, `url`, `base`), if it has one.
fn path_kind(base: &str, m: &str, values: &[String]) -> Option<(&'static str, Value)> {
    Some(match (base, m) {
        ("path", "" | "str") => ("path", strs(values)),
        ("path", "beg") => ("path_prefix", strs(values)),
        ("path", "end") => ("path_suffix", strs(values)),
        ("path", "reg") => ("path_regex", strs(values)),
        ("path", "sub") => ("path_regex", regexes(values, escape)),
        ("path", "dir") => (
            "path_regex",
            regexes(values, |v| format!("(^|/){}(/|$)", escape(v))),
        ),
        ("url" | "base", "beg")
            if values
                .iter()
                .all(|v| !v.contains('?') && v.starts_with('/')) =>
        {
            ("path_prefix", strs(values))
        }
        _ => return None,
    })
}

/// The kind for a fetch of the connection's TLS (`ssl_fc*`, `ssl_sni`), if it has one.
fn tls_kind(base: &str, m: &str, values: &[String]) -> Option<(&'static str, Value)> {
    Some(match (base, m) {
        ("ssl_fc_sni" | "ssl_fc_servername", "" | "str") => ("sni", strs(values)),
        ("ssl_fc_sni" | "ssl_fc_servername", "end") => ("sni_suffix", strs(values)),
        ("ssl_sni", "" | "str") => ("sni-route", strs(values)),
        ("ssl_sni", "end") if values.iter().all(|v| v.starts_with('.')) => {
            ("sni-route", regexes(values, |v| format!("*{v}")))
        }
        ("ssl_fc", "" | "bool") if values.is_empty() => (
            "tls_version",
            Value::Arr(vec![Value::str("TLSv1.2"), Value::str("TLSv1.3")]),
        ),
        ("ssl_fc_alpn", "" | "str") => ("alpn", strs(values)),
        ("ssl_fc_protocol", "" | "str") => ("tls_version", strs(values)),
        _ => return None,
    })
}

/// The kind for a fetch of the request's method, version, query parameters, cookies
/// or credentials, if it has one.
fn request_kind(
    base: &str,
    arg: Option<&str>,
    m: &str,
    values: &[String],
) -> Option<(&'static str, Value)> {
    Some(match (base, m) {
        ("method", "" | "str") => ("method", strs(values)),
        ("ver" | "req_ver", "" | "str") => ("http_version", strs(values)),
        ("url_param" | "urlp", "" | "str" | "found") if arg.is_some() => {
            ("query", named(arg.unwrap_or_default(), m, values))
        }
        ("cook", "" | "str" | "found") if arg.is_some() => {
            ("cookie", named(arg.unwrap_or_default(), m, values))
        }
        ("http_auth", "" | "bool") if arg.is_some() && values.is_empty() => (
            "http_auth",
            Value::Inline(vec![(
                "userlist".into(),
                Value::str(arg.unwrap_or_default()),
            )]),
        ),
        ("http_auth_group", "" | "str") if arg.is_some() && !values.is_empty() => (
            "http_auth",
            Value::Inline(vec![
                ("userlist".into(), Value::str(arg.unwrap_or_default())),
                ("groups".into(), strs(values)),
            ]),
        ),
        _ => return None,
    })
}

/// Why fetch `base` (its argument `arg`) matched with `-m m` has no ringlb ACL kind.
fn no_kind(base: &str, arg: Option<&str>, m: &str) -> String {
    let how = if m.is_empty() {
        String::new()
    } else {
        format!(" -m {m}")
    };
    let fetch = match arg {
        Some(a) => format!("{base}({a})"),
        None => base.to_string(),
    };
    format!("the fetch {fetch}{how} has no ringlb ACL kind")
}

/// `nbsrv(BACKEND) OP N` → `nbsrv = { backend, below | above | equals }`.
fn nbsrv(name: &str, backend: &str, values: &[String], note: &str) -> Result<Acl, String> {
    if backend.is_empty() {
        return Err("nbsrv() without a backend name (the current backend) is not supported".into());
    }
    let n = |v: Option<&String>| {
        v.and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or("nbsrv compares with a number")
    };
    let (key, value) = match (values.first().map(String::as_str), values.len()) {
        (Some("lt"), 2) => ("below", n(values.get(1))?),
        (Some("le"), 2) => ("below", n(values.get(1))? + 1),
        (Some("gt"), 2) => ("above", n(values.get(1))?),
        (Some("ge"), 2) if n(values.get(1))? > 0 => ("above", n(values.get(1))? - 1),
        (Some("eq"), 2) => ("equals", n(values.get(1))?),
        (Some(_), 1) => ("equals", n(values.first())?),
        _ => {
            return Err(
                "nbsrv is translated with lt, le, gt, ge N (N > 0), eq or one number".into(),
            )
        }
    };
    let mut t = Table::new("[[frontend.acl]]");
    t.set("name", Value::str(name), note.to_string());
    let kv = vec![
        ("backend".to_string(), Value::str(backend)),
        (key.to_string(), Value::Int(value)),
    ];
    t.set("nbsrv", Value::Inline(kv), note.to_string());
    Ok(Acl::Table(t))
}

fn is_host(h: &str) -> bool {
    h.eq_ignore_ascii_case("host")
}

/// `hdr(host)` with a match method. HAProxy compares the whole field, port included
/// (`hdr(host) -i a.example` does not match `Host: a.example:80`), so every method that
/// a header test can express is one: only `dom` becomes a host kind (port ignored).
fn host(m: &str, values: &[String]) -> Result<(String, Value), String> {
    let field = |how: &str, v: Value| {
        Value::Inline(vec![("name".into(), Value::str("Host")), (how.into(), v)])
    };
    let (key, value) = match m {
        "" | "str" => ("header", field("equals", strs(values))),
        "beg" => ("header", field("prefix", strs(values))),
        "end" => (
            "header",
            field("regex", regexes(values, |v| format!("{}$", escape(v)))),
        ),
        "reg" => ("header", field("regex", strs(values))),
        "sub" => ("header", field("regex", regexes(values, escape))),
        "dom" => (
            "host_regex",
            regexes(values, |v| {
                format!("(^|\\.){}$", escape(v.trim_matches('.')))
            }),
        ),
        "found" => (
            "header",
            Value::Inline(vec![("name".into(), Value::str("Host"))]),
        ),
        _ => {
            return Err(format!(
                "match method {m} on the host header is not supported"
            ))
        }
    };
    Ok((key.to_string(), value))
}

/// `hdr(NAME)` with a match method → `header = { name, equals|prefix|regex }`.
fn header(name: &str, m: &str, values: &[String]) -> Result<(String, Value), String> {
    let (key, list) = match m {
        "" | "str" => ("equals", strs(values)),
        "beg" => ("prefix", strs(values)),
        "reg" => ("regex", strs(values)),
        "sub" => ("regex", regexes(values, escape)),
        "end" => ("regex", regexes(values, |v| format!("{}$", escape(v)))),
        "found" => ("", Value::Arr(vec![])),
        _ => return Err(format!("match method {m} on a header is not supported")),
    };
    let mut kv = vec![("name".to_string(), Value::str(name))];
    if !key.is_empty() {
        kv.push((key.to_string(), list));
    }
    Ok(("header".to_string(), Value::Inline(kv)))
}

/// `query`/`cookie`: a name, and values unless the method is `found`.
fn named(name: &str, m: &str, values: &[String]) -> Value {
    let mut kv = vec![("name".to_string(), Value::str(name))];
    if m != "found" {
        kv.push(("value".to_string(), strs(values)));
    }
    Value::Inline(kv)
}

/// HAProxy's predefined ACLs that ringlb can express.
pub fn predefined(name: &str) -> Option<Vec<String>> {
    let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    Some(match name {
        "TRUE" => w("always_true"),
        "LOCALHOST" => w("src 127.0.0.1/8 ::1"),
        "HTTP_1.0" => w("req.ver 1.0"),
        "HTTP_1.1" => w("req.ver 1.1"),
        "METH_CONNECT" | "METH_DELETE" | "METH_GET" | "METH_HEAD" | "METH_OPTIONS"
        | "METH_POST" | "METH_PUT" | "METH_TRACE" => {
            let m = &name[5..];
            if m == "GET" {
                w("method GET HEAD")
            } else {
                vec!["method".into(), m.to_string()]
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
