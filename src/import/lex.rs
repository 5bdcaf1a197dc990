//! HAProxy's line tokenizer, as HAProxy 2.x reads a configuration line: words split on
//! unquoted blanks; `"weak"` quotes (escapes and `$VAR` / `${VAR}` expanded inside),
//! `'strong'` quotes (nothing interpreted), backslash escapes (`\ `, `\#`, `\\`, `\'`,
//! `\"`, `\r`, `\n`, `\t`, `\xHH`; any other backslash is kept, as in `\1`), `#` starts
//! a comment outside quotes. Quoted pieces concatenate with what touches them
//! (`"a b"'c'` is one word). A backslash at the end of a line is NOT a continuation
//! in HAProxy: it stays a literal backslash and the next line is a line of its own.
//! Pure: the environment is a function passed in.

/// One line as HAProxy sees it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Words {
    pub words: Vec<String>,
    /// Environment variables expanded, with the value used (`None`: not set, expanded
    /// to nothing as HAProxy does).
    pub vars: Vec<(String, Option<String>)>,
    /// The line ends with a backslash (kept literally: no continuation).
    pub trailing_backslash: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("unmatched {0} quote")]
    Unmatched(&'static str),
    #[error("invalid or incomplete '\\x' sequence")]
    BadHex,
    #[error("unterminated ${{...}} variable")]
    BadVar,
}

