//! Writing the translated configuration as TOML text: tables in order, each key
//! preceded by comments naming the source lines it came from. Strings are written as
//! TOML basic strings with every character that needs it escaped.

use std::fmt::Write;

/// A TOML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    Arr(Vec<Value>),
    /// An inline table, keys in order.
    Inline(Vec<(String, Value)>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One `key = value` with its comments.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: String,
    pub value: Value,
    pub notes: Vec<String>,
}

/// A `[table]` or `[[array.of.tables]]` and its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// `[global]`, `[[frontend]]`, `[[backend.server]]`...
    pub header: String,
    pub notes: Vec<String>,
    pub items: Vec<Item>,
}

impl Table {
    pub fn new(header: &str) -> Table {
        Table {
            header: header.to_string(),
            notes: Vec::new(),
            items: Vec::new(),
        }
    }

    /// Set a key (a later setting replaces an earlier one in place, as a proxy's own
    /// line overrides its defaults), citing `note`.
    pub fn set(&mut self, key: &str, value: Value, note: String) {
        match self.items.iter_mut().find(|i| i.key == key) {
            Some(item) => {
                item.value = value;
                // What was replaced stays cited: nothing disappears unsaid.
                let mut notes: Vec<String> = item
                    .notes
                    .drain(..)
                    .filter(|n| !n.starts_with("replaced by the next line: "))
                    .map(|n| format!("replaced by the next line: {n}"))
                    .collect();
                notes.push(note);
                item.notes = notes;
            }
            None => self.items.push(Item {
                key: key.to_string(),
                value,
                notes: vec![note],
            }),
        }
    }

    /// Add another citation to a key already set.
    pub fn cite(&mut self, key: &str, note: String) {
        if let Some(item) = self.items.iter_mut().find(|i| i.key == key) {
            if !item.notes.contains(&note) {
                item.notes.push(note);
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.items.iter().find(|i| i.key == key).map(|i| &i.value)
    }

    pub fn remove(&mut self, key: &str) -> Option<Item> {
        let i = self.items.iter().position(|i| i.key == key)?;
        Some(self.items.remove(i))
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The whole file: header comments, then the tables in order.
pub fn write(header: &[String], tables: &[Table]) -> String {
    let mut out = String::new();
    for n in header {
        comment(&mut out, n);
    }
    for t in tables {
        out.push('\n');
        for n in &t.notes {
            comment(&mut out, n);
        }
        out.push_str(&t.header);
        out.push('\n');
        for item in &t.items {
            for n in &item.notes {
                comment(&mut out, n);
            }
            let _ = writeln!(out, "{} = {}", key(&item.key), value(&item.value));
        }
    }
    out
}

fn comment(out: &mut String, text: &str) {
    out.push_str("# ");
    out.extend(text.chars().map(|c| if c.is_control() { '?' } else { c }));
    out.push('\n');
}

fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn value(v: &Value) -> String {
    match v {
        Value::Str(s) => quote(s),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Arr(items) => {
            let inner: Vec<String> = items.iter().map(value).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Inline(kv) => {
            let inner: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), value(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_parse_back() {
        let mut t = Table::new("[[x]]");
        t.set(
            "s",
            Value::str("a \"b\" \\ \r\n\u{1} é"),
            "f:1: x # y\n".into(),
        );
        t.set("n", Value::Int(3), "f:2".into());
        t.set(
            "l",
            Value::Arr(vec![Value::str("a"), Value::Bool(true)]),
            "f:3".into(),
        );
        t.set(
            "i",
            Value::Inline(vec![("cert".into(), Value::str("c.pem"))]),
            "f:4".into(),
        );
        t.set("n", Value::Int(4), "f:5".into());
        let text = write(&["head".into()], &[t]);
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        let x = &parsed["x"].as_array().unwrap()[0];
        assert_eq!(x["s"].as_str().unwrap(), "a \"b\" \\ \r\n\u{1} é");
        assert_eq!(x["n"].as_integer(), Some(4));
        assert_eq!(x["i"]["cert"].as_str(), Some("c.pem"));
        assert!(text.contains("# f:1: x # y?\n"));
        assert!(!text.contains("# f:2"));
    }
}
