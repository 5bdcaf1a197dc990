//! `[[frontend]]` forwarding keys: which X-Forwarded-* fields `forwarded_for = true`
//! adds (`forwarded_headers`, default all three) and HAProxy's `option forwardfor`
//! options: `forwarded_for_header` (`header NAME`), `forwarded_for_except`
//! (`except NET`), `forwarded_for_if_none` (`if-none`).

use super::raw::{Mode, RawFrontend};
use super::validate::Validator;
use crate::rules::IpSet;

/// What a frontend's requests carry to the servers about their client.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    /// The field naming the client, lower case (`x-forwarded-for` by default); `None`:
    /// not added.
    pub for_header: Option<String>,
    /// Clients not named (`forwarded_for_except`).
    pub except: Option<IpSet>,
    /// Name the client only when the request has no such field.
    pub if_none: bool,
    /// `x-forwarded-proto` / `x-forwarded-host`.
    pub proto: bool,
    pub host: bool,
}

impl Forwarded {
    /// The client field's name for a request from `client` (`None`: not named).
    pub fn for_client(&self, client: std::net::IpAddr) -> Option<&str> {
        let excepted = self.except.as_ref().is_some_and(|e| e.contains(client));
        self.for_header.as_deref().filter(|_| !excepted)
    }
}

impl Validator {
    pub(super) fn forwarded(&mut self, fe: &RawFrontend, mode: Mode, key: &str) -> Forwarded {
        let on = fe.forwarded_for == Some(true) && mode == Mode::Http;
        let extra = fe.forwarded_headers.as_ref().map(|h| h.span()).or_else(|| {
            let f = fe.forwarded_for_header.as_ref().map(|h| h.span());
            f.or_else(|| fe.forwarded_for_except.as_ref().map(|h| h.span()))
        });
        if let Some(span) = extra.filter(|_| fe.forwarded_for != Some(true)) {
            self.error(
                span,
                format!("{key}: forwarded_headers and forwarded_for_* need forwarded_for = true"),
            );
        }
        if !on {
            return Forwarded::default();
        }
        let (mut xff, mut proto, mut host) = (true, true, true);
        if let Some(list) = &fe.forwarded_headers {
            (xff, proto, host) = (false, false, false);
            for h in list.get_ref() {
                match h.get_ref().to_ascii_lowercase().as_str() {
                    "x-forwarded-for" => xff = true,
                    "x-forwarded-proto" => proto = true,
                    "x-forwarded-host" => host = true,
                    other => self.error(
                        h.span(),
                        format!(
                            "{key}: forwarded_headers {other:?}: expected \"x-forwarded-for\", \"x-forwarded-proto\" or \"x-forwarded-host\""
                        ),
                    ),
                }
            }
        }
        let mut name = "x-forwarded-for".to_string();
        if let Some(h) = &fe.forwarded_for_header {
            let v = h.get_ref();
            let token = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                self.error(
                    h.span(),
                    format!("{key}: forwarded_for_header {v:?} is not a header name"),
                );
            }
            name = v.to_ascii_lowercase();
        }
        let except = fe.forwarded_for_except.as_ref().and_then(|list| {
            let items = list.get_ref().iter().map(|s| s.get_ref().as_str());
            match IpSet::from_strs(items) {
                Ok(set) => Some(set),
                Err(e) => {
                    self.error(list.span(), format!("{key}: forwarded_for_except: {e}"));
                    None
                }
            }
        });
        Forwarded {
            for_header: xff.then_some(name),
            except,
            if_none: fe.forwarded_for_if_none.unwrap_or(false),
            proto,
            host,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(keys: &str) -> Result<Config, String> {
        let text = format!(
            "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\nmode = \"http\"\n\
             default_backend = \"app\"\n{keys}\n\n[[backend]]\nname = \"app\"\n\n\
             [[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9001\"\n"
        );
        Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn true_alone_keeps_its_meaning_and_keys_narrow_it() {
        let c = parse("forwarded_for = true").unwrap();
        let f = &c.frontends[0].forwarding;
        assert_eq!(f.for_header.as_deref(), Some("x-forwarded-for"));
        assert!(f.proto && f.host && !f.if_none && f.except.is_none());
        let c = parse(
            "forwarded_for = true\nforwarded_headers = [\"X-Forwarded-For\"]\n\
             forwarded_for_header = \"X-Client-IP\"\nforwarded_for_except = [\"10.0.0.0/8\"]\n\
             forwarded_for_if_none = true",
        )
        .unwrap();
        let f = &c.frontends[0].forwarding;
        assert!(!f.proto && !f.host && f.if_none);
        assert_eq!(
            f.for_client("192.0.2.1".parse().unwrap()),
            Some("x-client-ip")
        );
        assert_eq!(f.for_client("10.1.2.3".parse().unwrap()), None);
        let c = parse("forwarded_for = true\nforwarded_headers = [\"x-forwarded-proto\"]").unwrap();
        assert!(c.frontends[0].forwarding.for_header.is_none());
        assert!(parse("").unwrap().frontends[0]
            .forwarding
            .for_header
            .is_none());
    }

    #[test]
    fn mistakes_name_their_line() {
        let e = parse("forwarded_headers = [\"x-forwarded-for\"]").unwrap_err();
        assert!(
            e.contains("t.toml:6") && e.contains("need forwarded_for = true"),
            "{e}"
        );
        let e = parse("forwarded_for = true\nforwarded_headers = [\"forwarded\"]").unwrap_err();
        assert!(e.contains("t.toml:7") && e.contains("\"forwarded\""), "{e}");
        let e = parse("forwarded_for = true\nforwarded_for_header = \"a b\"").unwrap_err();
        assert!(e.contains("not a header name"), "{e}");
        let e =
            parse("forwarded_for = true\nforwarded_for_except = [\"10.0.0.0/99\"]").unwrap_err();
        assert!(e.contains("forwarded_for_except"), "{e}");
    }
}