/// Split one line (without its newline) into words.
pub fn split(line: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Words, LexError> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Words::default();
    let mut cur = String::new();
    // A word exists once anything (even an empty quoted string) was seen.
    let mut in_word = false;
    let (mut squote, mut dquote) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if squote {
            if c == '\'' {
                squote = false;
            } else {
                cur.push(c);
            }
            i += 1;
            continue;
        }
        match c {
            '\\' => {
                i += escape(&chars, i, dquote, &mut cur, &mut out)?;
                in_word = true;
                continue;
            }
            '\'' if !dquote => {
                squote = true;
                in_word = true;
            }
            '"' => {
                dquote = !dquote;
                in_word = true;
            }
            '$' if dquote => {
                i += expand(&chars, i, env, &mut cur, &mut out)?;
                in_word = true;
                continue;
            }
            '#' if !dquote => break,
            c if c.is_whitespace() && !dquote => {
                if in_word {
                    out.words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
        i += 1;
    }
    if squote {
        return Err(LexError::Unmatched("single"));
    }
    if dquote {
        return Err(LexError::Unmatched("double"));
    }
    if in_word {
        out.words.push(cur);
    }
    Ok(out)
}

/// A backslash at `chars[i]`: push what it stands for, return how many chars it took.
fn escape(
    chars: &[char],
    i: usize,
    dquote: bool,
    cur: &mut String,
    out: &mut Words,
) -> Result<usize, LexError> {
    let Some(&next) = chars.get(i + 1) else {
        cur.push('\\');
        out.trailing_backslash = true;
        return Ok(1);
    };
    let (ch, used) = match next {
        ' ' | '\\' | '#' | '\'' | '"' => (next, 2),
        '$' if dquote => ('$', 2),
        'r' => ('\r', 2),
        'n' => ('\n', 2),
        't' => ('\t', 2),
        'x' => {
            let hex: String = chars.iter().skip(i + 2).take(2).collect();
            if hex.len() != 2 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                return Err(LexError::BadHex);
            }
            let b = u8::from_str_radix(&hex, 16).map_err(|_| LexError::BadHex)?;
            (char::from(b), 4)
        }
        _ => {
            cur.push('\\');
            return Ok(1);
        }
    };
    cur.push(ch);
    Ok(used)
}

/// `$NAME`, `${NAME}`, `${NAME-default}` or `${NAME[*]}` (split into words at spaces)
/// at `chars[i]` inside double quotes.
fn expand(
    chars: &[char],
    i: usize,
    env: &dyn Fn(&str) -> Option<String>,
    cur: &mut String,
    out: &mut Words,
) -> Result<usize, LexError> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut list = false;
    let (name, default, used) = if chars.get(i + 1) == Some(&'{') {
        let close = chars[i + 2..]
            .iter()
            .position(|&c| c == '}')
            .ok_or(LexError::BadVar)?;
        let mut inner: String = chars[i + 2..i + 2 + close].iter().collect();
        // `${NAME[*]}`: the value is split into words at spaces. HAProxy refuses any
        // other bracket right after the name.
        let name_end = inner.find('-').unwrap_or(inner.len());
        if let Some(p) = inner[..name_end].find('[') {
            if !inner[p..].starts_with("[*]") {
                return Err(LexError::BadVar);
            }
            list = true;
            inner.replace_range(p..p + 3, "");
        }
        let (name, default) = match inner.split_once('-') {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (inner, None),
        };
        (name, default, close + 3)
    } else {
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|&&c| name_char(c))
            .collect();
        let n = name.chars().count();
        (name, None, n + 1)
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(name_char);
    if !valid {
        cur.push('$');
        return Ok(1);
    }
    let value = env(&name);
    let text = value.as_deref().or(default.as_deref()).unwrap_or("");
    if list {
        // (An unset or empty list leaves an empty word where HAProxy leaves none; the
        // unset variable is reported.)
        for (n, piece) in text.split_whitespace().enumerate() {
            if n > 0 {
                out.words.push(std::mem::take(cur));
            }
            cur.push_str(piece);
        }
    } else {
        cur.push_str(text);
    }
    out.vars.push((name, value.or(default)));
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".into()),
            "HOST" => Some("10.0.0.1".into()),
            "NETS" => Some("10.0.0.0/8  192.168.0.0/16".into()),
            _ => None,
        }
    }

    fn words(line: &str) -> Vec<String> {
        split(line, &env).unwrap().words
    }

    #[test]
    fn blanks_separate_and_comments_end_the_line() {
        assert_eq!(
            words("  server  a\t10.0.0.1:80 check # web"),
            ["server", "a", "10.0.0.1:80", "check"]
        );
        assert!(words("# only a comment").is_empty());
        assert!(words("").is_empty());
    }

    #[test]
    fn quotes_keep_spaces_and_concatenate() {
        assert_eq!(
            words(r#"log-format "%ci %cp" x"#),
            ["log-format", "%ci %cp", "x"]
        );
        assert_eq!(words(r#"a "b c"'d e'f"#), ["a", "b cd ef"]);
        assert_eq!(words(r##"x "#y" '#z'"##), ["x", "#y", "#z"]);
        assert_eq!(words(r#"x "" y"#), ["x", "", "y"]);
    }

    #[test]
    fn strong_quotes_interpret_nothing() {
        assert_eq!(
            words(r#"reqrep '^([^ :]*) /\1' "$PORT""#),
            ["reqrep", r"^([^ :]*) /\1", "8080"]
        );
        assert_eq!(words("x '$PORT'"), ["x", "$PORT"]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            words(r"a\ b c\#d \\ \x41 \1"),
            ["a b", "c#d", "\\", "A", "\\1"]
        );
        assert_eq!(words(r#"x "a\"b" 'it\'s"#).len(), 3);
        assert_eq!(words(r"send PING\r\n"), ["send", "PING\r\n"]);
        assert_eq!(split(r"x \xZZ", &env), Err(LexError::BadHex));
    }

    #[test]
    fn env_vars_only_inside_double_quotes() {
        let w = split(r#"bind "${HOST}:$PORT" $PORT "\$PORT""#, &env).unwrap();
        assert_eq!(w.words, ["bind", "10.0.0.1:8080", "$PORT", "$PORT"]);
        assert_eq!(w.vars.len(), 2);
    }

    #[test]
    fn unset_vars_expand_to_nothing_and_are_recorded() {
        let w = split(r#"server a "${NOPE}:80" "${NOPE2-9000}""#, &env).unwrap();
        assert_eq!(w.words, ["server", "a", ":80", "9000"]);
        assert_eq!(
            w.vars,
            [
                ("NOPE".to_string(), None),
                ("NOPE2".to_string(), Some("9000".to_string()))
            ]
        );
    }

    #[test]
    fn a_list_variable_becomes_several_words() {
        // As HAProxy 2.6 reads them (checked with haproxy -c).
        assert_eq!(
            words(r#"acl lan src "${NETS[*]}" x"#),
            ["acl", "lan", "src", "10.0.0.0/8", "192.168.0.0/16", "x"]
        );
        assert_eq!(words(r#"x "${NETS}""#), ["x", "10.0.0.0/8  192.168.0.0/16"]);
        assert_eq!(words(r#"x "${NOPE[*]-a b}""#), ["x", "a", "b"]);
        let w = split(r#"x "${NETS[*]}""#, &env).unwrap();
        let value = Some("10.0.0.0/8  192.168.0.0/16".to_string());
        assert_eq!(w.vars, [("NETS".to_string(), value)]);
        // `[,]` is no HAProxy syntax: refused, as HAProxy refuses it.
        assert_eq!(split(r#"x "${NETS[,]}""#, &env), Err(LexError::BadVar));
    }

    #[test]
    fn trailing_backslash_is_no_continuation() {
        let w = split(r"option httpchk GET /x \", &env).unwrap();
        assert!(w.trailing_backslash);
        assert_eq!(w.words.last().unwrap(), "\\");
    }

    #[test]
    fn unmatched_quotes_are_errors() {
        assert_eq!(split(r#"x "abc"#, &env), Err(LexError::Unmatched("double")));
        assert_eq!(split("x 'abc", &env), Err(LexError::Unmatched("single")));
    }
}
