//! Versioned rules in KV, as the admin API keeps them.
//!
//! Layout: `rules` holds the current text (the only key the content path
//! reads); `rules:meta` describes it; `rules:rev:NNNNNN` keeps every saved
//! revision (text, with its description as KV metadata so a list needs no
//! reads). A save writes the revision first, then `rules`, then `rules:meta`,
//! so a failure part-way leaves the previous rules in force and at worst an
//! orphaned revision that the next save overwrites.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Identity;
use crate::document::{ExperimentStatus, RulesDocument};
use crate::error::RuleErrors;
use crate::rules::locate::locate;

/// The key the Worker reads rules from.
pub const RULES_KEY: &str = "rules";
/// The current revision's description.
pub const META_KEY: &str = "rules:meta";
/// Prefix of saved revisions.
pub const REVISION_PREFIX: &str = "rules:rev:";

/// Prefix of saved drafts (not live until a publisher publishes one).
pub const DRAFT_PREFIX: &str = "rules:draft:";
/// Prefix of the audit log: one key per purge, publish, rollback or draft.
pub const AUDIT_PREFIX: &str = "audit:";

/// The KV key of a draft.
pub fn draft_key(draft: u64) -> String {
    format!("{DRAFT_PREFIX}{draft:06}")
}

/// The number of a draft key (for the next draft's number).
pub fn draft_of_key(key: &str) -> Option<u64> {
    key.strip_prefix(DRAFT_PREFIX)?.parse().ok()
}

/// An audit key: the time first, so a list is in time order; `nonce` keeps
/// two entries of the same millisecond apart (no read-modify-write, so none is lost).
pub fn audit_key(at_ms: u64, nonce: u32) -> String {
    format!("{AUDIT_PREFIX}{at_ms:013}:{nonce:08x}")
}

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
    /// A name typed in by the caller: a note beside `by`, not verified
    /// (older revisions have only this).
    pub author: String,
    pub message: String,
    /// RFC 3339 time.
    pub saved_at: String,
    /// The revision this one restored, for rollbacks.
    #[serde(default)]
    pub rollback_of: Option<u64>,
    /// Who made it live, verified (a person through Access, or the service
    /// token): an [`Identity`] as JSON. The identity fields are kept as JSON
    /// values, not typed, because the Worker reads this struct three ways (KV
    /// text, KV metadata, a list) and each typed copy costs bundle size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Value>,
    /// The draft it was published from, and who saved that draft (an [`Identity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drafted_by: Option<Value>,
    /// Experiments this revision started or stopped (against the one before):
    /// [`ExperimentChange`]s as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiments: Option<Value>,
}

/// A saved draft: rules an editor proposes, previewable, not live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftMeta {
    pub draft: u64,
    pub label: String,
    pub by: Identity,
    pub message: String,
    pub saved_at: String,
    /// The live revision the draft was edited from.
    pub base_revision: u64,
    /// Set once a publisher published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_as: Option<u64>,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 time.
    pub at: String,
    pub by: Identity,
    /// `publish`, `rollback`, `save_draft`, `purge`, `experiment_started`, `experiment_stopped`.
    pub action: String,
    /// What it was done to: a revision, a draft, a path, an experiment.
    pub detail: String,
}

/// An experiment a revision started or stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentChange {
    pub experiment: String,
    /// `started` or `stopped`.
    pub change: String,
}

/// Which experiments go from not running to running (started) or back
/// (stopped) when `after` replaces `before`: experiments start and stop by
/// publishing rules, so the revision that does it records who did.
pub fn experiment_changes(
    before: Option<&RulesDocument>,
    after: &RulesDocument,
) -> Vec<ExperimentChange> {
    let running = |d: Option<&RulesDocument>, key: &str| {
        d.and_then(|d| d.experiments.get(key))
            .is_some_and(|e| e.status == ExperimentStatus::Running)
    };
    let mut keys: Vec<&String> = after.experiments.keys().collect();
    if let Some(b) = before {
        keys.extend(
            b.experiments
                .keys()
                .filter(|k| !after.experiments.contains_key(*k)),
        );
    }
    keys.sort();
    keys.into_iter()
        .filter_map(|k| {
            let change = match (running(before, k), running(Some(after), k)) {
                (false, true) => "started",
                (true, false) => "stopped",
                _ => return None,
            };
            Some(ExperimentChange {
                experiment: k.clone(),
                change: change.into(),
            })
        })
        .collect()
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
    fn experiment_starts_and_stops_are_found() {
        let doc = |statuses: &[(&str, &str)]| {
            let experiments: serde_json::Map<String, serde_json::Value> = statuses
                .iter()
                .map(|(k, s)| {
                    (
                        k.to_string(),
                        serde_json::json!({"segment": "s", "status": s,
                        "variants": [{"id": "control"}, {"id": "b"}]}),
                    )
                })
                .collect();
            let v = serde_json::json!({"format": 1, "version": "x",
                "segments": [{"id": "s", "priority": 1, "condition": {}}], "experiments": experiments});
            crate::rules::validate::validate_value(&v).expect("a valid document")
        };
        let before = doc(&[("a", "running"), ("b", "draft"), ("gone", "running")]);
        let after = doc(&[
            ("a", "stopped"),
            ("b", "running"),
            ("new", "running"),
            ("idle", "draft"),
        ]);
        let names: Vec<(String, String)> = experiment_changes(Some(&before), &after)
            .into_iter()
            .map(|c| (c.experiment, c.change))
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            names,
            vec![
                pair("a", "stopped"),
                pair("b", "started"),
                pair("gone", "stopped"),
                pair("new", "started")
            ]
        );
        assert_eq!(experiment_changes(None, &doc(&[("x", "running")])).len(), 1);
        assert!(experiment_changes(Some(&after), &after).is_empty());
    }

    #[test]
    fn draft_and_audit_keys() {
        assert_eq!(draft_key(3), "rules:draft:000003");
        assert_eq!(draft_of_key("rules:draft:000003"), Some(3));
        assert_eq!(draft_of_key("rules:rev:000003"), None);
        assert!(audit_key(999, 5) < audit_key(1_000, 0));
    }

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
