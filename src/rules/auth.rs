//! HTTP basic authentication (RFC 7617), HAProxy's `userlist`: users with a crypt(3)
//! SHA-256/SHA-512 password hash (`$5$...`, `$6$...`, checked with the `sha-crypt`
//! crate) or a plain one (`insecure-password`), each in some groups. A request is
//! authenticated by its first `Authorization: Basic` field; the `http_auth` ACL kind
//! ([`crate::rules::Test::Auth`]) asks whether it names a user of a list (of a group).
//!
//! A hash is computed again for every request that carries credentials, as HAProxy
//! does (thousands of SHA rounds: about a millisecond each in a release build); plain
//! passwords cost nothing.

use base64::Engine;

use super::error::RuleError;

/// The longest `user:password` a request may send (decoded); longer ones fail.
const MAX_CREDENTIALS: usize = 512;

/// A user's password as the configuration gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// A crypt(3) hash: `$5$[rounds=N$]salt$hash` or `$6$...`.
    Crypt(Box<str>),
    /// The password itself (HAProxy's `insecure-password`).
    Plain(Box<[u8]>),
}

/// A crypt(3) hash taken apart: `$5$` (SHA-256) or `$6$` (SHA-512), rounds, salt,
/// and the hash's own base64 text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Crypt {
    sha512: bool,
    rounds: usize,
    salt: Box<str>,
    hash: Box<str>,
}

#[derive(Debug, Clone)]
enum Secret {
    Crypt(Crypt),
    Plain(Box<[u8]>),
}

#[derive(Debug, Clone)]
struct User {
    name: Box<str>,
    secret: Secret,
    groups: Box<[Box<str>]>,
}

/// A named list of users (HAProxy's `userlist`).
#[derive(Debug, Clone, Default)]
pub struct Userlist {
    name: Box<str>,
    users: Vec<User>,
}

impl Userlist {
    pub fn new(name: &str) -> Self {
        Userlist {
            name: name.into(),
            users: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Add a user; a hash must be of a scheme ringlb can check, a name unique.
    pub fn add_user(
        &mut self,
        name: &str,
        password: Password,
        groups: &[&str],
    ) -> Result<(), RuleError> {
        if name.is_empty() || name.contains(':') {
            return Err(RuleError::Invalid(format!(
                "user name {name:?}: not empty, no ':'"
            )));
        }
        if self.users.iter().any(|u| &*u.name == name) {
            return Err(RuleError::Invalid(format!("user {name:?} is listed twice")));
        }
        let secret = match password {
            Password::Plain(p) => Secret::Plain(p),
            Password::Crypt(hash) => Secret::Crypt(parse_crypt(&hash).ok_or_else(|| {
                RuleError::Invalid(format!(
                    "user {name:?}: the password is not a crypt(3) SHA-256 ($5$) or SHA-512 ($6$) hash"
                ))
            })?),
        };
        self.users.push(User {
            name: name.into(),
            secret,
            groups: groups.iter().map(|g| (*g).into()).collect(),
        });
        Ok(())
    }

    /// Whether a group of that name has a member.
    pub fn has_group(&self, group: &str) -> bool {
        self.users
            .iter()
            .any(|u| u.groups.iter().any(|g| &**g == group))
    }

    /// The request's credentials (`authorization`: the value of its first
    /// `Authorization` field) name a user of this list with the right password and, when
    /// `groups` is given, in one of them.
    pub fn authenticates(&self, authorization: &[u8], groups: Option<&[Box<str>]>) -> bool {
        let mut buf = [0u8; MAX_CREDENTIALS];
        let Some((user, password)) = credentials(authorization, &mut buf) else {
            return false;
        };
        let Some(u) = self.users.iter().find(|u| u.name.as_bytes() == user) else {
            return false;
        };
        let in_group = groups.is_none_or(|gs| gs.iter().any(|g| u.groups.contains(g)));
        in_group
            && match &u.secret {
                Secret::Plain(p) => same(p, password),
                Secret::Crypt(c) => c.matches(password),
            }
    }
}

/// `Basic <base64 of user:password>` → (user, password), decoded into `buf`.
fn credentials<'b>(value: &[u8], buf: &'b mut [u8]) -> Option<(&'b [u8], &'b [u8])> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(rest.trim_ascii(), buf)
        .ok()?;
    let decoded = &buf[..n];
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((&decoded[..colon], &decoded[colon + 1..]))
}

/// `$5$[rounds=N$]salt$hash` or `$6$...`; rounds 5000 when absent, the salt cut to
/// 16 characters, as crypt(3) does.
fn parse_crypt(text: &str) -> Option<Crypt> {
    let mut parts = text.strip_prefix('$')?.split('$');
    let sha512 = match parts.next()? {
        "5" => false,
        "6" => true,
        _ => return None,
    };
    let mut salt = parts.next()?;
    let mut rounds = sha_crypt::ROUNDS_DEFAULT;
    if let Some(n) = salt.strip_prefix("rounds=") {
        rounds = n.parse().ok()?;
        rounds = rounds.clamp(sha_crypt::ROUNDS_MIN, sha_crypt::ROUNDS_MAX);
        salt = parts.next()?;
    }
    let hash = parts.next()?;
    let hash_len = if sha512 { 86 } else { 43 };
    let base64 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    };
    if parts.next().is_some() || hash.len() != hash_len || !base64(hash) {
        return None;
    }
    let salt = &salt[..salt.char_indices().nth(16).map_or(salt.len(), |(i, _)| i)];
    Some(Crypt {
        sha512,
        rounds,
        salt: salt.into(),
        hash: hash.into(),
    })
}

