//! A stats listener's access rules: `stats http-request auth unless A` with `acl A
//! http_auth(L)` → `global.admin_userlist = L`, and `stats admin if G` with `acl G
//! http_auth_group(L) GROUP...` → `global.admin_write_groups` (ringlb's admin API
//! lets every user read and those groups change things).

use std::collections::HashMap;

use crate::import::toml_out::Value;

use super::model::Cx;
use super::sections::{Line, Section};

/// The section's `acl NAME http_auth(L)` / `http_auth_group(L) G...` lines: name →
/// (userlist, groups, line).
fn auth_acls(s: &Section) -> HashMap<&str, (&str, Vec<&str>, &Line)> {
    let mut out = HashMap::new();
    for l in s.body.iter().filter(|l| l.word(0) == "acl") {
        let fetch = l.word(2);
        let list = fetch
            .strip_prefix("http_auth_group(")
            .or_else(|| fetch.strip_prefix("http_auth("))
            .and_then(|r| r.strip_suffix(')'));
        if let Some(list) = list {
            let groups = l.words[3..].iter().map(String::as_str).collect();
            out.insert(l.word(1), (list, groups, l));
        }
    }
    out
}

/// Whether the userlist is translated (a `userlist` section of that name).
fn known_list(name: &str, cx: &Cx) -> bool {
    cx.g.userlists
        .iter()
        .any(|t| t.header == "[[userlist]]" && t.get("name") == Some(&Value::str(name)))
}

/// `stats http-request auth [realm R] unless A` (or `if !A`): translated when `A` is
/// an `http_auth` ACL of a translated userlist. `false`: left to the caller.
pub fn http_request_auth(s: &Section, line: &Line, cx: &mut Cx) -> bool {
    let w = &line.words;
    let n = w.len();
    let acl = match (w.get(2).map(String::as_str), n) {
        (Some("auth"), _) if n >= 2 && w[n - 2] == "unless" => w[n - 1].as_str(),
        (Some("auth"), _) if n >= 2 && w[n - 2] == "if" => match w[n - 1].strip_prefix('!') {
            Some(a) => a,
            None => return false,
        },
        _ => return false,
    };
    let acls = auth_acls(s);
    let Some((list, groups, acl_line)) = acls.get(acl) else {
        return false;
    };
    if !groups.is_empty() || !known_list(list, cx) || cx.g.main.get("admin_userlist").is_some() {
        return false;
    }
    let why = "differs: the admin API and /metrics ask for it too, as HAProxy's stats page does";
    cx.g.main
        .set("admin_userlist", Value::str(*list), line.src.differs(why));
    cx.g.main.cite("admin_userlist", acl_line.src.cite());
    cx.led.done(&line.src);
    cx.led.done(&acl_line.src);
    true
}

/// `stats admin if G`: translated when `G` is an `http_auth_group` ACL of the admin
/// userlist; `stats admin if TRUE` needs nothing. `false`: left to the caller.
pub fn stats_admin(s: &Section, line: &Line, cx: &mut Cx) -> bool {
    if line.words.len() == 4 && line.word(2) == "if" && line.word(3) == "TRUE" {
        cx.led.note(
            &line.src,
            "ringlb's admin API lets whoever may use it change things",
        );
        return true;
    }
    if line.words.len() != 4 || line.word(2) != "if" {
        return false;
    }
    let acls = auth_acls(s);
    let Some((list, groups, acl_line)) = acls.get(line.word(3)) else {
        return false;
    };
    if groups.is_empty() || cx.g.main.get("admin_userlist") != Some(&Value::str(*list)) {
        return false;
    }
    let groups = Value::Arr(groups.iter().map(|g| Value::str(*g)).collect());
    cx.g.main.set("admin_write_groups", groups, line.src.cite());
    cx.g.main.cite("admin_write_groups", acl_line.src.cite());
    cx.led.done(&line.src);
    cx.led.done(&acl_line.src);
    true
}
