//! `global.log_target`, `global.syslog` and `access_log_format` (global, and per
//! frontend where it wins): checked here, with the line of every mistake.

use std::sync::Arc;

use super::raw::{RawConfig, RawGlobal, RawSyslog, S};
use super::validate::Validator;
use super::{Frontend, LogTarget};
use crate::logging::format::LogFormat;
use crate::logging::syslog::{self, Address, Rfc, Syslog};

impl Validator {
    /// `global.log_target` and, with `"syslog"`, `global.syslog`.
    pub(super) fn log_target(&mut self, g: &RawGlobal) -> LogTarget {
        let target = g.log_target.as_ref().map(|t| (t, t.get_ref().as_str()));
        match target {
            None | Some((_, "stderr")) => {
                if let Some(s) = &g.syslog {
                    self.warn(
                        s.span(),
                        "global.syslog is set but global.log_target is not \"syslog\": logs go to stderr/stdout",
                    );
                }
                LogTarget::Stderr
            }
            Some((_, "syslog")) => LogTarget::Syslog(
                g.syslog
                    .as_ref()
                    .map_or_else(Syslog::default, |s| self.syslog(s)),
            ),
            Some((t, other)) => {
                self.error(
                    t.span(),
                    format!("global.log_target {other:?} is not \"stderr\" or \"syslog\""),
                );
                LogTarget::Stderr
            }
        }
    }

    /// `global.syslog_copy` and its `syslog_copy_level` (default `"info"`).
    pub(super) fn log_copy(&mut self, g: &RawGlobal) -> Option<(Syslog, String)> {
        let Some(copy) = &g.syslog_copy else {
            if let Some(l) = &g.syslog_copy_level {
                self.warn(
                    l.span(),
                    "global.syslog_copy_level without global.syslog_copy changes nothing",
                );
            }
            return None;
        };
        let syslog = self.syslog(copy);
        let level = match &g.syslog_copy_level {
            None => "info".to_string(),
            Some(l) if matches!(l.get_ref().as_str(), "error" | "warn" | "info" | "debug") => {
                l.get_ref().clone()
            }
            Some(l) => {
                let msg = format!("global.syslog_copy_level {:?} is not \"error\", \"warn\", \"info\" or \"debug\"", l.get_ref());
                self.error(l.span(), msg);
                "info".to_string()
            }
        };
        Some((syslog, level))
    }

