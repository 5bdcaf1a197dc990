//! `[[userlist]]` (HAProxy's `userlist`): users for HTTP basic authentication, checked
//! by the `http_auth` ACL kind and the `auth` rule action, and by the admin listener
//! with `global.admin_userlist`. Hashes are checked here, once: a scheme ringlb cannot
//! verify is an error with its line.

use std::sync::Arc;

use super::raw::{RawConfig, S};
use super::raw_rules::RawUserlist;
use super::validate::Validator;
use crate::rules::{Password, Userlist};

impl Validator {
    /// Every `[[userlist]]`, and `global.admin_userlist` resolved against them.
    pub(super) fn userlists(&mut self, raw: &RawConfig) -> Option<Arc<Userlist>> {
        let mut lists: Vec<Arc<Userlist>> = Vec::new();
        for l in &raw.userlist {
            let name = l.get_ref().name.get_ref();
            self.name(&l.get_ref().name, "userlist");
            if lists.iter().any(|x| x.name() == name) {
                self.error(l.span(), format!("userlist {name:?} is defined twice"));
                continue;
            }
            lists.push(Arc::new(self.userlist(l.get_ref())));
        }
        self.userlists = lists;
        let admin = raw.global.admin_userlist.as_ref()?;
        let found = self.userlist_named(admin.get_ref());
        if found.is_none() {
            self.error(
                admin.span(),
                format!(
                    "global.admin_userlist {:?} is not a defined [[userlist]]",
                    admin.get_ref()
                ),
            );
        }
        found
    }

    /// `global.admin_write_groups`: groups of the admin userlist (required with it).
    pub(super) fn admin_write_groups(
        &mut self,
        raw: &RawConfig,
        list: Option<&Userlist>,
    ) -> Option<Box<[Box<str>]>> {
        let groups = raw.global.admin_write_groups.as_ref()?;
        let Some(list) = list else {
            let msg = "global.admin_write_groups needs global.admin_userlist (its users' groups)";
            self.error(groups.span(), msg);
            return None;
        };
        for g in groups.get_ref() {
            if !list.has_group(g.get_ref()) {
                let msg = format!(
                    "global.admin_write_groups: no user of userlist {:?} is in group {:?}",
                    list.name(),
                    g.get_ref()
                );
                self.error(g.span(), msg);
            }
        }
        Some(
            groups
                .get_ref()
                .iter()
                .map(|g| g.get_ref().as_str().into())
                .collect(),
        )
    }

    fn userlist(&mut self, l: &RawUserlist) -> Userlist {
        let key = format!("userlist {:?}", l.name.get_ref());
        let mut list = Userlist::new(l.name.get_ref());
        for u in &l.user {
            let r = u.get_ref();
            let password = match (&r.password, &r.insecure_password) {
                (Some(p), None) => Password::Crypt(p.get_ref().as_str().into()),
                (None, Some(p)) => Password::Plain(p.get_ref().as_bytes().into()),
                _ => {
                    self.error(
                        u.span(),
                        format!("{key}: user {:?}: give password (a crypt(3) hash) or insecure_password, one of them", r.name.get_ref()),
                    );
                    continue;
                }
            };
            let groups: Vec<&str> = r
                .groups
                .iter()
                .flatten()
                .map(|g| g.get_ref().as_str())
                .collect();
            if let Err(e) = list.add_user(r.name.get_ref(), password, &groups) {
                let span = r.password.as_ref().map_or(u.span(), S::span);
                self.error(span, format!("{key}: {e}"));
            }
        }
        list
    }

    /// The `[[userlist]]` of that name (after [`Validator::userlists`]).
    pub(super) fn userlist_named(&self, name: &str) -> Option<Arc<Userlist>> {
        self.userlists.iter().find(|l| l.name() == name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const LISTS: &str = "[[userlist]]\nname = \"ops\"\n\
        [[userlist.user]]\nname = \"alice\"\ninsecure_password = \"s3cret\"\ngroups = [\"admin\"]\n\
        [[userlist.user]]\nname = \"bob\"\npassword = \"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5\"\n";

    fn parse(extra: &str, acl: &str) -> Result<Config, String> {
        let text = format!(
            "[global]\n{extra}\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\nmode = \"http\"\n\
             default_backend = \"app\"\n{acl}\n\n[[backend]]\nname = \"app\"\n\n\
             [[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9001\"\n\n{LISTS}"
        );
        Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    const AUTH_RULE: &str = "[[frontend.acl]]\nname = \"auth_ok\"\nhttp_auth = { userlist = \"ops\", groups = [\"admin\"] }\n\
        [[frontend.http_rule]]\naction = \"auth\"\nrealm = \"Ops area\"\nunless = \"auth_ok\"\n";

    #[test]
    fn lists_acls_and_the_auth_action() {
        let c = parse("admin_userlist = \"ops\"", AUTH_RULE).unwrap();
        assert_eq!(c.global.admin_users.as_ref().map(|l| l.name()), Some("ops"));
        assert!(c.frontends[0].rules.is_some());
    }

    #[test]
    fn mistakes_name_their_line() {
        let e = parse("admin_userlist = \"nobody\"", "").unwrap_err();
        assert!(
            e.contains("t.toml:2") && e.contains("not a defined [[userlist]]"),
            "{e}"
        );
        let e = parse("", &AUTH_RULE.replace("\"ops\", groups", "\"dev\", groups")).unwrap_err();
        assert!(e.contains("userlist \"dev\" is not defined"), "{e}");
        let e = parse("", &AUTH_RULE.replace("[\"admin\"]", "[\"root\"]")).unwrap_err();
        assert!(e.contains("no group \"root\""), "{e}");
        let bad = "[[userlist]]\nname = \"x\"\n[[userlist.user]]\nname = \"u\"\npassword = \"$1$md5$abc\"\n";
        let e = parse("", bad).unwrap_err();
        assert!(e.contains("not a crypt(3) SHA-256"), "{e}");
        let e = parse(
            "",
            &AUTH_RULE.replace("realm = \"Ops area\"\n", "realm = \"a\\\"b\"\n"),
        )
        .unwrap_err();
        assert!(e.contains("realm"), "{e}");
    }
}
