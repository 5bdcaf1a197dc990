//! `global.script_user` / `global.script_group` (keepalived's `script_user USER
//! [GROUP]`) and `global.enable_script_security`: whom the programs VRRP runs
//! (`notify`, sync groups' `notify`, `[[vrrp.track_script]]`) run as, resolved when
//! the file is loaded and handed to every virtual router and sync group; and,
//! with security on, refusing a program that a user other than root could change
//! (the file, or a directory above it, writable by a non-root owner, a non-root
//! group or everyone), as keepalived does, since ringlb runs it with privileges.

use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::raw::{RawConfig, S};
use super::raw_vrrp::RawVrrps;
use super::validate::Validator;
use super::{Global, SyncGroup, Vrrp};

impl Validator {
    pub(super) fn scripts(
        &mut self,
        raw: &RawConfig,
        global: &Global,
        vrrp: &mut [Vrrp],
        groups: &mut [SyncGroup],
    ) {
        let g = &raw.global;
        let script_as = match (&g.script_user, &g.script_group) {
            (Some(user), group) => self.user_and_group(
                user,
                group.as_ref(),
                "global.script_user",
                "global.script_group",
            ),
            (None, Some(group)) => {
                self.error(
                    group.span(),
                    "global.script_group needs global.script_user (the user scripts run as)",
                );
                None
            }
            (None, None) => None,
        };
        if let (Some(who), Some(me), Some(user)) = (&script_as, &global.run_as, &g.script_user) {
            if who.uid != me.uid || who.gid != me.gid {
                self.error(
                    user.span(),
                    format!(
                        "global.script_user {:?}: ringlb gives up root for global.user {:?}, and then cannot start programs as another user (drop global.user, or make them the same)",
                        who.user, me.user
                    ),
                );
            }
        }
        for v in vrrp.iter_mut() {
            v.script_as.clone_from(&script_as);
        }
        for group in groups.iter_mut() {
            group.script_as.clone_from(&script_as);
        }
        if g.enable_script_security == Some(true) {
            for (span, program, key) in programs(raw) {
                if let Some(why) = insecure(Path::new(&program)) {
                    self.error(
                        span,
                        format!("{key} {program:?}: {why}, and global.enable_script_security refuses programs a user other than root could change"),
                    );
                }
            }
        }
    }
}

/// Every program VRRP runs: where it is written, its path, the key that names it.
fn programs(raw: &RawConfig) -> Vec<(Range<usize>, String, String)> {
    let mut out = Vec::new();
    let named = |s: &S<String>, key: String| (s.span(), s.get_ref().clone(), key);
    let routers = raw.vrrp.as_ref().map(|v| v.get_ref().routers());
    let one = routers.as_ref().is_some_and(|r| r.len() == 1)
        && matches!(
            raw.vrrp.as_ref().map(|v| v.get_ref()),
            Some(RawVrrps::One(_))
        );
    for (i, v) in routers.into_iter().flatten().enumerate() {
        let k = if one {
            "vrrp".to_string()
        } else {
            format!("vrrp[{i}]")
        };
        if let Some(n) = &v.notify {
            out.push(named(n, format!("{k}.notify")));
        }
        for (j, t) in v.track_script.iter().enumerate() {
            let command = &t.get_ref().command;
            if let Some(program) = command.get_ref().first() {
                let key = format!("{k}.track_script[{j}].command");
                out.push((command.span(), program.clone(), key));
            }
        }
    }
    for (i, g) in raw.vrrp_sync_group.iter().enumerate() {
        if let Some(n) = &g.get_ref().notify {
            out.push(named(n, format!("vrrp_sync_group[{i}].notify")));
        }
    }
    out
}

