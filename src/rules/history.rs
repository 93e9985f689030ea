//! Versioned rules in KV, as the admin API keeps them.
//!
//! Layout: `rules` holds the current text (the only key the content path
//! reads); `rules:meta` describes it; `rules:rev:NNNNNN` keeps every saved
//! revision (text, with its description as KV metadata so a list needs no
//! reads). A save writes the revision first, then `rules`, then `rules:meta`,
//! so a failure part-way leaves the previous rules in force and at worst an
//! orphaned revision that the next save overwrites.

use serde::{Deserialize, Serialize};

use crate::error::RuleErrors;
use crate::rules::locate::locate;

/// The key the Worker reads rules from.
pub const RULES_KEY: &str = "rules";
/// The current revision's description.
pub const META_KEY: &str = "rules:meta";
/// Prefix of saved revisions.
pub const REVISION_PREFIX: &str = "rules:rev:";

/// The KV key of a revision (zero-padded so a list is in order).
pub fn revision_key(revision: u64) -> String {
    format!("{REVISION_PREFIX}{revision:06}")
}

/// The KV metadata of the `rules` key: the revision the admin API saved
/// (absent when the rules were put into KV by other means). A typed struct,
/// not a JSON value, so the Worker's KV metadata code stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RulesKeyMeta {
    #[serde(default)]
    pub revision: Option<u64>,
}

/// Who saved a revision, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionMeta {
    pub revision: u64,
    /// The document's own `version` label.
    pub label: String,
    pub author: String,
    pub message: String,
    /// RFC 3339 time.
    pub saved_at: String,
    /// The revision this one restored, for rollbacks.
    #[serde(default)]
    pub rollback_of: Option<u64>,
}

/// A validation error placed in the text, for editors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocatedError {
    pub path: String,
    pub message: String,
    /// What kind of error it is ([`crate::RuleErrorKind::code`]), so an editor
    /// can explain or fix it without reading the message.
    pub kind: &'static str,
    /// The likely intended name, for a did-you-mean fix.
    pub suggestion: Option<String>,
    /// 1-based; `None` when the path could not be found in the text.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Every error of a rejected document, with its line and column where known.
pub fn locate_errors(text: &str, errors: &RuleErrors) -> Vec<LocatedError> {
    errors
        .0
        .iter()
        .map(|e| {
            let (line, column) = match &e.kind {
                crate::RuleErrorKind::Syntax { line, column, .. } => {
                    (Some(*line), Some((*column).max(1)))
                }
                _ => match locate(text, &e.path) {
                    Some(found) => {
                        let at = if matches!(e.kind, crate::RuleErrorKind::UnknownField { .. }) {
                            found.key.unwrap_or(found.value)
                        } else {
                            found.value
                        };
                        (Some(at.line), Some(at.column))
                    }
                    None => (None, None),
                },
            };
            LocatedError {
                path: e.path.clone(),
                message: e.kind.to_string(),
                kind: e.kind.code(),
                suggestion: e.kind.suggestion().map(str::to_string),
                line,
                column,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::CompiledRules;

    #[test]
    fn revision_keys_sort_in_order() {
        assert_eq!(revision_key(7), "rules:rev:000007");
        assert!(revision_key(9) < revision_key(10));
    }

    #[test]
    fn errors_are_placed_at_their_lines() {
        let text = "{\n  \"format\": 1,\n  \"version\": \"x\",\n  \"segments\": [\n    {\"id\": \"a\", \"priority\": \"high\", \"condition\": {}}\n  ]\n}\n";
        let errors = CompiledRules::from_json(text).unwrap_err();
        let located = locate_errors(text, &errors);
        let e = located
            .iter()
            .find(|e| e.path == "segments[0].priority")
            .expect("priority error");
        assert_eq!(e.line, Some(5));
        assert_eq!(e.kind, "wrong_type");
        let syntax = CompiledRules::from_json("{\n  \"format\": 1,\n}").unwrap_err();
        let located = locate_errors("{\n  \"format\": 1,\n}", &syntax);
        assert_eq!(located[0].line, Some(3));
        assert_eq!(located[0].kind, "syntax");
    }

    #[test]
    fn errors_carry_their_kind_and_suggestion_in_json() {
        let text = r#"{"format": 1, "version": "x", "events": {"purchase": {}},
            "signals": {"buys": {"count": "purchse", "within": "0s"}}}"#;
        let errors = CompiledRules::from_json(text).unwrap_err();
        let json = serde_json::to_value(locate_errors(text, &errors)).unwrap();
        let find = |path: &str| {
            json.as_array()
                .unwrap()
                .iter()
                .find(|e| e["path"] == path)
                .cloned()
                .unwrap_or_else(|| panic!("no error at {path} in {json}"))
        };
        let reference = find("signals.buys.count");
        assert_eq!(reference["kind"], "unknown_reference");
        assert_eq!(reference["suggestion"], "purchase");
        assert_eq!(
            reference["message"],
            "unknown event \"purchse\" (did you mean \"purchase\"?)"
        );
        let window = find("signals.buys.within");
        assert_eq!(window["kind"], "zero_duration");
        assert_eq!(window["suggestion"], serde_json::Value::Null);
        assert_eq!(window["message"], "the window must be longer than 0s");
    }
}
