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
}
