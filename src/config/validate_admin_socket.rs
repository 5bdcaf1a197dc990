//! `global.admin_socket` (HAProxy's `stats socket`): the path, the file's mode and
//! the CLI level; served by `crate::admin`.

use super::raw::RawGlobal;
use super::validate::Validator;

/// `global.admin_socket` and its `admin_socket_mode`, `admin_socket_level`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSocket {
    pub path: std::path::PathBuf,
    /// The socket file's permission bits (default 0o600).
    pub mode: u32,
    pub level: CliLevel,
}

/// HAProxy's CLI levels, lowest first: `user` only reads, `operator` may also do
/// what HAProxy allows it, `admin` everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CliLevel {
    User,
    Operator,
    Admin,
}

impl CliLevel {
    pub fn parse(word: &str) -> Option<CliLevel> {
        match word {
            "user" => Some(CliLevel::User),
            "operator" => Some(CliLevel::Operator),
            "admin" => Some(CliLevel::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CliLevel::User => "user",
            CliLevel::Operator => "operator",
            CliLevel::Admin => "admin",
        }
    }
}

impl Validator {
    /// `global.admin_socket` (an absolute path), `admin_socket_mode` (octal),
    /// `admin_socket_level` (`user`, `operator`, `admin`).
    pub(super) fn admin_socket(&mut self, g: &RawGlobal) -> Option<AdminSocket> {
        let raw = g.admin_socket.as_ref()?;
        let path = std::path::PathBuf::from(raw.get_ref());
        if !path.is_absolute() {
            self.error(
                raw.span(),
                format!("global.admin_socket: {path:?} must be an absolute path"),
            );
        }
        let mode = match &g.admin_socket_mode {
            Some(m) => match u32::from_str_radix(m.get_ref().trim_start_matches("0o"), 8) {
                Ok(v) if v <= 0o777 => v,
                _ => {
                    self.error(m.span(), "global.admin_socket_mode must be octal permission bits such as \"600\" or \"660\"");
                    0o600
                }
            },
            None => 0o600,
        };
        let level = match &g.admin_socket_level {
            Some(l) => CliLevel::parse(l.get_ref()).unwrap_or_else(|| {
                self.error(
                    l.span(),
                    "global.admin_socket_level must be \"user\", \"operator\" or \"admin\"",
                );
                CliLevel::Operator
            }),
            // HAProxy's default level.
            None => CliLevel::Operator,
        };
        Some(AdminSocket { path, mode, level })
    }
}

#[cfg(test)]
mod tests {
    use super::{AdminSocket, CliLevel};
    use crate::config::Config;

    const REST: &str = "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\ndefault_backend = \"b\"\n[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"s\"\naddress = \"127.0.0.1:2\"\n";

    fn parse(global: &str) -> Result<Option<AdminSocket>, String> {
        let text = format!("[global]\n{global}\n{REST}");
        Config::parse(&text, "t.toml")
            .map(|c| c.global.admin_socket)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn absent_by_default_and_haproxys_defaults_otherwise() {
        assert_eq!(parse(""), Ok(None));
        let s = parse("admin_socket = \"/run/ringlb/admin.sock\"")
            .unwrap()
            .unwrap();
        assert_eq!((s.mode, s.level), (0o600, CliLevel::Operator));
        let s = parse("admin_socket = \"/a.sock\"\nadmin_socket_mode = \"660\"\nadmin_socket_level = \"admin\"")
            .unwrap()
            .unwrap();
        assert_eq!((s.mode, s.level), (0o660, CliLevel::Admin));
    }

    #[test]
    fn bad_values_name_their_line_and_key() {
        let e = parse("admin_socket = \"admin.sock\"").unwrap_err();
        assert!(
            e.contains("t.toml:2:")
                && e.contains("global.admin_socket: \"admin.sock\" must be an absolute path"),
            "{e}"
        );
        let e = parse("admin_socket = \"/a.sock\"\nadmin_socket_mode = \"rw\"").unwrap_err();
        assert!(
            e.contains("t.toml:3:") && e.contains("global.admin_socket_mode must be octal"),
            "{e}"
        );
        let e = parse("admin_socket = \"/a.sock\"\nadmin_socket_mode = \"1777\"").unwrap_err();
        assert!(e.contains("admin_socket_mode"), "{e}");
        let e = parse("admin_socket = \"/a.sock\"\nadmin_socket_level = \"root\"").unwrap_err();
        assert!(
            e.contains("t.toml:3:") && e.contains("global.admin_socket_level must be"),
            "{e}"
        );
    }
}
