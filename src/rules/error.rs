//! What can be wrong with rules, ACLs, lists and tables when they are built. Nothing
//! fails at evaluation time: everything that could is checked here, once, at load.

/// A rule, ACL, list or table that cannot be built. The configuration layer adds the
/// file, line and key; these say what is wrong with the value itself.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A CIDR or address that does not parse.
    #[error("{value:?}: {reason}")]
    BadCidr { value: String, reason: &'static str },
    /// An error in a list read from a file, with its 1-based line number.
    #[error("line {line}: {source}")]
    AtLine {
        line: usize,
        #[source]
        source: Box<RuleError>,
    },
    /// A regex that does not compile or is larger than the size limit.
    #[error("regex {pattern:?}: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    /// A condition names an ACL that is not defined.
    #[error("unknown ACL {0:?}")]
    UnknownAcl(String),
    /// A condition that is empty or malformed (`a ||`, `! ||`, ...).
    #[error("condition {text:?}: {reason}")]
    BadCondition { text: String, reason: &'static str },
    /// An ACL or a rule that is used where it cannot work, or a value out of range.
    #[error("{0}")]
    Invalid(String),
}
