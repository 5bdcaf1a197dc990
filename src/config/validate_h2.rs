//! `[[frontend]]` HTTP/2 keys: `h2c` (cleartext HTTP/2 with prior knowledge) and the
//! `h2_*` limits, each with a safe default (see docs/configuration.md).

use super::raw::{Mode, RawFrontend};
use super::validate::Validator;

/// The largest flow-control window HTTP/2 allows (RFC 9113 §6.9.1).
const MAX_WINDOW: i64 = (1 << 31) - 1;

/// HTTP/2 with a frontend's clients (`h2c` and the `h2_*` keys). Over TLS, HTTP/2 is
/// used when ALPN settles on `h2` (`tls.alpn` offers it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Settings {
    /// `h2c = "prior-knowledge"`: cleartext connections speak HTTP/2 only.
    pub prior_knowledge: bool,
    pub max_concurrent_streams: u32,
    pub max_header_list_size: u32,
    pub header_table_size: u32,
    pub initial_window_size: u32,
    pub connection_window_size: u32,
    pub max_frame_size: u32,
    /// Streams the client may reset within 10 seconds before the connection is
    /// closed (rapid reset).
    pub max_client_resets: u32,
}

impl Default for H2Settings {
    fn default() -> Self {
        H2Settings {
            prior_knowledge: false,
            max_concurrent_streams: 100,
            max_header_list_size: 32 * 1024,
            header_table_size: 4096,
            initial_window_size: 65_535,
            connection_window_size: 1024 * 1024,
            max_frame_size: 16_384,
            max_client_resets: 200,
        }
    }
}

impl Validator {
    pub(super) fn h2_settings(&mut self, fe: &RawFrontend, mode: Mode, key: &str) -> H2Settings {
        let d = H2Settings::default();
        let prior_knowledge = match fe.h2c.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "off")) => false,
            Some((s, "prior-knowledge")) => {
                if mode != Mode::Http {
                    self.error(s.span(), format!("{key}: h2c needs mode \"http\""));
                } else if fe.tls.is_some() {
                    self.error(
                        s.span(),
                        format!("{key}: h2c is for cleartext; over TLS, list \"h2\" in tls.alpn"),
                    );
                }
                true
            }
            Some((s, other)) => {
                self.error(
                    s.span(),
                    format!("{key}: h2c {other:?} is not \"prior-knowledge\" or \"off\""),
                );
                false
            }
        };
        let mut int = |v, default: u32, range, name: &str| {
            self.int_in(v, i64::from(default), range, &format!("{key}: {name}")) as u32
        };
        H2Settings {
            prior_knowledge,
            max_concurrent_streams: int(
                fe.h2_max_concurrent_streams.as_ref(),
                d.max_concurrent_streams,
                1..=10_000,
                "h2_max_concurrent_streams",
            ),
            max_header_list_size: int(
                fe.h2_max_header_list_size.as_ref(),
                d.max_header_list_size,
                1024..=1024 * 1024,
                "h2_max_header_list_size",
            ),
            header_table_size: int(
                fe.h2_header_table_size.as_ref(),
                d.header_table_size,
                0..=1024 * 1024,
                "h2_header_table_size",
            ),
            initial_window_size: int(
                fe.h2_initial_window_size.as_ref(),
                d.initial_window_size,
                1..=MAX_WINDOW,
                "h2_initial_window_size",
            ),
            connection_window_size: int(
                fe.h2_connection_window_size.as_ref(),
                d.connection_window_size,
                65_535..=MAX_WINDOW,
                "h2_connection_window_size",
            ),
            max_frame_size: int(
                fe.h2_max_frame_size.as_ref(),
                d.max_frame_size,
                16_384..=16_777_215,
                "h2_max_frame_size",
            ),
            max_client_resets: int(
                fe.h2_max_client_resets.as_ref(),
                d.max_client_resets,
                0..=1_000_000,
                "h2_max_client_resets",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, H2Settings};

    fn text(frontend: &str) -> String {
        format!(
            "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\nmode = \"http\"\n\
             default_backend = \"app\"\n{frontend}\n\n[[backend]]\nname = \"app\"\n\n\
             [[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9001\"\n"
        )
    }

    fn error(frontend: &str) -> String {
        match Config::parse(&text(frontend), "t.toml") {
            Ok(_) => panic!("accepted: {frontend}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_safe_and_keys_set_limits() {
        let c = Config::parse(&text(""), "t.toml").unwrap();
        assert_eq!(c.frontends[0].h2, H2Settings::default());
        assert!(!c.frontends[0].h2.prior_knowledge);
        assert_eq!(c.frontends[0].h2.max_concurrent_streams, 100);
        let keys = "h2c = \"prior-knowledge\"\nh2_max_concurrent_streams = 10\n\
                    h2_max_header_list_size = 8192\nh2_header_table_size = 0\n\
                    h2_initial_window_size = 1048576\nh2_connection_window_size = 2097152\n\
                    h2_max_frame_size = 32768\nh2_max_client_resets = 5";
        let c = Config::parse(&text(keys), "t.toml").unwrap();
        let h2 = c.frontends[0].h2;
        assert!(h2.prior_knowledge);
        assert_eq!(
            (
                h2.max_concurrent_streams,
                h2.max_header_list_size,
                h2.header_table_size
            ),
            (10, 8192, 0)
        );
        assert_eq!(
            (
                h2.initial_window_size,
                h2.connection_window_size,
                h2.max_frame_size
            ),
            (1 << 20, 2 << 20, 32768)
        );
        assert_eq!(h2.max_client_resets, 5);
    }

    #[test]
    fn bad_values_name_their_line_and_key() {
        let e = error("h2c = \"yes\"");
        assert!(e.contains("t.toml:6") && e.contains("h2c \"yes\""), "{e}");
        let e = error("h2_max_frame_size = 1000");
        assert!(e.contains("h2_max_frame_size 1000 is out of range"), "{e}");
        let e = error("h2_max_concurrent_streams = 0");
        assert!(e.contains("h2_max_concurrent_streams 0"), "{e}");
        let e = error("h2_initial_window_size = 2147483648");
        assert!(e.contains("h2_initial_window_size"), "{e}");
    }

    #[test]
    fn h2c_needs_cleartext_http() {
        let t = text("h2c = \"prior-knowledge\"").replace("mode = \"http\"", "mode = \"tcp\"");
        let e = Config::parse(&t, "t.toml").unwrap_err().to_string();
        assert!(e.contains("h2c needs mode \"http\""), "{e}");
    }
}
