//! Errors in a rules document, each tied to the JSON path where it was found.
//!
//! A marketer fixes rules by reading these messages, so every message names the
//! spot (`segments[2].condition.views_10m.$gte`) and says what was expected and
//! what was found.

use std::fmt;

/// Kept at its old path: the CLI and the compiler call `error::suggest`.
pub use crate::util::suggest::suggest;

/// One problem in a rules document.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    /// JSON path of the offending value, e.g. `segments[2].condition.views_10m.$gte`.
    /// Empty for the document itself.
    pub path: String,
    pub kind: RuleErrorKind,
}

/// What is wrong at a path.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleErrorKind {
    #[error("the document is not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("expected {expected}, got {found}")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("unknown field \"{field}\"{}", did_you_mean(.suggestion))]
    UnknownField {
        field: String,
        suggestion: Option<String>,
    },
    #[error("missing required field \"{0}\"")]
    MissingField(&'static str),
    #[error("unknown operator \"{operator}\"{}", did_you_mean(.suggestion))]
    UnknownOperator {
        operator: String,
        suggestion: Option<String>,
    },
    #[error("invalid regular expression: {0}")]
    BadRegex(String),
    #[error("invalid duration \"{found}\": expected a whole number followed by s, m, h or d, like \"30s\", \"10m\", \"24h\", \"7d\"")]
    BadDuration { found: String },
    #[error("unknown {what} \"{name}\"{}", did_you_mean(.suggestion))]
    UnknownReference {
        what: &'static str,
        name: String,
        suggestion: Option<String>,
    },
    #[error("duplicate {what} \"{name}\"")]
    Duplicate { what: &'static str, name: String },
    #[error("segments depend on each other in a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("invalid CSS selector \"{selector}\": {reason}")]
    BadSelector { selector: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    crate::util::suggest::did_you_mean(suggestion.as_deref())
}

impl RuleError {
    pub fn new(path: impl Into<String>, kind: RuleErrorKind) -> Self {
        RuleError {
            path: path.into(),
            kind,
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "(document): {}", self.kind)
        } else {
            write!(f, "{}: {}", self.path, self.kind)
        }
    }
}

impl std::error::Error for RuleError {}

/// Every problem found in one pass over a rules document, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
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

impl std::error::Error for RuleErrors {}

/// Appends an object key to a JSON path: `a` + `b` → `a.b`; keys that are not
/// plain identifiers are quoted: `a["x.y"]`.
pub fn path_key(base: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-');
    match (base.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{base}.{key}"),
        (_, false) => format!("{base}[{}]", serde_json::Value::String(key.to_string())),
    }
}

/// Appends an array index to a JSON path: `segments` + 2 → `segments[2]`.
pub fn path_index(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

/// A short description of a JSON value for "got ..." messages.
pub fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => {
            let cut: String = s.chars().take(37).collect();
            format!("\"{cut}...\"")
        }
        Value::String(s) => format!("{:?}", s),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_identifiers() {
        assert_eq!(path_key("", "segments"), "segments");
        assert_eq!(
            path_key("segments[2].condition", "$gte"),
            "segments[2].condition.$gte"
        );
        assert_eq!(path_key("a", "x.y"), "a[\"x.y\"]");
        assert_eq!(path_index("segments", 2), "segments[2]");
    }

    #[test]
    fn error_messages_name_path_expectation_and_finding() {
        let e = RuleError::new(
            "segments[2].condition.views_10m.$gte",
            RuleErrorKind::WrongType {
                expected: "a number",
                found: describe(&serde_json::json!("three")),
            },
        );
        assert_eq!(
            e.to_string(),
            "segments[2].condition.views_10m.$gte: expected a number, got \"three\""
        );
    }
}
