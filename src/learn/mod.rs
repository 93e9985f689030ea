//! Learning from the export (`edgeseg train`): native only, never in the Worker.
//!
//! The Worker scores models per request with the core's own small code
//! (`logistic`, `cluster` and `trees` signals in [`crate::signals`]); this
//! module fits them offline from a folder of exported records (schema v1, see
//! README "Export"), with smartcore doing the fitting:
//!
//! * [`read`]: every `*.ndjson.gz` (or `*.ndjson`) file under a folder, as a
//!   stream; unknown fields ignored; unreadable files, bad lines and records
//!   of another schema version counted apart and skipped.
//! * [`sample`]: a uniform sample of visitors (all of each one's moments)
//!   under a cap, so training memory does not grow with the export.
//! * [`examples`]: one example per visitor-moment (a record) from the signal
//!   values the export recorded; labels from the visitor's later events; the
//!   split by time (older part trains, newer part tests).
//! * [`logistic`], [`kmeans`], [`trees`]: fitting, and the signal to paste.
//! * [`metrics`]: ROC-AUC, log loss, calibration, silhouette, adjusted Rand index.
//! * [`report`]: the plain-words report.
//! * [`retrain`]: the models in force trained again as they were, and compared.
//! * [`synth`]: a seeded generator of a synthetic export with known structure.

pub mod examples;
pub mod kmeans;
pub mod logistic;
pub mod metrics;
pub mod read;
pub mod record;
pub mod report;
pub mod retrain;
pub mod sample;
pub mod synth;
pub mod trees;

use std::fmt;

/// Why training could not go on; each message says what to do about it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LearnError {
    /// The folder could not be read.
    Io { path: String, message: String },
    /// The folder holds no exported record.
    NoRecords { path: String },
    /// Too few examples to fit and evaluate.
    TooFewExamples {
        found: usize,
        need: usize,
        what: String,
    },
    /// Only one class in a part of the data (no purchases, or only purchases).
    OneClass { part: &'static str, label: String },
    /// A feature asked for is not among the recorded signals.
    UnknownFeature { name: String, known: Vec<String> },
    /// No numeric signal was recorded at all.
    NoFeatures,
    /// The label event never occurs in the export.
    UnknownLabel {
        event: String,
        seen: Vec<(String, u64)>,
    },
    /// A parameter is out of range.
    Parameter(String),
    /// The fitting library failed.
    Fit(String),
}

impl fmt::Display for LearnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LearnError::Io { path, message } => write!(f, "cannot read {path}: {message}"),
            LearnError::NoRecords { path } => write!(
                f,
                "no exported records under {path} (expected events/YYYY/MM/DD/HH/*.ndjson.gz files)"
            ),
            LearnError::TooFewExamples { found, need, what } => write!(
                f,
                "only {found} examples {what}; need at least {need} (export more days, or shorten --within)"
            ),
            LearnError::OneClass { part, label } => write!(
                f,
                "the {part} part has only one kind of example for \"{label}\" (every visitor did it, or none did); \
                 check the --label event name, or export more days"
            ),
            LearnError::UnknownFeature { name, known } => write!(
                f,
                "unknown feature \"{name}\": the export recorded these numeric signals: {}",
                known.join(", ")
            ),
            LearnError::NoFeatures => write!(
                f,
                "the export recorded no numeric signal values to learn from (declare count/score signals in the rules)"
            ),
            LearnError::UnknownLabel { event, seen } => {
                write!(f, "no record has the event \"{event}\" to learn as --label; the export holds ")?;
                let list: Vec<String> = seen.iter().map(|(e, n)| format!("{e} ({n})")).collect();
                if list.is_empty() {
                    f.write_str("no events")
                } else {
                    f.write_str(&list.join(", "))
                }
            }
            LearnError::Parameter(m) => f.write_str(m),
            LearnError::Fit(m) => write!(f, "fitting failed: {m}"),
        }
    }
}

impl std::error::Error for LearnError {}

/// Year, month, day, hour, minute of a unix time in UTC.
pub fn utc_parts(ts: u64) -> (i64, u32, u32, u32, u32) {
    let (y, mo, d, h, mi, _) = crate::duration::utc_parts(ts);
    (y, mo, d, h, mi)
}

/// `2026-11-03 14:05 UTC`.
pub fn utc_text(ts: u64) -> String {
    let (y, mo, d, h, mi) = utc_parts(ts);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc_text(1_793_491_200), "2026-11-01 00:00 UTC");
        assert_eq!(super::utc_text(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
    }
}
