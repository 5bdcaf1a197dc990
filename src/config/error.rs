//! Configuration errors: every one names the file, the line and column, and the key.

use std::fmt;
use std::ops::Range;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}

/// All the errors found in one file (validation reports every one it can, not just the first).
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Turns byte spans of one source text into `file:line:column` positions.
pub struct SourceMap<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl SourceMap<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    pub fn error(&self, span: Range<usize>, message: String) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// A serde key path made readable, for a shape error (wrong type, unknown key):
/// `backend[0].server[1].weight.$__serde_spanned_private_value` becomes
/// `backend "web" server "a1": weight` (names looked up in `doc`, the file parsed
/// loosely; positions stay when an element has no name), and the message says what
/// was expected in words.
pub fn readable_shape_error(path: &str, message: &str, doc: Option<&toml::Table>) -> String {
    let mut tables = Vec::new();
    let mut key = String::new();
    let mut at: Option<&toml::Value> = None;
    for seg in path
        .split('.')
        .filter(|s| !s.is_empty() && !s.starts_with("$__"))
    {
        if !key.is_empty() {
            // A plain table on the way (`global`): joined to what follows with a dot.
            tables.push(std::mem::take(&mut key) + ".");
        }
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let value = match at {
            None => doc.and_then(|d| d.get(name)),
            Some(v) => v.get(name),
        };
        match index {
            Some(i) => {
                let element = value.and_then(|v| v.get(i));
                let label = element
                    .and_then(|e| e.get("name"))
                    .and_then(|n| n.as_str())
                    .map_or_else(|| format!("{name}[{i}]"), |n| format!("{name} {n:?}"));
                tables.push(label);
                at = element;
            }
            None => {
                key = name.to_string();
                at = value;
            }
        }
    }
    let message = readable_message(message);
    let mut place = tables.join(" ").replace(". ", ".");
    if !key.is_empty() {
        if !place.is_empty() && !place.ends_with('.') {
            place.push_str(": ");
        }
        place.push_str(&key);
    }
    let place = place.trim_end_matches('.');
    if place.is_empty() {
        message
    } else {
        format!("{place}: {message}")
    }
}

/// serde's `invalid type: string "heavy", expected i64` as `expected an integer, got
/// the string "heavy"`; other messages as they are.
fn readable_message(message: &str) -> String {
    let Some(rest) = message.strip_prefix("invalid type: ") else {
        return message.to_string();
    };
    let Some((got, expected)) = rest.rsplit_once(", expected ") else {
        return message.to_string();
    };
    let expected = match expected.trim() {
        "i64" | "u64" | "i32" | "u32" | "usize" | "an integer" => "an integer",
        "a boolean" | "bool" => "true or false",
        "a string" | "a borrowed string" | "string" => "a string",
        e if e.starts_with("a sequence") => "a list",
        e if e.starts_with("struct ") || e.starts_with("a map") => "a table",
        e => e,
    };
    let got = match got.split_once(' ') {
        Some((kind, value)) => format!("the {kind} {value}"),
        None => format!("a {got}"),
    };
    format!("expected {expected}, got {got}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let map = SourceMap {
            file: "x.toml",
            text: "a = 1\nbé = 2\n",
        };
        assert_eq!(map.position(0), (1, 1));
        assert_eq!(map.position(6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(map.position(10), (2, 4));
        assert_eq!(
            map.error(6..7, "boom".into()).to_string(),
            "x.toml:2:1: boom"
        );
    }

    #[test]
    fn shape_errors_name_the_table_and_say_what_was_expected() {
        let doc: toml::Table = toml::from_str(
            "[[backend]]\nname = \"web\"\n[[backend.server]]\nname = \"a1\"\nweight = \"heavy\"\n",
        )
        .unwrap();
        let e = readable_shape_error(
            "backend[0].server[0].weight.$__serde_spanned_private_value",
            "invalid type: string \"heavy\", expected i64",
            Some(&doc),
        );
        assert_eq!(
            e,
            "backend \"web\" server \"a1\": weight: expected an integer, got the string \"heavy\""
        );
        // Without names, positions; a top-level key; a message that is not a type error.
        assert_eq!(
            readable_shape_error(
                "backend[3].retries",
                "invalid type: boolean `true`, expected i64",
                None
            ),
            "backend[3]: retries: expected an integer, got the boolean `true`"
        );
        assert_eq!(
            readable_shape_error(
                "global.workers",
                "invalid type: string \"x\", expected i64",
                None
            ),
            "global.workers: expected an integer, got the string \"x\""
        );
        assert_eq!(
            readable_shape_error("", "unknown field `x`", None),
            "unknown field `x`"
        );
        assert_eq!(
            readable_shape_error(
                "frontend[0].bind",
                "invalid type: string \"a\", expected a sequence",
                None
            ),
            "frontend[0]: bind: expected a list, got the string \"a\""
        );
    }
}