impl Crypt {
    fn matches(&self, password: &[u8]) -> bool {
        let salt = self.salt.as_bytes();
        let got = if self.sha512 {
            sha_crypt::Sha512Params::new(self.rounds)
                .and_then(|p| sha_crypt::sha512_crypt_b64(password, salt, &p))
        } else {
            sha_crypt::Sha256Params::new(self.rounds)
                .and_then(|p| sha_crypt::sha256_crypt_b64(password, salt, &p))
        };
        got.is_ok_and(|h| same(h.as_bytes(), self.hash.as_bytes()))
    }
}

/// Compare without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-crypt specification's first test vectors: "Hello world!", salt
    /// "saltstring", 5000 rounds.
    const SHA512: &str = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
    const SHA256: &str = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5";

    fn basic(user_pass: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(user_pass);
        format!("Basic {b64}").into_bytes()
    }

    fn list() -> Userlist {
        let mut l = Userlist::new("admins");
        l.add_user(
            "alice",
            Password::Plain(b"s3cret".as_slice().into()),
            &["ops"],
        )
        .unwrap();
        l.add_user("bob", Password::Crypt(SHA512.into()), &["dev", "ops"])
            .unwrap();
        l.add_user("carol", Password::Crypt(SHA256.into()), &[])
            .unwrap();
        l
    }

    #[test]
    fn plain_and_crypt_passwords() {
        let l = list();
        assert!(l.authenticates(&basic("alice:s3cret"), None));
        assert!(l.authenticates(&basic("bob:Hello world!"), None));
        assert!(l.authenticates(&basic("carol:Hello world!"), None));
        assert!(!l.authenticates(&basic("alice:wrong"), None));
        assert!(!l.authenticates(&basic("bob:hello world!"), None));
        assert!(!l.authenticates(&basic("mallory:s3cret"), None));
        assert!(!l.authenticates(&basic("alice"), None));
        assert!(!l.authenticates(b"Bearer abc", None));
        assert!(!l.authenticates(b"Basic !!!notbase64", None));
        assert!(!l.authenticates(b"", None));
        // The scheme is case-insensitive (RFC 9110 §11.1).
        let lower = String::from_utf8(basic("alice:s3cret"))
            .unwrap()
            .replace("Basic", "bAsIc");
        assert!(l.authenticates(lower.as_bytes(), None));
        // A password may hold ':'.
        let mut l2 = Userlist::new("x");
        l2.add_user("u", Password::Plain(b"a:b".as_slice().into()), &[])
            .unwrap();
        assert!(l2.authenticates(&basic("u:a:b"), None));
    }

    #[test]
    fn groups_narrow_the_users() {
        let l = list();
        let ops: &[Box<str>] = &["ops".into()];
        let dev: &[Box<str>] = &["dev".into()];
        assert!(l.authenticates(&basic("alice:s3cret"), Some(ops)));
        assert!(!l.authenticates(&basic("alice:s3cret"), Some(dev)));
        assert!(l.authenticates(&basic("bob:Hello world!"), Some(dev)));
        assert!(l.has_group("dev") && !l.has_group("nobody"));
    }

    #[test]
    fn hashes_ringlb_cannot_check_are_refused_at_load() {
        let mut l = Userlist::new("x");
        for bad in ["$1$md5salt$abc", "plain", "$6$", "$6$salt"] {
            assert!(
                l.add_user("u", Password::Crypt(bad.into()), &[]).is_err(),
                "{bad}"
            );
        }
        assert!(l
            .add_user("a:b", Password::Plain(Box::default()), &[])
            .is_err());
        l.add_user("u", Password::Plain(Box::default()), &[])
            .unwrap();
        assert!(l
            .add_user("u", Password::Plain(Box::default()), &[])
            .is_err());
    }

    #[test]
    fn crypt_texts_are_taken_apart() {
        let c = parse_crypt(
            "$5$rounds=10000$saltstringsaltstring$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
        )
        .unwrap();
        assert_eq!(
            (c.sha512, c.rounds, &*c.salt),
            (false, 10_000, "saltstringsaltst")
        );
        assert!(c.matches(b"Hello world!"));
        assert!(!c.matches(b"Hello world"));
        assert!(parse_crypt("$6$salt$short").is_none());
        assert!(parse_crypt(&format!("{SHA512}$extra")).is_none());
    }

    #[test]
    fn over_long_credentials_fail() {
        let l = list();
        let long = format!("alice:{}", "x".repeat(MAX_CREDENTIALS));
        assert!(!l.authenticates(&basic(&long), None));
    }
}
