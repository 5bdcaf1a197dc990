//! Starting the programs VRRP runs (`notify`, track scripts) as
//! `global.script_user` / `script_group` when set (keepalived's `script_user`):
//! the child gives up root for that user and group before it runs the program
//! (std's `CommandExt::uid`/`gid`: setgroups to none, setgid, setuid, in the
//! child only). Not set, or ringlb already runs as that user: the program runs as
//! ringlb does.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::config::RunAs;

/// A command for `program`, run as `who` when that is set and not ringlb itself.
pub fn command(program: impl AsRef<OsStr>, who: Option<&RunAs>) -> Command {
    let mut cmd = Command::new(program);
    // SAFETY: geteuid and getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if let Some(w) = who.filter(|w| (w.uid, w.gid) != (euid, egid)) {
        cmd.gid(w.gid).uid(w.uid);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> RunAs {
        // SAFETY: as above.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        RunAs {
            user: "me".into(),
            uid,
            group: "me".into(),
            gid,
        }
    }

    fn id(flag: &str, who: Option<&RunAs>) -> String {
        let out = command("/usr/bin/id", who).arg(flag).output().expect("id");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn runs_as_ringlb_without_a_script_user_or_with_its_own() {
        let mine = me().uid.to_string();
        assert_eq!(id("-u", None), mine);
        assert_eq!(id("-u", Some(&me())), mine);
    }

    #[test]
    fn runs_as_the_script_user_when_root() {
        if me().uid != 0 {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED runs_as_the_script_user_when_root: not running as root"
            );
            return;
        }
        let nobody = RunAs {
            user: "nobody".into(),
            uid: 65534,
            group: "nogroup".into(),
            gid: 65534,
        };
        assert_eq!(id("-u", Some(&nobody)), "65534");
        assert_eq!(id("-g", Some(&nobody)), "65534");
        // No supplementary group of root's is kept.
        assert_eq!(id("-G", Some(&nobody)), "65534");
    }
}
