//! keepalived.conf's syntax: words separated by blanks, `"quoted strings"`, comments
//! from `#` or `!` to the end of the line, and `{ }` blocks (the brace may sit on the
//! statement's line, on the next one, or hold its contents on one line).

use crate::import::report::Src;
use crate::import::ImportError;

/// A statement and, for a block, its statements.
#[derive(Debug, Clone)]
pub struct Node {
    pub src: Src,
    pub words: Vec<String>,
    pub children: Option<Vec<Node>>,
}

impl Node {
    pub fn word(&self, i: usize) -> &str {
        self.words.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn kids(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }
}

/// Words of one line: `{` and `}` are words of their own.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut had_quote = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                had_quote = true;
            }
            '#' | '!' if cur.is_empty() && !had_quote => break,
            '{' | '}' => {
                if !cur.is_empty() || had_quote {
                    out.push(std::mem::take(&mut cur));
                }
                had_quote = false;
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() || had_quote {
                    out.push(std::mem::take(&mut cur));
                }
                had_quote = false;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || had_quote {
        out.push(cur);
    }
    out
}

/// Parse a whole file into its top-level statements.
pub fn parse(file: &str, text: &str) -> Result<Vec<Node>, ImportError> {
    let err = |line: usize, message: &str| ImportError::Parse {
        file: file.to_string(),
        line,
        message: message.to_string(),
    };
    // Each level: the statements so far. The block openers wait in `open`.
    let mut levels: Vec<Vec<Node>> = vec![Vec::new()];
    let mut open: Vec<Node> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let src = Src {
            file: file.to_string(),
            line: no,
            text: raw.trim().to_string(),
            directive: String::new(),
        };
        let mut words: Vec<String> = Vec::new();
        let flush = |words: &mut Vec<String>, levels: &mut Vec<Vec<Node>>| {
            if !words.is_empty() {
                let mut s = src.clone();
                s.directive = words[0].clone();
                let node = Node {
                    src: s,
                    words: std::mem::take(words),
                    children: None,
                };
                if let Some(l) = levels.last_mut() {
                    l.push(node);
                }
            }
        };
        for t in tokens(raw) {
            match t.as_str() {
                "{" => {
                    flush(&mut words, &mut levels);
                    let opener = levels
                        .last_mut()
                        .and_then(|l| l.pop())
                        .ok_or_else(|| err(no, "'{' without a statement before it"))?;
                    open.push(opener);
                    levels.push(Vec::new());
                }
                "}" => {
                    flush(&mut words, &mut levels);
                    let (Some(mut opener), Some(kids)) = (open.pop(), levels.pop()) else {
                        return Err(err(no, "'}' without a block to close"));
                    };
                    opener.children = Some(kids);
                    if let Some(l) = levels.last_mut() {
                        l.push(opener);
                    }
                }
                _ => words.push(t),
            }
        }
        flush(&mut words, &mut levels);
    }
    if let Some(o) = open.last() {
        return Err(err(o.src.line, "block not closed"));
    }
    Ok(levels.pop().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_nest_wherever_the_brace_is() {
        let text = "! Configuration\nvrrp_instance VI_1 {\n  state MASTER # c\n  virtual_ipaddress {\n    10.0.0.1/24 dev eth0\n  }\n  unicast_peer { 10.0.0.2 10.0.0.3 }\n}\nvrrp_script chk\n{\n script \"killall -0 haproxy\"\n}\n";
        let n = parse("k.conf", text).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].words, ["vrrp_instance", "VI_1"]);
        let kids = n[0].kids();
        assert_eq!(kids[0].words, ["state", "MASTER"]);
        assert_eq!(kids[1].kids()[0].words, ["10.0.0.1/24", "dev", "eth0"]);
        assert_eq!(kids[2].kids()[0].words, ["10.0.0.2", "10.0.0.3"]);
        assert_eq!(n[1].kids()[0].words, ["script", "killall -0 haproxy"]);
        assert_eq!(n[1].src.line, 9);
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert_eq!(
            parse("k.conf", "a {\n b\n").unwrap_err().to_string(),
            "k.conf:1: block not closed"
        );
        assert_eq!(
            parse("k.conf", "a\n}\n").unwrap_err().to_string(),
            "k.conf:2: '}' without a block to close"
        );
    }
}
