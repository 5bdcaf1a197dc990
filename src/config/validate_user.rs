//! `global.user` and `global.group`: resolved to ids when the file is loaded (so
//! `ringlb check` on the host finds a misspelt name); the group defaults to the
//! user's primary group. The switch itself happens in `crate::run`.

use std::ffi::CString;

use super::raw::{RawGlobal, S};
use super::validate::Validator;
use super::RunAs;

impl Validator {
    pub(super) fn run_as(&mut self, g: &RawGlobal) -> Option<RunAs> {
        let Some(user) = &g.user else {
            if let Some(group) = &g.group {
                self.error(
                    group.span(),
                    "global.group needs global.user (the user to run as)",
                );
            }
            return None;
        };
        self.user_and_group(user, g.group.as_ref(), "global.user", "global.group")
    }

    /// A user name (or uid) and a group name, the group defaulting to the user's
    /// primary one; `user_key` and `group_key` name them in errors.
    pub(super) fn user_and_group(
        &mut self,
        user: &S<String>,
        group: Option<&S<String>>,
        user_key: &str,
        group_key: &str,
    ) -> Option<RunAs> {
        let name = user.get_ref();
        let Some((uid, primary)) = lookup_user(name) else {
            self.error(
                user.span(),
                format!("{user_key} {name:?}: no such user on this host"),
            );
            return None;
        };
        let (group, gid) = match group {
            None => (
                group_name(primary).unwrap_or_else(|| primary.to_string()),
                primary,
            ),
            Some(group) => match lookup_group(group.get_ref()) {
                Some(gid) => (group.get_ref().clone(), gid),
                None => {
                    self.error(
                        group.span(),
                        format!(
                            "{group_key} {:?}: no such group on this host",
                            group.get_ref()
                        ),
                    );
                    return None;
                }
            },
        };
        Some(RunAs {
            user: name.clone(),
            uid,
            group,
            gid,
        })
    }
}

/// `(uid, primary gid)` of a user name (or of a numeric uid).
fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 * 1024];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the result points into `pwd`/`buf`.
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    if rc == 0 && !out.is_null() {
        return Some((pwd.pw_uid, pwd.pw_gid));
    }
    None
}

fn lookup_group(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `lookup_user`.
    let rc = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    (rc == 0 && !out.is_null()).then_some(grp.gr_gid)
}

fn group_name(gid: u32) -> Option<String> {
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 64 * 1024];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in `lookup_user`.
    let rc =
        unsafe { libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: gr_name is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(grp.gr_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";

    fn parse(global: &str) -> Result<Config, String> {
        Config::parse(&format!("[global]\n{global}\n{BASE}"), "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn root_resolves_with_its_primary_group() {
        let c = parse("user = \"root\"").unwrap();
        let r = c.global.run_as.unwrap();
        assert_eq!((r.uid, r.gid, r.group.as_str()), (0, 0, "root"));
        assert!(!c.global.allow_root);
        assert!(parse("allow_root = true").unwrap().global.allow_root);
        assert!(parse("").unwrap().global.run_as.is_none());
    }

    #[test]
    fn unknown_names_and_a_lone_group_are_errors_with_their_line() {
        let e = parse("user = \"no-such-user-ringlb\"").unwrap_err();
        assert!(e.contains("t.toml:2:") && e.contains("no such user"), "{e}");
        let e = parse("user = \"root\"\ngroup = \"no-such-group-ringlb\"").unwrap_err();
        assert!(
            e.contains("t.toml:3:") && e.contains("no such group"),
            "{e}"
        );
        let e = parse("group = \"root\"").unwrap_err();
        assert!(e.contains("global.group needs global.user"), "{e}");
    }
}
