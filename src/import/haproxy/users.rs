//! `userlist` sections → `[[userlist]]` and `[[userlist.user]]` (groups from both
//! `group G users a,b` and `user U groups g,h`); `stats auth USER:PASS` of the stats
//! listener → a `stats_auth` userlist that `global.admin_userlist` names.

use crate::import::toml_out::{Table, Value};

use super::model::Cx;
use super::sections::{Line, Section};

/// The userlist `stats auth` lines fill.
const STATS_LIST: &str = "stats_auth";

pub fn userlist(s: &Section, cx: &mut Cx) {
    let name = s.head.word(1);
    let mut list = Table::new("[[userlist]]");
    list.set("name", Value::str(name), s.head.src.cite());
    cx.led.done(&s.head.src);
    // (user, group) pairs the `group` lines give.
    let mut members: Vec<(String, String)> = Vec::new();
    for l in s.body.iter().filter(|l| l.word(0) == "group") {
        match (l.word(2), l.words.len()) {
            (_, 2) => cx.led.done(&l.src),
            ("users", 4) => {
                let users = l.word(3).split(',').filter(|u| !u.is_empty());
                members.extend(users.map(|u| (u.to_string(), l.word(1).to_string())));
                cx.led.done(&l.src);
            }
            _ => cx.led.lost(&l.src, "expected group NAME [users U1,U2]"),
        }
    }
    let mut users = Vec::new();
    for l in &s.body {
        match l.word(0) {
            "group" => {}
            "user" => match user(l, &members) {
                Ok(t) => {
                    users.push(t);
                    cx.led.done(&l.src);
                }
                Err(why) => cx.led.lost(&l.src, why),
            },
            _ => cx.led.lost(&l.src, "unknown in a userlist"),
        }
    }
    cx.g.userlists.push(list);
    cx.g.userlists.extend(users);
}

/// `user NAME [password HASH | insecure-password PASS] [groups G1,G2]`.
fn user(l: &Line, members: &[(String, String)]) -> Result<Table, String> {
    let name = l.word(1);
    let note = l.src.cite();
    let mut t = Table::new("[[userlist.user]]");
    t.set("name", Value::str(name), note.clone());
    let mut groups: Vec<String> = members
        .iter()
        .filter(|(u, _)| u == name)
        .map(|(_, g)| g.clone())
        .collect();
    let mut has_password = false;
    let mut i = 2;
    while i < l.words.len() {
        let v = l.word(i + 1);
        match l.word(i) {
            "password" if v.starts_with("$5$") || v.starts_with("$6$") => {
                t.set("password", Value::str(v), note.clone());
                has_password = true;
            }
            "password" => {
                return Err("only SHA-256 and SHA-512 crypt(3) hashes ($5$, $6$) are checked by ringlb (not MD5 $1$, DES, bcrypt or yescrypt): hash the password again with `mkpasswd -m sha-512`".into())
            }
            "insecure-password" => {
                t.set("insecure_password", Value::str(v), note.clone());
                has_password = true;
            }
            "groups" => groups.extend(v.split(',').filter(|g| !g.is_empty()).map(String::from)),
            other => return Err(format!("user option {other} is not supported")),
        }
        i += 2;
    }
    if !has_password {
        return Err("a user without a password".into());
    }
    if !groups.is_empty() {
        groups.dedup();
        let list = groups.into_iter().map(Value::str).collect();
        t.set("groups", Value::Arr(list), note);
    }
    Ok(t)
}

/// `stats auth USER:PASS` in the stats listener.
pub fn stats_auth(l: &Line, cx: &mut Cx) {
    let Some((user, pass)) = l.word(2).split_once(':') else {
        return cx.led.lost(&l.src, "expected stats auth USER:PASSWORD");
    };
    let note = l.src.cite();
    if cx.g.main.get("admin_userlist").is_none() {
        let why =
            "differs: the admin API and /metrics ask for it too, as HAProxy's stats page does";
        cx.g.main
            .set("admin_userlist", Value::str(STATS_LIST), l.src.differs(why));
        let mut list = Table::new("[[userlist]]");
        list.set("name", Value::str(STATS_LIST), note.clone());
        cx.g.userlists.push(list);
    }
    let mut t = Table::new("[[userlist.user]]");
    t.set("name", Value::str(user), note.clone());
    t.set("insecure_password", Value::str(pass), note);
    // At the end of the stats list: before the next `[[userlist]]`, if any.
    let lists = &cx.g.userlists;
    let is_list = |t: &Table| t.header == "[[userlist]]";
    let start = lists
        .iter()
        .position(|t| is_list(t) && t.get("name").and_then(Value::as_str) == Some(STATS_LIST))
        .unwrap_or(0);
    let at = (start + 1..lists.len())
        .find(|&i| is_list(&lists[i]))
        .unwrap_or(lists.len());
    cx.g.userlists.insert(at, t);
    cx.led.done(&l.src);
}
