//! `[[frontend]]` HTTP/2 keys: `h2c` (cleartext HTTP/2 with prior knowledge) and the
//! `h2_*` limits, each with a safe default (see docs/configuration.md).

use super::raw::{Mode, RawFrontend};
use super::validate::Validator;
use super::H2Settings;

/// The largest flow-control window HTTP/2 allows (RFC 9113 §6.9.1).
const MAX_WINDOW: i64 = (1 << 31) - 1;

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