    fn syslog(&mut self, s: &S<RawSyslog>) -> Syslog {
        let raw = s.get_ref();
        let mut out = Syslog::default();
        if let Some(a) = &raw.address {
            match Address::parse(a.get_ref()) {
                Ok(addr) => out.address = addr,
                Err(e) => self.error(a.span(), format!("global.syslog.address: {e}")),
            }
        }
        if let Some(f) = &raw.format {
            match f.get_ref().as_str() {
                "rfc5424" => out.rfc = Rfc::R5424,
                "rfc3164" => out.rfc = Rfc::R3164,
                other => self.error(
                    f.span(),
                    format!("global.syslog.format {other:?} is not \"rfc5424\" or \"rfc3164\""),
                ),
            }
        }
        if let Some(f) = &raw.facility {
            match syslog::facility(f.get_ref()) {
                Some(n) => out.facility = n,
                None => self.error(
                    f.span(),
                    format!(
                        "global.syslog.facility {:?} is not one of {}",
                        f.get_ref(),
                        syslog::FACILITIES.join(", ")
                    ),
                ),
            }
        }
        if let Some(t) = &raw.tag {
            let tag = t.get_ref();
            let ok = !tag.is_empty()
                && tag.len() <= 32
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'[' && b != b':');
            if ok {
                out.tag = tag.clone();
            } else {
                self.error(
                    t.span(),
                    format!("global.syslog.tag {tag:?}: 1 to 32 printable characters, without spaces, `[` or `:`"),
                );
            }
        }
        out
    }

    /// An access-log format (`what` names the key for messages).
    pub(super) fn log_format(&mut self, f: &S<String>, what: &str) -> Option<Arc<LogFormat>> {
        match LogFormat::parse(f.get_ref()) {
            Ok(format) => Some(Arc::new(format)),
            Err(e) => {
                self.error(f.span(), format!("{what}: {e}"));
                None
            }
        }
    }

    /// `global.access_log_format`: the format of every frontend that sets none.
    pub(super) fn global_log_format(&mut self, raw: &RawConfig, frontends: &mut [Frontend]) {
        let g = &raw.global;
        let Some(f) = &g.access_log_format else {
            return;
        };
        let format = self.log_format(f, "global.access_log_format");
        for fe in frontends.iter_mut() {
            if fe.access_log_format.is_none() {
                fe.access_log_format.clone_from(&format);
            }
        }
        if !g.access_log.as_ref().is_some_and(|a| *a.get_ref()) {
            self.warn(
                f.span(),
                "global.access_log_format is set but global.access_log is not true: nothing is logged",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, LogTarget};
    use crate::logging::syslog::{Address, Rfc};

    const REST: &str = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\nmode = \"http\"\ndefault_backend = \"b\"\nFRONT\n[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:2\"\n";

    fn parse(global: &str, front: &str) -> Result<Config, String> {
        let text = format!("[global]\n{global}\n{}", REST.replace("FRONT", front));
        Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn stderr_by_default_syslog_when_asked() {
        let c = parse("", "").unwrap();
        assert_eq!(c.global.log_target, LogTarget::Stderr);
        assert!(c.frontends[0].access_log_format.is_none());
        let c = parse(
            "log_target = \"syslog\"\nsyslog = { address = \"tcp://127.0.0.1:601\", format = \"rfc5424\", facility = \"local3\", tag = \"lb\" }",
            "",
        )
        .unwrap();
        let LogTarget::Syslog(s) = c.global.log_target else {
            panic!("syslog")
        };
        assert_eq!(s.address, Address::Tcp("127.0.0.1:601".parse().unwrap()));
        assert_eq!((s.rfc, s.facility, s.tag.as_str()), (Rfc::R5424, 19, "lb"));
        let c = parse("log_target = \"syslog\"", "").unwrap();
        let LogTarget::Syslog(s) = c.global.log_target else {
            panic!("syslog")
        };
        assert_eq!(s.address, Address::Unix("/dev/log".into()));
    }

    #[test]
    fn the_frontend_format_wins_over_the_global_one() {
        let c = parse(
            "access_log = true\naccess_log_format = \"tcplog\"",
            "access_log_format = \"%ci %ST\"",
        )
        .unwrap();
        assert_eq!(
            c.frontends[0]
                .access_log_format
                .as_ref()
                .unwrap()
                .items
                .len(),
            3
        );
        let c = parse("access_log = true\naccess_log_format = \"httplog\"", "").unwrap();
        assert!(
            c.frontends[0]
                .access_log_format
                .as_ref()
                .unwrap()
                .items
                .len()
                > 20
        );
    }

    #[test]
    fn mistakes_name_their_line_and_key() {
        let e = parse("log_target = \"file\"", "").unwrap_err();
        assert!(
            e.contains("t.toml:2") && e.contains("\"file\" is not"),
            "{e}"
        );
        let e = parse(
            "log_target = \"syslog\"\nsyslog = { address = \"127.0.0.1:514\", facility = \"local9\", format = \"json\", tag = \"a b\" }",
            "",
        )
        .unwrap_err();
        for needle in [
            "global.syslog.address",
            "global.syslog.facility",
            "global.syslog.format",
            "global.syslog.tag",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let e = parse("", "access_log_format = \"%ci %nope\"").unwrap_err();
        assert!(
            e.contains("t.toml:8") && e.contains("access_log_format: unknown alias %nope"),
            "{e}"
        );
    }
}