/// Why `path` is not safe to run with privileges: it, or a directory above it, is
/// writable by a user other than root. `None`: safe (or missing: the program's
/// own check says so).
pub(super) fn insecure(path: &Path) -> Option<String> {
    let mut at = Some(path);
    while let Some(p) = at {
        let Ok(m) = std::fs::metadata(p) else {
            return (p == path).then(|| format!("{} cannot be read", p.display()));
        };
        let mode = m.mode();
        let shown = p.display();
        // A sticky directory (/tmp) lets nobody replace another user's file.
        let sticky = m.is_dir() && mode & 0o1000 != 0;
        if mode & 0o002 != 0 && !sticky {
            return Some(format!("{shown} is writable by everyone"));
        }
        if mode & 0o020 != 0 && m.gid() != 0 && !sticky {
            return Some(format!("{shown} is writable by group {}", m.gid()));
        }
        if m.uid() != 0 {
            return Some(format!("{shown} is owned by uid {}, not root", m.uid()));
        }
        at = p.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::Config;

    const BASE: &str = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:0\"]\nmode = \"tcp\"\ndefault_backend = \"b\"\n[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:1\"\n";

    /// `[global]` with `global`, and a `[vrrp]` whose notify and track script are
    /// `program`.
    fn parse(global: &str, program: &str) -> Result<Config, String> {
        let text = format!(
            "[global]\n{global}\n{BASE}[vrrp]\ninterface = \"lo\"\nvirtual_router_id = 1\nvirtual_ips = [\"192.0.2.10/24\"]\nnotify = \"{program}\"\n\
             [[vrrp.track_script]]\ncommand = [\"{program}\"]\n"
        );
        Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn script_user_resolves_for_every_router() {
        let c = parse("script_user = \"nobody\"", "/bin/true").unwrap();
        let who = c.vrrp[0].script_as.clone().expect("script_as");
        assert_eq!((who.user.as_str(), who.uid), ("nobody", 65534));
        let c = parse(
            "script_user = \"root\"\nscript_group = \"root\"",
            "/bin/true",
        )
        .unwrap();
        assert_eq!(c.vrrp[0].script_as.as_ref().map(|w| w.gid), Some(0));
        assert!(parse("", "/bin/true").unwrap().vrrp[0].script_as.is_none());
    }

    #[test]
    fn unknown_users_and_a_lone_group_name_file_line_and_key() {
        let e = parse("script_user = \"no-such-user-ringlb\"", "/bin/true").unwrap_err();
        assert!(
            e.contains("t.toml:2:")
                && e.contains("global.script_user \"no-such-user-ringlb\": no such user"),
            "{e}"
        );
        let e = parse(
            "script_user = \"root\"\nscript_group = \"no-such-group-ringlb\"",
            "/bin/true",
        )
        .unwrap_err();
        assert!(
            e.contains("t.toml:3:") && e.contains("global.script_group"),
            "{e}"
        );
        let e = parse("script_group = \"root\"", "/bin/true").unwrap_err();
        assert!(
            e.contains("global.script_group needs global.script_user"),
            "{e}"
        );
        // After giving up root for `user`, ringlb cannot become another user.
        let e = parse("user = \"nobody\"\nscript_user = \"root\"", "/bin/true").unwrap_err();
        assert!(
            e.contains("t.toml:3:") && e.contains("cannot start programs as another user"),
            "{e}"
        );
        assert!(parse("user = \"nobody\"\nscript_user = \"nobody\"", "/bin/true").is_ok());
    }

    #[test]
    fn script_security_refuses_programs_others_could_change() {
        // Shipped programs, owned by root: accepted.
        assert!(parse("enable_script_security = true", "/bin/true").is_ok());
        let dir = std::env::temp_dir().join(format!("ringlb-script-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("check.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        let program = script.to_str().unwrap();
        let e = parse("enable_script_security = true", program).unwrap_err();
        assert!(
            e.contains("vrrp.notify") && e.contains("is writable by everyone"),
            "{e}"
        );
        assert!(e.contains("vrrp.track_script[0].command"), "{e}");
        // Without the key, no check (keepalived's default too).
        assert!(parse("", program).is_ok());
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let why = insecure(&script);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Owned by root now; the temp dir's own owner and mode decide the rest.
            let dir_ok = insecure(&dir).is_none();
            assert_eq!(why.is_none(), dir_ok, "{why:?}");
        } else {
            assert!(why.is_some_and(|w| w.contains("not root")));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
