//! `[backend.cookie]` and the servers' `cookie` values → [`CookiePersist`].

use std::collections::HashMap;

use super::raw::{RawBackend, RawCookie};
use super::validate::Validator;
use super::{CookieMode, CookiePersist, Server};

/// Longest cookie name or server value accepted (browsers keep 4 KiB per cookie).
const MAX_LEN: usize = 256;

impl Validator {
    /// The backend's persistence cookie, and each server's value of it (set in
    /// `servers`, matched by name: servers refused earlier are not there).
    pub(super) fn cookie(
        &mut self,
        be: &RawBackend,
        servers: &mut [Server],
        key: &str,
    ) -> Option<CookiePersist> {
        let Some(raw) = &be.cookie else {
            if let Some(v) = be.server.iter().find_map(|s| s.cookie.as_ref()) {
                self.warn(
                    v.span(),
                    format!("{key}: a server cookie value has no effect without [backend.cookie]"),
                );
            }
            return None;
        };
        let key = format!("{key}: cookie");
        let c = raw.get_ref();
        let persist = self.cookie_settings(c, &key)?;
        let mut owner: HashMap<String, &str> = HashMap::new();
        for rs in &be.server {
            let name = rs.name.get_ref().as_str();
            let value = rs.cookie.as_ref().map_or(name, |v| v.get_ref().as_str());
            let span = rs.cookie.as_ref().map_or(rs.name.span(), |v| v.span());
            let skey = format!("{key}: server {name:?}: cookie {value:?}");
            if !valid_value(value) || value.len() > MAX_LEN {
                self.error(span.clone(), format!("{skey}: a cookie value is 1 to {MAX_LEN} characters, none of them a space, '\"', ',', ';', '\\' or a control character (set `cookie` on the server)"));
                continue;
            }
            if persist.mode == CookieMode::Prefix && value.contains('~') {
                self.error(span.clone(), format!("{skey}: in mode \"prefix\" the value cannot contain '~' (it separates the server from the application's value)"));
            }
            if let Some(other) = owner.insert(value.to_string(), name) {
                self.error(
                    span,
                    format!(
                        "{skey}: server {other:?} has the same value; each server needs its own"
                    ),
                );
            }
            if let Some(s) = servers.iter_mut().find(|s| s.name == name) {
                s.cookie = value.to_string();
            }
        }
        Some(persist)
    }

    fn cookie_settings(&mut self, c: &RawCookie, key: &str) -> Option<CookiePersist> {
        let name = c.name.get_ref();
        if !valid_name(name) || name.len() > MAX_LEN {
            self.error(
                c.name.span(),
                format!("{key}.name {name:?} must be a token (letters, digits, !#$%&'*+-.^_`|~)"),
            );
            return None;
        }
        let mode = match c.mode.as_ref().map(|m| m.get_ref().as_str()) {
            None | Some("insert") => CookieMode::Insert,
            Some("prefix") => CookieMode::Prefix,
            Some("rewrite") => CookieMode::Rewrite,
            Some(other) => {
                let span = c.mode.as_ref().map_or(c.name.span(), |m| m.span());
                self.error(
                    span,
                    format!("{key}.mode {other:?}: expected \"insert\", \"prefix\" or \"rewrite\""),
                );
                return None;
            }
        };
        if mode != CookieMode::Insert
            && (c.nocache.is_some() || c.preserve.is_some() || c.indirect.is_some())
        {
            self.warn(
                c.name.span(),
                format!(
                    "{key}: indirect, nocache and preserve only apply to mode \"insert\"; ignored"
                ),
            );
        }
        let mut attributes = String::from("; path=/");
        if let Some(d) = &c.domain {
            let ok = !d.get_ref().is_empty()
                && d.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok {
                self.error(
                    d.span(),
                    format!("{key}.domain {:?} is not a domain name", d.get_ref()),
                );
            }
            attributes.push_str("; domain=");
            attributes.push_str(d.get_ref());
        }
        if c.httponly == Some(true) {
            attributes.push_str("; HttpOnly");
        }
        if c.secure == Some(true) {
            attributes.push_str("; Secure");
        }
        for a in &c.attr {
            let ok = !a.get_ref().is_empty()
                && a.get_ref()
                    .bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b';');
            if !ok {
                self.error(
                    a.span(),
                    format!("{key}.attr {:?}: printable ASCII without ';'", a.get_ref()),
                );
            }
            attributes.push_str("; ");
            attributes.push_str(a.get_ref());
        }
        Some(CookiePersist {
            name: name.clone(),
            mode,
            indirect: c.indirect.unwrap_or(false),
            nocache: c.nocache.unwrap_or(false),
            preserve: c.preserve.unwrap_or(false),
            attributes,
        })
    }
}

/// A cookie name: an RFC 9110 token.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A cookie value ringlb writes: RFC 6265 `cookie-octet`s (no space, `"`, `,`, `;`,
/// `\`, controls), not empty.
fn valid_value(value: &str) -> bool {
    let octet = |b: u8| {
        b == 0x21
            || (0x23..=0x2B).contains(&b)
            || (0x2D..=0x3A).contains(&b)
            || (0x3C..=0x5B).contains(&b)
            || (0x5D..=0x7E).contains(&b)
    };
    !value.is_empty() && value.bytes().all(octet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_checked() {
        assert!(valid_name("SERVERID") && valid_name("__Host-x"));
        for bad in ["", "a b", "a=b", "a;", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_value("s1") && valid_value("web-1.a") && valid_value("a~b"));
        for bad in ["", "a b", "a;b", "a,b", "a\"b", "a\\b", "é"] {
            assert!(!valid_value(bad), "{bad}");
        }
    }
}
